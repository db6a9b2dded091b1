// `stagecraft deletions --json`: the documented shape.

use stagecraft_sandbox::harness;

use crate::cli;

#[test]
fn the_cli_lists_deletions_as_the_documented_json() {
    let running = harness::start(stagecraft_sandbox::SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        ..stagecraft_sandbox::SeedSpec::default()
    });
    let out = cli(
        &["deletions", "--json", "--no-store"],
        &running.sandbox.env_vars(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = v.as_array().expect("a list");
    assert_eq!(list.len(), 2);
    for p in list {
        for key in ["type", "name", "id", "account_id", "stage", "deletion_date"] {
            assert!(p[key].is_string(), "{key} in {p}");
        }
        assert!(p["blocks"].is_array());
    }
    let secret = list
        .iter()
        .find(|p| p["name"] == "legacy_api_key")
        .expect("secret");
    assert_eq!(secret["blocks"].as_array().map(Vec::len), Some(1));
}
