// `stagecraft publish`: a scan published to the sandbox's S3, each publish a new generation, and a
// wrong location or a missing bucket named with what to do.

use stagecraft_sandbox::harness;

use crate::cli;

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_publishes_generations_and_names_a_wrong_location() {
    let running = harness::start(stagecraft_sandbox::SeedSpec {
        stages: vec!["dev".into()],
        plant_problems: false,
        ..stagecraft_sandbox::SeedSpec::default()
    });
    let sb = &running.sandbox;
    let env = sb.env_vars();

    let out = cli(&["publish", "team-pub/org", "--no-store"], &env);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3://bucket/prefix"), "{err}");

    let out = cli(
        &["publish", "s3://no-such-team-bucket/org", "--no-store"],
        &env,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s3:PutObject") && err.contains("s3://no-such-team-bucket/org"),
        "{err}"
    );

    let master = sb.aws_env().sdk_config("master", None).await;
    aws_sdk_s3::Client::new(&master)
        .create_bucket()
        .bucket("team-pub")
        .send()
        .await
        .expect("bucket");
    let out = cli(
        &["publish", "s3://team-pub/org", "--no-store", "--json"],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(manifest["generation"], 1);
    assert!(
        manifest["published_by"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:")),
        "{manifest}"
    );
    let parts = manifest["parts"].as_array().expect("parts");
    let resources: u64 = parts
        .iter()
        .filter(|p| p["table"] == "resources")
        .filter_map(|p| p["rows"].as_u64())
        .sum();
    assert!(resources > 0, "{manifest}");

    let out = cli(&["publish", "s3://team-pub/org", "--no-store"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("published generation 2 to s3://team-pub/org: ")
            && said.contains(" resources"),
        "{said}"
    );
}

/// A scheduled scan in shards, as a CI matrix runs it: every shard given the team's hash key,
/// published under one run, assembled by any machine; a team lead's `stagecraft team` then opens
/// it and compares it with the local snapshot, hashes included.
#[tokio::test(flavor = "multi_thread")]
async fn shards_published_from_the_cli_assemble_and_the_team_snapshot_compares_with_the_local_one()
{
    let running = harness::start(stagecraft_sandbox::SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..stagecraft_sandbox::SeedSpec::default()
    });
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = sb.env_vars();
    env.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("lead.db").display().to_string(),
    ));
    let mut ci = env.clone();
    ci.push(("STAGECRAFT_HASH_KEY".into(), "07".repeat(32)));
    ci.push((
        "STAGECRAFT_STORE".into(),
        dir.path().join("ci.db").display().to_string(),
    ));
    let master = sb.aws_env().sdk_config("master", None).await;
    aws_sdk_s3::Client::new(&master)
        .create_bucket()
        .bucket("team-cli")
        .send()
        .await
        .expect("bucket");
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let bad = cli(&["scan", "--shard", "3/2", "--no-store"], &env);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("i/n"));
    let bad = cli(
        &["publish", "s3://team-cli/org", "--run", "x", "--no-store"],
        &env,
    );
    assert!(!bad.status.success(), "--run without --shard");

    // Shard 1 as the CI matrix runs it (nothing kept: scanned through a temporary store), shard 2
    // kept in the runner's store; both are published from the store's rows.
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let mut args = vec![
            "publish",
            "s3://team-cli/org",
            "--shard",
            &shard,
            "--run",
            "ci-42",
        ];
        if i == 1 {
            args.push("--no-store");
        }
        let said = ok(&cli(&args, &ci));
        assert!(
            said.starts_with(&format!(
                "published shard {i}/2 of run ci-42 to s3://team-cli/org"
            )),
            "{said}"
        );
    }
    // Until the shards are assembled, nothing is published.
    let out = cli(&["team", "s3://team-cli/org"], &env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is published"));
    let said = ok(&cli(
        &["publish", "s3://team-cli/org", "--assemble", "ci-42"],
        &ci,
    ));
    assert!(
        said.starts_with("published generation 1 to s3://team-cli/org: ")
            && said.contains("2 shards"),
        "{said}"
    );

    // The lead's own store hashes with a key of its own: the team's snapshot opens, and the
    // comparison says hashed values cannot show a difference.
    ok(&cli(&["scan"], &env));
    let team: serde_json::Value =
        serde_json::from_str(&ok(&cli(&["team", "s3://team-cli/org", "--json"], &env)))
            .expect("JSON");
    assert_eq!(team["generation"], 1);
    assert_eq!(team["shards"], 2);
    let c = &team["comparison"];
    assert_eq!(c["hashes_comparable"], false, "{c}");
    assert_eq!(
        c["diff"]["changed"].as_array().map(Vec::len),
        Some(0),
        "{c}"
    );
    assert!(c["hash_changes_left_out"].as_u64() > Some(0), "{c}");
    assert_eq!(c["diff"]["added"].as_array().map(Vec::len), Some(0), "{c}");
    assert_eq!(
        c["diff"]["removed"].as_array().map(Vec::len),
        Some(0),
        "{c}"
    );

    // Adopting the team's key needs it shared at the location, which only the publisher decides.
    let out = cli(&["team", "s3://team-cli/org", "--adopt-hash-key"], &env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--share-hash-key"));
    ok(&cli(
        &["publish", "s3://team-cli/org", "--share-hash-key"],
        &ci,
    ));
    ok(&cli(
        &["team", "s3://team-cli/org", "--adopt-hash-key"],
        &env,
    ));
    ok(&cli(&["scan"], &env));
    let said = ok(&cli(&["team", "s3://team-cli/org"], &env));
    assert!(
        said.contains("s3://team-cli/org generation 2: organization ")
            && said.contains(": 0 only in the team's, 0 only in the local one, 0 changed"),
        "{said}"
    );
    assert!(!said.contains("another key"), "{said}");
}
