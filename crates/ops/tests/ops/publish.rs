// Publishing a snapshot to S3 (moto, in an organization of its own): every table read back whole
// from the manifest's parts, a publisher stopped before its manifest leaves the previous generation
// the visible one, two publishers never share a generation, and a broken manifest is named.

use std::collections::BTreeSet;

use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_ops::publish::{self, Destination};
use stagecraft_sandbox::{harness, SeedSpec, MASTER_PROFILE};

const PUBLISHER: &str = "arn:aws:iam::000000000000:user/team-lead";

fn by(arn: &str) -> publish::Publisher {
    publish::Publisher {
        arn: arn.to_owned(),
    }
}

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
    let first = publish::stage(&s3, &dest, &report, &[], &by(PUBLISHER))
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

    // Opened again, the generation is the snapshot: every resource with its owner, every account.
    let (manifest, opened) = publish::open(&s3, &dest, None)
        .await
        .expect("open")
        .expect("a generation");
    assert_eq!(manifest, seen);
    assert_eq!(opened.resources, report.resources);
    assert_eq!(opened.accounts, report.accounts);
    assert_eq!(opened.terraform, report.terraform);
    assert_eq!(opened.coverage, report.coverage);

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
        &by("arn:aws:iam::000000000000:user/ci"),
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
    let a = publish::stage(&s3, &dest, &report, &[], &by(PUBLISHER))
        .await
        .expect("stage a");
    let b = publish::stage(&s3, &dest, &report, &[], &by(PUBLISHER))
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

    // A part altered in the bucket is named by its key and line, not read as something else.
    let part = first
        .parts
        .iter()
        .find(|p| p.table == "resources")
        .expect("a resource part");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"{\"id\": \"x\"}\n").expect("gzip");
    for (body, says) in [
        (gz.finish().expect("gzip"), "line 1: not a resource"),
        (b"{}".to_vec(), "is not gzipped JSON Lines"),
    ] {
        s3.put_object()
            .bucket("team-stagecraft")
            .key(&part.key)
            .body(body.into())
            .send()
            .await
            .expect("put");
        let e = publish::open(&s3, &dest, Some(first.generation))
            .await
            .expect_err("a broken part")
            .to_string();
        assert!(
            e.contains(&format!("s3://team-stagecraft/{}", part.key)) && e.contains(says),
            "{e}"
        );
    }

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

/// Owner kind per resource id.
fn owners(report: &stagecraft_model::ScanReport) -> std::collections::BTreeMap<String, String> {
    report
        .resources
        .iter()
        .map(|r| (r.id.clone(), r.owner.kind().to_owned()))
        .collect()
}

