//! One run per stage: a lock file beside the store, holding the run's id, the process that holds it
//! and the process group of the step running. A lock whose process is gone (the app crashed, the
//! machine rebooted) is stale: its run is reported as interrupted, and it is taken over once the
//! step it was running has ended too, since that step (its own process group, a `terraform apply`
//! perhaps) does not die with the app.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    pid: u32,
    run_id: i64,
    started_at: String,
    #[serde(default)]
    step: Option<StepProcess>,
}

/// The step a lock holder is running: its process group, and when its leader started (so a reused
/// pid is not taken for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProcess {
    pub index: u32,
    pub title: String,
    pub pgid: u32,
    /// The leader's start time, in clock ticks since boot (`/proc/<pid>/stat`).
    pub since: Option<u64>,
}

impl StepProcess {
    /// A step process of `pgid`, its start time read now.
    pub fn new(index: u32, title: &str, pgid: u32) -> StepProcess {
        StepProcess {
            index,
            title: title.to_owned(),
            pgid,
            since: start_ticks(pgid),
        }
    }

    /// Whether anything of its process group still runs.
    pub fn alive(&self) -> bool {
        let Ok(raw) = i32::try_from(self.pgid) else {
            return false;
        };
        if raw <= 0 || signal::killpg(Pid::from_raw(raw), None).is_err() {
            return false;
        }
        // The leader may be gone while its children run on; a live leader must be the same process.
        match (start_ticks(self.pgid), self.since) {
            (Some(now), Some(then)) => now == then,
            _ => true,
        }
    }
}

/// A held stage lock; dropping it releases the stage.
#[derive(Debug)]
pub struct StageLock {
    path: PathBuf,
    held: Mutex<Held>,
    /// The run a stale lock named, which never finished.
    pub interrupted: Option<i64>,
}

impl StageLock {
    /// Records the step now running (or none), so a crash leaves its process group findable.
    pub fn set_step(&self, step: Option<StepProcess>) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        held.step = step;
        let tmp = self.path.with_extension("lock.tmp");
        let body = serde_json::to_string(&*held).unwrap_or_default();
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        }
    }
}

impl Drop for StageLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; a zombie is as good as gone.
    signal::kill(Pid::from_raw(raw), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Who holds a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub run_id: i64,
    /// The holding process (the app, the CLI) still runs.
    pub running: bool,
    /// The step it ran, when that step's processes still run.
    pub step: Option<StepProcess>,
}

impl Holder {
    /// Why the stage is busy, and what to do.
    pub fn describe(&self, stage: &str) -> String {
        match (&self.step, self.running) {
            (_, true) => format!(
                "a deploy of {stage} is already running (run #{}, process {})",
                self.run_id, self.pid
            ),
            (Some(step), false) => format!(
                "run #{} of {stage} was interrupted, but its step {} `{}` still runs (process group {}); wait for it to end, or stop it (\"Stop it\" in the Deploy view, or `kill -TERM -{}`)",
                self.run_id,
                step.index + 1,
                step.title,
                step.pgid,
                step.pgid
            ),
            (None, false) => format!("run #{} of {stage} was interrupted", self.run_id),
        }
    }
}

fn read_held(path: &Path) -> Option<Held> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

fn holder_of(held: &Held) -> Option<Holder> {
    let running = alive(held.pid);
    let step = held.step.clone().filter(StepProcess::alive);
    (running || step.is_some()).then_some(Holder {
        pid: held.pid,
        run_id: held.run_id,
        running,
        step,
    })
}

/// The live holder of `stage`'s lock: a running app or CLI, or the step process it left running.
pub fn live_holder(dir: &Path, stage: &str) -> Option<Holder> {
    holder_of(&read_held(&lock_path(dir, stage))?)
}

/// The runs live processes (an app, a CLI) are running now, across every stage in `dir`. A run whose
/// holder died is not among them, even while a step it started runs on.
pub fn live_runs(dir: &Path) -> Vec<i64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stage = name
                .strip_prefix("deploy-")?
                .strip_suffix(".lock")?
                .to_owned();
            live_holder(dir, &stage)
                .filter(|h| h.running)
                .map(|h| h.run_id)
        })
        .collect()
}

/// Stops a step an interrupted run left running on `stage` (SIGTERM to its process group, SIGKILL
/// after `grace`). Refuses while the run's own process is alive: that one is cancelled, not stopped.
pub async fn stop_leftover(
    dir: &Path,
    stage: &str,
    grace: Duration,
) -> Result<Option<StepProcess>, Error> {
    let Some(holder) = live_holder(dir, stage) else {
        return Ok(None);
    };
    if holder.running {
        return Err(Error::Input(holder.describe(stage)));
    }
    let Some(step) = holder.step else {
        return Ok(None);
    };
    let Ok(raw) = i32::try_from(step.pgid) else {
        return Ok(None);
    };
    let _ = signal::killpg(Pid::from_raw(raw), Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while step.alive() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if step.alive() {
        let _ = signal::killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
    Ok(Some(step))
}

/// The lock file of `stage` in `dir`.
pub fn lock_path(dir: &Path, stage: &str) -> PathBuf {
    let safe: String = stage
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("deploy-{safe}.lock"))
}

/// Takes `stage`'s lock for `run_id`, or says who holds it.
pub fn acquire(dir: &Path, stage: &str, run_id: i64, started_at: &str) -> Result<StageLock, Error> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = lock_path(dir, stage);
    let held = Held {
        pid: std::process::id(),
        run_id,
        started_at: started_at.to_owned(),
        step: None,
    };
    let body = serde_json::to_string(&held).unwrap_or_default();
    let mut interrupted = None;
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                use std::io::Write as _;
                f.write_all(body.as_bytes())
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                return Ok(StageLock {
                    path,
                    held: Mutex::new(held),
                    interrupted,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = read_held(&path);
                if let Some(h) = other.as_ref().and_then(holder_of) {
                    let since = other.map(|o| o.started_at).unwrap_or_default();
                    return Err(Error::Input(format!(
                        "{} since {since}; wait for it or cancel it",
                        h.describe(stage)
                    )));
                }
                interrupted = other.map(|o| o.run_id);
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
        }
    }
    Err(Error::Input(format!(
        "the lock of stage {stage} ({}) keeps coming back; another deploy is starting",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_dead_holders_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "qa", 1, "t0").unwrap();
        assert_eq!(first.interrupted, None);
        let second = acquire(dir.path(), "qa", 2, "t1").unwrap_err();
        assert!(second
            .to_string()
            .contains("a deploy of qa is already running (run #1"));
        // Another stage is independent.
        let prod = acquire(dir.path(), "prod", 3, "t2").unwrap();
        drop(prod);
        drop(first);
        // A crashed holder: its process is gone, the lock file stays behind.
        std::fs::write(
            lock_path(dir.path(), "qa"),
            r#"{"pid": 4194304, "run_id": 7, "started_at": "t3"}"#,
        )
        .unwrap();
        assert!(
            live_runs(dir.path()).is_empty(),
            "a dead holder holds nothing"
        );
        let taken = acquire(dir.path(), "qa", 8, "t4").unwrap();
        assert_eq!(taken.interrupted, Some(7));
        assert_eq!(live_runs(dir.path()), [8]);
        drop(taken);
        assert!(!lock_path(dir.path(), "qa").exists(), "released on drop");
    }
}
