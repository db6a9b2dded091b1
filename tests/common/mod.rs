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
