//! Stage deploys: the phased plan, the preflight, the runner, one run per stage, and the history.

pub mod changes;
pub mod lock;
pub mod plan;
pub mod profiles;
pub mod run;
pub mod tools;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::aws::AwsEnv;
use crate::config::Workspace;
pub use crate::model::deploy::{
    DeployPreview, DeployRun, Outcome, Phase, PreflightItem, ProfileUse,
};
use crate::model::ScanReport;
use crate::store::Store;
use crate::Error;
pub use plan::{plan, Plan, Step};
use run::{CheckFuture, RunEvent, StepResult};
pub use tools::Tools;

/// The plan of `stage`, its preflight, and what holds the stage.
pub async fn preview(
    env: &AwsEnv,
    ws: &Workspace,
    report: &ScanReport,
    stage: &str,
    store_path: &Path,
) -> Result<DeployPreview, Error> {
    let tools = Tools::detect(ws).await;
    let plan = plan(ws, report, stage, &tools)?;
    let dir = lock_dir(store_path);
    let preflight = preflight(env, &plan, report, &dir, &tools).await;
    let leftover = lock::live_holder(&dir, stage)
        .filter(|h| !h.running && h.step.is_some())
        .map(|h| h.describe(stage));
    Ok(DeployPreview {
        plan,
        phases: Phase::titles(),
        preflight,
        leftover,
    })
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Where stage locks live: beside the store.
pub fn lock_dir(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where a running step's output is spooled as it comes, until the step's result is stored: what
/// a crash of the app would otherwise lose.
fn spool_path(store_path: &Path, run_id: i64, index: u32) -> PathBuf {
    lock_dir(store_path)
        .join("deploy-logs")
        .join(format!("run-{run_id}-step-{}.log", index + 1))
}

/// Records as `interrupted` every run left `running` that no live process holds (the app or the CLI
/// crashed mid-run), and the step each was running, with the output it had printed; returns their ids.
pub fn mark_interrupted(store_path: &Path) -> Result<Vec<i64>, Error> {
    let store = Store::open(store_path)?;
    let dir = lock_dir(store_path);
    let held = lock::live_runs(&dir);
    let gone = store.mark_interrupted(&|run| held.contains(&run))?;
    let at = now();
    for run in store
        .runs(None)?
        .into_iter()
        .filter(|r| gone.contains(&r.id))
    {
        store.finish_run(run.id, Outcome::Interrupted, &at)?;
        let leftover = lock::live_holder(&dir, &run.stage)
            .filter(|h| h.run_id == run.id)
            .and_then(|h| h.step);
        for mut step in run
            .steps
            .into_iter()
            .filter(|s| s.outcome == Outcome::Running)
        {
            let spool = spool_path(store_path, run.id, step.index);
            step.log = std::fs::read_to_string(&spool).unwrap_or_default();
            step.log.push_str("[the app stopped while this step ran]\n");
            if let Some(p) = leftover.as_ref().filter(|p| p.index == step.index) {
                step.log.push_str(&format!(
                    "[its processes (group {}) were still running at {at}]\n",
                    p.pgid
                ));
            }
            step.outcome = Outcome::Interrupted;
            store.record_step(run.id, &step)?;
            let _ = std::fs::remove_file(spool);
        }
    }
    Ok(gone)
}

/// Stops the step an interrupted run of `stage` left running, if any (what Cancel does when no run
/// of this process holds the stage).
pub async fn stop_leftover(store_path: &Path, stage: &str) -> Result<Option<String>, Error> {
    let stopped = lock::stop_leftover(&lock_dir(store_path), stage, run::CANCEL_GRACE).await?;
    Ok(stopped.map(|s| {
        format!(
            "stopped step {} `{}` (process group {})",
            s.index + 1,
            s.title,
            s.pgid
        )
    }))
}

/// Writes a running step's lines to its spool file.
struct Spool {
    store_path: PathBuf,
    run_id: i64,
    open: std::sync::Mutex<Option<(std::fs::File, usize)>>,
}

impl Spool {
    fn start(&self, index: u32) {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let path = spool_path(&self.store_path, self.run_id, index);
        if let Some(dir) = path.parent() {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .ok();
        if let Ok(mut open) = self.open.lock() {
            *open = file.map(|f| (f, 0));
        }
    }

    fn line(&self, at: &str, stream: &str, text: &str) {
        use std::io::Write as _;
        if let Ok(mut open) = self.open.lock() {
            if let Some((file, written)) = open.as_mut() {
                if *written < run::MAX_LOG_BYTES {
                    let line = format!("{at} {stream}: {text}\n");
                    *written += line.len();
                    let _ = file.write_all(line.as_bytes());
                }
            }
        }
    }

    fn done(&self, index: u32) {
        if let Ok(mut open) = self.open.lock() {
            *open = None;
        }
        let _ = std::fs::remove_file(spool_path(&self.store_path, self.run_id, index));
    }
}

/// `program` on `PATH` (or as a path), if it is there.
pub fn find_binary(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    })
}

async fn version_of(binary: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(binary)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await;
    match out {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&o.stderr).lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned(),
        _ => "version unknown".to_owned(),
    }
}

