//! The `transform` processor: OTTL statements that change spans, span events, metrics, data points and
//! log records, in the Collector's config shape.
//!
//! Both forms of the Collector are accepted, in `trace_statements`, `metric_statements` and
//! `log_statements`:
//! - context blocks: `- context: span` with `statements: [...]` and optional `conditions: [...]` (the
//!   statements run on an item when any condition holds) and `error_mode`;
//! - plain statements, whose context is inferred from their path prefixes
//!   (`set(span.attributes["x"], resource.attributes["y"])` runs per span); a block without `context`
//!   runs all its statements in the most specific context among them.
//!
//! Every statement is parsed when the config loads: one outside lambdatel's OTTL subset is a config error
//! naming it, its function or path, and its line. `error_mode` (default `propagate`, as in the Collector)
//! decides what a statement failing on an item does: `ignore` logs it (rate-limited) and goes on with the
//! next statement, `silent` goes on without logging, `propagate` drops this pipeline's batch of that
//! signal and logs why, as the Collector refuses the batch.

mod contexts;

pub(crate) use contexts::{point_count, ContextFn, ErrorSink, Failure, Level};

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_ottl::{Condition, ContextKind, EvalContext, Statement};
use lambdatel_pipeline::{logs::ResourceLogs, metrics::ResourceMetrics, trace::ResourceSpans, Processor};
use serde::Deserialize;

use super::filter::ErrorMode;
use crate::ProcessorFactory;

/// One entry of a statements list: a plain statement, or a context block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum StatementsEntry {
    /// A statement whose context is inferred from its paths.
    Statement(String),
    /// A block of statements for one context.
    Block(ContextStatements),
}

/// A context block.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextStatements {
    /// `resource`, `scope`, `span`, `spanevent`, `metric`, `datapoint` or `log`; inferred when left out.
    pub context: Option<String>,
    /// Conditions; the statements run on an item when any holds (all items when there is none).
    pub conditions: Vec<String>,
    /// The statements, run in order on each item.
    pub statements: Vec<String>,
    /// Overrides the processor's `error_mode` for this block.
    pub error_mode: Option<ErrorMode>,
}

/// Configuration of the `transform` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformConfig {
    /// What a statement failing on an item does: `ignore`, `silent` or `propagate` (default).
    pub error_mode: ErrorMode,
    /// Statements for spans and span events (contexts resource, scope, span, spanevent).
    pub trace_statements: Vec<StatementsEntry>,
    /// Statements for metrics and data points (contexts resource, scope, metric, datapoint).
    pub metric_statements: Vec<StatementsEntry>,
    /// Statements for log records (contexts resource, scope, log).
    pub log_statements: Vec<StatementsEntry>,
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            error_mode: ErrorMode::Propagate,
            trace_statements: Vec::new(),
            metric_statements: Vec::new(),
            log_statements: Vec::new(),
        }
    }
}

/// Statements parsed for one context, run item by item.
struct Group {
    context: ContextKind,
    conditions: Vec<Condition>,
    statements: Vec<Statement>,
    error_mode: ErrorMode,
}

pub(crate) fn level(context: ContextKind) -> Level {
    match context {
        ContextKind::Resource => Level::Resource,
        ContextKind::Scope => Level::Scope,
        ContextKind::Span | ContextKind::Log | ContextKind::Metric => Level::Item,
        ContextKind::SpanEvent | ContextKind::DataPoint => Level::SubItem,
    }
}

/// The contexts statements of each signal may run in.
const TRACE_CONTEXTS: &[ContextKind] =
    &[ContextKind::Resource, ContextKind::Scope, ContextKind::Span, ContextKind::SpanEvent];
const METRIC_CONTEXTS: &[ContextKind] =
    &[ContextKind::Resource, ContextKind::Scope, ContextKind::Metric, ContextKind::DataPoint];
const LOG_CONTEXTS: &[ContextKind] = &[ContextKind::Resource, ContextKind::Scope, ContextKind::Log];

/// Parses one signal's statements list written at `key`, every error located at its list item.
fn compile_groups(
    at: &ComponentConfig,
    key: &str,
    entries: &[StatementsEntry],
    allowed: &[ContextKind],
    error_mode: ErrorMode,
) -> Result<Vec<Group>, ConfigError> {
    let allowed_names = || allowed.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    let check_allowed = |context: ContextKind, item: &str| {
        if allowed.contains(&context) {
            Ok(context)
        } else {
            Err(at.error_at(
                item,
                format!("context `{}` cannot be used in {key} (use {})", context.name(), allowed_names()),
            ))
        }
    };
    let mut groups: Vec<Group> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            StatementsEntry::Statement(text) => {
                let item = format!("{key}[{index}]");
                let statement = Statement::parse(text, None).map_err(|e| at.error_at(&item, e.to_string()))?;
                let context = check_allowed(statement.context(), &item)?;
                // Consecutive plain statements of one context share a pass over the batch.
                match groups.last_mut() {
                    Some(last)
                        if last.context == context && last.conditions.is_empty() && last.error_mode == error_mode =>
                    {
                        last.statements.push(statement)
                    }
                    _ => {
                        groups.push(Group { context, conditions: Vec::new(), statements: vec![statement], error_mode })
                    }
                }
            }
            StatementsEntry::Block(block) => {
                let block_key = format!("{key}[{index}]");
                groups.push(compile_block(at, &block_key, block, error_mode, &check_allowed)?);
            }
        }
    }
    Ok(groups)
}

