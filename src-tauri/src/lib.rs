//! The Stagecraft desktop shell: one-line Tauri commands over the `stagecraft` core.
//!
//! No business logic, no AWS calls and no SQL live here: each command maps its arguments, calls the
//! core and forwards progress through a `Channel`. The window reaches the same organization the CLI
//! does, through the same AWS profiles.

mod commands;
mod rendering;
mod settings;
mod setup;

pub use settings::Settings;

use std::sync::{Arc, Mutex};
use tauri::Manager as _;

use stagecraft_model::{ScanReport, UiError};

/// The deploy that is running, if any: what `deploy_cancel` signals.
#[derive(Debug, Default)]
pub struct Running(Mutex<Option<tokio::sync::watch::Sender<bool>>>);

impl Running {
    pub fn set(&self, tx: Option<tokio::sync::watch::Sender<bool>>) {
        if let Ok(mut g) = self.0.lock() {
            *g = tx;
        }
    }

    pub fn cancel(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|tx| tx.send(true).is_ok()))
            .unwrap_or(false)
    }
}

/// The snapshot on screen. The window holds only its head (accounts, states, services, coverage:
/// [`ScanReport::head_owned`]); the whole snapshot, resources included, stays here, where
/// `analysis`, `resources` and every action read it. A stored snapshot is put on screen by its head
/// at once, and its resources are read in the background: whoever needs them waits for them.
#[derive(Debug, Default)]
pub struct Current {
    shown: Mutex<Option<Shown>>,
    puts: std::sync::atomic::AtomicU64,
}

type Whole = Option<Result<Arc<ScanReport>, UiError>>;

#[derive(Debug, Clone)]
struct Shown {
    head: Arc<ScanReport>,
    whole: tokio::sync::watch::Receiver<Whole>,
    team: bool,
    /// Which put this was: a pass that started on one snapshot can tell whether another was put
    /// on screen meanwhile.
    put: u64,
    /// Its analysis and graph, computed once when first asked for.
    analysed: Arc<tokio::sync::OnceCell<Result<Arc<Analysed>, UiError>>>,
}

/// A snapshot's analysis and the graph the window asks parts of.
#[derive(Debug)]
pub struct Analysed {
    pub analysis: stagecraft_analysis::views::Analysis,
    pub graph: stagecraft_analysis::graph::Graph,
}

impl Current {
    fn show(
        &self,
        head: Arc<ScanReport>,
        whole: tokio::sync::watch::Receiver<Whole>,
        team: bool,
    ) -> u64 {
        let put = self.puts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Ok(mut g) = self.shown.lock() {
            *g = Some(Shown {
                head,
                whole,
                team,
                put,
                analysed: Arc::default(),
            });
        }
        put
    }

    fn whole(report: ScanReport) -> (Arc<ScanReport>, tokio::sync::watch::Receiver<Whole>) {
        let report = Arc::new(report);
        let (_, rx) = tokio::sync::watch::channel(Some(Ok(report.clone())));
        (report, rx)
    }

    /// Puts a snapshot of this computer's on screen.
    pub fn set(&self, report: ScanReport) -> u64 {
        let (head, whole) = Self::whole(report);
        self.show(head, whole, false)
    }

    /// Puts a team snapshot on screen: read-only, nothing acts on it.
    pub fn set_team(&self, report: ScanReport) -> u64 {
        let (head, whole) = Self::whole(report);
        self.show(head, whole, true)
    }

    /// Puts a stored snapshot of this computer's on screen by its head, its resources read from
    /// the store in the background.
    pub fn set_stored(&self, head: ScanReport, store: std::path::PathBuf, id: i64) -> u64 {
        let (tx, rx) = tokio::sync::watch::channel(None);
        tauri::async_runtime::spawn_blocking(move || {
            let whole = stagecraft_store::Store::open(&store)
                .and_then(|s| s.load(id))
                .map(Arc::new)
                .map_err(|e| UiError::from(stagecraft_model::Error::from(e)));
            let _ = tx.send(Some(whole));
        });
        self.show(Arc::new(head), rx, false)
    }

    fn shown(&self) -> Option<Shown> {
        self.shown.lock().ok().and_then(|g| g.clone())
    }

    /// The head of the snapshot on screen.
    pub fn head(&self) -> Option<Arc<ScanReport>> {
        self.shown().map(|s| s.head)
    }

    /// Which put the snapshot on screen was (0: none).
    pub fn put(&self) -> u64 {
        self.shown().map_or(0, |s| s.put)
    }

