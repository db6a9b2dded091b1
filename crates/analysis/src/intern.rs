//! One copy of each string a large graph would otherwise hold many times: resource ids in
//! links, types, accounts, stages, owners, clusters and evidence.

use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `s`, made on first use.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(held) = self.0.get(s) {
            return held.clone();
        }
        let held: Arc<str> = Arc::from(s);
        self.0.insert(held.clone());
        held
    }

    pub(crate) fn get_opt(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        s.map(|s| self.get(s))
    }

    /// The shared copy of `s` if one was made.
    pub(crate) fn held(&self, s: &str) -> Option<Arc<str>> {
        self.0.get(s).cloned()
    }
}
