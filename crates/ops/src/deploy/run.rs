//! Running a plan: each step a real child process in its own process group, its output streamed
//! line by line with timestamps, the run stopped at the first failing step (and resumable from it),
//! cancel = SIGTERM to the whole group, SIGKILL after a grace period.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use crate::model::deploy::{Outcome, Plan, Step};
pub use crate::model::deploy::{RunEvent, StepResult};

/// Most of a step's output the run keeps; beyond it the log says how much was left out.
pub const MAX_LOG_BYTES: usize = 8 * 1024 * 1024;

/// Grace between SIGTERM and SIGKILL when a run is cancelled.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a check returns: the step's own environment (its short-lived credentials), or why the
/// step may not start.
pub type CheckFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<(String, String)>, Blocked>> + Send>,
>;

/// Why a step may not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Something about the step is wrong (a profile acting in another account, a missing one):
    /// it is refused.
    Refused(String),
    /// A sign-in or its credentials lapsed: the run stops at this step boundary, interrupted, to
    /// be resumed from this step after signing in again.
    SignedOut(String),
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Refused(why) | Blocked::SignedOut(why) => f.write_str(why),
        }
    }
}

impl From<String> for Blocked {
    fn from(why: String) -> Self {
        Blocked::Refused(why)
    }
}

/// A check run right before each step (the profile still resolves to the stage's account).
pub type Check<'a> = &'a (dyn Fn(&Step) -> CheckFuture + Send + Sync);

/// Runs `plan`'s steps from `from` (0-based) until one does not succeed. Each step's process gets
/// none of this process's `AWS_*` variables: `AWS_PROFILE`, then `env`, then what `check` returns.
/// A step whose command fails runs its `fallback`, if it has one. Cancelling `cancel` (sending `true`) stops the step
/// that runs: SIGTERM to its process group, SIGKILL after `grace`.
pub async fn run_steps(
    plan: &Plan,
    from: usize,
    env: &[(String, String)],
    check: Check<'_>,
    cancel: watch::Receiver<bool>,
    grace: Duration,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Vec<StepResult> {
    let hooks = Hooks {
        on_event,
        on_spawn: &|_, _| {},
        on_step_done: &|_| {},
    };
    run_steps_with(plan, from, env, check, cancel, grace, &hooks).await
}

/// What a caller hears from [`run_steps_with`] besides the events.
pub struct Hooks<'a> {
    pub on_event: &'a (dyn Fn(RunEvent) + Send + Sync),
    /// A step's process started: the step's index and its process group.
    pub on_spawn: &'a (dyn Fn(u32, u32) + Send + Sync),
    /// A step ended, with its whole log (before the next one starts).
    pub on_step_done: &'a (dyn Fn(&StepResult) + Send + Sync),
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}

