// `stagecraft deploy` with the real Terraform (1.0.3, the genuine binary from PyPI): the S3 backend
// in the management account under that account's own profile, the state written at the workspace's
// key under the DynamoDB lock, a second deploy meanwhile stopped by Terraform's own lock error, phase 3
// run for real, and the next scan reading the workspace. The root has no provider resources: the AWS
// provider cannot be downloaded on these machines.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagecraft_sandbox::{harness, SeedSpec};

const STATE_KEY: &str = "env:/qa/release/terraform.tfstate";

/// An HTTP state that Terraform's `http` backend reads during `apply` (while it holds the state
/// lock); it answers only once released, so the test decides how long the lock is held.
struct HoldServer {
    url: String,
    hits: Arc<AtomicU32>,
    release: tokio::sync::watch::Sender<bool>,
}

impl HoldServer {
    async fn start() -> HoldServer {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/state", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicU32::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let counter = counter.clone();
                let mut released = released.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    let body = r#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"hold","outputs":{},"resources":[]}"#;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(response.as_bytes()).await;
                });
            }
        });
        HoldServer { url, hits, release }
    }
}

/// One teammate's checkout: the test root copied (Terraform keeps `.terraform` in it), a
/// `stagecraft.toml` running the real Terraform on it, a store of their own.
fn checkout(
    sb: &stagecraft_sandbox::Sandbox,
    dir: &Path,
    backend_profile: &str,
    hold_url: Option<&str>,
) -> PathBuf {
    let root = dir.join("release");
    std::fs::create_dir_all(&root).expect("root dir");
    let main =
        std::fs::read_to_string(harness::repo().join("crates/cli/tests/roots/release/main.tf"))
            .expect("the test root");
    std::fs::write(
        root.join("main.tf"),
        main.replacen(
            "profile        = \"master\"",
            &format!("profile        = \"{backend_profile}\""),
            1,
        ),
    )
    .expect("write root");
    let mut toml = String::from("[organization]\nprofile = \"master\"\n");
    for (stage, account) in sb.seeded.stage_profiles() {
        toml.push_str(&format!(
            "\n[stages.{stage}]\naccount = \"{account}\"\nprofile = \"{stage}\"\n"
        ));
    }
    let endpoint = &sb.endpoint;
    toml.push_str(&format!(
        "\n[terraform]\ndir = \"release\"\nbinary = {:?}\ninit_args = [\"-backend-config=force_path_style=true\"]\n\n\
         [terraform.env]\nAWS_S3_ENDPOINT = \"{endpoint}\"\nAWS_DYNAMODB_ENDPOINT = \"{endpoint}\"\n\
         AWS_STS_ENDPOINT = \"{endpoint}\"\nCHECKPOINT_DISABLE = \"1\"\n",
        harness::real_terraform().display().to_string()
    ));
    if let Some(url) = hold_url {
        toml.push_str(&format!(
            "\n[terraform.by_workspace.qa.env]\nTF_VAR_hold_url = \"{url}\"\n"
        ));
    }
    toml.push_str("\n[deploy]\npost_deploy = \"always\"\n");
    let config = dir.join("stagecraft.toml");
    std::fs::write(&config, toml).expect("write config");
    config
}

fn deploy(sb: &stagecraft_sandbox::Sandbox, dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"));
    c.args(["deploy", "--stage", "qa", "--yes"])
        .env_remove("AWS_PROFILE")
        .envs(sb.env_vars())
        .env("STAGECRAFT_CONFIG", dir.join("stagecraft.toml"))
        .env("STAGECRAFT_STORE", dir.join("stagecraft.db"))
        .stdin(std::process::Stdio::null());
    c
}

