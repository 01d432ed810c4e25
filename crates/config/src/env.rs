//! `${env:VAR}` expansion in scalar values, following the Collector's rules.
//!
//! - `${env:NAME}` and the bare `${NAME}` are replaced by the variable's value.
//! - `${env:NAME:-default}` uses `default` when the variable is unset (an empty but set
//!   variable stays empty, as in the Collector's env provider).
//! - An unset variable without a default expands to the empty string and is reported so the
//!   caller can warn about it.
//! - `$$` is an escaped `$`, so `$${env:X}` is the literal text `${env:X}`.
//! - `${secretsmanager:NAME_OR_ARN}`, `${secretsmanager:NAME_OR_ARN#key}` and `${ssm:/name}` are handed to
//!   the caller's resolver (the extension fetches them at start-up); their argument may itself hold
//!   `${env:...}` references (`${secretsmanager:${env:SECRET_ARN}}`), expanded first. The value is a secret.
//! - Other providers (`${file:...}`, `${http:...}`) are rejected.

/// Resolves a `${scheme:argument}` reference of a secret store (`secretsmanager`, `ssm`) to its value, or
/// says why it cannot; the message must not hold a resolved value.
pub type ReferenceResolver<'a> = &'a dyn Fn(&str, &str) -> Result<String, String>;

/// The config providers whose values are kept in AWS and resolved by a [`ReferenceResolver`].
pub const SECRET_PROVIDERS: [&str; 2] = ["secretsmanager", "ssm"];

/// The resolver of a parse that has none: such references are errors.
pub fn no_references(scheme: &str, _argument: &str) -> Result<String, String> {
    Err(format!("config provider \"{scheme}\" is resolved by the extension at start-up and cannot be used here"))
}

/// The outcome of expanding one scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    /// The text after expansion.
    pub text: String,
    /// How many `${...}` references were replaced.
    pub references: usize,
    /// True when the whole scalar was exactly one `${...}` reference.
    pub whole_reference: bool,
    /// Variables that were referenced without a default and are not set.
    pub unset: Vec<String>,
    /// True when a secret store reference was substituted: the text must never be shown.
    pub secret: bool,
}

/// Expands every reference in `text`; the error message names the offending reference.
pub(crate) fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    resolver: ReferenceResolver,
) -> Result<Expanded, String> {
    let mut out = String::with_capacity(text.len());
    let mut unset = Vec::new();
    let mut references = 0;
    let mut whole_reference = false;
    let mut secret = false;
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let store = SECRET_PROVIDERS.into_iter().find(|p| body.strip_prefix(p).is_some_and(|r| r.starts_with(':')));
            let Some(end) = (match store {
                Some(_) => matching_brace(body),
                None => body.find('}'),
            }) else {
                return Err(format!("unclosed \"${{\" in \"{text}\"; write \"$$\" for a literal \"$\""));
            };
            let reference = &body[..end];
            match store {
                Some(scheme) => {
                    // A nested `${env:...}` names the secret: expanded first, never itself a secret store.
                    let argument = expand(&reference[scheme.len() + 1..], env, &no_references)?;
                    unset.extend(argument.unset);
                    out.push_str(&resolver(scheme, &argument.text)?);
                    secret = true;
                }
                None => out.push_str(&resolve(reference, env, &mut unset)?),
            }
            references += 1;
            let consumed = text.len() - rest.len() + pos;
            rest = &body[end + 1..];
            whole_reference = consumed == 0 && rest.is_empty() && references == 1;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Expanded { text: out, references, whole_reference, unset, secret })
}

