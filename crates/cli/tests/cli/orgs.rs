// Two organizations scanned into one store, as a consultant with two clients (or a company with a
// main and a sandbox organization) has them: history, diffs and deletions stay within each.

use stagecraft_sandbox::harness;

use crate::cli;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The demo organization scanned, then a second one, then the demo again: `diff` compares the
/// demo's two scans (not the second organization's with either), `snapshots` lists one
/// organization and names the other, `--org` picks it, `--all` shows both, comparing across
/// organizations is refused unless asked, and an unknown `--org` names what the store holds.
#[tokio::test(flavor = "multi_thread")]
async fn two_organizations_in_one_store_are_compared_only_within_each() {
    let demo = &harness::demo().sandbox;
    let (_turn, other) = harness::scratch().await;
    let other = &other.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("two.db").display().to_string();
    let with_store = |env: Vec<(String, String)>| {
        let mut env = env;
        env.push(("STAGECRAFT_STORE".into(), store.clone()));
        env
    };
    let (demo_env, other_env) = (with_store(demo.env_vars()), with_store(other.env_vars()));
    for env in [&demo_env, &other_env, &demo_env] {
        let out = cli(&["scan", "--json"], env);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&stdout(&cli(&["snapshots", "--all", "--json"], &demo_env)))
            .expect("json");
    let org_of = |id: i64| -> String {
        listed
            .iter()
            .find(|s| s["id"] == id)
            .and_then(|s| s["organization_id"].as_str())
            .expect("listed")
            .to_owned()
    };
    let ids: Vec<i64> = listed
        .iter()
        .rev()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    let [first, second, third] = ids[..] else {
        panic!("three snapshots: {listed:?}")
    };
    let (demo_org, other_org) = (org_of(first), org_of(second));
    assert_ne!(demo_org, other_org, "two organizations");
    assert_eq!(org_of(third), demo_org);

    // The default pair is the demo's two scans.
    let out = cli(&["diff"], &demo_env);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("snapshot {first} (")) && text.contains(&format!("→ {third} (")),
        "{text}"
    );
    assert!(
        text.lines().filter(|l| l.starts_with("+ ")).count() < 5,
        "a rescan of one organization, not a whole other one added:\n{text}"
    );

    // Comparing across organizations is refused, and says how to ask for it.
    let refused = cli(
        &["diff", &second.to_string(), &third.to_string()],
        &demo_env,
    );
    assert!(!refused.status.success());
    let why = stderr(&refused);
    assert!(
        why.contains(&other_org)
            && why.contains(&demo_org)
            && why.contains("--across-organizations"),
        "{why}"
    );
    let asked = cli(
        &[
            "diff",
            &second.to_string(),
            &third.to_string(),
            "--across-organizations",
        ],
        &demo_env,
    );
    assert!(asked.status.success(), "{}", stderr(&asked));

    // `snapshots` lists the profile's organization and names the other.
    let out = cli(&["snapshots"], &demo_env);
    let text = stdout(&out);
    assert!(text.contains(&format!("organization {demo_org}")), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(stderr(&out).contains(&other_org), "{}", stderr(&out));
    let only_other: Vec<serde_json::Value> = serde_json::from_str(&stdout(&cli(
        &["snapshots", "--org", &other_org, "--json"],
        &demo_env,
    )))
    .expect("json");
    assert_eq!(only_other.len(), 1);
    assert_eq!(only_other[0]["id"], second);

    // `--snapshot latest --org` reads that organization's newest snapshot.
    let out = cli(
        &[
            "audit",
            "--snapshot",
            "latest",
            "--org",
            &other_org,
            "--format",
            "json",
            "--fail-on",
            "high",
        ],
        &demo_env,
    );
    let audit: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!("audit json: {e}\n{}", stderr(&out));
    });
    assert_eq!(
        audit["organization_id"].as_str(),
        Some(other_org.as_str()),
        "{}",
        stderr(&out)
    );

    let unknown = cli(&["snapshots", "--org", "o-nothere"], &demo_env);
    assert!(!unknown.status.success());
    let why = stderr(&unknown);
    assert!(
        why.contains("o-nothere") && why.contains(&demo_org) && why.contains(&other_org),
        "{why}"
    );
}
