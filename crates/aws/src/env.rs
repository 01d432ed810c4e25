//! The environment variables this crate reads, captured once so tests (and a SnapStart restore, which may
//! change them) work from an explicit snapshot rather than the live process environment.

use std::{collections::HashMap, sync::Arc};

/// Looks up one variable: the process environment, or the one a config was read with.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Every variable this crate reads (besides a config's own `env:NAME`), which is what
/// [`Env::from_lookup`] snapshots: a lookup cannot list its variables.
pub const VARIABLES: [&str; 18] = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_XRAY",
    "LAMBDATEL_CONFIG",
    "OPENTELEMETRY_COLLECTOR_CONFIG_URI",
    "OPENTELEMETRY_COLLECTOR_CONFIG_FILE",
];

/// A snapshot of environment variables, and where to read them again.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    source: Source,
}

#[derive(Clone, Default)]
enum Source {
    /// Fixed pairs: reading again gives the same.
    #[default]
    Fixed,
    Process,
    Lookup(Lookup),
}

impl Env {
    /// The process environment now.
    pub fn from_process() -> Self {
        Env { vars: std::env::vars().collect(), source: Source::Process }
    }

    /// The variables of [`VARIABLES`] as `lookup` has them now (the lookup a config's `${env:...}`
    /// references were expanded with), read again through it by [`reread`](Self::reread).
    pub fn from_lookup(lookup: Lookup) -> Self {
        Env { source: Source::Lookup(lookup.clone()), ..Env::snapshot(&*lookup) }
    }

    /// The variables of [`VARIABLES`] as `lookup` has them now, once: reading again gives the same.
    pub fn snapshot(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let vars = VARIABLES.iter().filter_map(|name| Some((name.to_string(), lookup(name)?))).collect();
        Env { vars, source: Source::Fixed }
    }

    /// Exactly these variables (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), source: Source::Fixed }
    }

    /// The variables as their source has them now (after a SnapStart restore, say); fixed pairs stay.
    pub fn reread(&self) -> Self {
        match &self.source {
            Source::Fixed => self.clone(),
            Source::Process => Env::from_process(),
            Source::Lookup(lookup) => Env::from_lookup(lookup.clone()),
        }
    }

    /// A variable's value; unset and empty are the same, as in AWS's SDKs.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The function's region: `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    pub fn region(&self) -> Option<&str> {
        self.get("AWS_REGION").or_else(|| self.get("AWS_DEFAULT_REGION"))
    }
}

// Values may be credentials: Debug names the variables only.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_lookup_is_snapshot_and_read_again_on_request() {
        let region = Arc::new(Mutex::new("eu-west-1".to_string()));
        let seen = region.clone();
        let lookup: Lookup = Arc::new(move |name| match name {
            "AWS_REGION" => Some(seen.lock().unwrap().clone()),
            "AWS_ACCESS_KEY_ID" => Some("AKID1".into()),
            "UNRELATED" => Some("not read".into()),
            _ => None,
        });
        let env = Env::from_lookup(lookup);
        *region.lock().unwrap() = "ap-south-1".into();
        assert_eq!(
            (env.region(), env.get("AWS_ACCESS_KEY_ID"), env.get("UNRELATED")),
            (Some("eu-west-1"), Some("AKID1"), None)
        );
        let again = env.reread();
        assert_eq!(again.region(), Some("ap-south-1"));
        assert_eq!(format!("{again:?}"), r#"Env { names: ["AWS_ACCESS_KEY_ID", "AWS_REGION"] }"#);
    }

    #[test]
    fn fixed_pairs_read_again_are_the_same() {
        let env = Env::from_pairs([("AWS_REGION", "us-east-1")]);
        assert_eq!(env.reread().region(), Some("us-east-1"));
    }
}
