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
