//! The IPC surface: every command the window may call. Each is an adapter over one core function.

use stagecraft_analysis::graph::{GraphData, Node, Scope};
use stagecraft_analysis::views::Analysis;
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanEvent, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::change::LiveUpdate;
use stagecraft_model::UiError;
use stagecraft_model::{ScanReport, ScanTarget};
use stagecraft_ops::publish::{self, Destination, TeamSnapshot};
use stagecraft_store::{SnapshotDiff, SnapshotSummary, Store};
use tauri::ipc::Channel;
use tauri::State;

use crate::{Current, Settings};

fn store_error(e: impl std::fmt::Display) -> UiError {
    UiError {
        code: stagecraft_model::ErrorCode::Store,
        message: e.to_string(),
    }
}

/// Runs blocking store work off the async runtime.
async fn with_store<T: Send + 'static>(
    settings: &Settings,
    f: impl FnOnce(Store) -> Result<T, stagecraft_store::StoreError> + Send + 'static,
) -> Result<T, UiError> {
    let path = settings.store.clone();
    let out = tauri::async_runtime::spawn_blocking(move || Store::open(&path).and_then(f))
        .await
        .map_err(store_error)?;
    Ok(out.map_err(stagecraft_model::Error::from)?)
}

pub(crate) fn workspace(settings: &Settings) -> Result<Workspace, UiError> {
    Ok(match &settings.config() {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    })
}

fn options(settings: &Settings) -> ScanOptions {
    ScanOptions {
        profile: settings.profile(),
        sso_roles: settings.sso_roles(),
        ..ScanOptions::default()
    }
}

#[tauri::command]
pub fn app_info(settings: State<'_, Settings>) -> Result<ScanTarget, UiError> {
    let mut target = scan::target(&workspace(&settings)?, &options(&settings));
    target.scan_on_open = settings.scan_on_open();
    target.live_interval = settings.live_interval();
    Ok(target)
}

/// The newest stored snapshot of the chosen profile's organization, so the window opens on it
/// before any AWS call: its head ([`ScanReport::head_owned`]; the resources stay in the core, read
/// in the background).
#[tauri::command]
pub async fn last_snapshot(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
) -> Result<Option<ScanReport>, UiError> {
    // The organization the chosen profile reached in its newest snapshot, else the most recent.
    let profile = settings.profile();
    let latest = with_store(&settings, move |s| {
        let org = match profile.as_deref() {
            Some(p) => s.organization_of_profile(p)?,
            None => None,
        };
        match s.latest_id_in(org.as_deref())? {
            Some(id) => Ok(Some((id, s.load_head(id)?.head_owned()))),
            None => Ok(None),
        }
    })
    .await?;
    let latest = latest.map(|(id, head)| {
        current.set_stored(head.clone(), settings.store.clone(), id);
        head
    });
    static ONCE: std::sync::Once = std::sync::Once::new();
    startup_milestone(&ONCE, "the window has the last snapshot");
    Ok(latest)
}

/// Logs a start-up milestone with the milliseconds since the process started, once: what the
/// start-up benchmark reads (`STAGECRAFT_LOG=stagecraft::startup=info`).
fn startup_milestone(once: &'static std::sync::Once, what: &'static str) {
    once.call_once(|| {
        tracing::info!(
            target: "stagecraft::startup",
            ms = crate::STARTED.get().map_or(0, |t| t.elapsed().as_millis()),
            since_exec_ms = since_exec_ms().map_or(-1, |ms| ms as i64),
            "{what}"
        );
    });
}

