// `stagecraft audit` and `stagecraft graph` on the sandbox organization: the exit codes CI gates on,
// the exports read back.

use stagecraft_sandbox::harness;
use stagecraft_sandbox::SeedSpec;

use crate::cli;

#[test]
fn the_cli_audit_fails_on_the_sandbox_and_the_graph_exports_read_back() {
    let sb = &harness::demo().sandbox;
    let env = sb.env_vars();
    let out = cli(&["audit", "--json", "--no-store"], &env);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 12);
    // The secret deleted by hand in qa's console after Terraform's apply: its owner did not.
    assert!(
        findings.iter().any(|f| f["rule"] == "changed-outside-owner"
            && f["stage"] == "qa"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("legacy_api_key")
                    && m.contains("the AWS console")
                    && m.contains("DeleteSecret"))),
        "{findings:#?}"
    );
    for f in findings {
        for key in ["rule", "severity", "stage", "message", "fix"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        assert!(f["resources"].as_array().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(v["counts"]["high"], 3);

    // Below the threshold it passes; one stage can be asked for.
    let low_only = cli(
        &["audit", "--no-store", "--stage", "dev", "--fail-on", "high"],
        &env,
    );
    assert_eq!(low_only.status.code(), Some(3), "dev has a conflict (high)");
    let qa = cli(
        &["audit", "--no-store", "--stage", "qa", "--fail-on", "high"],
        &env,
    );
    assert_eq!(
        qa.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&qa.stdout)
    );
    let unknown = cli(&["audit", "--no-store", "--stage", "staging"], &env);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("no account of the snapshot is stage `staging`"));

    let json = cli(
        &["graph", "--no-store", "--format", "json", "--stage", "qa"],
        &env,
    );
    assert!(json.status.success());
    let g: serde_json::Value = serde_json::from_slice(&json.stdout).expect("graph JSON");
    let links = g["links"].as_array().expect("links");
    for kind in [
        "ssm-write",
        "ssm-read",
        "names",
        "attached-policy",
        "mapping",
    ] {
        assert!(
            links.iter().any(|l| l["kind"] == kind),
            "no {kind} link in qa"
        );
    }
    assert!(g["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .all(|n| n["stage"] == "qa"));

    let dot = cli(&["graph", "--no-store", "--format", "dot"], &env);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph stagecraft {") && dot.contains("label=\"ssm-read\""));
    let mermaid = cli(
        &[
            "graph",
            "--no-store",
            "--format",
            "mermaid",
            "--focus",
            "/db_pw_name",
        ],
        &env,
    );
    assert_eq!(
        mermaid.status.code(),
        Some(1),
        "/db_pw_name exists in three stages: the name alone is ambiguous"
    );
    assert!(String::from_utf8_lossy(&mermaid.stderr).contains("names 3 nodes"));
    let mermaid = cli(
        &[
            "graph",
            "--no-store",
            "--format",
            "mermaid",
            "--stage",
            "prod",
            "--focus",
            "/db_pw_name",
        ],
        &env,
    );
    let text = String::from_utf8_lossy(&mermaid.stdout);
    assert!(text.starts_with("flowchart LR"), "{text}");
    assert!(text.contains("database_password") && text.contains("|ssm-read|"));

    let md = cli(&["audit", "--no-store", "--format", "markdown"], &env);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("# Stagecraft audit") && md.contains("## Stage prod"));
}

#[test]
fn a_clean_organization_audits_clean() {
    let running = harness::start(SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..SeedSpec::default()
    });
    let out = cli(&["audit", "--no-store"], &running.sandbox.env_vars());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "no findings");
}