/// A private scratch directory for one run's credential files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(run_id: i64) -> Result<Scratch, Error> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir =
            std::env::temp_dir().join(format!("stagecraft-run-{}-{run_id}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The preflight of a plan: binaries, the profile's account, name-reuse blockers, the stage's lock,
/// the workspace.
pub async fn preflight(
    env: &AwsEnv,
    plan: &Plan,
    report: &ScanReport,
    lock_dir: &Path,
    tools: &Tools,
) -> Vec<PreflightItem> {
    let mut out = Vec::new();
    let mut binaries: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| s.command.first().map(String::as_str))
        .collect();
    binaries.sort();
    binaries.dedup();
    for b in binaries {
        match find_binary(b) {
            Some(path) => {
                let version = match &tools.terraform {
                    Some(tf) if tf.path.as_deref() == Some(path.as_path()) => tf.describe.clone(),
                    _ => version_of(&path).await,
                };
                out.push(PreflightItem {
                    check: format!("`{b}` is installed"),
                    ok: true,
                    detail: format!("{} — {version}", path.display()),
                    fix: None,
                })
            }
            None => out.push(PreflightItem {
                check: format!("`{b}` is installed"),
                ok: false,
                detail: format!("`{b}` is not on PATH"),
                fix: Some(
                    "install it, or set the binary in stagecraft.toml ([terraform] / [serverless] binary = \"…\")"
                        .to_owned(),
                ),
            }),
        }
    }
    let uses: Vec<ProfileUse> = plan
        .steps
        .iter()
        .flat_map(|s| s.profiles.iter().cloned())
        .collect();
    out.extend(profiles::preflight(env, &uses).await);
    if let Some(item) = profiles::clock(env, &uses).await {
        out.push(item);
    }
    match &plan.account_id {
        Some(_) => {}
        None => out.push(PreflightItem {
            check: "the stage's account is known".into(),
            ok: false,
            detail: format!("no scanned account is stage {}", plan.stage),
            fix: Some(
                "scan the organization, or map the stage to an account in stagecraft.toml".into(),
            ),
        }),
    }
    let blocked: Vec<String> = crate::deletion::pending(report, &[])
        .into_iter()
        .flat_map(|p| p.blocks)
        .filter(|b| b.stage == plan.stage)
        .map(|b| b.message)
        .collect();
    out.push(PreflightItem {
        check: "no pending deletion blocks a name the deploy creates".into(),
        ok: blocked.is_empty(),
        detail: if blocked.is_empty() {
            "none".into()
        } else {
            blocked.join("; ")
        },
        fix: (!blocked.is_empty()).then(|| {
            "restore or force-delete it first (Deletions view, `stagecraft undelete`)".into()
        }),
    });
    let holder = lock::live_holder(lock_dir, &plan.stage);
    out.push(PreflightItem {
        check: format!("no other deploy of {} is running", plan.stage),
        ok: holder.is_none(),
        detail: match &holder {
            Some(h) => h.describe(&plan.stage),
            None => "free".into(),
        },
        fix: holder.map(|h| {
            if h.running {
                "wait for it to finish, or cancel it".into()
            } else {
                "wait for the leftover step to end, or stop it with Cancel".into()
            }
        }),
    });
    if let Some(ws_step) = plan
        .steps
        .iter()
        .find(|s| s.command.get(1).map(String::as_str) == Some("workspace"))
    {
        let name = ws_step.command.last().cloned().unwrap_or_default();
        let seen = match &plan.state_location {
            Some(location) => report.terraform.iter().any(|t| &t.location == location),
            None => report.terraform.iter().any(|t| t.workspace == name),
        };
        out.push(PreflightItem {
            check: format!("Terraform workspace `{name}`"),
            ok: true,
            detail: match (&plan.state_location, seen) {
                (Some(l), true) => format!("its state was read at {l}"),
                (Some(l), false) => format!("no state at {l} yet: the deploy creates it"),
                (None, true) => "a state of it was read".into(),
                (None, false) => "no state of it was read: the deploy creates it".into(),
            },
            fix: None,
        });
    }
    out
}

/// How to run a deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Start at this step (0-based): a retry from the step that failed.
    pub from_step: usize,
    /// The stage's name as typed (required for a protected stage).
    pub typed_stage: Option<String>,
    /// Added to every step's environment.
    pub env: Vec<(String, String)>,
    /// Between SIGTERM and SIGKILL on cancel.
    pub grace: Option<Duration>,
    /// The preview the user saw before starting: when it deletes or replaces anything, the stage's
    /// name must be typed, protected stage or not.
    pub changes: Option<crate::model::deploy::StageChanges>,
}

