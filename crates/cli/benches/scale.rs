//! The scale benchmark (`scripts/bench-scale`): an organization of `--accounts` member accounts
//! (default 1,000) of about 300 resources each, served by the replaying endpoint.
//!
//! 1. Seeds `--recorded` member accounts (default 4) with `--services` extra services of
//!    `--functions` extra functions each, and records one scan of them through the proxy.
//! 2. Replays the recording for a quarter, half and all of `--accounts` member accounts (recorded
//!    accounts served again under new ids) with `--latency` ms per round trip: one
//!    `stagecraft scan` each, on one machine, stored as a laptop stores it: its wall time, peak
//!    resident memory and resources; memory per additional 100 accounts from the two largest.
//! 3. The whole organization in `--shards` shards: each `stagecraft publish --shard i/n --run`
//!    (one after the other, as on n runners: each one's wall time and peak memory) into the
//!    emulator's S3, then `--assemble` on one machine, then `stagecraft team` reading the
//!    generation back, which must hold the single scan's resources.
//!
//! Prints Markdown tables for BENCHMARKS.md.

// A report for the terminal: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{resources_of, timed, Run};
use stagecraft_sandbox::harness::repo;
use stagecraft_sandbox::proxy::{Proxy, ProxyOptions};
use stagecraft_sandbox::replay::{Replay, ReplayOptions};
use stagecraft_sandbox::{self as sandbox, SeedSpec};

struct Args {
    accounts: usize,
    recorded: usize,
    services: usize,
    functions: usize,
    latency: u64,
    jitter: u64,
    shards: usize,
}

