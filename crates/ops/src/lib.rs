//! What changes AWS, only when a user asks: the stage deploy (plan, preflight, the runner of real
//! Terraform and Serverless processes, stage locks, runs stored step by step) and the two undo
//! actions (restore a secret, cancel a key's deletion).

pub mod deploy;
pub mod publish;
pub mod undo;

use stagecraft_analysis::{deletion, graph, link};
use stagecraft_aws::credentials as aws;
use stagecraft_iac::{config, serverless};
use stagecraft_model as model;
pub use stagecraft_model::{Error, UiError};
use stagecraft_store as store;

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
