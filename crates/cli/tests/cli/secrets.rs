// No secret value of the sandbox reaches what the CLI prints, the store or an export.

use stagecraft_sandbox::harness;

use crate::cli;

/// Every secret of the sandbox holds a marker string. After a scan, neither what the CLI prints (with
/// its most detailed log level), nor the store's file, nor any export holds it.
#[test]
fn no_secret_value_reaches_logs_snapshots_or_exports() {
    use stagecraft_sandbox::SECRET_MARKER;
    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("stagecraft.db");
    let mut env = sb.env_vars();
    env.extend([
        ("STAGECRAFT_STORE".to_owned(), store.display().to_string()),
        ("STAGECRAFT_LOG".to_owned(), "trace".to_owned()),
    ]);
    let runs: [&[&str]; 9] = [
        &["scan", "--json"],
        &["scan"],
        &["graph", "--format", "json", "--snapshot", "latest"],
        &["graph", "--format", "dot", "--snapshot", "latest"],
        &["graph", "--format", "mermaid", "--snapshot", "latest"],
        &["audit", "--json", "--snapshot", "latest"],
        &["audit", "--format", "markdown", "--snapshot", "latest"],
        &["deletions", "--json"],
        &["snapshots"],
    ];
    for args in runs {
        let out = cli(args, &env);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 3)),
            "stagecraft {args:?} exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !String::from_utf8_lossy(bytes).contains(SECRET_MARKER),
                "a secret value leaked into the {what} of stagecraft {args:?}"
            );
        }
    }
    let db = std::fs::read(&store).expect("the store");
    assert!(db.len() > 10_000, "scans were stored");
    assert!(
        !db.windows(SECRET_MARKER.len())
            .any(|w| w == SECRET_MARKER.as_bytes()),
        "a secret value leaked into the store"
    );
}
