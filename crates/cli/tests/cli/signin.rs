// `stagecraft login` and `stagecraft scan --sso-role`, and `stagecraft init`, as a user runs them.

use std::io::BufRead as _;

use stagecraft_sandbox::harness;

/// `stagecraft login --profile sso` shows a code and waits; approved on the sign-in page, it lists
/// the four accounts with their roles, and a scan with `--sso-role ReadOnlyAccess` reaches every
/// member account through the sign-in. HOME is a fresh directory: the token lands in its
/// `~/.aws/sso/cache`, where the next process (and the AWS CLI) reads it.
#[tokio::test(flavor = "multi_thread")]
async fn login_then_a_scan_through_the_sign_in() {
    let sb = &harness::demo().sandbox;
    let home = tempfile::tempdir().expect("home");
    let env: Vec<(String, String)> = sb
        .env_vars()
        .into_iter()
        .filter(|(k, _)| k != "STAGECRAFT_CONFIG")
        .chain([("HOME".to_owned(), home.path().display().to_string())])
        .collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(["login", "--profile", "sso"])
        .env_remove("AWS_PROFILE")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stagecraft login");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let first = lines.next().expect("a line").expect("text");
    let page = first
        .split_whitespace()
        .find(|w| w.contains("user_code="))
        .unwrap_or_else(|| panic!("no sign-in page in {first:?}"))
        .to_owned();
    assert!(
        stagecraft_sandbox::approve_sign_in(&page)
            .await
            .expect("approve"),
        "{page}"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("signed in to") && l.contains(".aws/sso/cache")),
        "{rest:?}"
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(listed
        .lines()
        .all(|l| l.ends_with("AdministratorAccess,ReadOnlyAccess")));

    let examples = harness::repo().join("examples/stagecraft.toml");
    let out = super::cli(
        &[
            "scan",
            "--profile",
            "sso",
            "--sso-role",
            "ReadOnlyAccess",
            "--config",
            &examples.display().to_string(),
            "--no-store",
            "--json",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: stagecraft_model::ScanReport =
        serde_json::from_slice(&out.stdout).expect("report json");
    assert_eq!(report.accounts.len(), 4);
    for a in report.accounts.iter().filter(|a| !a.is_management) {
        assert_eq!(
            a.access,
            Some(stagecraft_model::Access::Sso {
                role_name: "ReadOnlyAccess".into(),
                profile: "sso".into()
            })
        );
        assert_eq!(a.status, stagecraft_model::AccountStatus::Ok, "{a:?}");
    }

    // Signed out, a scan says to sign in again and how.
    let out = super::cli(&["login", "--profile", "sso", "--logout"], &env);
    assert!(out.status.success());
    let out = super::cli(
        &[
            "scan",
            "--profile",
            "sso",
            "--sso-role",
            "ReadOnlyAccess",
            "--no-store",
        ],
        &env,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sign in again") && err.contains("stagecraft login --profile sso"),
        "{err}"
    );
}

/// `stagecraft init DIR` prints the config it would write and `--write` saves it; an existing one
/// is left alone.
#[test]
fn init_proposes_a_config_and_never_replaces_one() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("infra")).expect("infra");
    std::fs::write(
        dir.path().join("infra/main.tf"),
        "terraform {\n  backend \"s3\" {}\n}\n",
    )
    .expect("tf");
    std::fs::create_dir_all(dir.path().join("svc")).expect("svc");
    std::fs::write(dir.path().join("svc/serverless.yml"), "service: svc\n").expect("yml");
    let d = dir.path().display().to_string();
    let out = super::cli(&["init", &d], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dir = \"infra\"") && text.contains("services = [\"svc\"]"),
        "{text}"
    );
    assert!(!dir.path().join("stagecraft.toml").exists());
    let out = super::cli(&["init", &d, "--write"], &[]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stagecraft.toml")).expect("written"),
        text
    );
    let out = super::cli(&["init", &d, "--write"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists (nothing changed)"));
}
