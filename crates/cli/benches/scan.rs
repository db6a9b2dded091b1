//! Scan benchmark at organization scale (`scripts/bench-scan`).
//!
//! Seeds a clean sandbox of `--accounts` member accounts (the demo org's shapes, `--services` extra
//! services of `--functions` extra functions each), puts the latency proxy in front of it
//! (`--latency` ms per round trip, `--jitter` ms more at random), and measures one scan by the real
//! `stagecraft` binary: wall time, peak memory, API calls per service against the distinct requests,
//! achieved concurrency, and the critical path the call log shows. The same scan then runs with no
//! injected latency: what remains is the emulator's own pace, and the difference is what the latency
//! cost the scan, to set against the critical-path bound. Then the baseline: the sequential
//! AWS CLI script a user would write for the same inventory (`scripts/baseline-inventory.sh`), run on
//! `--baseline-accounts` accounts through the same proxy and scaled to all of them (it is
//! sequential, so it scales linearly); and the competent baseline: the same inventory in Python with
//! boto3, accounts and per-item calls in thread pools as wide as the scan's own
//! (`scripts/baseline_inventory.py`), on every account, not extrapolated. Prints a Markdown table for
//! BENCHMARKS.md.

// A report for the terminal: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stagecraft_sandbox::harness::repo;
use stagecraft_sandbox::proxy::{Call, Proxy, ProxyOptions};
use stagecraft_sandbox::{self as sandbox, SeedSpec};

struct Args {
    accounts: usize,
    services: usize,
    functions: usize,
    latency: u64,
    jitter: u64,
    baseline_accounts: usize,
}

