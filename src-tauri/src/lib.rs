//! The Stagecraft desktop shell: one-line Tauri commands over the `stagecraft` core.
//!
//! No business logic, no AWS calls and no SQL live here: each command maps its arguments, calls the
//! core and forwards progress through a `Channel`. The window reaches the same organization the CLI
//! does, through the same AWS profiles.

mod commands;

use std::path::PathBuf;

/// Where the window gets its organization from: the same inputs as `stagecraft scan`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
    /// The snapshot store (`STAGECRAFT_STORE`, else the platform's data dir).
    pub store: PathBuf,
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
        }
    }
}

pub fn run() {
    let result = tauri::Builder::default()
        .manage(Settings::from_environment())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::last_snapshot,
            commands::scan
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("stagecraft: the window could not start: {e}");
        std::process::exit(1);
    }
}
