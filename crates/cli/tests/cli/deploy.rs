// `stagecraft deploy` killed mid-step: the run is interrupted, its leftover step holds the stage.

use stagecraft_sandbox::harness;

/// The deploying process (here the CLI) is killed with SIGKILL in the middle of `terraform apply`.
/// The step, in its own process group, runs on: the stage stays held, the run is recorded as
/// interrupted with what the step had printed, and the leftover step can be stopped.
#[tokio::test]
async fn a_deploy_killed_mid_step_is_interrupted_and_its_leftover_step_holds_the_stage() {
    use stagecraft_ops::deploy::{self, lock};

    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo workspace (Terraform through the recording stand-in) without its services.
    let text = std::fs::read_to_string(sb.workspace_file()).expect("workspace");
    let text = match (text.find("[serverless]"), text.find("[deploy")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], &text[b..]),
        _ => text,
    };
    assert!(
        text.contains("terraform-stand-in"),
        "the sandbox's workspace runs the demo root with the Terraform stand-in:\n{text}"
    );
    let config = dir.path().join("stagecraft.toml");
    std::fs::write(&config, text).expect("write workspace");
    let store = dir.path().join("stagecraft.db");
    let record = dir.path().join("terraform-calls");
    let hold = dir.path().join("hold-apply");
    std::fs::write(&hold, "").expect("hold");
    let mut env = sb.env_vars();
    env.extend([
        ("STAGECRAFT_CONFIG".into(), config.display().to_string()),
        ("STAGECRAFT_STORE".into(), store.display().to_string()),
        (
            "TERRAFORM_STAND_IN_RECORD".into(),
            record.display().to_string(),
        ),
        ("TERRAFORM_STAND_IN_HOLD".into(), hold.display().to_string()),
    ]);
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"));
        c.args(args)
            .env_remove("AWS_PROFILE")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null());
        c
    };
    let mut first = cli(&["deploy", "--stage", "dev", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the deploy");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !harness::stand_in_calls(&record)
        .iter()
        .any(|l| l.ends_with("apply -input=false -auto-approve"))
    {
        assert!(std::time::Instant::now() < deadline, "apply never started");
        assert!(
            first.try_wait().expect("wait").is_none(),
            "the deploy ended early"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Let the stand-in print its first line, then kill the deploying process alone.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let holder = lock::live_holder(dir.path(), "dev").expect("the stage is still held");
    assert!(!holder.running, "its process is gone");
    let step = holder.step.clone().expect("by the step it left running");
    assert_eq!(
        (step.index, step.title.as_str()),
        (2, "terraform apply (dev)")
    );

    // A second deploy is refused, naming the step that still runs.
    let refused = cli(&["deploy", "--stage", "dev", "--yes"])
        .output()
        .expect("second deploy");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("was interrupted, but its step 3 `terraform apply (dev)` still runs"),
        "{stderr}"
    );

    // The run is interrupted; what was done and what the step printed are kept.
    let gone = deploy::mark_interrupted(&store).expect("mark");
    assert_eq!(gone.len(), 1);
    let runs = stagecraft_store::Store::open(&store)
        .expect("store")
        .runs(Some("dev"))
        .expect("runs");
    let run = runs.iter().find(|r| r.id == gone[0]).expect("the run");
    assert_eq!(run.outcome.as_str(), "interrupted");
    assert!(run.finished_at.is_some());
    let outcomes: Vec<&str> = run.steps.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["succeeded", "succeeded", "interrupted"]);
    assert!(run.steps[0]
        .log
        .contains("Terraform has been successfully initialized!"));
    let log = &run.steps[2].log;
    assert!(log.contains("Acquiring state lock"), "{log}");
    assert!(
        log.contains("[the app stopped while this step ran]"),
        "{log}"
    );
    assert!(log.contains(&format!("group {}", step.pgid)), "{log}");

    // Stopping the leftover frees the stage; the next deploy runs to the end.
    let stopped = deploy::stop_leftover(&store, "dev")
        .await
        .expect("stop")
        .expect("something was stopped");
    assert!(stopped.contains("terraform apply (dev)"), "{stopped}");
    assert!(!step.alive(), "the step's process group is gone");
    assert!(lock::live_holder(dir.path(), "dev").is_none());
    std::fs::remove_file(&hold).expect("release");
    let again = cli(&["deploy", "--stage", "dev", "--yes"])
        .output()
        .expect("third deploy");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// `deploy --stage qa --preview --json` on the demo organization prints, for every step that changes
/// something, what it would change, and runs nothing. (An organization of its own: a preview makes
/// and deletes change sets, which a scan running beside it would see.)
#[tokio::test(flavor = "multi_thread")]
async fn the_preview_of_qa_prints_every_steps_changes_as_json() {
    let running = harness::start(stagecraft_sandbox::SeedSpec::default());
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("terraform-calls");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["deploy", "--stage", "qa", "--preview", "--json"])
        .env_remove("AWS_PROFILE")
        .envs(sb.env_vars())
        .env("STAGECRAFT_STORE", dir.path().join("stagecraft.db"))
        .env("TERRAFORM_STAND_IN_RECORD", &record)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("preview");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let changes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let steps: Vec<(&str, usize)> = changes["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            assert!(s["error"].is_null(), "{s}");
            (
                s["title"].as_str().unwrap_or(""),
                s["changes"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        steps.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [
            "terraform apply (qa)",
            "deploy auth",
            "deploy users",
            "deploy orders",
            "deploy reports"
        ]
    );
    assert!(steps.iter().all(|(_, n)| *n > 0), "{steps:?}");
    assert_eq!(changes["destructive"], true);
    for step in [
        "preview: planning terraform apply (qa)",
        "preview: packaging and a change set for deploy reports",
    ] {
        assert!(stderr.contains(step), "progress on stderr: {stderr}");
    }
    // Terraform only planned: the stand-in (the demo root's provider cannot be downloaded here) was
    // never asked to select a workspace or apply.
    let calls = harness::stand_in_calls(&record);
    let asked: Vec<&str> = calls
        .iter()
        .filter(|c| !c.contains("|resolved "))
        .filter_map(|c| c.splitn(3, '|').nth(2))
        .map(|args| args.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(asked, ["init", "workspace", "plan", "show"], "{calls:?}");
    // Nothing ran: no deploy is recorded.
    let runs = stagecraft_store::Store::open(&dir.path().join("stagecraft.db"))
        .expect("store")
        .runs(Some("qa"))
        .expect("runs");
    assert!(runs.is_empty());
}
