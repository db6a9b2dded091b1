// Publishing a snapshot to S3 (moto, in an organization of its own): every table read back whole
// from the manifest's parts, a publisher stopped before its manifest leaves the previous generation
// the visible one, two publishers never share a generation, and a broken manifest is named.

use std::collections::BTreeSet;

use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_ops::publish::{self, Destination};
use stagecraft_sandbox::{harness, SeedSpec, MASTER_PROFILE};

const PUBLISHER: &str = "arn:aws:iam::000000000000:user/team-lead";

#[tokio::test]
async fn a_published_snapshot_is_read_back_whole_and_a_stopped_publisher_hides_nothing() {
    let running = harness::start(SeedSpec {
        stages: vec!["dev".into()],
        plant_problems: false,
        ..SeedSpec::default()
    });
    let sb = &running.sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    assert!(!report.resources.is_empty());
    let master = sb.aws_env().sdk_config(MASTER_PROFILE, None).await;
    let s3 = aws_sdk_s3::Client::new(&master);
    s3.create_bucket()
        .bucket("team-stagecraft")
        .send()
        .await
        .expect("bucket");
    let dest: Destination = "s3://team-stagecraft/org/".parse().expect("destination");
    assert_eq!(publish::latest(&s3, &dest).await.expect("latest"), None);

    // Published: a generation whose manifest names every part, each table whole.
    let first = publish::stage(&s3, &dest, &report, &[], PUBLISHER)
        .await
        .expect("stage")
        .commit(&s3)
        .await
        .expect("commit");
    assert_eq!(first.generation, 1);
    assert_eq!(first.published_by, PUBLISHER);
    assert_eq!(first.organization_id, report.organization.id);
    let seen = publish::latest(&s3, &dest)
        .await
        .expect("latest")
        .expect("a generation");
    assert_eq!(seen, first);
    let resources = publish::read_table(&s3, &dest, &seen, "resources")
        .await
        .expect("resources");
    assert_eq!(resources.len(), report.resources.len());
    let ids: BTreeSet<&str> = resources.iter().filter_map(|r| r["id"].as_str()).collect();
    let expected: BTreeSet<&str> = report.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    // Partitioned by account: each resource part holds that account's resources alone.
    for part in seen.parts.iter().filter(|p| p.table == "resources") {
        assert!(
            part.key.starts_with(&format!(
                "org/data/table=resources/run={}/account=",
                seen.run
            )),
            "{}",
            part.key
        );
        let n = report
            .resources
            .iter()
            .filter(|r| r.account_id == part.account)
            .count();
        assert_eq!(part.rows, n, "{}", part.key);
    }
    let graph = stagecraft_analysis::graph::Graph::build(&report);
    let links = publish::read_table(&s3, &dest, &seen, "links")
        .await
        .expect("links");
    assert_eq!(links.len(), graph.links().count());
    assert!(!links.is_empty());
    let coverage = publish::read_table(&s3, &dest, &seen, "coverage")
        .await
        .expect("coverage");
    assert_eq!(coverage.len(), report.coverage.accounts.len());

    // DuckDB reads the published layout as it is (Hive partitions, gzipped JSON Lines): the parts
    // the manifest names, copied under their keys, give the same resources per account.
    let copy = tempfile::tempdir().expect("tempdir");
    for part in &seen.parts {
        let bytes = s3
            .get_object()
            .bucket("team-stagecraft")
            .key(&part.key)
            .send()
            .await
            .expect("part")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        let path = copy.path().join(&part.key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, bytes).expect("write");
    }
    let glob = copy.path().join(format!(
        "org/data/table=resources/run={}/*/*.jsonl.gz",
        seen.run
    ));
    let query = format!(
        "import duckdb; print(duckdb.sql(\"select account, count(*) from read_json_auto('{}', \
         hive_partitioning = true, hive_types = {{'account': 'VARCHAR'}}) \
         group by account order by account\").fetchall())",
        glob.display()
    );
    let out = std::process::Command::new(harness::venv().join("bin/python"))
        .args(["-c", &query])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut per_account: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &report.resources {
        *per_account.entry(r.account_id.as_str()).or_default() += 1;
    }
    let expected: Vec<String> = per_account
        .iter()
        .map(|(a, n)| format!("('{a}', {n})"))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("[{}]", expected.join(", "))
    );

    // A publisher stopped after its parts, before its manifest: the first generation stays the
    // visible one, its rows unchanged.
    let stopped = publish::stage(
        &s3,
        &dest,
        &report,
        &[],
        "arn:aws:iam::000000000000:user/ci",
    )
    .await
    .expect("stage");
    drop(stopped);
    let still = publish::latest(&s3, &dest)
        .await
        .expect("latest")
        .expect("one");
    assert_eq!(still, first);

    // Two publishers at once: each claims a generation of its own, naming only its own parts.
    let a = publish::stage(&s3, &dest, &report, &[], PUBLISHER)
        .await
        .expect("stage a");
    let b = publish::stage(&s3, &dest, &report, &[], PUBLISHER)
        .await
        .expect("stage b");
    let (a, b) = tokio::join!(a.commit(&s3), b.commit(&s3));
    let (a, b) = (a.expect("a"), b.expect("b"));
    let generations: BTreeSet<u64> = [a.generation, b.generation].into();
    assert_eq!(generations, [2, 3].into());
    for m in [&a, &b] {
        assert!(m
            .parts
            .iter()
            .all(|p| p.key.contains(&format!("/run={}/", m.run))));
    }
    assert_ne!(a.run, b.run);

    // A manifest that is not one is named, with what to do.
    s3.put_object()
        .bucket("team-stagecraft")
        .key("org/generations/0000000099.json")
        .body(b"not json".to_vec().into())
        .send()
        .await
        .expect("put");
    let e = publish::latest(&s3, &dest)
        .await
        .expect_err("broken")
        .to_string();
    assert!(
        e.contains("s3://team-stagecraft/org/generations/0000000099.json")
            && e.contains("not a Stagecraft manifest"),
        "{e}"
    );
}
