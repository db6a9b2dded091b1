//! Scan benchmark at organization scale (`scripts/bench-scan`).
//!
//! 1. Seeds a clean sandbox of `--accounts` member accounts (the demo org's shapes, `--services`
//!    extra services of `--functions` extra functions each).
//! 2. Records, through the proxy and with no injected latency, every request and answer of: the
//!    real `stagecraft scan --json`; the same scan narrowed to the home region and the configured
//!    backend; the competent baseline (`scripts/baseline_inventory.py`: boto3, accounts and
//!    per-item calls in thread pools, on every account and the management one); the sequential
//!    AWS CLI script (`scripts/baseline-inventory.sh`) on `--baseline-accounts` accounts. The
//!    recorded scan's wall time is the emulator-bound figure.
//! 3. Serves the recording from the replaying endpoint (`stagecraft_sandbox::replay`) with
//!    `--latency` ms (+ up to `--jitter` ms) per round trip and no queue, and runs all four again:
//!    the figures to compare. The CLI script is sequential, so its time is scaled to all accounts.
//! 4. The critical-path bound: the longest chain of calls in the recorded scan where each needed
//!    an earlier answer's values ([`Recording::critical_path`]), times the mean latency.
//! 5. The scan again on the replaying endpoint with AWS's request rates enforced (a token bucket
//!    per account, region and API), at the published rates and at a quarter of them: how many
//!    calls were throttled and retried.
//! 6. Calls per service against the fewest calls that read what the scan reads, computed from the
//!    counts the boto3 script found and each API's documented page size, not from the scan's log.
//! 7. With `--scale-accounts N`, the scan of N member accounts on the replaying endpoint
//!    (recorded accounts served again under new ids).
//! 8. Where `perf` can record: the scan again under `perf record`, and from its profile the floor
//!    any client of the AWS SDK for Rust meets here: the SDK's share of the scan's CPU and the
//!    endpoint's CPU, over the machine's cores ([`sdk_share`]).
//!
//! Prints Markdown tables for BENCHMARKS.md.

// A report for the terminal: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{attempt, resources_of, timed};
use stagecraft_sandbox::harness::repo;
use stagecraft_sandbox::proxy::{Call, Proxy, ProxyOptions};
use stagecraft_sandbox::replay::{Replay, ReplayOptions};
use stagecraft_sandbox::{self as sandbox, SeedSpec};

struct Args {
    accounts: usize,
    services: usize,
    functions: usize,
    latency: u64,
    jitter: u64,
    baseline_accounts: usize,
    scale_accounts: usize,
}

fn args() -> Args {
    let n = common::numbers(&[
        ("accounts", 50),
        ("services", 6),
        ("functions", 6),
        ("latency", 50),
        ("jitter", 10),
        ("baseline-accounts", 2),
        ("scale-accounts", 0),
    ]);
    Args {
        accounts: n["accounts"] as usize,
        services: n["services"] as usize,
        functions: n["functions"] as usize,
        latency: n["latency"],
        jitter: n["jitter"],
        baseline_accounts: n["baseline-accounts"] as usize,
        scale_accounts: n["scale-accounts"] as usize,
    }
}

fn peak_in_flight(calls: &[Call]) -> usize {
    let mut edges: Vec<(u64, i32)> = calls
        .iter()
        .flat_map(|c| [(c.start_ms, 1), (c.end_ms, -1)])
        .collect();
    edges.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak.max(0) as usize
}

/// With `STAGECRAFT_BENCH_CALLS=<path>`, every call of a replayed scan, one JSON object a line (the
/// path with `suffix` added), for a timeline.
fn dump(calls: &[Call], suffix: &str) {
    if let Some(path) = std::env::var_os("STAGECRAFT_BENCH_CALLS") {
        let mut path = path;
        path.push(suffix);
        let lines: Vec<String> = calls
            .iter()
            .filter_map(|c| serde_json::to_string(c).ok())
            .collect();
        std::fs::write(path, lines.join("\n")).expect("writing the calls");
    }
}

/// Calls per service (faults left out: a throttled call is retried and counted once more).
fn per_service(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in calls.iter().filter(|c| c.fault.is_none()) {
        *out.entry(c.service.clone()).or_default() += 1;
    }
    out
}

/// The APIs most throttled, each with its throttled answers and its calls, most throttled first.
fn throttled_by_api(calls: &[Call]) -> Vec<(String, usize, usize)> {
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for c in calls {
        let e = by.entry(format!("{}:{}", c.service, c.action)).or_default();
        e.1 += 1;
        if c.fault.is_some() {
            e.0 += 1;
        }
    }
    let mut out: Vec<_> = by
        .into_iter()
        .filter(|(_, (t, _))| *t > 0)
        .map(|(api, (t, n))| (api, t, n))
        .collect();
    out.sort_by_key(|(api, t, _)| (std::cmp::Reverse(*t), api.clone()));
    out
}

fn per_action(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in calls.iter().filter(|c| c.fault.is_none()) {
        *out.entry(format!("{}:{}", c.service, c.action))
            .or_default() += 1;
    }
    out
}

