//! The Stagecraft desktop shell: one-line Tauri commands over the `stagecraft` core.
//!
//! No business logic, no AWS calls and no SQL live here: each command maps its arguments, calls the
//! core and forwards progress through a `Channel`. The window reaches the same organization the CLI
//! does, through the same AWS profiles.

mod commands;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use stagecraft::model::ScanReport;

/// The snapshot on screen: what `analysis` works on.
#[derive(Debug, Default)]
pub struct Current(Mutex<Option<Arc<ScanReport>>>);

impl Current {
    pub fn set(&self, report: ScanReport) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(Arc::new(report));
        }
    }

    pub fn get(&self) -> Option<Arc<ScanReport>> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// Where the window gets its organization from: the same inputs as `stagecraft scan`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
    /// The snapshot store (`STAGECRAFT_STORE`, else the platform's data dir).
    pub store: PathBuf,
    /// `STAGECRAFT_EXPORT_DIR`: exports are written there without a save dialog.
    pub export_dir: Option<PathBuf>,
}

impl Settings {
    /// `STAGECRAFT_CONFIG` names the workspace config; `STAGECRAFT_PROFILE` (else the config, else
    /// `AWS_PROFILE`) the management profile.
    pub fn from_environment() -> Self {
        Settings {
            profile: std::env::var("STAGECRAFT_PROFILE")
                .ok()
                .filter(|s| !s.is_empty()),
            config: std::env::var_os("STAGECRAFT_CONFIG")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            store: stagecraft::store::Store::default_path(),
            export_dir: std::env::var_os("STAGECRAFT_EXPORT_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        }
    }
}

pub fn run() {
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(Settings::from_environment())
        .manage(Current::default())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::last_snapshot,
            commands::scan,
            commands::analysis,
            commands::snapshots,
            commands::snapshot_diff,
            commands::save_export
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("stagecraft: the window could not start: {e}");
        std::process::exit(1);
    }
}
