//! `${secretsmanager:NAME_OR_ARN}`, `${secretsmanager:NAME_OR_ARN#json_key}` and `${ssm:/parameter/name}`
//! references in config values: found and checked offline ([`validate`]), resolved at start-up all
//! at once, each distinct secret or parameter fetched once ([`resolve`]), substituted by [`Resolved::expand`].
//!
//! Other `${...}` forms (`${env:VAR}`, `${VAR}`) and the `$${` escape are left as they are for the config
//! loader.

use std::{collections::HashMap, fmt};

use crate::{client::AwsClient, secret::Secret, AwsError};

/// One reference to a value kept in AWS. Its text names the value, never holds it: it may be printed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// A Secrets Manager secret's string, or one key of it when it is a JSON object.
    SecretsManager {
        /// The secret's name or ARN.
        secret_id: String,
        /// The key selected by `#key`.
        json_key: Option<String>,
    },
    /// An SSM parameter, decrypted when it is a SecureString.
    Ssm {
        /// The parameter's name (`/a/b`, `name:version`) or ARN.
        name: String,
    },
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::SecretsManager { secret_id, json_key: None } => write!(f, "${{secretsmanager:{secret_id}}}"),
            Reference::SecretsManager { secret_id, json_key: Some(key) } => {
                write!(f, "${{secretsmanager:{secret_id}#{key}}}")
            }
            Reference::Ssm { name } => write!(f, "${{ssm:{name}}}"),
        }
    }
}

/// A reference that cannot be parsed or resolved. It names the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is malformed.
    #[error("line {line}: {text}: {message}")]
    Syntax {
        /// 1-based line of the text it was found in.
        line: usize,
        /// The reference as written.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// Fetching the secret or parameter failed.
    #[error("{reference}: {source}")]
    Fetch {
        /// The reference.
        reference: String,
        /// The AWS error.
        source: AwsError,
    },
    /// `#key` was given but the secret is not a JSON object.
    #[error("{reference}: the secret is not a JSON object, so a #key cannot select from it")]
    NotJsonObject {
        /// The reference.
        reference: String,
    },
    /// The secret's JSON object has no such key.
    #[error("{reference}: the secret's JSON object has no key {key:?}")]
    MissingKey {
        /// The reference.
        reference: String,
        /// The key.
        key: String,
    },
    /// [`Resolved::expand`] met a reference that was not resolved.
    #[error("{reference}: not resolved")]
    Unresolved {
        /// The reference.
        reference: String,
    },
}

/// A reference found in a text, with where it is.
struct Found {
    reference: Reference,
    start: usize,
    end: usize,
}

/// The offline check: every `${secretsmanager:...}` and `${ssm:...}` reference of `text` parsed, in order
/// of first appearance and without repeats, or the first malformed one; nothing is fetched.
pub fn validate(text: &str) -> Result<Vec<Reference>, ReferenceError> {
    let mut references: Vec<Reference> = Vec::new();
    for found in scan(text)? {
        if !references.contains(&found.reference) {
            references.push(found.reference);
        }
    }
    Ok(references)
}

fn scan(text: &str) -> Result<Vec<Found>, ReferenceError> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("${") {
        let start = from + offset;
        from = start + 2;
        // `$${` is the Collector's escape of a literal `${`.
        if start > 0 && text.as_bytes()[start - 1] == b'$' {
            continue;
        }
        let body_start = start + 2;
        let Some((scheme, _)) = text[body_start..].split_once(':') else { continue };
        if scheme != "secretsmanager" && scheme != "ssm" {
            continue;
        }
        let line = text[..start].matches('\n').count() + 1;
        let syntax = |text: &str, message: &str| ReferenceError::Syntax {
            line,
            text: text.to_string(),
            message: message.to_string(),
        };
        let Some(length) = text[body_start..].find(['}', '\n']).filter(|&n| text.as_bytes()[body_start + n] == b'}')
        else {
            let shown: String = text[start..].lines().next().unwrap_or_default().chars().take(80).collect();
            return Err(syntax(&shown, "no closing }"));
        };
        let end = body_start + length + 1;
        let written = &text[start..end];
        let argument = &text[body_start + scheme.len() + 1..end - 1];
        let reference = if scheme == "ssm" {
            parse_ssm(argument).map_err(|m| syntax(written, m))?
        } else {
            parse_secret(argument).map_err(|m| syntax(written, m))?
        };
        found.push(Found { reference, start, end });
        from = end;
    }
    Ok(found)
}

