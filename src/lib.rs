//! Stagecraft core: everything that discovers, collects, classifies, links, audits, stores and deploys.
//!
//! The crate never depends on Tauri. The CLI (`src/bin/stagecraft.rs`), the tests and the desktop shell
//! (`src-tauri/`) all call the same functions here. Modules follow the data flow of a scan:
//! `config` → `aws` → `discover` → `collect` → `scan`, with `sandbox` building the local organization the
//! tests and the demo run against.

pub mod analysis;
pub mod audit;
pub mod aws;
pub mod collect;
pub mod config;
pub mod deletion;
pub mod deploy;
pub mod discover;
pub mod error;
pub mod graph;
pub mod link;
pub mod logging;
pub mod matrix;
pub mod model;
pub mod own;
pub mod sandbox;
pub mod scan;
pub mod serverless;
pub mod store;
pub mod terraform;

#[cfg(test)]
pub(crate) mod testkit;

pub use error::{Error, UiError};

/// Who acts, for the records of deploys and actions: `$USER` (or `$USERNAME`), else the login name of
/// this process's user id (a service or a test harness may run without `$USER`), else `uid <n>`.
pub fn local_user() -> String {
    user_named(
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .ok(),
    )
}

fn user_named(from_env: Option<String>) -> String {
    from_env.filter(|u| !u.is_empty()).unwrap_or_else(|| {
        let uid = nix::unistd::getuid();
        match nix::unistd::User::from_uid(uid) {
            Ok(Some(user)) => user.name,
            _ => format!("uid {uid}"),
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_local_user_has_a_name_even_without_user_in_the_environment() {
        assert_eq!(super::user_named(Some("ana".into())), "ana");
        // This machine's user has a passwd entry (the harness may still run without `$USER`).
        let uid = nix::unistd::getuid();
        let expected = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or(format!("uid {uid}"), |u| u.name);
        assert_eq!(super::user_named(None), expected);
        assert_eq!(super::user_named(Some(String::new())), expected);
        assert!(!expected.is_empty());
    }
}