/// Runs the plan of `stage` after its preflight; stores the run and each step. Refuses (an error,
/// nothing run) when the preflight fails, a protected stage's name was not typed, or another run
/// holds the stage.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    env: &AwsEnv,
    ws: &Workspace,
    report: &ScanReport,
    stage: &str,
    store_path: &Path,
    opts: DeployOptions,
    cancel: watch::Receiver<bool>,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<DeployRun, Error> {
    let tools = Tools::detect(ws).await;
    let plan = plan(ws, report, stage, &tools)?;
    if plan.protected && opts.typed_stage.as_deref() != Some(stage) {
        return Err(Error::Input(format!(
            "{stage} is a protected stage: type `{stage}` to confirm the deploy"
        )));
    }
    if let Some(changes) = opts
        .changes
        .as_ref()
        .filter(|c| c.stage == stage && c.destructive)
    {
        if opts.typed_stage.as_deref() != Some(stage) {
            let doomed: Vec<String> = changes
                .steps
                .iter()
                .flat_map(|s| &s.changes)
                .filter(|c| c.action.destroys())
                .take(3)
                .map(|c| format!("{} {}", c.action.as_str(), c.address))
                .collect();
            return Err(Error::Input(format!(
                "the preview of {stage} deletes or replaces resources ({}…): type `{stage}` to confirm the deploy",
                doomed.join(", ")
            )));
        }
    }
    let lock_dir = lock_dir(store_path);
    let failed: Vec<String> = preflight(env, &plan, report, &lock_dir, &tools)
        .await
        .into_iter()
        .filter(|p| !p.ok)
        .map(|p| {
            format!(
                "{}: {}{}",
                p.check,
                p.detail,
                p.fix.map(|f| format!(" — {f}")).unwrap_or_default()
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(Error::Input(format!(
            "preflight failed: {}",
            failed.join("; ")
        )));
    }
    let store = Store::open(store_path)?;
    let started_at = now();
    let who = crate::local_user();
    let run_id = store.start_run(&plan, &who, &started_at)?;
    let lock = match lock::acquire(&lock_dir, stage, run_id, &started_at) {
        Ok(l) => l,
        Err(e) => {
            store.finish_run(run_id, Outcome::Refused, &now())?;
            return Err(e);
        }
    };
    if let Some(old) = lock.interrupted {
        store.finish_run(old, Outcome::Interrupted, &now())?;
    }
    let scratch = Scratch::new(run_id)?;
    let scratch_dir = scratch.0.clone();
    let check_env = env.clone();
    let stage_profile = plan.profile.clone();
    let workspace = plan::workspace_of(ws, stage);
    let terraform_env = profiles::terraform_env(ws, &workspace);
    let steps = plan.steps.clone();
    // Right before each step: its profiles checked again and written for it, then the config's
    // environment for its tool.
    let check = move |step: &Step| -> CheckFuture {
        let env = check_env.clone();
        let uses = step.profiles.clone();
        let stage_profile = stage_profile.clone();
        let dir = scratch_dir.clone();
        let index = steps.iter().position(|s| s == step).unwrap_or(0) as u32;
        let tool_env: Vec<(String, String)> = if step.tool == "terraform" {
            terraform_env.clone().into_iter().collect()
        } else {
            Vec::new()
        };
        Box::pin(async move {
            let mut vars =
                profiles::step_environment(&env, &uses, &stage_profile, &dir, index).await?;
            vars.extend(tool_env);
            Ok(vars)
        })
    };
    let mut step_env: Vec<(String, String)> = ws
        .config
        .deploy
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    step_env.extend(opts.env.iter().cloned());
    // Each step is stored as it starts and as it ends, and its output spooled meanwhile, so a crash
    // of this process loses nothing; the lock names the step's process group.
    let store = std::sync::Mutex::new(store);
    let store_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let save = |r: &StepResult| {
        let saved = match store.lock() {
            Ok(s) => s.record_step(run_id, r).map_err(Error::from),
            Err(_) => Err(Error::Store("the store's lock was poisoned".into())),
        };
        if let (Err(e), Ok(mut slot)) = (saved, store_error.lock()) {
            slot.get_or_insert(e);
        }
    };
    let spool = Spool {
        store_path: store_path.to_owned(),
        run_id,
        open: std::sync::Mutex::new(None),
    };
    let titles: Vec<&str> = plan.steps.iter().map(|s| s.title.as_str()).collect();
    let events = |e: RunEvent| {
        match &e {
            RunEvent::StepStarted { index, title, .. } => {
                spool.start(*index);
                save(&StepResult {
                    index: *index,
                    title: title.clone(),
                    outcome: Outcome::Running,
                    exit_code: None,
                    duration_ms: 0,
                    log: String::new(),
                });
            }
            RunEvent::Line {
                stream, at, text, ..
            } => spool.line(at, stream, text),
            RunEvent::StepFinished { .. } => {}
        }
        on_event(e);
    };
    let spawned = |index: u32, pgid: u32| {
        let title = titles.get(index as usize).copied().unwrap_or_default();
        lock.set_step(Some(lock::StepProcess::new(index, title, pgid)));
    };
    let done = |r: &StepResult| {
        save(r);
        spool.done(r.index);
        lock.set_step(None);
    };
    let hooks = run::Hooks {
        on_event: &events,
        on_spawn: &spawned,
        on_step_done: &done,
    };
    let results = run::run_steps_with(
        &plan,
        opts.from_step,
        &step_env,
        &check,
        cancel,
        opts.grace.unwrap_or(run::CANCEL_GRACE),
        &hooks,
    )
    .await;
    let store = store
        .into_inner()
        .map_err(|_| Error::Store("the store's lock was poisoned".into()))?;
    if let Some(e) = store_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let outcome = match results.last() {
        _ if results.len() + opts.from_step == plan.steps.len()
            && results.iter().all(|r| r.outcome == Outcome::Succeeded) =>
        {
            Outcome::Succeeded
        }
        Some(r) => r.outcome,
        None => Outcome::Succeeded,
    };
    store.finish_run(run_id, outcome, &now())?;
    drop(scratch);
    drop(lock);
    store
        .runs(Some(stage))?
        .into_iter()
        .find(|r| r.id == run_id)
        .ok_or_else(|| Error::Store(format!("run {run_id} vanished from the store")))
}
