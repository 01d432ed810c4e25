//! The environment variables this crate reads, captured once so tests (and a SnapStart restore, which may
//! change them) work from an explicit snapshot rather than the live process environment.

use std::collections::HashMap;

/// A snapshot of environment variables.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment now.
    pub fn from_process() -> Self {
        Env { vars: std::env::vars().collect() }
    }

    /// Exactly these variables (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
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