/// On an organization whose Terraform state lives in a tooling account (no stagecraft.toml), the
/// shards of a scan, published under one run and assembled, give the snapshot one machine takes:
/// a state in one shard's account still owns what it manages in another's.
#[tokio::test(flavor = "multi_thread")]
async fn the_shards_of_a_scan_assemble_into_the_snapshot_one_machine_would_have_taken() {
    use stagecraft_model::coverage::Shard;
    use stagecraft_model::AccountStatus;
    let running = tokio::task::block_in_place(|| {
        harness::start(SeedSpec {
            shape: stagecraft_sandbox::Shape::Spread,
            ..SeedSpec::default()
        })
    });
    let sb = &running.sandbox;
    let ws = Workspace::default();
    let env = sb.aws_env();
    // One key for every shard (a team's STAGECRAFT_HASH_KEY), so their hashes compare.
    let opts = ScanOptions {
        profile: Some(MASTER_PROFILE.into()),
        hasher: Some(stagecraft_model::ValueHasher::new([9; 32])),
        ..ScanOptions::default()
    };
    let master = env.sdk_config(MASTER_PROFILE, None).await;
    let s3 = aws_sdk_s3::Client::new(&master);
    s3.create_bucket()
        .bucket("team-shards")
        .send()
        .await
        .expect("bucket");
    let whole = scan::scan(&env, &ws, &opts, &|_| {}).await.expect("scan");
    // As few shards as put a state's account and an account it owns resources in apart.
    let state_accounts: BTreeSet<&str> = whole
        .terraform
        .iter()
        .filter_map(|t| t.account_id.as_deref())
        .collect();
    let owned_accounts: BTreeSet<&str> = whole
        .resources
        .iter()
        .filter(|r| r.owner.kind() == "terraform")
        .map(|r| r.account_id.as_str())
        .collect();
    assert!(!state_accounts.is_empty() && !owned_accounts.is_empty());
    let count = (2..=8)
        .find(|&count| {
            let of = |id: &str| (1..=count).find(|&index| Shard { index, count }.holds(id));
            state_accounts
                .iter()
                .any(|s| owned_accounts.iter().any(|o| of(s) != of(o)))
        })
        .expect("some shard count splits a state from what it owns");
    let dest: Destination = "s3://team-shards/org".parse().expect("destination");

    let mut shards = Vec::new();
    for index in 1..=count {
        let shard = Shard { index, count };
        let opts = ScanOptions {
            shard: Some(shard),
            ..opts.clone()
        };
        let part = scan::scan(&env, &ws, &opts, &|_| {}).await.expect("shard");
        // A shard scans its own accounts and shows the others as another shard's.
        for a in &part.accounts {
            let other = a.status == AccountStatus::OtherShard;
            assert_eq!(other, !shard.holds(&a.id), "{} in shard {shard}", a.id);
        }
        assert!(part.resources.iter().all(|r| shard.holds(&r.account_id)));
        assert_eq!(part.coverage.shard, Some(shard));
        // Every shard reads every state.
        assert_eq!(part.terraform.len(), whole.terraform.len(), "shard {shard}");
        shards.push(part);
    }

    // One shard published: nothing visible, and assembling names the missing shards.
    let run = "run-7";
    publish::stage_shard(
        &s3,
        &dest,
        run,
        &shards[0],
        &by("arn:aws:iam::000000000000:user/ci-1"),
    )
    .await
    .expect("shard 1");
    assert_eq!(publish::latest(&s3, &dest).await.expect("latest"), None);
    let e = publish::assemble(&s3, &dest, run, PUBLISHER, &[])
        .await
        .expect_err("a shard is missing")
        .to_string();
    assert!(e.contains(&format!("lacks shard(s) 2/{count}")), "{e}");
    // The same shard twice in one run is refused (a new scan takes a new run).
    let e = publish::stage_shard(&s3, &dest, run, &shards[0], &by(PUBLISHER))
        .await
        .expect_err("twice")
        .to_string();
    assert!(
        e.contains(&format!(
            "shard 1/{count} of run {run} is already published"
        )),
        "{e}"
    );
    // A shard's report is not a generation of its own.
    assert!(publish::stage(&s3, &dest, &shards[1], &[], &by(PUBLISHER))
        .await
        .is_err());
    for part in &shards[1..] {
        publish::stage_shard(
            &s3,
            &dest,
            run,
            part,
            &by("arn:aws:iam::000000000000:user/ci-n"),
        )
        .await
        .expect("shard");
    }
    let manifest = publish::assemble(&s3, &dest, run, PUBLISHER, &[])
        .await
        .expect("assemble");
    assert_eq!(
        Some(manifest.value_key.clone()),
        whole.coverage.value_key,
        "the shards' key is the generation's"
    );
    assert_eq!(manifest.generation, 1);
    assert_eq!(manifest.records.len(), count as usize);
    let (_, assembled) = publish::open(&s3, &dest, None)
        .await
        .expect("open")
        .expect("a generation");

    // The same picture as one machine's scan: every resource with the same owner, every account
    // scanned once, each state's unmatched instances as one scan found them.
    assert_eq!(owners(&assembled), owners(&whole));
    let status =
        |r: &stagecraft_model::ScanReport| -> std::collections::BTreeMap<String, AccountStatus> {
            r.accounts
                .iter()
                .map(|a| (a.id.clone(), a.status))
                .collect()
        };
    assert_eq!(status(&assembled), status(&whole));
    assert_eq!(assembled.coverage.shard, None);
    assert_eq!(assembled.coverage.partial, whole.coverage.partial);
    assert!(
        !assembled
            .coverage
            .skipped
            .iter()
            .any(|l| l.contains("other shards")),
        "{:?}",
        assembled.coverage.skipped
    );
    let states =
        |r: &stagecraft_model::ScanReport| -> std::collections::BTreeMap<String, Vec<String>> {
            r.terraform
                .iter()
                .map(|t| (t.location.clone(), t.unmatched.clone()))
                .collect()
        };
    assert_eq!(states(&assembled), states(&whole));
    // The tables that need the whole organization were written once, over every shard.
    let graph = stagecraft_analysis::graph::Graph::build(&whole);
    let links = publish::read_table(&s3, &dest, &manifest, "links")
        .await
        .expect("links");
    assert_eq!(links.len(), graph.links().count());
    let findings = publish::read_table(&s3, &dest, &manifest, "findings")
        .await
        .expect("findings");
    assert_eq!(
        findings.len(),
        stagecraft_analysis::audit::audit(&whole, &graph).len()
    );
}