async fn state_object(sb: &stagecraft_sandbox::Sandbox) -> Option<serde_json::Value> {
    let master = sb.aws_env().sdk_config("master", None).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&master)
            .force_path_style(true)
            .build(),
    );
    let object = s3
        .get_object()
        .bucket("acme-terraform-state")
        .key(STATE_KEY)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice(&bytes).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_terraform_deploys_the_workspace_under_its_lock_and_the_next_scan_reads_it() {
    let terraform = harness::real_terraform();
    let running = harness::start(SeedSpec::default());
    let sb = &running.sandbox;
    let hold = HoldServer::start().await;
    let work = tempfile::tempdir().expect("tempdir");

    // Someone whose AWS config lacks the profile the backend names: the preflight stops the deploy
    // before any step, naming the profile, the line that names it and the fix.
    let careless = work.path().join("careless");
    checkout(sb, &careless, "tfstate", None);
    let refused = deploy(sb, &careless).output().expect("deploy");
    let out = String::from_utf8_lossy(&refused.stdout);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{out}\n{err}");
    assert!(
        err.contains("profile `tfstate` (the S3 backend (state in s3://acme-terraform-state) at release/main.tf:11) is not defined in")
            && err.contains("add [profile tfstate] to"),
        "{err}"
    );
    assert!(!out.contains("── step"), "no step ran:\n{out}");
    assert!(state_object(sb).await.is_none(), "nothing was written");

    // The preview, with the real Terraform: workspace qa does not exist yet, and planning it would
    // create it (the S3 backend writes an empty state for a new workspace): it says so, and writes
    // nothing.
    let second_dir = work.path().join("second");
    checkout(sb, &second_dir, "master", None);
    let preview = |dir: &Path| {
        let out = deploy(sb, dir)
            .arg("--preview")
            .arg("--json")
            .output()
            .expect("preview");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let changes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        changes["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| {
                let changes: Vec<String> = s["changes"]
                    .as_array()
                    .expect("changes")
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} {}",
                            c["action"].as_str().unwrap_or(""),
                            c["address"].as_str().unwrap_or(""),
                            c["details"]
                        )
                    })
                    .collect();
                (
                    s["title"].as_str().unwrap_or("").to_owned(),
                    changes,
                    s["error"].clone(),
                    s["source"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = preview(&second_dir);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(before[0].0, "terraform apply (qa)");
    assert!(
        before[0].3.contains("workspace `qa` does not exist yet"),
        "{before:?}"
    );
    assert!(
        before[0].1.is_empty() && before[0].2.is_null(),
        "{before:?}"
    );
    assert_eq!(before[1].0, "terraform apply, post-deploy (qa)");
    assert!(
        state_object(sb).await.is_none(),
        "a preview writes no state"
    );

    // The first teammate deploys qa; its `apply` holds the state lock until the test lets go.
    let first_dir = work.path().join("first");
    checkout(sb, &first_dir, "master", Some(&hold.url));
    let first_log = std::fs::File::create(work.path().join("first.log")).expect("log");
    let mut first = deploy(sb, &first_dir)
        .stdout(first_log.try_clone().expect("log"))
        .stderr(first_log)
        .spawn()
        .expect("first deploy");
    let deadline = Instant::now() + Duration::from_secs(180);
    while hold.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            first.try_wait().expect("wait").is_none(),
            "the first deploy ended before its apply:\n{}",
            std::fs::read_to_string(work.path().join("first.log")).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "the first apply never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Meanwhile a second teammate (another checkout, another store) deploys qa too: Terraform's own
    // lock error stops their apply, and says who holds it.
    let second = deploy(sb, &second_dir).output().expect("second deploy");
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(!second.status.success(), "{out}");
    assert!(out.contains("Error acquiring the state lock"), "{out}");
    assert!(
        out.contains(&format!("Path:      acme-terraform-state/{STATE_KEY}")),
        "{out}"
    );
    assert!(out.contains("Operation: OperationTypeApply"), "{out}");
    let second_runs = stagecraft_store::Store::open(&second_dir.join("stagecraft.db"))
        .expect("store")
        .runs(Some("qa"))
        .expect("runs");
    let steps: Vec<(&str, &str)> = second_runs[0]
        .steps
        .iter()
        .map(|s| (s.title.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("terraform init (qa)", "succeeded"),
            ("select workspace (qa)", "succeeded"),
            ("terraform apply (qa)", "failed"),
        ]
    );

    // Let go: the first deploy runs phases 1 and 3 to the end.
    hold.release.send(true).expect("release");
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .expect("join")
        .expect("wait");
    let log = std::fs::read_to_string(work.path().join("first.log")).expect("log");
    assert!(status.success(), "{log}");
    assert!(
        log.contains("Terraform v1.0.3"),
        "the preflight names the version:\n{log}"
    );
    // Terraform 1.0 has no `workspace select -or-create`: select, then `new`.
    assert!(
        log.contains("$ ") && log.contains("workspace select qa"),
        "{log}"
    );
    assert!(
        log.contains("workspace select qa` failed: running `")
            && log.contains("workspace new qa` instead"),
        "{log}"
    );
    assert!(
        log.contains("Created and switched to workspace \"qa\"!"),
        "{log}"
    );
    assert!(!log.contains("\u{1b}["), "terminal colours are not kept");
    assert_eq!(
        hold.hits.load(Ordering::SeqCst),
        2,
        "the phase 1 apply and the phase 3 apply both ran for real"
    );
    let runs = stagecraft_store::Store::open(&first_dir.join("stagecraft.db"))
        .expect("store")
        .runs(Some("qa"))
        .expect("runs");
    let steps: Vec<(&str, &str)> = runs[0]
        .steps
        .iter()
        .map(|s| (s.title.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("terraform init (qa)", "succeeded"),
            ("select workspace (qa)", "succeeded"),
            ("terraform apply (qa)", "succeeded"),
            ("terraform apply, post-deploy (qa)", "succeeded"),
        ]
    );

    // The state is at the workspace's key, written by Terraform 1.0.3, with the root's outputs.
    let state = state_object(sb).await.expect("the workspace's state");
    assert_eq!(state["terraform_version"], "1.0.3");
    assert_eq!(state["outputs"]["stage"]["value"], "qa");
    // The lock was taken in the lock table and let go: only the state's digest is left there.
    let master = sb.aws_env().sdk_config("master", None).await;
    let items = aws_sdk_dynamodb::Client::new(&master)
        .scan()
        .table_name("acme-terraform-locks")
        .send()
        .await
        .expect("scan the lock table")
        .items
        .unwrap_or_default();
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("LockID").and_then(|v| v.as_s().ok()).cloned())
        .filter(|id| id.contains("release"))
        .collect();
    assert_eq!(ids, [format!("acme-terraform-state/{STATE_KEY}-md5")]);

    // The scan after the deploy reads the new workspace's state.
    let report = stagecraft_store::Store::open(&first_dir.join("stagecraft.db"))
        .expect("store")
        .latest()
        .expect("load")
        .expect("the scan after the deploy");
    let read = report
        .terraform
        .iter()
        .find(|t| t.location == format!("s3://acme-terraform-state/{STATE_KEY}"))
        .unwrap_or_else(|| {
            panic!(
                "the new state was not read: {:?}",
                report
                    .terraform
                    .iter()
                    .map(|t| &t.location)
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(read.workspace, "qa");
    assert_eq!(read.stage.as_deref(), Some("qa"));
    assert_eq!(read.terraform_version.as_deref(), Some("1.0.3"));
    // Deployed, the root's plan changes nothing (its outputs are in the state).
    let after = preview(&second_dir);
    assert_eq!(after[0].3, "terraform plan -lock=false, then show -json");
    assert!(after[0].1.is_empty() && after[0].2.is_null(), "{after:?}");
    assert!(terraform.is_file());
}