/// Milliseconds since the kernel started this process, from `/proc`: a clock that includes loading
/// the binary, its libraries and WebKitGTK, which `ms` (from entering `run()`) leaves out. `None`
/// where `/proc` cannot say.
fn since_exec_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces or parentheses; the fields after it start at 3.
    let fields = stat.get(stat.rfind(')')? + 2..)?;
    // Field 22, `starttime`: clock ticks after boot. /proc counts in USER_HZ, 100 a second on
    // every architecture Linux ships for desktops.
    let start_ticks: u64 = fields.split(' ').nth(22 - 3)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let ms = (uptime - start_ticks as f64 / 100.0) * 1000.0;
    (ms >= 0.0).then_some(ms as u64)
}

/// The window reports that it painted the last snapshot (two animation frames after rendering it):
/// the start-up benchmark's end point.
#[tauri::command]
pub fn painted() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    startup_milestone(&ONCE, "the window painted the last snapshot");
}

/// The findings and the stage matrix of the snapshot on screen, and how large each stage's graph
/// is (the window asks for the part it shows with [`graph`]).
#[tauri::command]
pub async fn analysis(current: State<'_, Current>) -> Result<Analysis, UiError> {
    Ok(current.analysed().await?.analysis.clone())
}

/// The part of the snapshot's graph the window shows: one stage or the whole organization (when
/// small enough), one account, or the neighbourhood of some nodes.
#[tauri::command]
pub async fn graph(current: State<'_, Current>, scope: Scope) -> Result<GraphData, UiError> {
    let analysed = current.analysed().await?;
    tauri::async_runtime::spawn_blocking(move || analysed.graph.part(&scope))
        .await
        .map_err(store_error)?
        .map_err(|too_large| UiError {
            code: stagecraft_model::ErrorCode::InvalidInput,
            message: too_large.to_string(),
        })
}

/// The most nodes [`find_nodes`] answers with.
const FOUND_AT_MOST: usize = 50;

/// Nodes of the snapshot's graph whose name or id holds `query`, those of `stage` first.
#[tauri::command]
pub async fn find_nodes(
    current: State<'_, Current>,
    query: String,
    stage: Option<String>,
    limit: Option<usize>,
) -> Result<Vec<Node>, UiError> {
    let analysed = current.analysed().await?;
    let limit = limit.unwrap_or(12).min(FOUND_AT_MOST);
    tauri::async_runtime::spawn_blocking(move || {
        analysed.graph.find(&query, stage.as_deref(), limit)
    })
    .await
    .map_err(store_error)
}

/// The most ids [`resources`] answers for at once.
const RESOURCES_AT_ONCE: usize = 1_000;

/// The resources of the snapshot on screen with these ids (those it holds, in its order): the
/// window holds only the snapshot's head and asks for what it shows.
#[tauri::command]
pub async fn resources(
    current: State<'_, Current>,
    ids: Vec<String>,
) -> Result<Vec<stagecraft_model::Resource>, UiError> {
    if ids.len() > RESOURCES_AT_ONCE {
        return Err(UiError {
            code: stagecraft_model::ErrorCode::InvalidInput,
            message: format!(
                "{} resources asked for at once; ask for at most {RESOURCES_AT_ONCE}",
                ids.len()
            ),
        });
    }
    let report = current.require().await?;
    let wanted: std::collections::HashSet<String> = ids.into_iter().collect();
    Ok(report
        .resources
        .iter()
        .filter(|r| wanted.contains(&r.id))
        .cloned()
        .collect())
}

/// Everything pending deletion in the snapshot on screen (and buckets gone since an earlier one).
#[tauri::command]
pub async fn deletions(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
) -> Result<Vec<stagecraft_analysis::deletion::PendingDeletion>, UiError> {
    let report = current.require().await?;
    let org = report.organization.id.clone();
    let gone = with_store(&settings, move |s| s.recently_seen_buckets(&org)).await?;
    Ok(stagecraft_analysis::deletion::pending(&report, &gone))
}

