//! The `stagecraft` binary run as a user runs it, against sandbox organizations: its arguments,
//! what it prints, its exit codes. One test binary, one shared demo organization.

mod audit;
mod commands;
mod deletions;
mod deploy;
mod faults;
mod orgs;
mod publish;
mod secrets;
mod signin;
mod store;
mod terraform;
mod watch;

/// Runs the real `stagecraft` binary with `env` (the sandbox's variables), never touching the user's
/// own snapshot store: one per test process unless the arguments name one.
pub fn cli(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(args)
        .env_remove("STAGECRAFT_CONFIG")
        .env_remove("AWS_PROFILE")
        .env(
            "STAGECRAFT_STORE",
            std::env::temp_dir().join(format!("stagecraft-cli-test-{}.db", std::process::id())),
        )
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run stagecraft")
}
