//! What the benchmarks share: running a command to its end while watching its memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The benchmark's `--name N` options: each of `known` given a number, or its default. `cargo
/// bench` adds `--bench`, which takes none.
pub fn numbers(known: &[(&str, u64)]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = known
        .iter()
        .map(|(name, default)| ((*name).to_owned(), *default))
        .collect();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            continue;
        };
        if name == "bench" {
            continue;
        }
        let slot = out.get_mut(name).unwrap_or_else(|| {
            let names: Vec<String> = known.iter().map(|(n, _)| format!("--{n}")).collect();
            panic!(
                "{flag} is not an option here; these are: {}",
                names.join(" ")
            )
        });
        *slot = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} takes a number"));
    }
    out
}

/// A finished command: what it printed, how long it took, its peak resident memory, and the CPU
/// time it and this process (the replaying endpoint) used meanwhile.
pub struct Run {
    pub stdout: Vec<u8>,
    pub wall: Duration,
    pub peak_kib: u64,
    pub cpu: Duration,
    pub endpoint_cpu: Duration,
}

/// User + system CPU time of this process or of its waited-for children.
fn cpu_time(who: nix::sys::resource::UsageWho) -> Duration {
    nix::sys::resource::getrusage(who)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| {
                Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
            };
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or_default()
}

/// The high-water mark of a process's resident memory, from `/proc`.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `command` to its end, watching its memory's high-water mark. Fails the benchmark if it
/// failed.
pub async fn timed(command: tokio::process::Command, what: &str) -> Run {
    match attempt(command, what).await {
        Ok(run) => run,
        Err(why) => panic!("{what} failed: {why}"),
    }
}

/// [`timed`], with a failure returned (its stderr) instead of failing the benchmark.
pub async fn attempt(mut command: tokio::process::Command, what: &str) -> Result<Run, String> {
    use nix::sys::resource::UsageWho;
    use tokio::io::AsyncReadExt as _;
    let children_before = cpu_time(UsageWho::RUSAGE_CHILDREN);
    let self_before = cpu_time(UsageWho::RUSAGE_SELF);
    let started = Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let pid = child.id().unwrap_or(0);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b).await;
        b
    });
    let err = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b).await;
        b
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        tokio::select! {
            s = child.wait() => break s.unwrap_or_else(|e| panic!("{what}: {e}")),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let wall = started.elapsed();
    let cpu = cpu_time(UsageWho::RUSAGE_CHILDREN).saturating_sub(children_before);
    let endpoint_cpu = cpu_time(UsageWho::RUSAGE_SELF).saturating_sub(self_before);
    let stdout = out.await.unwrap_or_default();
    let stderr = err.await.unwrap_or_default();
    if !status.success() {
        let said = String::from_utf8_lossy(&stderr);
        let mut why = said.lines().last().unwrap_or_default().trim().to_owned();
        // What the accounts reported, grouped by collector and error kind, one example each.
        if let Ok(report) = serde_json::from_slice::<serde_json::Value>(&stdout) {
            let mut kinds: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
            for a in report["accounts"].as_array().into_iter().flatten() {
                for e in a["collect_errors"].as_array().into_iter().flatten() {
                    let key = (e["collector"].to_string(), e["code"].to_string());
                    let entry = kinds
                        .entry(key)
                        .or_insert((0, e["message"].as_str().unwrap_or_default().to_owned()));
                    entry.0 += 1;
                }
            }
            for ((collector, code), (n, example)) in kinds {
                why.push_str(&format!(" — {n} × {collector} {code}: {example}"));
            }
        }
        return Err(why);
    }
    Ok(Run {
        stdout,
        wall,
        peak_kib,
        cpu,
        endpoint_cpu,
    })
}

pub fn resources_of(run: &Run) -> usize {
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("scan JSON");
    report["resources"].as_array().map_or(0, Vec::len)
}
