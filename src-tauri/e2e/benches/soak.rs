//! The soak: the window open on a 50-account sandbox organization for a fixed time, rescanning
//! every `STAGECRAFT_SOAK_INTERVAL` seconds (default 30) for `STAGECRAFT_SOAK_MINUTES` (default
//! 30), with `[history] keep = 10` so pruning runs throughout. Every minute it samples the memory of
//! the app and its web processes (PSS and RSS), the store's size on disk (the file and its WAL) and
//! the snapshots it holds. It reports the memory curve's start, end and slope (least squares, after
//! the first scans have warmed the caches) and writes the samples to `target/bench-soak.md`.
//!
//! Run: `scripts/bench-soak [MINUTES]` (builds the front end and the app, then this under Xvfb).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::{app_pid, open_app, tree_memory, wait_for};

/// The retention the soak runs with (`[history] keep`): pruning runs throughout once it is reached.
const KEEP: usize = 10;
use stagecraft_sandbox::{harness, SeedSpec};
use stagecraft_store::Store;

struct Sample {
    minute: f64,
    pss_mib: f64,
    rss_mib: f64,
    processes: usize,
    store_mib: f64,
    snapshots: usize,
    scans: usize,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The store's size on disk: the database and its write-ahead log.
fn store_mib(path: &std::path::Path) -> f64 {
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = path.with_extension("db-wal");
    (size(path.to_path_buf()) + size(wal)) as f64 / (1024.0 * 1024.0)
}

/// Least-squares slope of `y` against `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    num / den
}

async fn soak(minutes: u64, interval: Duration) -> Vec<Sample> {
    let stages: Vec<String> = (1..=50).map(|i| format!("s{i:02}")).collect();
    print!("seeding a 50-account organization… ");
    std::io::stdout().flush().ok();
    let running = harness::start(SeedSpec {
        stages,
        extra_services: 6,
        extra_functions: 6,
        plant_problems: false,
        ..SeedSpec::default()
    });
    println!("done");
    let sb = &running.sandbox;
    let mut ws = std::fs::read_to_string(sb.workspace_file()).unwrap();
    ws.push_str(&format!("\n[history]\nkeep = {KEEP}\n"));
    std::fs::write(sb.workspace_file(), ws).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("soak.db");
    let mut env = sb.env_vars();
    env.push(("STAGECRAFT_STORE".into(), store.display().to_string()));
    env.push(("STAGECRAFT_SCAN_ON_OPEN".into(), "1".into()));

    let (_driver, client) = open_app(&env).await;
    wait_for(&client, "[data-testid=scan-button]").await;
    let pid = app_pid().expect("the app's process");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(minutes * 60);
    let mut next_sample = started;
    let mut last_scan = started;
    let mut samples = Vec::new();
    let mut clicks = 0usize;
    while Instant::now() < deadline {
        if Instant::now() >= next_sample {
            let memory = tree_memory(pid);
            let listed = Store::open(&store)
                .and_then(|s| s.list())
                .unwrap_or_default();
            let sample = Sample {
                minute: started.elapsed().as_secs_f64() / 60.0,
                pss_mib: memory.pss_mib,
                rss_mib: memory.rss_mib,
                processes: memory.processes,
                store_mib: store_mib(&store),
                snapshots: listed.len(),
                scans: listed.first().map(|s| s.id as usize).unwrap_or(0),
            };
            println!(
                "{:5.1} min: PSS {:6.1} MiB, RSS {:6.1} MiB ({} processes), store {:5.1} MiB, {} snapshots kept of {} scans",
                sample.minute,
                sample.pss_mib,
                sample.rss_mib,
                sample.processes,
                sample.store_mib,
                sample.snapshots,
                sample.scans
            );
            samples.push(sample);
            next_sample += Duration::from_secs(60);
        }
        if last_scan.elapsed() >= interval {
            // The same button a user presses; a scan still running leaves it disabled.
            let clicked = client
                .execute(
                    "const b = document.querySelector('[data-testid=scan-button]'); if (b && !b.disabled) { b.click(); return true; } return false;",
                    vec![],
                )
                .await
                .unwrap();
            if clicked.as_bool() == Some(true) {
                clicks += 1;
                last_scan = Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("{clicks} rescans asked for");
    client.close().await.unwrap();
    samples
}

fn main() {
    if std::env::var_os("DISPLAY").is_none() {
        println!(
            "soak benchmark skipped: needs a display (run scripts/bench-soak, which uses Xvfb)"
        );
        return;
    }
    let minutes = env_number("STAGECRAFT_SOAK_MINUTES", 30);
    let interval = Duration::from_secs(env_number("STAGECRAFT_SOAK_INTERVAL", 30));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let samples = rt.block_on(soak(minutes, interval));
    if samples.len() < 3 {
        println!("too short to fit a curve: {} samples", samples.len());
        return;
    }
    // Warm-up: the first two minutes (WebKit's caches, the first analyses) and, after them, the
    // filling of the store up to the retention limit; the slope is fitted over the steady state after.
    let steady_from = samples
        .iter()
        .find(|s| s.minute >= 2.0 && s.snapshots >= KEEP)
        .map(|s| s.minute)
        .unwrap_or(2.0);
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.minute >= steady_from).collect();
    let fit = |f: &dyn Fn(&Sample) -> f64| {
        slope(&warm.iter().map(|s| (s.minute, f(s))).collect::<Vec<_>>()) * 60.0
    };
    let (first, last) = (&samples[0], samples.last().unwrap());
    let warm_first = warm.first().copied().unwrap_or(first);
    let spread = warm
        .iter()
        .map(|s| s.pss_mib)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let mut md = format!(
        "| measure | start | steady (from {:.0} min: {KEEP} snapshots kept) | end ({:.0} min) | slope over the steady state |\n|---|---:|---:|---:|---:|\n",
        warm_first.minute, last.minute
    );
    md.push_str(&format!(
        "| PSS, app + web processes | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB/h (samples {:.1}–{:.1} MiB) |\n",
        first.pss_mib, warm_first.pss_mib, last.pss_mib, fit(&|s| s.pss_mib), spread.0, spread.1
    ));
    md.push_str(&format!(
        "| RSS, the same | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB/h |\n",
        first.rss_mib,
        warm_first.rss_mib,
        last.rss_mib,
        fit(&|s| s.rss_mib)
    ));
    md.push_str(&format!(
        "| store on disk (file + WAL) | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB/h |\n",
        first.store_mib,
        warm_first.store_mib,
        last.store_mib,
        fit(&|s| s.store_mib)
    ));
    md.push_str(&format!(
        "| snapshots kept / scans stored | {} / {} | {} / {} | {} / {} | |\n",
        first.snapshots,
        first.scans,
        warm_first.snapshots,
        warm_first.scans,
        last.snapshots,
        last.scans
    ));
    md.push_str("\nEvery sample:\n\n| minute | PSS MiB | RSS MiB | processes | store MiB | snapshots | scans |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for s in &samples {
        md.push_str(&format!(
            "| {:.1} | {:.1} | {:.1} | {} | {:.1} | {} | {} |\n",
            s.minute, s.pss_mib, s.rss_mib, s.processes, s.store_mib, s.snapshots, s.scans
        ));
    }
    println!("\n{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-soak.md");
    let _ = std::fs::write(out, md);
}
