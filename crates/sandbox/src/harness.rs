//! The integration tests' harness: sandbox organizations shared by the tests of one test binary,
//! started once and stopped when the binary exits (the emulator is tied to the process).
//!
//! Two shared organizations, so that no test sees another's changes:
//! - [`demo`] is read-only: tests scan it, count what is there, compare it with what was seeded;
//! - [`scratch`] is for tests that change an organization (add a parameter, then rescan): each holds
//!   it alone for its whole run, and puts back what it changed.
//!
//! A test that needs an organization shaped otherwise (clean, more stages, a missing role) starts
//! its own with [`start`].

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::{Running, SeedSpec};

/// The repository root (the examples, the docs, the front end are read from it).
pub fn repo() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}

/// The venv holding moto: `STAGECRAFT_VENV`, else `.venv` in the repository.
pub fn venv() -> PathBuf {
    std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
}

/// The demo organization with its planted problems, shared by every test of this binary. Never
/// change it: use [`scratch`] for that.
pub fn demo() -> &'static Running {
    static DEMO: OnceLock<Running> = OnceLock::new();
    DEMO.get_or_init(|| start(SeedSpec::default()))
}

/// The `spread` organization (state in a tooling account, a second region, SAM and CDK stacks),
/// shared read-only like [`demo`].
pub fn spread() -> &'static Running {
    static SPREAD: OnceLock<Running> = OnceLock::new();
    SPREAD.get_or_init(|| {
        start(SeedSpec {
            shape: crate::Shape::Spread,
            ..SeedSpec::default()
        })
    })
}

/// A second demo organization for tests that change what is in it, one test at a time: the guard
/// holds it until the test ends.
pub async fn scratch() -> (tokio::sync::MutexGuard<'static, ()>, &'static Running) {
    static SCRATCH: OnceLock<Running> = OnceLock::new();
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = TURN.lock().await;
    let running = match SCRATCH.get() {
        Some(r) => r,
        None => {
            let started = tokio::task::spawn_blocking(|| start(SeedSpec::default()))
                .await
                .expect("sandbox thread");
            SCRATCH.get_or_init(|| started)
        }
    };
    (guard, running)
}

/// Starts a sandbox on a runtime of its own (tests run on theirs; one cannot block inside another).
pub fn start(spec: SeedSpec) -> Running {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(crate::start_scratch(
            &venv(),
            Some(&repo().join("examples")),
            spec,
        ))
        .unwrap_or_else(|e| panic!("starting the sandbox: {e}"))
    })
    .join()
    .expect("sandbox thread")
}

/// The venv with the pinned Terraform and the stand-in's parser; a test that needs it fails here,
/// saying how to get it, rather than passing without it.
pub fn terraform_home() -> PathBuf {
    crate::terraform::home(Some(&repo().join("examples"))).unwrap_or_else(|| {
        panic!(
            "Terraform {} is not installed: run scripts/test (it installs it) or set STAGECRAFT_TERRAFORM_HOME",
            crate::terraform::PINNED_VERSION
        )
    })
}

/// The real Terraform (the pinned 1.0.3).
pub fn real_terraform() -> PathBuf {
    crate::terraform::real(&terraform_home())
}

/// The recording stand-in for Terraform, for roots with AWS resources (their provider cannot be
/// downloaded here): written once per test binary.
pub fn terraform_stand_in() -> PathBuf {
    static STAND_IN: OnceLock<PathBuf> = OnceLock::new();
    STAND_IN
        .get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("stagecraft-stand-in-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("stand-in dir");
            crate::terraform::write_stand_in(&terraform_home(), &dir).expect("writing the stand-in")
        })
        .clone()
}

/// The calls the stand-in recorded in `path`, as `<last dir part>|<AWS_PROFILE>|<args>`, and the
/// profiles it resolved as `<…>|resolved <profile> for <what>` (version probes left out).
pub fn stand_in_calls(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, '|');
            let dir = parts.next().unwrap_or("");
            let dir = dir.rsplit('/').next().unwrap_or(dir);
            format!(
                "{dir}|{}|{}",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            )
        })
        .filter(|l| !l.ends_with("|--version") && !l.ends_with("|version -json"))
        .collect()
}