/// Restores a secret or cancels a key deletion, after the core's checks (the resource is pending in
/// the snapshot on screen, a protected stage's name was typed, the credentials are the account's);
/// the attempt is recorded whatever its outcome.
#[tauri::command]
pub async fn undelete(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    request: stagecraft_ops::undo::ActionRequest,
) -> Result<stagecraft_ops::undo::ActionRecord, UiError> {
    let report = current.local().await?;
    let ws = workspace(&settings)?;
    let record =
        stagecraft_ops::undo::perform(&AwsEnv::from_environment(), &ws, &report, &request).await?;
    let stored = record.clone();
    with_store(&settings, move |s| s.record_action(&stored)).await?;
    Ok(record)
}

/// Every action taken from Stagecraft, newest first.
#[tauri::command]
pub async fn action_history(
    settings: State<'_, Settings>,
) -> Result<Vec<stagecraft_ops::undo::ActionRecord>, UiError> {
    with_store(&settings, |s| s.actions()).await
}

fn no_snapshot() -> UiError {
    UiError {
        code: stagecraft_model::ErrorCode::NoSnapshot,
        message: "No snapshot yet: scan the organization first.".to_owned(),
    }
}

/// The plan of a stage's deploy and its preflight, from the snapshot on screen.
#[tauri::command]
pub async fn deploy_plan(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    stage: String,
) -> Result<stagecraft_ops::deploy::DeployPreview, UiError> {
    let report = current.require().await?;
    let ws = workspace(&settings)?;
    report.require_stage(&stage)?;
    Ok(stagecraft_ops::deploy::preview(
        &AwsEnv::from_environment(),
        &ws,
        &report,
        &stage,
        &settings.store,
    )
    .await?)
}

/// What a stage's deploy would change, step by step (Terraform's plan, a change set per service;
/// nothing applied), with what it is doing sent to `on_progress`. Kept as the stage's last preview.
#[tauri::command]
pub async fn deploy_changes(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    previews: State<'_, crate::Previews>,
    stage: String,
    on_progress: Channel<String>,
) -> Result<stagecraft_model::deploy::StageChanges, UiError> {
    let report = current.local().await?;
    let ws = workspace(&settings)?;
    report.require_stage(&stage)?;
    let progress = move |what: &str| {
        let _ = on_progress.send(what.to_owned());
    };
    let changes = stagecraft_ops::deploy::changes::preview_changes(
        &AwsEnv::from_environment(),
        &ws,
        &report,
        &stage,
        &progress,
    )
    .await?;
    previews.set(changes.clone());
    Ok(changes)
}

/// Stops the step an interrupted run left running on `stage` (it holds the stage until it ends).
#[tauri::command]
pub async fn deploy_stop_leftover(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    stage: String,
) -> Result<Option<String>, UiError> {
    let report = current.local().await?;
    report.require_stage(&stage)?;
    Ok(stagecraft_ops::deploy::stop_leftover(&settings.store, &stage).await?)
}

/// Runs a stage's deploy, streaming its events; `typed_stage` confirms a protected stage and
/// `from_step` (0-based) resumes after a failure.
#[tauri::command]
#[allow(clippy::too_many_arguments)] // Tauri hands each piece of state as its own argument.
pub async fn deploy_run(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    running: State<'_, crate::Running>,
    previews: State<'_, crate::Previews>,
    stage: String,
    typed_stage: Option<String>,
    from_step: usize,
    on_event: Channel<stagecraft_ops::deploy::run::RunEvent>,
) -> Result<stagecraft_ops::deploy::DeployRun, UiError> {
    let report = current.local().await?;
    report.require_stage(&stage)?;
    let ws = workspace(&settings)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    running.set(Some(tx));
    let on = move |e: stagecraft_ops::deploy::run::RunEvent| {
        let _ = on_event.send(e);
    };
    let result = stagecraft_ops::deploy::execute(
        &AwsEnv::from_environment(),
        &ws,
        &report,
        &stage,
        &settings.store,
        stagecraft_ops::deploy::DeployOptions {
            from_step,
            typed_stage,
            changes: previews.get(&stage),
            ..Default::default()
        },
        rx,
        &on,
    )
    .await;
    running.set(None);
    if result.is_ok() {
        previews.forget(&stage);
    }
    Ok(result?)
}

