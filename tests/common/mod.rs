//! The integration-test harness: one sandbox organization per test binary, started once and stopped when
//! the binary exits (the emulator is tied to this process).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use stagecraft::sandbox::{self, Running, SeedSpec};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn venv() -> PathBuf {
    std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
}

/// The demo organization with its planted problems, shared by every test of this binary.
pub fn demo() -> &'static Running {
    static DEMO: OnceLock<Running> = OnceLock::new();
    DEMO.get_or_init(|| start(SeedSpec::default()))
}

/// Starts a sandbox on a runtime of its own (tests run on theirs; one cannot block inside another).
pub fn start(spec: SeedSpec) -> Running {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(sandbox::start_scratch(
            &venv(),
            Some(&repo().join("examples")),
            spec,
        ))
        .unwrap_or_else(|e| panic!("starting the sandbox: {e}"))
    })
    .join()
    .expect("sandbox thread")
}

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