/// The fewest calls per service that read what the scan reads, from what the boto3 script
/// counted in each account and each API's documented largest page. Each term says what it reads.
fn minimum(
    counts: &serde_json::Value,
    state_objects: usize,
    home: &str,
) -> BTreeMap<String, (usize, String)> {
    let pages = |n: u64, size: u64| n.div_ceil(size).max(1) as usize;
    let org = &counts["_organization"];
    let accounts: Vec<&serde_json::Value> = counts
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default();
    let n = accounts.len();
    let members = n.saturating_sub(1);
    let sum =
        |f: &dyn Fn(&serde_json::Value) -> usize| accounts.iter().map(|a| f(a)).sum::<usize>();
    let c = |a: &serde_json::Value, k: &str| a[k].as_u64().unwrap_or(0);
    let enabled = org["enabled_regions"].as_u64().unwrap_or(1) as usize;
    let other_regions = enabled.saturating_sub(1);
    let parents: Vec<(u64, u64)> = org["parents"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| (x[0].as_u64().unwrap_or(0), x[1].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    let tree: usize = parents
        .iter()
        .map(|(ous, accts)| pages(*ous, 20) + pages(*accts, 20))
        .sum();
    m.insert(
        "organizations".into(),
        (
            2 + tree + n,
            "DescribeOrganization, ListRoots, a page of 20 OUs and of 20 accounts per parent, each account's tags".into(),
        ),
    );
    m.insert(
        "sts".into(),
        (
            1 + members,
            "the management account's identity; a role per member, the organization's or the one its profile names (AssumeRole's answer names the account)".into(),
        ),
    );
    m.insert("account".into(), (n, "ListRegions per account".into()));
    // The history is read where the scan reads (the seeded accounts use their home region only),
    // and in us-east-1, where CloudTrail records IAM and the organization, when it is not home.
    let trail_regions = 1 + usize::from(home != "us-east-1");
    m.insert(
        "cloudtrail".into(),
        (
            n * trail_regions,
            "LookupEvents (write events, 50 a page) per account and region in use, and us-east-1: one page each when fewer than 50 events wait".into(),
        ),
    );
    let largest = accounts
        .iter()
        .map(|a| c(a, "largest_stack"))
        .max()
        .unwrap_or(0);
    assert!(
        largest <= 100,
        "a stack of {largest} resources: DescribeStackResources lists 100"
    );
    m.insert(
        "cloudformation".into(),
        (
            sum(&|a| pages(c(a, "stacks"), 100) + 2 * c(a, "stacks") as usize + 1)
                + n * other_regions,
            "DescribeStacks pages, each stack's resources (≤ 100: one call) and template, DescribeAccountLimits (the stack quota); one DescribeStacks per other enabled region".into(),
        ),
    );
    m.insert(
        "tagging".into(),
        (
            n * (1 + other_regions),
            "tag:GetResources, 100 a page, per account and enabled region (tags of functions, tables, parameters, keys, buckets)".into(),
        ),
    );
    m.insert(
        "lambda".into(),
        (
            sum(&|a| pages(c(a, "functions"), 50) + 1),
            "ListFunctions (50 a page), GetAccountSettings (the concurrency quota)".into(),
        ),
    );
    m.insert(
        "ssm".into(),
        (
            sum(&|a| pages(c(a, "parameters"), 50) + c(a, "plain_parameters").div_ceil(10) as usize),
            "DescribeParameters (50 a page), GetParameters of the plain ones, 10 a call (their values hashed, never a SecureString's)".into(),
        ),
    );
    m.insert(
        "dynamodb".into(),
        (
            sum(&|a| pages(c(a, "tables"), 100) + c(a, "tables") as usize) + state_objects,
            "ListTables (100 a page), DescribeTable each (key schema, stream), GetItem of each state's lock".into(),
        ),
    );
    m.insert(
        "apigateway".into(),
        (
            sum(&|a| {
                pages(c(a, "rest_apis"), 500)
                    + 4 * c(a, "rest_apis") as usize
                    + 1
                    + c(a, "domains") as usize
                    + 1
                    + c(a, "http_apis") as usize
                    + 1
            }),
            "GetRestApis (500 a page); per REST API its resources with methods, authorizers, stages, gateway responses; GetDomainNames and each domain's base path mappings; GetApis and each HTTP API's stages; the HTTP APIs' GetDomainNames".into(),
        ),
    );
    m.insert(
        "s3".into(),
        (
            n + sum(&|a| c(a, "buckets") as usize) + state_objects,
            "ListBuckets per account (with MaxBuckets: regions included), a ListObjectsV2 page per bucket (the state search), GetObject per state".into(),
        ),
    );
    m.insert(
        "iam".into(),
        (
            sum(&|a| pages(c(a, "roles"), 1000) * 2 + c(a, "policies") as usize),
            "ListRoles (descriptions) and GetAccountAuthorizationDetails filtered to roles and customer managed policies (policies, tags), 1,000 a page; ListPolicyTags per customer managed policy".into(),
        ),
    );
    m.insert(
        "kms".into(),
        (
            sum(&|a| pages(c(a, "keys"), 1000) + c(a, "keys") as usize + 1),
            "ListKeys (1,000 a page), DescribeKey each (state, deletion date), ListAliases".into(),
        ),
    );
    m.insert(
        "secretsmanager".into(),
        (
            sum(&|a| pages(c(a, "secrets"), 100)),
            "ListSecrets, 100 a page (metadata, deletion date)".into(),
        ),
    );
    m
}

/// Whether `perf` can profile here (it is installed and this user may record).
fn perf_available() -> bool {
    std::process::Command::new("perf")
        .args(["record", "-q", "-o", "/dev/null", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A profile's CPU samples of the scan process, split by whose code they were in.
struct Share {
    samples: usize,
    /// Samples whose innermost frame of either side is the AWS SDK for Rust's: its runtime and
    /// orchestrator, the generated clients (serialising, parsing), signing, credentials, hyper.
    sdk: usize,
    /// Samples whose innermost frame of either side is this project's (its code called by the
    /// SDK, such as the pacing connector, counts here; the SDK called by it, there).
    ours: usize,
}

/// Whose a frame's function is: the crate of its path, or of the type it is implemented for
/// (`<stagecraft_aws::pace::PacedConnector as aws_smithy_…::HttpConnector>::call` is ours). A
/// frame of the standard library, serde, tokio or libc is neither's: the frames around it decide.
fn frame_owner(symbol: &str) -> Option<&'static str> {
    let symbol = symbol.trim_end_matches(" (inlined)");
    let path = match symbol.strip_prefix('<') {
        Some(rest) => rest.split(" as ").next().unwrap_or(rest),
        None => symbol.split('<').next().unwrap_or(symbol),
    };
    let path = path
        .trim_start_matches(['&', '*'])
        .trim_start_matches("mut ");
    const SDK: [&str; 7] = [
        "aws_smithy_",
        "aws_sdk_",
        "aws_sigv4",
        "aws_runtime",
        "aws_config",
        "aws_credential_types",
        "hyper",
    ];
    if path.starts_with("stagecraft_") {
        Some("ours")
    } else if SDK.iter().any(|c| path.starts_with(c)) {
        Some("sdk")
    } else {
        None
    }
}

/// Splits the samples of a `perf record --call-graph dwarf` profile by whose code they were in:
/// the innermost frame that is the SDK's or ours, inlined frames included (`perf script` resolves
/// them from the line tables, so it takes a few minutes). Samples of neither (the async runtime,
/// the kernel, the allocator on their own) count for neither, so the SDK's share is a floor.
/// Fails the benchmark if the profile has no symbols to tell by: a stripped build.
fn sdk_share(data: &Path) -> Share {
    eprintln!("reading the profile…");
    let out = std::process::Command::new("perf")
        .args(["script", "-F", "comm,ip,sym", "-i"])
        .arg(data)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("perf script");
    assert!(
        out.status.success(),
        "perf script failed on {}",
        data.display()
    );
    let mut share = Share {
        samples: 0,
        sdk: 0,
        ours: 0,
    };
    for sample in String::from_utf8_lossy(&out.stdout).split("\n\n") {
        let mut lines = sample.lines().filter(|l| !l.trim().is_empty());
        let Some(comm) = lines.next() else { continue };
        // What ran before the scan's program was exec'd is perf's own.
        if comm.starts_with("perf") {
            continue;
        }
        share.samples += 1;
        let owner = lines.find_map(|frame| {
            let symbol = frame.trim().split_once(char::is_whitespace)?.1;
            frame_owner(symbol.trim())
        });
        match owner {
            Some("sdk") => share.sdk += 1,
            Some(_) => share.ours += 1,
            None => {}
        }
    }
    assert!(
        share.samples > 0 && (share.sdk + share.ours) * 2 > share.samples,
        "the profile of {} tells whose code fewer than half its {} samples ran: is the build \
         stripped? (scripts/bench-scan builds with symbols)",
        data.display(),
        share.samples
    );
    share
}

/// With `STAGECRAFT_BENCH_HOLD=<file>`: writes to `file` a shell script that runs the scan's command
/// against the replaying endpoint, and holds the endpoint up until `file` is removed, so a change
/// to the scan can be measured again and again without seeding and recording each time.
async fn hold(file: &Path, command: &tokio::process::Command) {
    let std = command.as_std();
    let quote = |s: &OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut script = String::from("#!/bin/sh\n");
    for (key, value) in std.get_envs() {
        if let Some(value) = value {
            script += &format!("export {}={}\n", key.to_string_lossy(), quote(value));
        }
    }
    script += &format!(
        "exec \"${{STAGECRAFT_BIN:-{}}}\"",
        std.get_program().to_string_lossy()
    );
    for arg in std.get_args() {
        script += &format!(" {}", quote(arg));
    }
    script += " \"$@\"\n";
    std::fs::write(file, script).expect("the held scan's script");
    eprintln!(
        "holding the replaying endpoint; run `sh {}`, remove it to go on",
        file.display()
    );
    while file.exists() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `command` (its arguments and environment) run by `program`, after `first` arguments of its own.
fn run_as(
    command: &tokio::process::Command,
    program: &Path,
    first: &[&OsStr],
) -> tokio::process::Command {
    let std = command.as_std();
    let mut c = tokio::process::Command::new(program);
    c.args(first).args(std.get_args());
    for (key, value) in std.get_envs() {
        if let Some(value) = value {
            c.env(key, value);
        }
    }
    c
}

/// With `STAGECRAFT_BENCH_COMPARE=<another stagecraft binary>`: this build's scan and the other's,
/// on the same replaying endpoint, in five rounds that alternate which goes first, so this
/// machine's drift hits both alike. Prints each run and the medians of wall and CPU time.
async fn compare_builds(
    other: &Path,
    scan: &impl Fn(&Path, &str) -> tokio::process::Command,
    config: &Path,
    resources: usize,
) {
    let this = PathBuf::from(env!("CARGO_BIN_EXE_stagecraft"));
    let mut runs: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for round in 0..5 {
        for k in [round % 2, 1 - round % 2] {
            let binary = if k == 0 { &this } else { other };
            let probe = scan(config, &format!("bench-compare-{round}-{k}.db"));
            let run = timed(run_as(&probe, binary, &[]), "a compared scan").await;
            assert_eq!(
                resources_of(&run),
                resources,
                "{} sees everything",
                binary.display()
            );
            runs[k].0.push(run.wall.as_secs_f64());
            runs[k].1.push(run.cpu.as_secs_f64());
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("\n| build | wall (5 runs) | CPU of the scan (5 runs) | median wall | median CPU |");
    println!("|---|---|---|---:|---:|");
    for (name, (wall, cpu)) in [
        ("this build".to_owned(), &runs[0]),
        (other.display().to_string(), &runs[1]),
    ] {
        println!(
            "| {name} | {} s | {} s | {:.2} s | {:.2} s |",
            list(wall),
            list(cpu),
            median(wall),
            median(cpu)
        );
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let stages: Vec<String> = (1..=a.accounts).map(|i| format!("s{i:02}")).collect();
    eprintln!(
        "seeding {} accounts ({} extra services × {} extra functions each)…",
        a.accounts, a.services, a.functions
    );
    let seeded_at = Instant::now();
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
    eprintln!("seeded in {:.0} s", seeded_at.elapsed().as_secs_f64());
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");

    // Every client reaches the organization through the same profiles.
    let through = |program: &str, config: &Path| {
        let mut c = tokio::process::Command::new(program);
        c.env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", sb.dir.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    };
    let scan = |config: &Path, store: &str| {
        let mut c = through(env!("CARGO_BIN_EXE_stagecraft"), config);
        c.args(["scan", "--json"])
            .env("AWS_PROFILE", "master")
            .env("STAGECRAFT_CONFIG", sb.workspace_file())
            .env("STAGECRAFT_STORE", dir.path().join(store));
        c
    };
    let narrow_config = dir.path().join("narrow.toml");
    let ws_text = std::fs::read_to_string(sb.workspace_file()).expect("workspace config");
    std::fs::write(
        &narrow_config,
        ws_text.replacen("[terraform]\n", "[terraform]\ndiscover = false\n", 1),
    )
    .expect("narrow config");
    let narrow = |config: &Path, store: &str| {
        let mut c = scan(config, store);
        c.args(["--region", &sb.region])
            .env("STAGECRAFT_CONFIG", &narrow_config);
        c
    };
    let python = venv.join("bin/python").display().to_string();
    let counts_file = dir.path().join("counts.json");
    let mut every_account = vec!["master".to_owned()];
    every_account.extend(stages.iter().cloned());
    let boto3 = |config: &Path, counts: bool| {
        let mut c = through(&python, config);
        c.arg(repo().join("scripts/baseline_inventory.py")).args([
            "--accounts-at-once",
            "16",
            "--per-item",
            "8",
        ]);
        if counts {
            c.arg("--counts").arg(&counts_file);
        }
        c.args(&every_account);
        c
    };
    let profiles: Vec<&str> = stages
        .iter()
        .take(a.baseline_accounts)
        .map(String::as_str)
        .collect();
    let cli = |config: &Path| {
        let mut c = through("bash", config);
        c.arg(repo().join("scripts/baseline-inventory.sh"))
            .args(&profiles)
            .env("AWS_PAGER", "");
        c
    };

    // 1. Record, against the emulator, with no latency added.
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
    let emulated = timed(scan(&rec_config, "recorded.db"), "the recorded scan").await;
    let emulated_calls = recorder.calls().len();
    let scan_recording = recorder.recording();
    recorder.clear();
    timed(narrow(&rec_config, "recorded-narrow.db"), "the narrow scan").await;
    timed(boto3(&rec_config, true), "the boto3 baseline").await;
    if a.baseline_accounts > 0 {
        timed(cli(&rec_config), "the AWS CLI baseline").await;
    }
    let mut recording = scan_recording.clone();
    recording.merge(recorder.recording());
    drop(recorder);
    let path = scan_recording.critical_path();
    let resources = resources_of(&emulated);

    // 2. Replay, with the latency and no queue.
    let replaying = |throttle: Option<f64>, members: Option<usize>| {
        let recording = recording.clone();
        async move {
            Replay::start(
                recording,
                ReplayOptions {
                    latency: Duration::from_millis(a.latency),
                    jitter: Duration::from_millis(a.jitter),
                    seed: 8,
                    members,
                    throttle,
                },
            )
            .await
            .expect("replaying endpoint")
        }
    };
    eprintln!("replaying…");
    let replay = replaying(None, None).await;
    let config = dir.path().join("aws-config-replay");
    sb.aws_env_through(&replay.endpoint, &config)
        .expect("aws config");
    if let Some(file) = std::env::var_os("STAGECRAFT_BENCH_HOLD") {
        hold(Path::new(&file), &scan(&config, "held.db")).await;
    }
    let run = timed(scan(&config, "bench.db"), "the scan").await;
    let calls = replay.calls();
    // The same scan again under `perf record`, for a profile of where its CPU goes: the floor's
    // share of it that is the SDK's (`sdk_share`). Kept at `STAGECRAFT_BENCH_PERF`, if set.
    let profiled = perf_available().then(|| {
        std::env::var_os("STAGECRAFT_BENCH_PERF")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.path().join("scan.perf"))
    });
    if let Some(out) = &profiled {
        let probe = scan(&config, "bench-perf.db");
        let mut record: Vec<&OsStr> = ["record", "-F", "2000", "--call-graph", "dwarf,16384", "-o"]
            .map(OsStr::new)
            .to_vec();
        record.extend([
            out.as_os_str(),
            OsStr::new("--"),
            probe.as_std().get_program(),
        ]);
        timed(
            run_as(&probe, Path::new("perf"), &record),
            "the profiled scan",
        )
        .await;
        replay.clear();
    }
    let sdk = profiled.as_deref().map(sdk_share);
    dump(&calls, "");
    assert_eq!(
        resources_of(&run),
        resources,
        "the replayed scan sees what the recorded one did"
    );
    replay.clear();
    if let Some(other) = std::env::var_os("STAGECRAFT_BENCH_COMPARE") {
        compare_builds(Path::new(&other), &scan, &config, resources).await;
        replay.clear();
    }
    // Every account at once, and 16 at a time (the default before 32), against the default.
    let mut sixteen = scan(&config, "bench-sixteen.db");
    sixteen.args(["--parallelism", "16"]);
    let sixteen_run = timed(sixteen, "the scan of 16 accounts at a time").await;
    assert_eq!(
        resources_of(&sixteen_run),
        resources,
        "16 at a time sees everything"
    );
    replay.clear();
    let mut wide = scan(&config, "bench-wide.db");
    wide.args(["--parallelism", &(a.accounts + 1).to_string()]);
    let wide_run = timed(wide, "the scan of every account at once").await;
    let wide_calls = replay.calls();
    replay.clear();
    let narrow_run = timed(narrow(&config, "bench-narrow.db"), "the narrow scan").await;
    let narrow_calls = replay.calls().len();
    replay.clear();
    let competent = timed(boto3(&config, false), "the boto3 baseline").await;
    let competent_calls = replay.calls().len();
    let competent_said = String::from_utf8_lossy(&competent.stdout).trim().to_owned();
    replay.clear();
    // `--baseline-accounts 0` leaves the AWS CLI script out (it takes minutes).
    let base = if a.baseline_accounts > 0 {
        Some(timed(cli(&config), "the AWS CLI baseline").await)
    } else {
        None
    };
    let base_calls = replay.calls().len();
    let misses = replay.misses();
    assert!(
        misses.is_empty(),
        "requests the recording did not hold: {misses:#?}"
    );
    drop(replay);

    // 3. AWS's request rates: as published, and a quarter of them (an account whose other clients
    // take the rest).
    let mut throttling = Vec::new();
    for share in [1.0, 0.25] {
        eprintln!(
            "replaying with {:.0} % of AWS's request rates…",
            share * 100.0
        );
        let throttled = replaying(Some(share), None).await;
        let tconfig = dir.path().join(format!("aws-config-throttled-{share}"));
        sb.aws_env_through(&throttled.endpoint, &tconfig)
            .expect("aws config");
        let trun = attempt(
            scan(&tconfig, &format!("bench-throttled-{share}.db")),
            "the throttled scan",
        )
        .await;
        if let Ok(trun) = &trun {
            assert_eq!(
                resources_of(trun),
                resources,
                "the throttled scan sees everything"
            );
        }
        let tcalls = throttled.calls();
        dump(&tcalls, &format!("-throttled-{:.0}", share * 100.0));
        let refused = tcalls.iter().filter(|c| c.fault.is_some()).count();
        throttling.push((
            share,
            trun.map(|r| r.wall),
            refused,
            tcalls.len(),
            throttled_by_api(&tcalls),
        ));
    }

    // 4. More accounts than were recorded.
    let scaled = if a.scale_accounts > 0 {
        eprintln!("replaying {} accounts…", a.scale_accounts);
        let big = replaying(None, Some(a.scale_accounts)).await;
        let bconfig = dir.path().join("aws-config-scaled");
        sb.aws_env_through(&big.endpoint, &bconfig)
            .expect("aws config");
        let brun = timed(scan(&bconfig, "bench-scaled.db"), "the scaled scan").await;
        let bcalls = big.calls().len();
        assert!(big.misses().is_empty(), "{:#?}", big.misses());
        Some((brun, bcalls))
    } else {
        None
    };

    // 5. After one change: the incremental refresh against a full rescan, in calls and wall time,
    // both against the emulator through one counting proxy (no latency added).
    let incremental = incremental(sb, &dir, &stages).await;

    // The report.
    let wall = run.wall.as_secs_f64();
    let mean_latency = a.latency as f64 + a.jitter as f64 / 2.0;
    let bound = path.calls as f64 * mean_latency / 1000.0;
    let scale = a.accounts as f64 / a.baseline_accounts.max(1) as f64;
    let busy_ms: u64 = calls.iter().map(|c| c.end_ms - c.start_ms).sum();
    let state_objects = scan_recording
        .exchanges
        .iter()
        .filter(|e| e.service == "s3" && e.action == "GetObject")
        .count();
    let counts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&counts_file).expect("counts")).expect("counts JSON");
    let fewest = minimum(&counts, state_objects, &sb.region);

    println!(
        "\nScan of {} accounts + management, {resources} resources; the replaying endpoint answers in {} ms + up to {} ms:\n",
        a.accounts, a.latency, a.jitter
    );
    println!("| measure | Stagecraft | baseline or bound | ratio (target) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| wall time against the boto3 thread-pool script, every account ({competent_said}) | {wall:.1} s | {:.1} s, {competent_calls} calls | {:.1} × faster (≥ 3 ×) |",
        competent.wall.as_secs_f64(),
        competent.wall.as_secs_f64() / wall
    );
    if let Some(base) = &base {
        println!(
            "| wall time against the sequential AWS CLI script ({} accounts: {:.1} s, scaled × {scale:.0}) | {wall:.1} s | {:.0} s, {base_calls} calls for {} accounts | {:.0} × faster |",
            a.baseline_accounts,
            base.wall.as_secs_f64(),
            base.wall.as_secs_f64() * scale,
            a.baseline_accounts,
            base.wall.as_secs_f64() * scale / wall
        );
    }
    println!(
        "| wall time against the critical path ({} dependent calls × {mean_latency:.0} ms) | {wall:.1} s | {bound:.1} s | {:.2} (≤ 1.5) |",
        path.calls,
        wall / bound.max(0.001)
    );
    // The floor any client of the AWS SDK for Rust meets making these calls on this machine: the
    // SDK's CPU for them and the endpoint's, spread perfectly over the cores, or the bound.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match &sdk {
        Some(share) => {
            let part = share.sdk as f64 / share.samples as f64;
            let sdk_cpu = run.cpu.as_secs_f64() * part;
            let floor = ((sdk_cpu + run.endpoint_cpu.as_secs_f64()) / cores as f64).max(bound);
            println!(
                "| the floor on this machine: the SDK's CPU for these calls ({:.0} % of the scan's {:.1} s, profiled) and the endpoint's ({:.1} s), over {cores} cores, against the critical path | {floor:.2} s | {bound:.2} s | {:.2} |",
                part * 100.0,
                run.cpu.as_secs_f64(),
                run.endpoint_cpu.as_secs_f64(),
                floor / bound.max(0.001)
            );
            println!(
                "| wall time against that floor (our own code: {:.0} % of the profile, neither's {:.0} %) | {wall:.2} s | {floor:.2} s | {:.2} |",
                share.ours as f64 * 100.0 / share.samples as f64,
                (share.samples - share.sdk - share.ours) as f64 * 100.0 / share.samples as f64,
                wall / floor.max(0.001)
            );
        }
        None => {
            println!("| the floor on this machine | not measured: `perf` cannot record here | | |")
        }
    }
    for (share, twall, refused, tcalls, _) in &throttling {
        let outcome = match twall {
            Ok(w) => format!("{:.1} s wall", w.as_secs_f64()),
            Err(why) => format!("**the scan failed**: {}", why.replace('|', "/")),
        };
        println!(
            "| with {:.0} % of AWS's published request rates: calls throttled and retried | {refused} of {tcalls} | {outcome} | {:.1} % (≤ 10 %) |",
            share * 100.0,
            *refused as f64 * 100.0 / (*tcalls).max(1) as f64
        );
    }
    let first = calls.iter().map(|c| c.start_ms).min().unwrap_or(0);
    let last = calls.iter().map(|c| c.end_ms).max().unwrap_or(0);
    let api_phase = (last - first) as f64 / 1000.0;
    println!(
        "| from the first request to the last answer, against the critical path | {api_phase:.1} s | {bound:.1} s | {:.2} |",
        api_phase / bound.max(0.001)
    );
    println!(
        "| before the first request and after the last answer (start-up, reading code and state, analysis, storing) | {:.1} s | | |",
        (wall - api_phase).max(0.0)
    );
    let wide_first = wide_calls.iter().map(|c| c.start_ms).min().unwrap_or(0);
    let wide_last = wide_calls.iter().map(|c| c.end_ms).max().unwrap_or(0);
    println!(
        "| every account at once (`--parallelism {}`): wall, and first request to last answer | {:.1} s, {:.1} s | {bound:.1} s | {:.2}, {:.2} |",
        a.accounts + 1,
        wide_run.wall.as_secs_f64(),
        (wide_last - wide_first) as f64 / 1000.0,
        wide_run.wall.as_secs_f64() / bound.max(0.001),
        (wide_last - wide_first) as f64 / 1000.0 / bound.max(0.001)
    );
    println!(
        "| 16 accounts at a time (`--parallelism 16`, the default before): wall, peak memory | {:.1} s, {:.0} MiB | {bound:.1} s | {:.2} |",
        sixteen_run.wall.as_secs_f64(),
        sixteen_run.peak_kib as f64 / 1024.0,
        sixteen_run.wall.as_secs_f64() / bound.max(0.001)
    );
    println!(
        "| CPU time of the scan process, and of the replaying endpoint meanwhile (2 cores) | {:.1} s ({:.2} cores busy on average) | endpoint {:.1} s | |",
        run.cpu.as_secs_f64(),
        run.cpu.as_secs_f64() / wall,
        run.endpoint_cpu.as_secs_f64()
    );
    println!(
        "| API calls | {} | | |",
        calls.iter().filter(|c| c.fault.is_none()).count()
    );
    println!(
        "| achieved concurrency | {:.0} mean, {} peak in flight | | |",
        busy_ms as f64 / (wall * 1000.0),
        peak_in_flight(&calls)
    );
    println!(
        "| peak memory of the scan process (every account at once: {:.0} MiB) | {:.0} MiB | | |",
        wide_run.peak_kib as f64 / 1024.0,
        run.peak_kib as f64 / 1024.0
    );
    println!(
        "| the same scan against the emulator, no latency added | {:.1} s ({emulated_calls} calls, {:.0} calls/s) | | |",
        emulated.wall.as_secs_f64(),
        emulated_calls as f64 / emulated.wall.as_secs_f64().max(0.001)
    );
    if let Some((brun, bcalls)) = &scaled {
        println!(
            "| {} member accounts (recorded ones served again under new ids), {} resources | {:.1} s, {bcalls} calls, {:.0} MiB peak | | |",
            a.scale_accounts,
            resources_of(brun),
            brun.wall.as_secs_f64(),
            brun.peak_kib as f64 / 1024.0
        );
    }
    println!("\nThe critical path: {}\n", path.chain.join(" → "));

    for (share, _, _, _, by_api) in &throttling {
        println!(
            "Throttled answers by API at {:.0} % of the published rates (throttled of calls):\n",
            share * 100.0
        );
        if by_api.is_empty() {
            println!("- none");
        }
        for (api, t, n) in by_api.iter().take(12) {
            println!("- {api}: {t} of {n}");
        }
        println!();
    }

    println!("Calls per service against the fewest that read the same:\n");
    println!("| service | scan | fewest | ratio (≤ 1.1) | the fewest, as documented |");
    println!("|---|---:|---:|---:|---|");
    let by_service = per_service(&calls);
    let mut services: Vec<&String> = by_service.keys().chain(fewest.keys()).collect();
    services.sort();
    services.dedup();
    let (mut all, mut least) = (0usize, 0usize);
    for s in services {
        let made = by_service.get(s).copied().unwrap_or(0);
        let (min, why) = fewest.get(s).cloned().unwrap_or((0, "not counted".into()));
        all += made;
        least += min;
        println!(
            "| {s} | {made} | {min} | {:.2} | {why} |",
            made as f64 / min.max(1) as f64
        );
    }
    println!(
        "| all | {all} | {least} | {:.2} | |",
        all as f64 / least.max(1) as f64
    );
    println!("\nThe scan's calls by action:\n");
    for (action, n) in per_action(&calls) {
        println!("- {action}: {n}");
    }

    println!("\nWhat finding state and regions costs (the same endpoint):\n");
    println!("| scan | API calls | wall time |");
    println!("|---|---:|---:|");
    println!(
        "| home region only, configured backend only (`--region {}`, `discover = false`) | {narrow_calls} | {:.1} s |",
        sb.region,
        narrow_run.wall.as_secs_f64()
    );
    println!(
        "| default: regions in use + state searched in every account | {} | {wall:.1} s |",
        calls.len()
    );
    let seen: HashSet<&str> = calls.iter().map(|c| c.fingerprint.as_str()).collect();
    println!("\n{} calls, {} distinct requests.", calls.len(), seen.len());
    incremental.print();
}

/// Calls and wall time of one step of the incremental benchmark.
struct Step {
    calls: Vec<Call>,
    wall: Duration,
}

/// The incremental benchmark's steps.
struct Incremental {
    full: Step,
    since_last: Step,
    quiet: Step,
    changed: Step,
    reread: Vec<String>,
    /// The pass after a change once the organization has an organization trail.
    with_trail: Step,
}

impl Incremental {
    fn print(&self) {
        let full = self.full.calls.len().max(1) as f64;
        println!(
            "\nAfter one change (one function's handler changed in the console), against the emulator through one counting proxy, no latency added:\n"
        );
        println!(
            "| pass | API calls | share of the full scan's calls (target < 1 %) | wall time |"
        );
        println!("|---|---:|---:|---:|");
        let row = |what: &str, s: &Step| {
            println!(
                "| {what} | {} | {:.2} % | {:.2} s |",
                s.calls.len(),
                s.calls.len() as f64 * 100.0 / full,
                s.wall.as_secs_f64()
            );
        };
        row(
            "full rescan (`stagecraft scan`, in the process)",
            &self.full,
        );
        row(
            "`stagecraft scan --since-last`, a new process (each member's role assumed again)",
            &self.since_last,
        );
        row(
            "the first Live or `watch` pass, nothing changed (each member's role assumed once)",
            &self.quiet,
        );
        row(
            "the next pass, credentials kept, after the change",
            &self.changed,
        );
        row(
            "the same pass with AWS Control Tower's organization trail (its log group read once for every account)",
            &self.with_trail,
        );
        println!(
            "\nThe pass after the change, its calls by action: {}; read again: {}.",
            per_action(&self.changed.calls)
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.reread.join(", ")
        );
        println!(
            "With the organization trail: {}.",
            per_action(&self.with_trail.calls)
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// A full scan stored; one function changed in the console; then `scan --since-last` in a new
/// process, and two passes of one refresher (as `watch` and the window's Live mode keep it).
async fn incremental(
    sb: &sandbox::Sandbox,
    dir: &tempfile::TempDir,
    stages: &[String],
) -> Incremental {
    use stagecraft_aws::scan::{self, Pass, Refresher, ScanOptions};
    eprintln!("the incremental refresh…");
    let counter = Proxy::start(&sb.endpoint, ProxyOptions::default())
        .await
        .expect("counting proxy");
    let config = dir.path().join("aws-config-incremental");
    let env = sb
        .aws_env_through(&counter.endpoint, &config)
        .expect("aws config");
    let ws = stagecraft_iac::config::Workspace::load(&sb.workspace_file()).expect("workspace");
    let store_path = dir.path().join("incremental.db");
    let mut store = stagecraft_store::Store::open(&store_path).expect("store");
    let opts = scan::with_store_key(
        &ScanOptions {
            profile: Some("master".into()),
            ..ScanOptions::default()
        },
        &store,
    )
    .expect("options");
    let step = |started: Instant| Step {
        calls: counter.calls(),
        wall: started.elapsed(),
    };

    counter.clear();
    let t = Instant::now();
    let stored = scan::scan_and_store(&env, &ws, &opts, &mut store, &|_| {})
        .await
        .expect("full scan");
    let full = step(t);

    // One function of the first stage, changed in the console.
    let first = stages.first().expect("a stage");
    let change = |handler: &'static str| {
        let env = env.clone();
        let first = first.clone();
        async move {
            let console = env
                .sdk_config(&first, None)
                .await
                .into_builder()
                .app_name(aws_types::app_name::AppName::new("console.amazonaws.com").expect("app"))
                .build();
            let lambda = aws_sdk_lambda::Client::new(&console);
            let name = lambda
                .list_functions()
                .send()
                .await
                .expect("ListFunctions")
                .functions()
                .first()
                .and_then(|f| f.function_name())
                .expect("a function")
                .to_owned();
            lambda
                .update_function_configuration()
                .function_name(name)
                .handler(handler)
                .send()
                .await
                .expect("UpdateFunctionConfiguration");
        }
    };
    change("edited.first").await;
    // CloudTrail answers two requests a second per account and region: steps a second apart, as
    // passes 30 s apart are, so no step pays for the one before.
    let pause = || tokio::time::sleep(Duration::from_millis(1100));
    pause().await;
    counter.clear();
    let t = Instant::now();
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"));
    cli.args(["scan", "--since-last", "--json"])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", sb.dir.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PROFILE", "master")
        .env("STAGECRAFT_CONFIG", sb.workspace_file())
        .env("STAGECRAFT_STORE", &store_path);
    timed(cli, "scan --since-last").await;
    let since_last = step(t);
    let latest = store
        .latest_in(Some(&stored.report.organization.id))
        .expect("store")
        .expect("the refreshed snapshot");

    let refresher = Refresher::new(&env, &ws, &opts).await.expect("refresher");
    pause().await;
    counter.clear();
    let t = Instant::now();
    let first_pass = scan::refresh_and_store(
        &env,
        &ws,
        &opts,
        &refresher,
        Some(&latest),
        &mut store,
        &|_| {},
    )
    .await
    .expect("first pass");
    let quiet = step(t);
    assert!(
        matches!(&first_pass, Pass::Refreshed { refreshed, .. } if !refreshed.changed()),
        "nothing changed since --since-last"
    );

    change("edited.second").await;
    pause().await;
    counter.clear();
    let t = Instant::now();
    let pass = scan::refresh_and_store(
        &env,
        &ws,
        &opts,
        &refresher,
        Some(&latest),
        &mut store,
        &|_| {},
    )
    .await
    .expect("second pass");
    let changed = step(t);
    let reread = match &pass {
        Pass::Refreshed { refreshed, .. } => {
            assert_eq!(
                refreshed.new_changes.len(),
                1,
                "one change: {:?}",
                refreshed.new_changes
            );
            refreshed
                .reread
                .iter()
                .map(|r| format!("{} in {} {}", r.collector.name(), r.account_id, r.region))
                .collect()
        }
        Pass::Scanned { why, .. } => panic!("the pass scanned in full: {why}"),
    };

    // The same organization with AWS Control Tower's organization trail: every account's events
    // in one log group, read once a pass for the whole organization.
    let master = env.sdk_config("master", None).await;
    stagecraft_sandbox::seed::org_trail(
        &master,
        &aws_sdk_s3::Client::new(&master),
        &sb.seeded.management_account_id,
        &sb.region,
    )
    .await
    .expect("the organization trail");
    let refresher = Refresher::new(&env, &ws, &opts).await.expect("refresher");
    let latest = store
        .latest_in(Some(&stored.report.organization.id))
        .expect("store")
        .expect("the refreshed snapshot");
    pause().await;
    scan::refresh_and_store(
        &env,
        &ws,
        &opts,
        &refresher,
        Some(&latest),
        &mut store,
        &|_| {},
    )
    .await
    .expect("first pass with the trail");
    // That pass found the trail, and the writes that made it: the next goes on from its snapshot.
    let latest = store
        .latest_in(Some(&stored.report.organization.id))
        .expect("store")
        .expect("the refreshed snapshot");
    change("edited.third").await;
    pause().await;
    counter.clear();
    let t = Instant::now();
    let pass = scan::refresh_and_store(
        &env,
        &ws,
        &opts,
        &refresher,
        Some(&latest),
        &mut store,
        &|_| {},
    )
    .await
    .expect("pass with the trail");
    let with_trail = step(t);
    match &pass {
        Pass::Refreshed { refreshed, .. } => assert_eq!(
            refreshed.new_changes.len(),
            1,
            "one change: {:?}",
            refreshed.new_changes
        ),
        Pass::Scanned { why, .. } => panic!("the pass scanned in full: {why}"),
    }
    assert!(
        with_trail
            .calls
            .iter()
            .any(|c| c.action == "FilterLogEvents")
            && !with_trail.calls.iter().any(|c| c.action == "LookupEvents"),
        "the pass read the organization trail, not each account's history"
    );
    Incremental {
        full,
        since_last,
        quiet,
        changed,
        reread,
        with_trail,
    }
}