/// The index in `body` (just after a `${`) of the `}` closing it, skipping nested `${...}`.
fn matching_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> Result<String, String> {
    let spec = match reference.split_once(':') {
        // `NAME:-default` is a bare reference with a default, not a provider called NAME.
        Some((scheme, rest)) if !rest.starts_with('-') => {
            if scheme != "env" {
                return Err(format!(
                    "unsupported config provider \"{scheme}\" in \"${{{reference}}}\"; use ${{env:NAME}}, ${{secretsmanager:NAME_OR_ARN}} or ${{ssm:/name}}"
                ));
            }
            rest
        }
        _ => reference,
    };
    let (name, default) = match spec.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (spec, None),
    };
    if !is_valid_name(name) {
        return Err(format!(
            "invalid environment variable name \"{name}\" in \"${{{reference}}}\"; names are letters, digits and underscores, not starting with a digit"
        ));
    }
    match (env(name), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => {
            unset.push(name.to_owned());
            Ok(String::new())
        }
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.com".to_owned()),
            "PORT" => Some("4317".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn ok(text: &str) -> Expanded {
        expand(text, &env, &no_references).unwrap()
    }

    /// A resolver that shows what it was asked, so the tests see the argument after nested expansion.
    fn stores(scheme: &str, argument: &str) -> Result<String, String> {
        match argument {
            "missing" => Err(format!("{scheme}: no such value")),
            _ => Ok(format!("<{scheme}|{argument}>")),
        }
    }

    fn expanded(text: &str, references: usize, whole_reference: bool, unset: &[&str]) -> Expanded {
        Expanded {
            text: text.to_owned(),
            references,
            whole_reference,
            unset: unset.iter().map(|s| s.to_string()).collect(),
            secret: false,
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(ok("hello"), expanded("hello", 0, false, &[]));
        assert_eq!(ok(""), expanded("", 0, false, &[]));
    }

    #[test]
    fn whole_references() {
        assert_eq!(ok("${env:PORT}"), expanded("4317", 1, true, &[]));
        assert_eq!(ok("${PORT}"), expanded("4317", 1, true, &[]));
        assert_eq!(ok("${env:NOPE:-9}"), expanded("9", 1, true, &[]));
        assert_eq!(ok("${NOPE:-x y}"), expanded("x y", 1, true, &[]));
    }

    #[test]
    fn references_inside_strings() {
        assert_eq!(ok("https://${env:HOST}:${env:PORT}/v1"), expanded("https://example.com:4317/v1", 2, false, &[]));
        assert_eq!(ok("${PORT}${PORT}"), expanded("43174317", 2, false, &[]));
        assert_eq!(ok("x${PORT}"), expanded("x4317", 1, false, &[]));
        assert_eq!(ok("${PORT}x"), expanded("4317x", 1, false, &[]));
    }

    #[test]
    fn default_only_applies_when_unset() {
        assert_eq!(ok("${env:EMPTY:-d}"), expanded("", 1, true, &[]));
        assert_eq!(ok("${env:HOST:-d}"), expanded("example.com", 1, true, &[]));
        assert_eq!(ok("${env:NOPE:-}"), expanded("", 1, true, &[]));
    }

    #[test]
    fn unset_without_default_is_empty_and_reported() {
        assert_eq!(ok("a${env:NOPE}b"), expanded("ab", 1, false, &["NOPE"]));
        assert_eq!(ok("${A}${B}"), expanded("", 2, false, &["A", "B"]));
    }

    #[test]
    fn dollar_escapes() {
        assert_eq!(ok("$${env:HOST}"), expanded("${env:HOST}", 0, false, &[]));
        assert_eq!(ok("a$$b"), expanded("a$b", 0, false, &[]));
        assert_eq!(ok("$$$${PORT}"), expanded("$${PORT}", 0, false, &[]));
        assert_eq!(ok("$$${PORT}"), expanded("$4317", 1, false, &[]));
        assert_eq!(ok("cost: $5"), expanded("cost: $5", 0, false, &[]));
        assert_eq!(ok("end$"), expanded("end$", 0, false, &[]));
    }

    #[test]
    fn errors() {
        assert_eq!(
            expand("a${env:HOST", &env, &no_references).unwrap_err(),
            "unclosed \"${\" in \"a${env:HOST\"; write \"$$\" for a literal \"$\""
        );
        assert_eq!(
            expand("${file:/etc/x}", &env, &no_references).unwrap_err(),
            "unsupported config provider \"file\" in \"${file:/etc/x}\"; use ${env:NAME}, ${secretsmanager:NAME_OR_ARN} or ${ssm:/name}"
        );
        assert_eq!(
            expand("${env:1X}", &env, &no_references).unwrap_err(),
            "invalid environment variable name \"1X\" in \"${env:1X}\"; names are letters, digits and underscores, not starting with a digit"
        );
        assert_eq!(
            expand("${}", &env, &no_references).unwrap_err(),
            "invalid environment variable name \"\" in \"${}\"; names are letters, digits and underscores, not starting with a digit"
        );
        assert_eq!(
            expand("${env:A-B}", &env, &no_references).unwrap_err(),
            "invalid environment variable name \"A-B\" in \"${env:A-B}\"; names are letters, digits and underscores, not starting with a digit"
        );
    }

    #[test]
    fn secret_store_references_go_to_the_resolver() {
        let secret = |text: &str| expand(text, &env, &stores).unwrap();
        let e = secret("Bearer ${secretsmanager:vendor/api#key}");
        assert_eq!(
            (e.text.as_str(), e.references, e.whole_reference, e.secret),
            ("Bearer <secretsmanager|vendor/api#key>", 1, false, true)
        );
        let e = secret("${ssm:/team/token}");
        assert_eq!((e.text.as_str(), e.whole_reference, e.secret), ("<ssm|/team/token>", true, true));
        // Nested forms written in real configs: the inner reference names the secret.
        let e = secret("${secretsmanager:${env:HOST}#k}-${env:PORT}");
        assert_eq!((e.text.as_str(), e.references, e.secret), ("<secretsmanager|example.com#k>-4317", 2, true));
        let e = secret("${secretsmanager:${env:NOPE}}");
        assert_eq!((e.text.as_str(), e.unset.clone()), ("<secretsmanager|>", vec!["NOPE".to_string()]));
        assert_eq!(secret("$${ssm:/literal}").text, "${ssm:/literal}");
        assert!(!secret("${env:HOST}").secret);
    }

    #[test]
    fn secret_store_failures() {
        assert_eq!(expand("${ssm:missing}", &env, &stores).unwrap_err(), "ssm: no such value");
        assert_eq!(
            expand("x ${secretsmanager:a", &env, &stores).unwrap_err(),
            "unclosed \"${\" in \"x ${secretsmanager:a\"; write \"$$\" for a literal \"$\""
        );
        assert_eq!(
            expand("${secretsmanager:${ssm:/x}}", &env, &stores).unwrap_err(),
            "config provider \"ssm\" is resolved by the extension at start-up and cannot be used here"
        );
        assert_eq!(
            expand("${ssm:/a}", &env, &no_references).unwrap_err(),
            "config provider \"ssm\" is resolved by the extension at start-up and cannot be used here"
        );
    }
}
