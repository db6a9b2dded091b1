// The CLI contract, run as a user runs it: the real binary, its arguments, stdout and exit code.

use crate::cli;
use stagecraft_sandbox::harness;

use std::path::Path;
use std::process::{Command, Output};

fn stagecraft(args: &[&str], env: &[(String, String)]) -> Output {
    cli(args, env)
}

#[test]
fn scan_json_lists_the_accounts_with_stages_and_verified_identities() {
    let sb = &harness::demo().sandbox;
    let out = stagecraft(&["scan", "--json"], &sb.env_vars());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let accounts = report["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 4);
    for seeded in &sb.seeded.accounts {
        let a = accounts
            .iter()
            .find(|a| a["id"] == seeded.id.as_str())
            .expect("account");
        assert_eq!(a["stage"], seeded.stage.as_str());
        assert_eq!(a["status"], "ok");
        assert_eq!(a["identity"]["account"], seeded.id.as_str());
    }
}

#[test]
fn scan_json_is_the_resource_contract_and_scans_are_stored_and_diffed() {
    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("snapshots.db");
    let store = store.to_str().expect("utf-8");
    let mut reports = Vec::new();
    for _ in 0..2 {
        let out = stagecraft(&["scan", "--json", "--store", store], &sb.env_vars());
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        reports.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON"));
    }
    let resources = reports[1]["resources"].as_array().expect("resources");
    assert!(resources.len() > 100, "{}", resources.len());
    let kinds = [
        "terraform",
        "serverless",
        "cloudformation",
        "unmanaged",
        "conflict",
    ];
    for r in resources {
        for key in ["id", "type", "name", "account_id", "region"] {
            assert!(
                r[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {r}"
            );
        }
        assert!(r.get("stage").is_some(), "{r}");
        let kind = r["owner"]["kind"].as_str().expect("owner.kind");
        assert!(kinds.contains(&kind), "{kind}");
    }
    for kind in ["terraform", "serverless", "unmanaged", "conflict"] {
        assert!(
            resources.iter().any(|r| r["owner"]["kind"] == kind),
            "no {kind} resource"
        );
    }

    let out = stagecraft(&["snapshots", "--json", "--store", store], &[]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let out = stagecraft(&["diff", "--json", "--store", store], &[]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (diff["from"].as_i64(), diff["to"].as_i64()),
        (Some(1), Some(2))
    );
    // Nothing changed between the two scans.
    for key in ["added", "removed", "changed"] {
        assert_eq!(
            diff[key].as_array().map(Vec::len),
            Some(0),
            "{key}: {}",
            diff[key]
        );
    }
    let out = stagecraft(
        &[
            "diff",
            "--store",
            dir.path().join("empty.db").to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no snapshots yet"));
}

#[test]
fn scan_without_config_still_finds_stages() {
    let sb = &harness::demo().sandbox;
    let env: Vec<_> = sb
        .env_vars()
        .into_iter()
        .filter(|(k, _)| k != "STAGECRAFT_CONFIG")
        .collect();
    let out = stagecraft(&["scan", "--profile", "master"], &env);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    for stage in ["dev", "qa", "prod"] {
        assert!(
            table
                .lines()
                .any(|l| l.contains(&format!("acme-{stage}")) && l.contains('✔')),
            "{table}"
        );
    }
}

#[test]
fn a_malformed_workspace_config_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("stagecraft.toml");
    std::fs::write(&bad, "[stages.qa]\naccount = 42\n").expect("write");
    let out = stagecraft(
        &["scan", "--json", "--config", bad.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let body: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(body["error"]["code"], "config_invalid");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("stagecraft.toml") && message.contains("line 2"),
        "{message}"
    );
}

/// Stops a CLI-started sandbox even when an assertion fails.
struct Down<'a>(&'a Path);
impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = stagecraft(
            &[
                "sandbox",
                "down",
                "--dir",
                self.0.to_str().unwrap_or_default(),
            ],
            &[],
        );
    }
}

#[test]
fn sandbox_up_writes_profiles_and_down_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8").to_owned();
    let venv = harness::venv();
    let up = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args([
            "sandbox", "up", "--dir", &d, "--stages", "dev,prod", "--clean",
        ])
        .arg("--venv")
        .arg(&venv)
        .current_dir(harness::repo())
        .output()
        .expect("sandbox up");
    let _down = Down(dir.path());
    assert!(
        up.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let exports = String::from_utf8_lossy(&up.stdout);
    assert!(
        exports.contains(&format!(
            "export AWS_CONFIG_FILE='{}/aws-config'",
            dir.path().canonicalize().expect("dir").display()
        )),
        "{exports}"
    );
    let config = std::fs::read_to_string(dir.path().join("aws-config")).expect("aws-config");
    assert!(
        config.contains("[profile master]")
            && config.contains("[profile prod]")
            && !config.contains("[profile qa]")
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sandbox.json")).expect("record"),
    )
    .expect("json");
    assert_eq!(
        record["seeded"]["planted"].as_array().map(Vec::len),
        Some(0),
        "--clean plants nothing"
    );
    let pid = record["pid"].as_u64().expect("pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    // A second `up` on the same directory is refused while the first runs.
    let again = stagecraft(
        &[
            "sandbox",
            "up",
            "--dir",
            &d,
            "--venv",
            venv.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already runs"));

    let down = stagecraft(&["sandbox", "down", "--dir", &d], &[]);
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("stopped"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| !c.is_empty())
            .unwrap_or(false)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| c.is_empty())
            .unwrap_or(true),
        "moto still runs after down"
    );
}

#[test]
fn a_scan_that_leaves_a_region_out_exits_2_and_says_which_in_json_and_on_stderr() {
    let sb = &harness::spread().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("snapshots.db");
    let store = store.to_str().expect("utf-8");
    // All regions in use: complete, exit 0, with the coverage in the JSON.
    let out = stagecraft(&["scan", "--json", "--store", store], &sb.env_vars());
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["coverage"]["partial"], false);
    assert_eq!(report["coverage"]["region_source"], "in use");
    assert_eq!(
        report["regions"],
        serde_json::json!(["us-east-1", "eu-west-1"])
    );

    // Narrowed to one region: the second region's Terraform and Serverless resources are not seen.
    let out = stagecraft(
        &["scan", "--json", "--store", store, "--region", "us-east-1"],
        &sb.env_vars(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("region eu-west-1 of account") && stderr.contains("--region"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["coverage"]["partial"], true);
    assert_eq!(report["coverage"]["left_out"][0]["region"], "eu-west-1");
}