/// Cancels the running deploy: SIGTERM to its step's process group, SIGKILL after a grace period.
#[tauri::command]
pub fn deploy_cancel(running: State<'_, crate::Running>) -> bool {
    running.cancel()
}

/// A stage's deploy runs, newest first.
#[tauri::command]
pub async fn deploy_history(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    stage: String,
) -> Result<Vec<stagecraft_ops::deploy::DeployRun>, UiError> {
    current
        .head()
        .ok_or_else(no_snapshot)?
        .require_stage(&stage)?;
    with_store(&settings, move |s| s.runs(Some(&stage))).await
}

/// The stored snapshots of the organization on screen, newest first.
#[tauri::command]
pub async fn snapshots(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
) -> Result<Vec<SnapshotSummary>, UiError> {
    let org = current.head().map(|r| r.organization.id.clone());
    with_store(&settings, move |s| s.list_in(org.as_deref())).await
}

/// The organizations the store holds snapshots of, the most recently scanned first.
#[tauri::command]
pub async fn organizations(
    settings: State<'_, Settings>,
) -> Result<Vec<stagecraft_store::OrganizationSummary>, UiError> {
    with_store(&settings, |s| s.organizations()).await
}

/// Puts an organization's newest snapshot on screen (the header's switcher).
#[tauri::command]
pub async fn open_organization(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    id: String,
) -> Result<ScanReport, UiError> {
    let asked = id.clone();
    let (newest, head) = with_store(&settings, move |s| match s.latest_id_in(Some(&asked))? {
        Some(newest) => Ok(Some((newest, s.load_head(newest)?.head_owned()))),
        None => Ok(None),
    })
    .await?
    .ok_or_else(|| UiError {
        code: stagecraft_model::ErrorCode::NoSnapshot,
        message: format!("The store holds no snapshot of organization {id}."),
    })?;
    current.set_stored(head.clone(), settings.store.clone(), newest);
    Ok(head)
}

/// What changed between two stored snapshots; ids the store does not have are refused.
#[tauri::command]
pub async fn snapshot_diff(
    settings: State<'_, Settings>,
    from: i64,
    to: i64,
) -> Result<SnapshotDiff, UiError> {
    let compared = with_store(&settings, move |s| {
        let a = s.load(from)?;
        let b = s.load(to)?;
        Ok(if a.organization.id == b.organization.id {
            Ok(stagecraft_store::diff(&a, &b, Some(from), Some(to)))
        } else {
            Err((a.organization.id, b.organization.id))
        })
    })
    .await?;
    match compared {
        Ok(diff) => Ok(diff),
        Err((a, b)) => Err(UiError {
            code: stagecraft_model::ErrorCode::InvalidInput,
            message: format!(
                "Snapshot {from} is of organization {a} and snapshot {to} of {b}: compare \
                 snapshots of one organization."
            ),
        }),
    }
}

