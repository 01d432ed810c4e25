//! Configuration errors that point at a file, a key path and a line.

use std::fmt;

/// One problem in a configuration, located as precisely as possible.
///
/// Displays as `file:line:column: key.path: message`; parts that are unknown are left out
/// (`<config>` stands for the file when the text did not come from a file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The configuration file's name, when the text came from a file.
    pub file: Option<String>,
    /// The key path of the offending value, e.g. `service.pipelines.traces.exporters[1]`;
    /// empty for problems with the document as a whole.
    pub path: String,
    /// The 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// The 1-based column of the offending value, when known.
    pub column: Option<usize>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl ConfigError {
    fn render(&self) -> String {
        let mut out = self.file.as_deref().unwrap_or("<config>").to_owned();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                out.push_str(&format!(":{column}"));
            }
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Every problem found in a configuration, in source order; displays one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts by position; errors without a line keep their order after located ones.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
    }

    /// The individual errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(file: Option<&str>, path: &str, line: Option<usize>, column: Option<usize>) -> ConfigError {
        ConfigError { file: file.map(str::to_owned), path: path.to_owned(), line, column, message: "bad".to_owned() }
    }

    #[test]
    fn display_leaves_out_unknown_parts() {
        assert_eq!(err(Some("c.yaml"), "a.b", Some(3), Some(7)).to_string(), "c.yaml:3:7: a.b: bad");
        assert_eq!(err(Some("c.yaml"), "a.b", Some(3), None).to_string(), "c.yaml:3: a.b: bad");
        assert_eq!(err(Some("c.yaml"), "", None, None).to_string(), "c.yaml: bad");
        assert_eq!(err(None, "a", Some(1), Some(1)).to_string(), "<config>:1:1: a: bad");
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors =
            ConfigErrors(vec![err(Some("c.yaml"), "a", Some(1), Some(1)), err(Some("c.yaml"), "b", Some(2), Some(3))]);
        assert_eq!(errors.to_string(), "c.yaml:1:1: a: bad\nc.yaml:2:3: b: bad");
        assert_eq!(errors.errors().len(), 2);
    }

    #[test]
    fn a_single_error_converts_and_boxes() {
        let errors: ConfigErrors = err(Some("c.yaml"), "a", Some(2), Some(1)).into();
        assert_eq!(errors.errors(), [err(Some("c.yaml"), "a", Some(2), Some(1))]);
        let boxed: Box<dyn std::error::Error> = Box::new(errors);
        assert_eq!(boxed.to_string(), "c.yaml:2:1: a: bad");
    }
}