fn args() -> Args {
    let mut a = Args {
        accounts: 50,
        services: 6,
        functions: 6,
        latency: 50,
        jitter: 10,
        baseline_accounts: 2,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--accounts" => a.accounts = value() as usize,
            "--services" => a.services = value() as usize,
            "--functions" => a.functions = value() as usize,
            "--latency" => a.latency = value(),
            "--jitter" => a.jitter = value(),
            "--baseline-accounts" => a.baseline_accounts = value() as usize,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    a
}

/// The longest chain of calls in the log where each starts after the previous one ended, within one
/// account and service (after that account's STS calls) — the dependent round trips the scan made.
fn critical_path(calls: &[Call]) -> usize {
    let mut by_group: HashMap<(Option<String>, String), Vec<&Call>> = HashMap::new();
    for c in calls.iter().filter(|c| c.fault.is_none()) {
        by_group
            .entry((c.account.clone(), c.service.clone()))
            .or_default()
            .push(c);
    }
    // Per account: how deep its STS and IAM role check go before the collectors start.
    let depth_of = |group: &[&Call]| -> usize {
        let mut done: Vec<(u64, usize)> = Vec::new(); // (end, chain), in end order
        let mut best = 0;
        let mut sorted = group.to_vec();
        sorted.sort_by_key(|c| c.start_ms);
        for c in sorted {
            let before = done
                .iter()
                .filter(|(end, _)| *end <= c.start_ms)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            let n = before + 1;
            best = best.max(n);
            done.push((c.end_ms, n));
        }
        best
    };
    let org = by_group
        .iter()
        .filter(|((_, s), _)| s == "organizations")
        .map(|(_, g)| depth_of(g))
        .max()
        .unwrap_or(0);
    let mut per_account: HashMap<Option<String>, usize> = HashMap::new();
    for ((account, service), group) in &by_group {
        if service == "organizations" {
            continue;
        }
        let d = depth_of(group);
        let e = per_account.entry(account.clone()).or_insert(0);
        *e = (*e).max(d);
    }
    // + AssumeRole and GetCallerIdentity before each account's collectors.
    org + 2 + per_account.values().copied().max().unwrap_or(0)
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

fn max_rss_children_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(0)
}

/// Runs `command` to its end; its output and how long it took. Fails the benchmark if it failed.
async fn timed(
    mut command: tokio::process::Command,
    what: &str,
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, took)
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
    let running = sandbox::start_scratch(
        &std::env::var_os("STAGECRAFT_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".venv")),
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
    let proxy = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            latency: Duration::from_millis(a.latency),
            jitter: Duration::from_millis(a.jitter),
            seed: 8,
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("proxy");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aws-config");
    sb.aws_env_through(&proxy.endpoint, &config)
        .expect("aws config");

    // Stagecraft: the real binary, as a user runs it.
    let before_rss = max_rss_children_kib();
    // Both the scan and the baseline reach the sandbox through the proxy, with the same profiles.
    let through = |program: &str, config: &std::path::Path| {
        let mut c = tokio::process::Command::new(program);
        c.env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", sb.dir.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    };
    let scan = |config: &std::path::Path, store: &str| {
        let mut c = through(env!("CARGO_BIN_EXE_stagecraft"), config);
        c.args(["scan", "--json"])
            .env("AWS_PROFILE", "master")
            .env("STAGECRAFT_CONFIG", sb.workspace_file())
            .env("STAGECRAFT_STORE", dir.path().join(store));
        c
    };
    let (out, wall) = timed(scan(&config, "bench.db"), "the scan").await;
    let rss_kib = max_rss_children_kib().max(before_rss);
    let calls = proxy.calls();

    // The same scan with no injected latency: the pace of the emulator (and of the scan's own work)
    // alone, to set the latency-bound figure against.
    let unhurried = Proxy::start(&sb.endpoint, ProxyOptions::default())
        .await
        .expect("proxy");
    let config0 = dir.path().join("aws-config-0");
    sb.aws_env_through(&unhurried.endpoint, &config0)
        .expect("aws config");
    let (_, wall0) = timed(scan(&config0, "bench-0.db"), "the scan without latency").await;
    let calls0 = unhurried.calls().len();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan JSON");
    let resources = report["resources"].as_array().map_or(0, Vec::len);
    let distinct: HashSet<&str> = calls.iter().map(|c| c.fingerprint.as_str()).collect();
    let mut per_service: BTreeMap<&str, (usize, HashSet<&str>)> = BTreeMap::new();
    for c in &calls {
        let e = per_service.entry(c.service.as_str()).or_default();
        e.0 += 1;
        e.1.insert(c.fingerprint.as_str());
    }
    let busy_ms: u64 = calls.iter().map(|c| c.end_ms - c.start_ms).sum();
    let chain = critical_path(&calls);
    let bound = Duration::from_millis(chain as u64 * (a.latency + a.jitter / 2));
    let wall_ms = wall.as_millis() as f64;

    // The same scan as before state discovery and regions in use: the home region only, and only
    // the configured backend read. The difference is what finding state and regions costs.
    proxy.clear();
    let narrow_config = dir.path().join("narrow.toml");
    let ws_text = std::fs::read_to_string(sb.workspace_file()).expect("workspace config");
    std::fs::write(
        &narrow_config,
        ws_text.replacen("[terraform]\n", "[terraform]\ndiscover = false\n", 1),
    )
    .expect("narrow config");
    let mut narrow = scan(&config, "bench-narrow.db");
    narrow
        .args(["--region", &sb.region])
        .env("STAGECRAFT_CONFIG", &narrow_config);
    let (narrow_out, narrow_wall) = timed(narrow, "the scan without discovery").await;
    let narrow_calls = proxy.calls().len();
    let narrow_report: serde_json::Value =
        serde_json::from_slice(&narrow_out.stdout).expect("scan JSON");
    let coverage = &report["coverage"];
    let probe_calls: u64 = coverage["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["region_probe_calls"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        narrow_report["resources"].as_array().map_or(0, Vec::len),
        resources,
        "the demo layout: discovery finds nothing the configured backend does not"
    );

    // The baseline: the sequential AWS CLI script, on a few accounts, scaled.
    proxy.clear();
    let profiles: Vec<&str> = stages
        .iter()
        .take(a.baseline_accounts)
        .map(String::as_str)
        .collect();
    let mut base = through("bash", &config);
    base.arg(repo().join("scripts/baseline-inventory.sh"))
        .args(&profiles)
        .env("AWS_PAGER", "");
    let (_, base_wall) = timed(base, "the baseline script").await;
    let base_calls = proxy.calls().len();
    let scale = a.accounts as f64 / a.baseline_accounts.max(1) as f64;
    let base_scaled_ms = base_wall.as_millis() as f64 * scale;

    // The competent baseline, on every account, as wide as the scan (16 accounts at once, 8
    // per-item calls at a time per listing).
    proxy.clear();
    let python = std::env::var_os("STAGECRAFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
        .join("bin/python");
    let mut competent = through(&python.display().to_string(), &config);
    competent
        .arg(repo().join("scripts/baseline_inventory.py"))
        .args(["--accounts-at-once", "16", "--per-item", "8"])
        .args(&stages);
    let (competent_out, competent_wall) = timed(competent, "the boto3 baseline").await;
    let competent_calls = proxy.calls().len();
    let competent_said = String::from_utf8_lossy(&competent_out.stdout)
        .trim()
        .to_owned();

    println!(
        "\nScan of {} accounts + management, {} resources, {} ms ± {} ms per round trip:\n",
        a.accounts, resources, a.latency, a.jitter
    );
    println!("| measure | Stagecraft | target / baseline |");
    println!("|---|---:|---:|");
    println!(
        "| wall time | {:.1} s | AWS CLI script: {:.0} s ({} accounts measured: {:.1} s, × {scale:.0}) |",
        wall_ms / 1000.0,
        base_scaled_ms / 1000.0,
        a.baseline_accounts,
        base_wall.as_secs_f64()
    );
    println!(
        "| speed-up over the script | {:.0} × | target ≥ 20 × |",
        base_scaled_ms / wall_ms
    );
    println!(
        "| against a boto3 thread-pool script on all {} accounts ({competent_said}) | {:.1} s | script: {:.1} s, {competent_calls} calls; speed-up {:.1} × |",
        a.accounts,
        wall_ms / 1000.0,
        competent_wall.as_secs_f64(),
        competent_wall.as_millis() as f64 / wall_ms
    );
    println!(
        "| critical path (longest chain of dependent calls in the log) | {chain} calls ≈ {:.1} s | wall / bound = {:.2} (target ≤ 1.5) |",
        bound.as_secs_f64(),
        wall_ms / bound.as_millis().max(1) as f64
    );
    println!(
        "| the same scan with no injected latency (the emulator's own pace: {:.0} calls/s) | {:.1} s | latency added {:.1} s = {:.2} × the critical-path bound |",
        calls0 as f64 / wall0.as_secs_f64().max(0.001),
        wall0.as_secs_f64(),
        (wall_ms / 1000.0 - wall0.as_secs_f64()).max(0.0),
        (wall_ms / 1000.0 - wall0.as_secs_f64()).max(0.0) / bound.as_secs_f64().max(0.001)
    );
    println!(
        "| API calls | {} ({} distinct requests) | calls / distinct = {:.2} (target ≤ 1.1) |",
        calls.len(),
        distinct.len(),
        calls.len() as f64 / distinct.len().max(1) as f64
    );
    let first = calls.iter().map(|c| c.start_ms).min().unwrap_or(0);
    let last = calls.iter().map(|c| c.end_ms).max().unwrap_or(0);
    println!(
        "| from the first request to the last answer | {:.1} s (the rest of the wall time is start-up, reading code and state, storing) | |",
        (last - first) as f64 / 1000.0
    );
    println!(
        "| mean round trip (injected latency + the emulator) | {:.0} ms | |",
        busy_ms as f64 / calls.len().max(1) as f64
    );
    println!(
        "| achieved concurrency | {:.1} mean, {} peak in flight | |",
        busy_ms as f64 / wall_ms,
        peak_in_flight(&calls)
    );
    println!(
        "| peak memory (the scan process) | {:.0} MiB | |",
        rss_kib as f64 / 1024.0
    );
    println!(
        "| AWS CLI calls for {} accounts | {base_calls} | |",
        a.baseline_accounts
    );
    println!("\nWhat finding state and regions costs (the same organization, the same proxy):\n");
    println!("| scan | API calls | wall time |");
    println!("|---|---:|---:|");
    println!(
        "| home region only, configured backend only (`--region {}`, `discover = false`) | {narrow_calls} | {:.1} s |",
        sb.region,
        narrow_wall.as_secs_f64()
    );
    println!(
        "| default: regions in use + state searched in every account | {} | {:.1} s |",
        calls.len(),
        wall_ms / 1000.0
    );
    println!(
        "| added | {} ({probe_calls} region probes, {} state-search calls over {} buckets) | {:+.1} s |",
        calls.len() as i64 - narrow_calls as i64,
        coverage["state"]["calls"],
        coverage["state"]["buckets_probed"],
        wall_ms / 1000.0 - narrow_wall.as_secs_f64()
    );
    println!("\nCalls per service (all / distinct):\n");
    println!("| service | calls | distinct |");
    println!("|---|---:|---:|");
    for (service, (n, d)) in &per_service {
        println!("| {service} | {n} | {} |", d.len());
    }
}