fn parse_secret(argument: &str) -> Result<Reference, &'static str> {
    let (secret_id, json_key) = match argument.split_once('#') {
        Some((id, key)) => (id, Some(key)),
        None => (argument, None),
    };
    if secret_id.is_empty() {
        return Err("the secret name or ARN is empty");
    }
    // Secrets Manager's own rule for names (ARNs add `:`).
    if !secret_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b)) {
        return Err("a secret name or ARN holds only letters, digits and /_+=.@-:");
    }
    if json_key.is_some_and(|k| k.trim().is_empty()) {
        return Err("the JSON key after # is empty");
    }
    Ok(Reference::SecretsManager { secret_id: secret_id.to_string(), json_key: json_key.map(str::to_string) })
}

fn parse_ssm(argument: &str) -> Result<Reference, &'static str> {
    if argument.is_empty() {
        return Err("the parameter name is empty");
    }
    if !argument.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.-:".contains(&b)) {
        return Err("a parameter name or ARN holds only letters, digits and /_.-:");
    }
    Ok(Reference::Ssm { name: argument.to_string() })
}

/// Resolved references, each a [`Secret`].
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    values: HashMap<Reference, Secret>,
}

impl Resolved {
    /// The value of one reference.
    pub fn get(&self, reference: &Reference) -> Option<&Secret> {
        self.values.get(reference)
    }

    /// How many references are resolved.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `value` (one config scalar) with every reference replaced by its resolved value. Substituting into
    /// parsed values rather than the YAML text keeps a secret holding `:` or a newline from changing the
    /// document's structure.
    pub fn expand(&self, value: &str) -> Result<Secret, ReferenceError> {
        let found = scan(value)?;
        if found.is_empty() {
            return Ok(Secret::new(value));
        }
        let mut out = String::with_capacity(value.len());
        let mut from = 0;
        for Found { reference, start, end } in found {
            let resolved = self
                .values
                .get(&reference)
                .ok_or_else(|| ReferenceError::Unresolved { reference: reference.to_string() })?;
            out.push_str(&value[from..start]);
            out.push_str(resolved.expose());
            from = end;
        }
        out.push_str(&value[from..]);
        Ok(Secret::new(out))
    }
}