/// Writes an export (SVG, PNG, Markdown, JSON) where the user chooses: a save dialog, or the
/// directory in `STAGECRAFT_EXPORT_DIR` for unattended use. Only these kinds, only a file name.
#[tauri::command]
pub async fn save_export(
    app: tauri::AppHandle,
    settings: State<'_, Settings>,
    file_name: String,
    base64: bool,
    contents: String,
) -> Result<Option<String>, UiError> {
    let bad = |m: &str| UiError {
        code: stagecraft_model::ErrorCode::InvalidInput,
        message: m.to_owned(),
    };
    let allowed = ["svg", "png", "md", "json", "dot", "mmd"];
    let ext = std::path::Path::new(&file_name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    if file_name.contains(['/', '\\']) || file_name.starts_with('.') || !allowed.contains(&ext) {
        return Err(bad(
            "an export is a plain file name ending in .svg, .png, .md, .json, .dot or .mmd",
        ));
    }
    let bytes = if base64 {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(contents.as_bytes())
            .map_err(|_| bad("the export data is not valid base64"))?
    } else {
        contents.into_bytes()
    };
    let target = match &settings.export_dir {
        Some(dir) => Some(dir.join(&file_name)),
        None => {
            use tauri_plugin_dialog::DialogExt;
            app.dialog()
                .file()
                .set_file_name(&file_name)
                .blocking_save_file()
                .and_then(|p| p.into_path().ok())
        }
    };
    let Some(target) = target else {
        return Ok(None);
    };
    std::fs::write(&target, bytes).map_err(|e| UiError {
        code: stagecraft_model::ErrorCode::Io,
        message: format!("cannot write {}: {e}", target.display()),
    })?;
    Ok(Some(target.display().to_string()))
}

/// Rescans one account, keeping what the snapshot on screen knows of the others, and stores the
/// result as a snapshot.
#[tauri::command]
pub async fn rescan_account(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    account_id: String,
    on_event: Channel<ScanEvent>,
) -> Result<ScanReport, UiError> {
    let previous = current.local().await?;
    previous.require_account(&account_id)?;
    let opts = ScanOptions {
        rescan: Some(scan::Rescan {
            account_id,
            previous,
        }),
        ..options(&settings)
    };
    run_scan(&settings, &current, opts, on_event).await
}

/// The Live mode's refresher: each account's credentials kept from pass to pass, for the profile
/// and workspace they were made for.
#[derive(Default)]
pub struct Live(tokio::sync::Mutex<Option<(String, scan::Refresher)>>);

/// One pass of the Live mode: each account's CloudTrail history read since the snapshot on screen,
/// only what changed read again, the patched snapshot stored and put on screen; a full scan (its
/// progress on `on_event`) when the history cannot say what changed.
#[tauri::command]
pub async fn live_refresh(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    live: State<'_, Live>,
    on_event: Channel<ScanEvent>,
) -> Result<LiveUpdate, UiError> {
    let ws = workspace(&settings)?;
    let mut store = Store::open(&settings.store).map_err(stagecraft_model::Error::from)?;
    let opts = scan::with_store_key(&options(&settings), &store)?;
    let profile = scan::management_profile(&opts, &ws);
    // A team snapshot on screen is not this computer's to follow on from.
    let previous = if current.is_team() {
        None
    } else {
        current.get().await?
    };
    let put = current.put();
    if let Some(p) = previous.as_deref().filter(|p| p.profile != profile) {
        return Err(UiError {
            code: stagecraft_model::ErrorCode::InvalidInput,
            message: format!(
                "Live follows the organization profile `{profile}` reaches, but the window shows \
                 organization {} as scanned through `{}`: scan it first, or switch back",
                p.organization.id, p.profile
            ),
        });
    }
    let env = AwsEnv::from_environment();
    let key = format!("{profile}\n{:?}", settings.config());
    // One pass at a time; the refresher is kept for the next while the profile and workspace stay.
    let mut held = live.0.lock().await;
    let refresher = match held.take() {
        Some((k, r)) if k == key => r,
        _ => scan::Refresher::new(&env, &ws, &opts).await?,
    };
    let progress = move |event: ScanEvent| {
        let _ = on_event.send(event);
    };
    let pass = scan::refresh_and_store(
        &env,
        &ws,
        &opts,
        &refresher,
        previous.as_deref(),
        &mut store,
        &progress,
    )
    .await?;
    *held = Some((key, refresher));
    let summary = pass.summary();
    // A scan that finished during the pass put a newer picture on screen: it stays.
    let unchanged = current.put() == put;
    let report = match summary.snapshot {
        Some(_) if unchanged => {
            let head = pass.report().head_owned();
            current.set(pass.report().clone());
            Some(head)
        }
        _ => None,
    };
    Ok(LiveUpdate {
        pass: summary,
        report,
    })
}

/// Saves the Live mode's interval (seconds, at least 5).
#[tauri::command]
pub fn set_live_interval(settings: State<'_, Settings>, seconds: u32) -> Result<u32, UiError> {
    if seconds < crate::settings::MIN_LIVE_INTERVAL {
        return Err(UiError {
            code: stagecraft_model::ErrorCode::InvalidInput,
            message: format!(
                "a Live pass every {seconds} s is too often: each reads every account's CloudTrail \
                 history; take {} s or more",
                crate::settings::MIN_LIVE_INTERVAL
            ),
        });
    }
    settings.update(|s| s.live_interval = Some(seconds))?;
    Ok(settings.live_interval())
}

/// Scans the organization and stores the result as a snapshot.
#[tauri::command]
pub async fn scan(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    on_event: Channel<ScanEvent>,
) -> Result<ScanReport, UiError> {
    run_scan(&settings, &current, options(&settings), on_event).await
}

async fn run_scan(
    settings: &Settings,
    current: &Current,
    opts: ScanOptions,
    on_event: Channel<ScanEvent>,
) -> Result<ScanReport, UiError> {
    let ws = workspace(settings)?;
    let mut store = Store::open(&settings.store).map_err(stagecraft_model::Error::from)?;
    let progress = move |event: ScanEvent| {
        // A closed window drops the channel; the scan itself still completes.
        let _ = on_event.send(event);
    };
    let stored = scan::scan_into_store(
        &AwsEnv::from_environment(),
        &ws,
        &opts,
        &mut store,
        &progress,
    )
    .await?;
    current.set_stored(stored.report.clone(), settings.store.clone(), stored.id);
    Ok(stored.report)
}

#[cfg(test)]
mod tests {
    /// The start-up clock runs from the process's start: it already counts the time this test
    /// process ran before asking, and it advances with the wall clock.
    #[test]
    fn the_start_up_clock_counts_from_the_process_start() {
        let ran = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let first = super::since_exec_ms().expect("/proc says when this process started");
        assert!(
            first >= 290,
            "{first} ms since exec, yet 300 ms slept since"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let second = super::since_exec_ms().expect("again");
        let slept = ran.elapsed().as_millis() as u64;
        assert!(second >= first + 280, "{first} → {second} ms");
        // Not before the process started: at most the process's age, which exceeds `slept` only
        // by what ran before this test (seconds, not minutes).
        assert!(
            second < slept + 600_000,
            "{second} ms for a process {slept}+ ms old"
        );
    }
}

/// Opens the team's snapshot published at `location` (`s3://bucket/prefix`; the newest generation
/// unless one is given) read-only, as the chosen profile, and compares it with the latest local
/// snapshot of the organization. The location is remembered.
#[tauri::command]
pub async fn open_team_snapshot(
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    location: String,
    generation: Option<u64>,
) -> Result<TeamSnapshot, UiError> {
    let dest: Destination = location.trim().parse()?;
    let profile = scan::management_profile(&options(&settings), &workspace(&settings)?);
    let (s3, _) = publish::writer(&AwsEnv::from_environment(), &profile).await?;
    let local = publish::latest_local(settings.store.clone());
    let team = publish::open_team(&s3, &dest, generation, local)
        .await?
        .ok_or_else(|| UiError {
            code: stagecraft_model::ErrorCode::NoSnapshot,
            message: format!(
                "Nothing is published at {dest} yet: `stagecraft publish {dest}` publishes a snapshot there."
            ),
        })?;
    let remembered = dest.to_string();
    settings.update(|s| s.team_location = Some(remembered))?;
    let mut team = team;
    let head = team.report.head_owned();
    current.set_team(std::mem::replace(&mut team.report, head));
    Ok(team)
}