/// [`run_steps`], telling `hooks` each step's process group and each result as soon as it is known
/// (so a crash of the caller loses nothing already done, and leaves the group findable).
pub async fn run_steps_with(
    plan: &Plan,
    from: usize,
    env: &[(String, String)],
    check: Check<'_>,
    mut cancel: watch::Receiver<bool>,
    grace: Duration,
    hooks: &Hooks<'_>,
) -> Vec<StepResult> {
    let on_event = hooks.on_event;
    let mut results = Vec::new();
    for (i, step) in plan.steps.iter().enumerate().skip(from) {
        let index = i as u32;
        on_event(RunEvent::StepStarted {
            index,
            title: step.title.clone(),
            at: now(),
        });
        let started = Instant::now();
        let note = |text: String| {
            on_event(RunEvent::Line {
                index,
                stream: "stagecraft".into(),
                at: now(),
                text,
            })
        };
        // The step ends before its process starts.
        let stop = |outcome: Outcome, log: String| {
            let r = finish(on_event, index, step, outcome, None, started, log);
            (hooks.on_step_done)(&r);
            r
        };
        if *cancel.borrow() {
            results.push(stop(Outcome::Cancelled, String::new()));
            break;
        }
        let step_env = match check(step).await {
            Ok(extra) => extra,
            Err(Blocked::Refused(why)) => {
                note(format!("refused: {why}"));
                results.push(stop(Outcome::Refused, format!("refused: {why}\n")));
                break;
            }
            Err(Blocked::SignedOut(why)) => {
                let why = format!(
                    "interrupted before step {}: {why}; sign in again, then resume the run from this step",
                    index + 1
                );
                note(why.clone());
                results.push(stop(Outcome::Interrupted, format!("{why}\n")));
                break;
            }
        };
        let mut all_env = env.to_vec();
        all_env.extend(step_env);
        let Some(_held) = hold_dir(&step.dir, &note, &cancel).await else {
            results.push(stop(
                Outcome::Cancelled,
                "cancelled while waiting for the directory\n".into(),
            ));
            break;
        };
        note(format!(
            "$ {}  (in {}, AWS_PROFILE={})",
            step.command.join(" "),
            step.dir,
            step.profile
        ));
        let mut result = run_one(
            step,
            &step.command,
            index,
            &all_env,
            &mut cancel,
            grace,
            hooks,
        )
        .await;
        if let (Some(fallback), Ok((code, log))) = (&step.fallback, &result) {
            if *code != Some(0) && !*cancel.borrow() {
                note(format!(
                    "`{}` failed: running `{}` instead",
                    step.command.join(" "),
                    fallback.join(" ")
                ));
                let first = log.clone();
                result = run_one(step, fallback, index, &all_env, &mut cancel, grace, hooks)
                    .await
                    .map(|(code, log)| (code, format!("{first}{log}")));
            }
        }
        let cancelled = *cancel.borrow();
        let (outcome, code, log) = match result {
            Ok((code, log)) if cancelled => (Outcome::Cancelled, code, log),
            Ok((Some(0), log)) => (Outcome::Succeeded, Some(0), log),
            Ok((code, log)) => (Outcome::Failed, code, log),
            Err(e) => {
                note(e.clone());
                (Outcome::Failed, None, format!("{e}\n"))
            }
        };
        let r = finish(on_event, index, step, outcome, code, started, log);
        (hooks.on_step_done)(&r);
        let go_on = r.outcome == Outcome::Succeeded;
        results.push(r);
        if !go_on {
            break;
        }
    }
    results
}

fn finish(
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
    index: u32,
    step: &Step,
    outcome: Outcome,
    exit_code: Option<i32>,
    started: Instant,
    log: String,
) -> StepResult {
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    on_event(RunEvent::StepFinished {
        index,
        outcome,
        exit_code,
        duration_ms,
    });
    StepResult {
        index,
        title: step.title.clone(),
        outcome,
        exit_code,
        duration_ms,
        log,
    }
}

/// Holds `dir` for one tool process at a time, across processes (an advisory `flock` on the
/// directory): a deploy step and a preview both run Terraform or the Serverless CLI in the same
/// checkout, and the Serverless CLI cannot share a service's `.serverless/`, nor Terraform a root's
/// `.terraform/`. Waits (saying so once) while another holds it; `None` when `cancel` is sent
/// meanwhile. A directory that cannot be locked is not waited for.
pub(crate) async fn hold_dir(
    dir: &str,
    waiting: &(dyn Fn(String) + Send + Sync),
    cancel: &watch::Receiver<bool>,
) -> Option<DirHold> {
    use nix::fcntl::{Flock, FlockArg};
    let mut said = false;
    loop {
        let Ok(file) = std::fs::File::open(dir) else {
            return Some(DirHold { _held: None });
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Some(DirHold { _held: Some(held) }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                if *cancel.borrow() {
                    return None;
                }
                if !said {
                    waiting(format!(
                        "waiting: another Stagecraft process (a deploy or a preview) runs a tool in {dir}"
                    ));
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(_) => return Some(DirHold { _held: None }),
        }
    }
}

/// A directory held by [`hold_dir`] until dropped.
pub(crate) struct DirHold {
    _held: Option<nix::fcntl::Flock<std::fs::File>>,
}

/// A command that gets none of this process's `AWS_*` variables: a step gets the profiles it was
/// checked for, and nothing else of the user's AWS settings.
pub(crate) fn clean_command(program: &str) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
}

/// A line as a person reads it: terminal colour and cursor codes (`ESC [ … final byte`) left out;
/// Terraform and the Serverless CLI colour their output even into a pipe.
pub(crate) fn plain(line: String) -> String {
    if !line.contains('\u{1b}') {
        return line;
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in `@`..=`~`.
            for n in chars.by_ref() {
                if ('@'..='~').contains(&n) {
                    break;
                }
            }
        }
    }
    out
}

