//! The IPC surface: every command the window may call. Each is an adapter over one core function.

use stagecraft::aws::AwsEnv;
use stagecraft::config::Workspace;
use stagecraft::model::{ScanReport, ScanTarget};
use stagecraft::scan::{self, ScanEvent, ScanOptions};
use stagecraft::store::Store;
use stagecraft::UiError;
use tauri::ipc::Channel;
use tauri::State;

use crate::Settings;

fn workspace(settings: &Settings) -> Result<Workspace, UiError> {
    Ok(match &settings.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    })
}

fn options(settings: &Settings) -> ScanOptions {
    ScanOptions {
        profile: settings.profile.clone(),
        ..ScanOptions::default()
    }
}

#[tauri::command]
pub fn app_info(settings: State<'_, Settings>) -> Result<ScanTarget, UiError> {
    Ok(scan::target(&workspace(&settings)?, &options(&settings)))
}

/// The newest stored snapshot, so the window opens on it before any AWS call.
#[tauri::command]
pub async fn last_snapshot(settings: State<'_, Settings>) -> Result<Option<ScanReport>, UiError> {
    let path = settings.store.clone();
    let latest = tauri::async_runtime::spawn_blocking(move || Store::open(&path)?.latest())
        .await
        .map_err(|e| UiError {
            code: "store".to_owned(),
            message: e.to_string(),
        })?;
    Ok(latest.map_err(stagecraft::Error::from)?)
}

/// Scans the organization and stores the result as a snapshot.
#[tauri::command]
pub async fn scan(
    settings: State<'_, Settings>,
    on_event: Channel<ScanEvent>,
) -> Result<ScanReport, UiError> {
    let ws = workspace(&settings)?;
    let mut store = Store::open(&settings.store).map_err(stagecraft::Error::from)?;
    let progress = move |event: ScanEvent| {
        // A closed window drops the channel; the scan itself still completes.
        let _ = on_event.send(event);
    };
    let (report, _) = scan::scan_and_store(
        &AwsEnv::from_environment(),
        &ws,
        &options(&settings),
        &mut store,
        &progress,
    )
    .await?;
    Ok(report)
}