/// Fetches every reference at once: all secrets (BatchGetSecretValue) and all parameters (GetParameters)
/// concurrently, each distinct secret or parameter once however many references name it. The first failure
/// (in the order given) is returned.
pub async fn resolve(client: &AwsClient, references: &[Reference]) -> Result<Resolved, ReferenceError> {
    let mut secret_ids: Vec<String> = Vec::new();
    let mut parameter_names: Vec<String> = Vec::new();
    for reference in references {
        let (list, item) = match reference {
            Reference::SecretsManager { secret_id, .. } => (&mut secret_ids, secret_id),
            Reference::Ssm { name } => (&mut parameter_names, name),
        };
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    let secrets = async {
        if secret_ids.is_empty() {
            return Ok(HashMap::new());
        }
        client.get_secret_values(&secret_ids).await
    };
    let parameters = async {
        if parameter_names.is_empty() {
            return Ok(HashMap::new());
        }
        client.get_parameters(&parameter_names).await
    };
    let (secrets, parameters) = tokio::join!(secrets, parameters);
    let whole_call = |reference: &Reference, error: &AwsError| ReferenceError::Fetch {
        reference: reference.to_string(),
        source: error.clone(),
    };
    let mut values = HashMap::new();
    for reference in references {
        let fetched = match reference {
            Reference::SecretsManager { secret_id, .. } => match &secrets {
                Ok(map) => map.get(secret_id),
                Err(e) => return Err(whole_call(reference, e)),
            },
            Reference::Ssm { name } => match &parameters {
                Ok(map) => map.get(name),
                Err(e) => return Err(whole_call(reference, e)),
            },
        };
        let value = match fetched {
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(whole_call(reference, e)),
            None => return Err(ReferenceError::Unresolved { reference: reference.to_string() }),
        };
        values.insert(reference.clone(), select(reference, value)?);
    }
    Ok(Resolved { values })
}

/// The value a reference stands for: the whole string, or one key of a JSON object (strings as they are,
/// other JSON values as their JSON text).
fn select(reference: &Reference, value: &Secret) -> Result<Secret, ReferenceError> {
    let Reference::SecretsManager { json_key: Some(key), .. } = reference else {
        return Ok(value.clone());
    };
    let object = match serde_json::from_str::<serde_json::Value>(value.expose()) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => return Err(ReferenceError::NotJsonObject { reference: reference.to_string() }),
    };
    match object.get(key) {
        Some(serde_json::Value::String(text)) => Ok(Secret::new(text.clone())),
        Some(other) => Ok(Secret::new(other.to_string())),
        None => Err(ReferenceError::MissingKey { reference: reference.to_string(), key: key.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str, key: Option<&str>) -> Reference {
        Reference::SecretsManager { secret_id: id.into(), json_key: key.map(str::to_string) }
    }

    #[test]
    fn finds_references_in_order_without_repeats() {
        let text = "a: ${secretsmanager:vendor/api#key}\nb: Bearer ${ssm:/team/token} ${env:HOME}\n\
                    c: ${secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf}\n\
                    d: $${ssm:/literal} ${secretsmanager:vendor/api#key} ${PLAIN}";
        assert_eq!(
            validate(text).unwrap(),
            vec![
                secret("vendor/api", Some("key")),
                Reference::Ssm { name: "/team/token".into() },
                secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", None),
            ]
        );
        assert_eq!(validate("no references: ${env:X} $$ ${").unwrap(), vec![]);
    }

    #[test]
    fn malformed_references_name_line_and_reference() {
        let error = |text: &str| validate(text).unwrap_err().to_string();
        assert_eq!(error("a: 1\nb: ${secretsmanager:}"), "line 2: ${secretsmanager:}: the secret name or ARN is empty");
        assert_eq!(error("${secretsmanager:name#}"), "line 1: ${secretsmanager:name#}: the JSON key after # is empty");
        assert_eq!(
            error("${secretsmanager:bad name}"),
            "line 1: ${secretsmanager:bad name}: a secret name or ARN holds only letters, digits and /_+=.@-:"
        );
        assert_eq!(error("x\n\n${ssm:/a/b\nnext"), "line 3: ${ssm:/a/b: no closing }");
        assert_eq!(error("${ssm:}"), "line 1: ${ssm:}: the parameter name is empty");
    }

    #[test]
    fn display_round_trips() {
        for text in ["${secretsmanager:a/b#k}", "${secretsmanager:a}", "${ssm:/x/y}"] {
            assert_eq!(validate(text).unwrap()[0].to_string(), text);
        }
    }

    #[test]
    fn expand_substitutes_and_selects_json_keys() {
        let whole = secret("s", None);
        let keyed = secret("s", Some("api_key"));
        let number = secret("s", Some("port"));
        let json = Secret::new(r#"{"api_key":"k-123","port":8443}"#);
        let resolved = Resolved {
            values: [&whole, &keyed, &number, &Reference::Ssm { name: "/p".into() }]
                .into_iter()
                .map(|r| {
                    let raw = if matches!(r, Reference::Ssm { .. }) { Secret::new("p-value") } else { json.clone() };
                    (r.clone(), select(r, &raw).unwrap())
                })
                .collect(),
        };
        let expanded =
            resolved.expand("Bearer ${secretsmanager:s#api_key}:${secretsmanager:s#port}/${ssm:/p}").unwrap();
        assert_eq!(expanded.expose(), "Bearer k-123:8443/p-value");
        assert_eq!(resolved.expand("plain $${ssm:/p}").unwrap().expose(), "plain $${ssm:/p}");
        assert_eq!(resolved.expand("${ssm:/other}").unwrap_err().to_string(), "${ssm:/other}: not resolved");
        assert_eq!(
            select(&secret("s", Some("missing")), &json).unwrap_err().to_string(),
            "${secretsmanager:s#missing}: the secret's JSON object has no key \"missing\""
        );
        assert_eq!(
            select(&keyed, &Secret::new("not json")).unwrap_err().to_string(),
            "${secretsmanager:s#api_key}: the secret is not a JSON object, so a #key cannot select from it"
        );
    }
}
