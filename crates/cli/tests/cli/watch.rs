// `stagecraft scan --since-last` and `stagecraft watch`: the incremental refresh from the command
// line, against a sandbox organization whose proxy records each write as CloudTrail would.

use aws_types::app_name::AppName;
use stagecraft_sandbox::harness;

use crate::cli;

#[test]
fn watch_prints_a_console_change_with_who_and_the_finding_and_stores_the_refreshed_snapshot() {
    let running = harness::start(stagecraft_sandbox::SeedSpec {
        stages: vec!["dev".into()],
        ..stagecraft_sandbox::SeedSpec::default()
    });
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store.db");
    let mut env = sb.env_vars();
    env.push(("STAGECRAFT_STORE".into(), store.display().to_string()));
    let run = |args: &[&str]| {
        let out = cli(args, &env);
        let text = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{args:?}: {}\n{}", text.0, text.1);
        text
    };

    // No snapshot yet: the pass is a full scan, and says why.
    let (_, err) = run(&["scan", "--since-last"]);
    assert!(
        err.contains("scanned the whole organization: there is no snapshot"),
        "{err}"
    );
    // Nothing changed since.
    let (_, err) = run(&["scan", "--since-last"]);
    assert!(err.contains("no change since the snapshot of"), "{err}");

    // A Serverless function's handler changed in the console.
    let aws = sb.aws_env();
    let function = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let config = aws
                .sdk_config("dev", None)
                .await
                .into_builder()
                .app_name(AppName::new("console.amazonaws.com").expect("app"))
                .build();
            let lambda = aws_sdk_lambda::Client::new(&config);
            let name = lambda
                .list_functions()
                .send()
                .await
                .expect("ListFunctions")
                .functions()
                .iter()
                .filter_map(|f| f.function_name())
                .find(|n| n.contains("dev"))
                .expect("a function")
                .to_owned();
            lambda
                .update_function_configuration()
                .function_name(&name)
                .handler("edited.in_console")
                .send()
                .await
                .expect("UpdateFunctionConfiguration");
            name
        });

    let (out, err) = run(&["watch", "--interval", "5", "--passes", "1", "--json"]);
    let pass: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let changes = pass["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{pass}");
    assert_eq!(changes[0]["action"], "UpdateFunctionConfiguration");
    assert_eq!(changes[0]["tool"], "console");
    let reread: Vec<&str> = pass["read_again"]
        .as_array()
        .expect("read_again")
        .iter()
        .filter_map(|r| r["collector"].as_str())
        .collect();
    assert_eq!(reread, ["lambda", "tags"], "{pass}");
    assert!(pass["full_scan"].is_null(), "{pass}");
    assert!(pass["snapshot"].is_i64(), "stored: {pass}\n{err}");
    let findings = pass["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["rule"] == "changed-outside-owner"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("the AWS console"))),
        "{pass}"
    );

    // The refreshed snapshot is the organization's latest.
    let (json, _) = run(&["snapshots", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(listed[0]["id"], pass["snapshot"], "{listed}");

    // In words, without --json: the next pass sees nothing new.
    let (out, err) = run(&["watch", "--interval", "5", "--passes", "1"]);
    assert!(out.trim().is_empty(), "{out}");
    assert!(err.contains("no change since"), "{err}");
    assert!(!function.is_empty());
}
