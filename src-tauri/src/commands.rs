//! The IPC surface: every command the window may call. Each is an adapter over one core function.

use stagecraft::aws::AwsEnv;
use stagecraft::config::Workspace;
use stagecraft::model::{ScanReport, ScanTarget};
use stagecraft::scan::{self, ScanEvent, ScanOptions};
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

#[tauri::command]
pub async fn scan(
    settings: State<'_, Settings>,
    on_event: Channel<ScanEvent>,
) -> Result<ScanReport, UiError> {
    let ws = workspace(&settings)?;
    let progress = move |event: ScanEvent| {
        // A closed window drops the channel; the scan itself still completes.
        let _ = on_event.send(event);
    };
    Ok(scan::scan(
        &AwsEnv::from_environment(),
        &ws,
        &options(&settings),
        &progress,
    )
    .await?)
}