fn compile_block(
    at: &ComponentConfig,
    key: &str,
    block: &ContextStatements,
    error_mode: ErrorMode,
    check_allowed: &dyn Fn(ContextKind, &str) -> Result<ContextKind, ConfigError>,
) -> Result<Group, ConfigError> {
    if block.statements.is_empty() {
        return Err(at.error_at(&format!("{key}.statements"), "a context block needs at least one statement"));
    }
    let context = match &block.context {
        Some(name) => {
            let context = ContextKind::from_name(name).ok_or_else(|| {
                at.error_at(
                    &format!("{key}.context"),
                    format!("unknown context `{name}` (expected resource, scope, span, spanevent, metric, datapoint or log)"),
                )
            })?;
            check_allowed(context, &format!("{key}.context"))?
        }
        None => {
            // The most specific context among the statements' and conditions' own.
            let mut inferred: Option<ContextKind> = None;
            let texts = block.statements.iter().map(|t| ("statements", t, true));
            let texts = texts.chain(block.conditions.iter().map(|t| ("conditions", t, false)));
            for (position, (list, text, is_statement)) in texts.enumerate() {
                let index = if is_statement { position } else { position - block.statements.len() };
                let item = format!("{key}.{list}[{index}]");
                let parsed = if is_statement {
                    Statement::parse(text, None).map(|s| s.context())
                } else {
                    Condition::parse(text, None).map(|c| c.context())
                };
                let context = parsed.map_err(|e| at.error_at(&item, e.to_string()))?;
                inferred = Some(match inferred {
                    Some(current) if current.can_access(context) => current,
                    Some(current) if !context.can_access(current) => {
                        return Err(at.error_at(
                            &item,
                            format!(
                                "its context `{}` cannot be combined with `{}` in one block",
                                context.name(),
                                current.name()
                            ),
                        ))
                    }
                    _ => context,
                });
            }
            let context = inferred.expect("a block has at least one statement");
            check_allowed(context, key)?
        }
    };
    let statements = block
        .statements
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Statement::parse(text, Some(context))
                .map_err(|e| at.error_at(&format!("{key}.statements[{i}]"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let conditions = block
        .conditions
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Condition::parse(text, Some(context))
                .map_err(|e| at.error_at(&format!("{key}.conditions[{i}]"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Group { context, conditions, statements, error_mode: block.error_mode.unwrap_or(error_mode) })
}

/// The `transform` processor.
pub struct TransformProcessor {
    traces: Vec<Group>,
    metrics: Vec<Group>,
    logs: Vec<Group>,
    errors: ErrorSink,
}

impl std::fmt::Debug for TransformProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |groups: &[Group]| groups.iter().map(|g| g.statements.len()).sum::<usize>();
        f.debug_struct("TransformProcessor")
            .field("trace_statements", &count(&self.traces))
            .field("metric_statements", &count(&self.metrics))
            .field("log_statements", &count(&self.logs))
            .finish()
    }
}

impl TransformProcessor {
    /// Evaluation errors seen so far, whatever the error mode.
    pub fn error_count(&self) -> u64 {
        self.errors.errors
    }
}

impl ProcessorFactory for TransformProcessor {
    const TYPE: &'static str = "transform";
    const EXAMPLE: &'static str = r#"log_statements: ['set(log.attributes["env"], "prod")']"#;
    type Config = TransformConfig;

    fn create(config: TransformConfig, at: &ComponentConfig) -> Result<Self, ConfigError> {
        let mode = config.error_mode;
        let processor = TransformProcessor {
            traces: compile_groups(at, "trace_statements", &config.trace_statements, TRACE_CONTEXTS, mode)?,
            metrics: compile_groups(at, "metric_statements", &config.metric_statements, METRIC_CONTEXTS, mode)?,
            logs: compile_groups(at, "log_statements", &config.log_statements, LOG_CONTEXTS, mode)?,
            errors: ErrorSink::new("transform"),
        };
        if processor.traces.is_empty() && processor.metrics.is_empty() && processor.logs.is_empty() {
            return Err(at.error(
                "the transform processor needs at least one of trace_statements, metric_statements or log_statements",
            ));
        }
        Ok(processor)
    }
}

/// One group run on one item: the conditions (any), then the statements in order.
struct RunGroup<'a> {
    group: &'a Group,
    errors: &'a mut ErrorSink,
}

impl ContextFn for RunGroup<'_> {
    fn run<C: EvalContext>(&mut self, context: &mut C) -> Result<(), Failure> {
        let group = self.group;
        if !group.conditions.is_empty() {
            let mut any = false;
            for condition in &group.conditions {
                match condition.evaluate(context) {
                    Ok(true) => {
                        any = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => self.errors.handle(group.error_mode, condition.text(), e)?,
                }
            }
            if !any {
                return Ok(());
            }
        }
        for statement in &group.statements {
            if let Err(e) = statement.execute(context) {
                self.errors.handle(group.error_mode, statement.text(), e)?;
            }
        }
        Ok(())
    }
}

/// Runs every group over a batch with `visit`; on a propagated failure the batch is dropped.
fn run_groups<T>(
    groups: &[Group],
    batch: &mut Vec<T>,
    errors: &mut ErrorSink,
    signal: &str,
    visit: impl Fn(&mut [T], Level, &mut RunGroup<'_>) -> Result<(), Failure>,
) {
    for group in groups {
        let mut run = RunGroup { group, errors: &mut *errors };
        if let Err(failure) = visit(batch, level(group.context), &mut run) {
            errors.report_dropped_batch(signal, &failure);
            batch.clear();
            return;
        }
    }
}

impl Processor for TransformProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        run_groups(&self.traces, batch, &mut self.errors, "spans", |b, l, r| contexts::visit_spans(b, l, r));
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        run_groups(&self.metrics, batch, &mut self.errors, "metrics", |b, l, r| contexts::visit_metrics(b, l, r));
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        run_groups(&self.logs, batch, &mut self.errors, "logs", |b, l, r| contexts::visit_logs(b, l, r));
    }
}

#[cfg(test)]
mod tests;