    /// The whole snapshot on screen, once its resources are read.
    pub async fn get(&self) -> Result<Option<Arc<ScanReport>>, UiError> {
        let Some(mut shown) = self.shown() else {
            return Ok(None);
        };
        let whole = shown
            .whole
            .wait_for(Option::is_some)
            .await
            .map_err(|_| UiError {
                code: stagecraft_model::ErrorCode::Store,
                message: "the snapshot's resources could not be read: open it again".to_owned(),
            })?;
        match whole.as_ref() {
            Some(Ok(r)) => Ok(Some(r.clone())),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// The analysis of the snapshot on screen, computed once per snapshot (off the async threads).
    pub async fn analysed(&self) -> Result<Arc<Analysed>, UiError> {
        let Some(shown) = self.shown() else {
            return Err(no_snapshot());
        };
        let report = self.require().await?;
        shown
            .analysed
            .get_or_init(|| async move {
                tauri::async_runtime::spawn_blocking(move || {
                    let (analysis, graph) = stagecraft_analysis::views::analyse_with_graph(&report);
                    Arc::new(Analysed { analysis, graph })
                })
                .await
                .map_err(|e| UiError {
                    code: stagecraft_model::ErrorCode::Other,
                    message: format!("the analysis stopped: {e}"),
                })
            })
            .await
            .clone()
    }

    /// Whether a team snapshot is on screen.
    pub fn is_team(&self) -> bool {
        self.shown().is_some_and(|s| s.team)
    }

    /// The whole snapshot on screen, or the error that there is none.
    pub async fn require(&self) -> Result<Arc<ScanReport>, UiError> {
        self.get().await?.ok_or_else(no_snapshot)
    }

    /// The snapshot on screen when it is this computer's: what actions (deploys, undoing a
    /// deletion, rescanning an account) start from.
    pub async fn local(&self) -> Result<Arc<ScanReport>, UiError> {
        if self.is_team() {
            return Err(UiError {
                code: stagecraft_model::ErrorCode::InvalidInput,
                message: "A team snapshot is on screen, read-only: go back to this computer's \
                          snapshot (or scan) to act."
                    .to_owned(),
            });
        }
        self.require().await
    }
}

fn no_snapshot() -> UiError {
    UiError {
        code: stagecraft_model::ErrorCode::NoSnapshot,
        message: "No snapshot yet: scan the organization first.".to_owned(),
    }
}

/// The last preview of each stage's deploy (what the user saw): a deploy after a preview that
/// deletes or replaces something needs the stage's name typed. Kept here, not sent back by the
/// window, so the window cannot vouch for a preview it did not get.
#[derive(Debug, Default)]
pub struct Previews(
    Mutex<std::collections::HashMap<String, stagecraft_model::deploy::StageChanges>>,
);

impl Previews {
    pub fn set(&self, changes: stagecraft_model::deploy::StageChanges) {
        if let Ok(mut g) = self.0.lock() {
            g.insert(changes.stage.clone(), changes);
        }
    }

    pub fn get(&self, stage: &str) -> Option<stagecraft_model::deploy::StageChanges> {
        self.0.lock().ok().and_then(|g| g.get(stage).cloned())
    }

    /// A deploy ran: what was previewed is no longer what a deploy would do.
    pub fn forget(&self, stage: &str) {
        if let Ok(mut g) = self.0.lock() {
            g.remove(stage);
        }
    }
}

/// When the process started (the start-up benchmark measures from here).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub fn run() {
    STARTED.get_or_init(std::time::Instant::now);
    rendering::prefer_software_paths_without_a_gpu();
    stagecraft_aws::logging::init();
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(Settings::from_environment())
        .manage(Current::default())
        .manage(commands::Live::default())
        .manage(Running::default())
        .manage(Previews::default())
        .manage(setup::Waiting::default())
        .setup(|app| {
            // A deploy a crash left `running` (its lock's process is gone) is recorded as interrupted.
            let _ = stagecraft_ops::deploy::mark_interrupted(&app.state::<Settings>().store);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::last_snapshot,
            commands::painted,
            commands::scan,
            commands::rescan_account,
            commands::live_refresh,
            commands::set_live_interval,
            commands::analysis,
            commands::graph,
            commands::find_nodes,
            commands::resources,
            commands::snapshots,
            commands::snapshot_diff,
            commands::organizations,
            commands::open_organization,
            commands::open_team_snapshot,
            commands::deletions,
            commands::undelete,
            commands::action_history,
            commands::deploy_plan,
            commands::deploy_changes,
            commands::deploy_run,
            commands::deploy_cancel,
            commands::deploy_stop_leftover,
            commands::deploy_history,
            commands::save_export,
            setup::setup_state,
            setup::aws_profiles,
            setup::test_profile,
            setup::sign_in_status,
            setup::sign_in,
            setup::sign_in_start_url,
            setup::save_sso_profile,
            setup::sign_in_cancel,
            setup::sign_out,
            setup::sso_accounts,
            setup::choose_profile,
            setup::open_workspace,
            setup::save_workspace
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("stagecraft: the window could not start: {e}");
        std::process::exit(1);
    }
}