/// Signals a whole process group.
fn signal_group(pid: u32, signal: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
    }
}

async fn run_one(
    step: &Step,
    command: &[String],
    index: u32,
    env: &[(String, String)],
    cancel: &mut watch::Receiver<bool>,
    grace: Duration,
    hooks: &Hooks<'_>,
) -> Result<(Option<i32>, String), String> {
    let on_event = hooks.on_event;
    let Some((program, args)) = command.split_first() else {
        return Err("the step has no command".into());
    };
    let mut child = clean_command(program)
        .args(args)
        .current_dir(&step.dir)
        .env("AWS_PROFILE", &step.profile)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a cancel reaches everything it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}` in {}: {e}", step.dir))?;
    let pid = child.id().unwrap_or(0);
    (hooks.on_spawn)(index, pid);
    let log = std::sync::Mutex::new((String::new(), 0usize));
    let forward = |stream: &'static str, line: String| {
        let line = plain(line);
        if let Ok(mut l) = log.lock() {
            if l.0.len() + line.len() < MAX_LOG_BYTES {
                l.0.push_str(&line);
                l.0.push('\n');
            } else {
                l.1 += line.len() + 1;
            }
        }
        on_event(RunEvent::Line {
            index,
            stream: stream.into(),
            at: now(),
            text: line,
        });
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_out = async {
        if let Some(out) = stdout {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                forward("stdout", line);
            }
        }
    };
    let read_err = async {
        if let Some(err) = stderr {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                forward("stderr", line);
            }
        }
    };
    let waited = async {
        let code = tokio::select! {
            status = child.wait() => status.map(|s| s.code()).map_err(|e| e.to_string()),
            // The guard `wait_for` returns must not live across the awaits below.
            // A dropped sender means nobody can cancel any more: wait for the step instead.
            () = async {
                if cancel.wait_for(|c| *c).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => {
                signal_group(pid, nix::sys::signal::Signal::SIGTERM);
                match tokio::time::timeout(grace, child.wait()).await {
                    Ok(status) => status.map(|s| s.code()).map_err(|e| e.to_string()),
                    Err(_) => {
                        signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                        child.wait().await.map(|s| s.code()).map_err(|e| e.to_string())
                    }
                }
            }
        };
        // The step is over: whatever it left running in its group goes too (and lets go of the
        // output pipes, so reading ends).
        signal_group(pid, nix::sys::signal::Signal::SIGKILL);
        code
    };
    let (code, (), ()) = tokio::join!(waited, read_out, read_err);
    let code = code?;
    let (mut text, dropped) = log.into_inner().unwrap_or_default();
    if dropped > 0 {
        text.push_str(&format!("[{dropped} more bytes of output not kept]\n"));
    }
    Ok((code, text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_codes_are_left_out_of_a_line() {
        assert_eq!(
            super::plain("\u{1b}[1m\u{1b}[32mApply complete!\u{1b}[0m done".into()),
            "Apply complete! done"
        );
        assert_eq!(super::plain("no codes".into()), "no codes");
        assert_eq!(super::plain("cut \u{1b}[3".into()), "cut ");
    }
}
