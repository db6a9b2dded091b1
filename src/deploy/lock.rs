//! One run per stage: a lock file beside the store, holding the run's id and the process that holds
//! it. A lock whose process is gone (the app crashed, the machine rebooted) is stale: it is taken
//! over, and the run it names is reported as interrupted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Debug, Serialize, Deserialize)]
struct Held {
    pid: u32,
    run_id: i64,
    started_at: String,
}

/// A held stage lock; dropping it releases the stage.
#[derive(Debug)]
pub struct StageLock {
    path: PathBuf,
    /// The run a stale lock named, which never finished.
    pub interrupted: Option<i64>,
}

impl Drop for StageLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence; a zombie is as good as gone.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The live process holding `stage`'s lock and its run, if any.
pub fn live_holder(dir: &Path, stage: &str) -> Option<(u32, i64)> {
    let held: Held = std::fs::read_to_string(lock_path(dir, stage))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())?;
    alive(held.pid).then_some((held.pid, held.run_id))
}

/// The runs live processes hold locks for, across every stage in `dir`.
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
            live_holder(dir, &stage).map(|(_, run)| run)
        })
        .collect()
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
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = lock_path(dir, stage);
    let held = Held {
        pid: std::process::id(),
        run_id,
        started_at: started_at.to_owned(),
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
                return Ok(StageLock { path, interrupted });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other: Option<Held> = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                match other {
                    Some(o) if alive(o.pid) => {
                        return Err(Error::Input(format!(
                            "a deploy of {stage} is already running (run #{}, process {}, since {}); wait for it or cancel it",
                            o.run_id, o.pid, o.started_at
                        )))
                    }
                    stale => {
                        interrupted = stale.map(|o| o.run_id);
                        let _ = std::fs::remove_file(&path);
                    }
                }
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