fn args() -> Args {
    let n = common::numbers(&[
        ("accounts", 1000),
        ("recorded", 4),
        ("services", 8),
        ("functions", 6),
        ("latency", 50),
        ("jitter", 10),
        ("shards", 4),
    ]);
    Args {
        accounts: n["accounts"] as usize,
        recorded: n["recorded"] as usize,
        services: n["services"] as usize,
        functions: n["functions"] as usize,
        latency: n["latency"],
        jitter: n["jitter"],
        shards: n["shards"] as usize,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Rows of one table of a generation as `stagecraft team --json` printed it.
fn team_resources(run: &Run) -> usize {
    let team: serde_json::Value = serde_json::from_slice(&run.stdout).expect("team JSON");
    team["report"]["resources"].as_array().map_or(0, Vec::len)
}

#[tokio::main]
async fn main() {
    let a = args();
    let stages: Vec<String> = (1..=a.recorded).map(|i| format!("s{i:02}")).collect();
    eprintln!(
        "seeding {} accounts ({} extra services × {} extra functions each)…",
        a.recorded, a.services, a.functions
    );
    let venv = std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let running = sandbox::start_scratch(
        &venv,
        Some(&repo().join("examples")),
        SeedSpec {
            stages: stages.clone(),
            extra_services: a.services,
            extra_functions: a.functions,
            plant_problems: false,
            ..SeedSpec::default()
        },
    )
    .await
    .expect("sandbox");
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = |name: &str| dir.path().join(name);
    let through = |program: &str, config: &Path| {
        let mut c = tokio::process::Command::new(program);
        c.env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", sb.dir.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PROFILE", "master")
            .env("STAGECRAFT_CONFIG", sb.workspace_file())
            // Every shard hashes with the team's key, as the workflow gives it.
            .env("STAGECRAFT_HASH_KEY", "5a".repeat(32));
        c
    };
    let stagecraft = |config: &Path, db: &str, args: &[&str]| {
        let mut c = through(env!("CARGO_BIN_EXE_stagecraft"), config);
        c.args(args).env("STAGECRAFT_STORE", store(db));
        c
    };

    // 1. Record.
    eprintln!("recording…");
    let recorder = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            record: true,
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("recording proxy");
    let rec_config = dir.path().join("aws-config-recording");
    sb.aws_env_through(&recorder.endpoint, &rec_config)
        .expect("aws config");
    let recorded = timed(
        stagecraft(&rec_config, "recorded.db", &["scan", "--json"]),
        "the recorded scan",
    )
    .await;
    let recorded_resources = resources_of(&recorded);
    let recording = recorder.recording();
    drop(recorder);
    let per_account = recorded_resources as f64 / (a.recorded + 1) as f64;
    eprintln!(
        "recorded {recorded_resources} resources in {} accounts ({per_account:.0} per account)",
        a.recorded + 1
    );

    let replaying = |members: usize| {
        let recording = recording.clone();
        async move {
            Replay::start(
                recording,
                ReplayOptions {
                    latency: Duration::from_millis(a.latency),
                    jitter: Duration::from_millis(a.jitter),
                    seed: 21,
                    members: Some(members),
                    throttle: None,
                },
            )
            .await
            .expect("replaying endpoint")
        }
    };

    // 2. One machine, at three sizes.
    let mut single = Vec::new();
    for members in [a.accounts / 4, a.accounts / 2, a.accounts] {
        eprintln!("one scan of {members} member accounts…");
        let replay = replaying(members).await;
        let config = dir.path().join(format!("aws-config-{members}"));
        sb.aws_env_through(&replay.endpoint, &config)
            .expect("aws config");
        let run = timed(
            stagecraft(
                &config,
                &format!("single-{members}.db"),
                &["scan", "--json"],
            ),
            "the scan",
        )
        .await;
        let calls = replay.calls().len();
        assert!(replay.misses().is_empty(), "{:#?}", replay.misses());
        let resources = resources_of(&run);
        eprintln!(
            "  {resources} resources in {:.1} s, peak {:.0} MiB, {calls} calls",
            run.wall.as_secs_f64(),
            mib(run.peak_kib)
        );
        single.push((members, resources, run, calls));
    }

    // 3. The whole organization in shards, published to the emulator's S3 and assembled.
    let master = sb.aws_env().sdk_config(sandbox::MASTER_PROFILE, None).await;
    aws_sdk_s3::Client::new(&master)
        .create_bucket()
        .bucket("bench-publish")
        .send()
        .await
        .expect("publish bucket");
    let replay = replaying(a.accounts).await;
    let config = dir.path().join("aws-config-shards");
    sb.aws_env_through(&replay.endpoint, &config)
        .expect("aws config");
    // The publish location is the emulator's S3, reached directly.
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "\n[profile publish]\nregion = {}\nendpoint_url = {}\n\
         aws_access_key_id = AKIASANDBOXMASTER000\naws_secret_access_key = sandbox-dummy-secret\n",
        sb.region, sb.endpoint
    ));
    std::fs::write(&config, text).expect("config");
    let to = "s3://bench-publish/org";
    let n = a.shards.to_string();
    let mut shards = Vec::new();
    for i in 1..=a.shards {
        eprintln!("shard {i}/{n}…");
        let shard = format!("{i}/{n}");
        let run = timed(
            stagecraft(
                &config,
                &format!("shard-{i}.db"),
                &[
                    "publish",
                    to,
                    "--shard",
                    &shard,
                    "--run",
                    "bench",
                    "--no-store",
                    "--publish-profile",
                    "publish",
                ],
            ),
            "a shard",
        )
        .await;
        shards.push(run);
    }
    let shard_calls = replay.calls().len();
    assert!(replay.misses().is_empty(), "{:#?}", replay.misses());
    eprintln!("assembling…");
    let assembled = timed(
        stagecraft(
            &config,
            "assemble.db",
            &[
                "publish",
                to,
                "--assemble",
                "bench",
                "--publish-profile",
                "publish",
            ],
        ),
        "the assembling",
    )
    .await;
    let team = timed(
        stagecraft(
            &config,
            "team.db",
            &["team", to, "--profile", "publish", "--json"],
        ),
        "reading the team snapshot",
    )
    .await;
    let (_, whole_resources, whole, whole_calls) = single.last().expect("the full scan");
    if team_resources(&team) != *whole_resources {
        // Which resources differ, by type and by how many accounts hold each id.
        let ids = |v: &serde_json::Value| -> Vec<(String, String, String)> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap_or_default().to_owned(),
                        r["type"].as_str().unwrap_or_default().to_owned(),
                        r["account_id"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        };
        let one: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("scan JSON");
        let two: serde_json::Value = serde_json::from_slice(&team.stdout).expect("team JSON");
        let (one, two) = (ids(&one["resources"]), ids(&two["report"]["resources"]));
        let mut count: std::collections::BTreeMap<(String, String), (usize, usize)> =
            Default::default();
        for (id, ty, _) in &one {
            count.entry((ty.clone(), id.clone())).or_default().0 += 1;
        }
        for (id, ty, _) in &two {
            count.entry((ty.clone(), id.clone())).or_default().1 += 1;
        }
        let odd: Vec<String> = count
            .iter()
            .filter(|(_, (a, b))| a != b)
            .take(12)
            .map(|((ty, id), (a, b))| format!("{ty} {id}: {a} in one scan, {b} assembled"))
            .collect();
        panic!(
            "the assembled generation holds {} resources, one scan {}: {odd:#?}",
            two.len(),
            one.len()
        );
    }

    // The report.
    let (small, large) = (&single[1], &single[2]);
    let per_100 =
        (large.2.peak_kib as f64 - small.2.peak_kib as f64) / ((large.0 - small.0) as f64 / 100.0);
    println!(
        "\n### Scale: {} member accounts, ~{per_account:.0} resources each, {} ms (+ up to {} ms) a round trip\n",
        a.accounts, a.latency, a.jitter
    );
    println!("| run | accounts | resources | calls | wall | CPU | peak memory |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (members, resources, run, calls) in &single {
        println!(
            "| one machine, stored | {} | {resources} | {calls} | {:.1} s | {:.1} s | {:.0} MiB |",
            members + 1,
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            mib(run.peak_kib)
        );
    }
    for (i, run) in shards.iter().enumerate() {
        println!(
            "| shard {}/{} (scan and publish) | {} | | | {:.1} s | {:.1} s | {:.0} MiB |",
            i + 1,
            a.shards,
            a.accounts + 1,
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            mib(run.peak_kib)
        );
    }
    println!(
        "| assembling the {} shards | {} | {} | | {:.1} s | {:.1} s | {:.0} MiB |",
        a.shards,
        a.accounts + 1,
        whole_resources,
        assembled.wall.as_secs_f64(),
        assembled.cpu.as_secs_f64(),
        mib(assembled.peak_kib)
    );
    println!(
        "| `stagecraft team` reading the generation | {} | {} | | {:.1} s | {:.1} s | {:.0} MiB |",
        a.accounts + 1,
        team_resources(&team),
        team.wall.as_secs_f64(),
        team.cpu.as_secs_f64(),
        mib(team.peak_kib)
    );
    let slowest = shards
        .iter()
        .map(|r| r.wall.as_secs_f64())
        .fold(0.0, f64::max);
    let peak_shard = shards.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    println!();
    println!(
        "- memory per additional 100 accounts (one machine, {} → {} accounts): {:.0} MiB",
        small.0 + 1,
        large.0 + 1,
        per_100 / 1024.0
    );
    println!(
        "- target: peak ≤ 1 GiB at {} accounts — one machine {:.0} MiB {}; the largest shard {:.0} MiB {}",
        a.accounts + 1,
        mib(whole.peak_kib),
        if whole.peak_kib <= 1024 * 1024 { "✔" } else { "✘" },
        mib(peak_shard),
        if peak_shard <= 1024 * 1024 { "✔" } else { "✘" },
    );
    println!(
        "- on {} runners at once the organization takes the slowest shard plus the assembling: {:.1} s, against {:.1} s on one machine; the shards made {shard_calls} calls against one scan's {whole_calls} (each shard lists the others' buckets for state)",
        a.shards,
        slowest + assembled.wall.as_secs_f64(),
        whole.wall.as_secs_f64()
    );
    println!(
        "- the replaying endpoint (this process, on the same 2 cores) used {:.1} s of CPU during the {}-account scan",
        whole.endpoint_cpu.as_secs_f64(),
        a.accounts + 1
    );
}
