// One store shared by several processes at once, as the window, the CLI, a scheduled scan and a
// deploy share it in daily use.

use stagecraft_sandbox::harness;

/// Every `sha256:` value of a stored report (the keyed hashes of environment values).
fn hashes(report: &stagecraft_model::ScanReport) -> std::collections::BTreeSet<String> {
    let text = serde_json::to_string(report).expect("json");
    text.split('"')
        .filter(|s| s.starts_with("sha256:"))
        .map(str::to_owned)
        .collect()
}

/// Eight `stagecraft snapshots` on a store that does not exist yet, then four `stagecraft scan` on
/// another new store while this process records a deploy run in it and reads it: every process
/// succeeds, every snapshot and the run are there, and every scan hashed with the one key.
#[test]
fn processes_opening_and_writing_one_new_store_at_once_all_succeed() {
    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |args: &[&str], store: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .args(args)
            .env_remove("AWS_PROFILE")
            .envs(sb.env_vars())
            .env("STAGECRAFT_STORE", store)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start stagecraft")
    };
    let fresh = dir.path().join("fresh.db");
    let opened: Vec<_> = (0..8).map(|_| start(&["snapshots"], &fresh)).collect();
    for child in opened {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let shared = dir.path().join("shared.db");
    let scans: Vec<_> = (0..4)
        .map(|_| start(&["scan", "--json"], &shared))
        .collect();
    // Meanwhile this process records a deploy run and reads the history, as the window does.
    let plan = stagecraft_model::deploy::Plan {
        stage: "qa".into(),
        account_id: None,
        profile: "qa".into(),
        protected: false,
        state_location: None,
        steps: Vec::new(),
    };
    // Its first open races the scans' own: it must succeed like theirs.
    let store = stagecraft_store::Store::open(&shared).expect("open beside the scans");
    let run_id = store
        .start_run(&plan, "someone", "2026-12-02T00:00:00Z")
        .expect("run");
    store
        .finish_run(
            run_id,
            stagecraft_model::deploy::Outcome::Succeeded,
            "2026-12-02T00:00:01Z",
        )
        .expect("finish");
    store.list().expect("read the history");
    drop(store);
    for child in scans {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = stagecraft_store::Store::open(&shared).expect("store");
    let snapshots = store.list().expect("list");
    assert_eq!(snapshots.len(), 4, "every scan's snapshot is there");
    let runs = store.runs(Some("qa")).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_str(), "succeeded");
    let reports: Vec<_> = snapshots
        .iter()
        .map(|s| store.load(s.id).expect("load"))
        .collect();
    let first = hashes(&reports[0]);
    assert!(
        !first.is_empty(),
        "the demo's functions have hashed environments"
    );
    for r in &reports[1..] {
        assert_eq!(hashes(r), first, "every scan hashed with the same key");
    }
}
