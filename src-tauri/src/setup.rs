//! The commands of the first-run screen and the header's menus: profiles, the IAM Identity Center
//! sign-in, the roles taken through it, and the workspace. Each is an adapter over the core.

use std::path::PathBuf;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_model::signin::{
    DeviceCode, ProfileCheck, ProfileInfo, SetupState, SignIn, SsoAccount, SsoRoles,
    WorkspaceProposal,
};
use stagecraft_model::{Error, ErrorCode, UiError};
use tauri::ipc::Channel;
use tauri::State;

use crate::{Current, Settings};

/// The sign-in waiting for approval, if any: what `sign_in_cancel` signals.
#[derive(Debug, Default)]
pub struct Waiting(std::sync::Mutex<Option<tokio::sync::watch::Sender<bool>>>);

fn env() -> AwsEnv {
    AwsEnv::from_environment()
}

async fn session(profile: &str) -> Result<stagecraft_aws::sso::Session, UiError> {
    env().sso_session(profile).await?.ok_or_else(|| UiError {
        code: ErrorCode::InvalidInput,
        message: format!("profile `{profile}` does not sign in through IAM Identity Center"),
    })
}

/// The settings, and whether a profile must be chosen before a scan.
#[tauri::command]
pub async fn setup_state(settings: State<'_, Settings>) -> Result<SetupState, UiError> {
    let env = env();
    let workspace = crate::commands::workspace(&settings).ok();
    let profile = settings
        .profile()
        .or_else(|| {
            workspace
                .as_ref()
                .and_then(|w| w.config.organization.profile.clone())
        })
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let needs_setup = match env.profile_names().await {
        Err(e) => Some(e.to_string()),
        Ok(names) => match &profile {
            None if names.contains("default") => None,
            None if names.is_empty() => Some(format!(
                "No AWS profiles in {}: add your organization's profile (for IAM Identity Center, \
                 `aws configure sso`), then reload.",
                env.describe_files()
            )),
            None => {
                Some("Choose the AWS profile of your organization's management account.".to_owned())
            }
            Some(p) if !names.contains(p) => Some(format!(
                "AWS profile `{p}` is not defined in {}: choose another.",
                env.describe_files()
            )),
            Some(_) => None,
        },
    };
    Ok(SetupState {
        saved: settings.saved(),
        profile: profile.or_else(|| needs_setup.is_none().then(|| "default".to_owned())),
        profile_from_env: settings.profile_from_env(),
        config_path: settings.config().map(|p| p.display().to_string()),
        config_from_env: settings.config_from_env(),
        needs_setup,
        warning: settings.load_warning.clone(),
        aws_files: env.describe_files(),
    })
}

/// Every profile of the user's AWS config and credentials files.
#[tauri::command]
pub async fn aws_profiles() -> Result<Vec<ProfileInfo>, UiError> {
    Ok(env().profiles().await?)
}

/// "Test": who the profile acts as and whether a scan can start from it.
#[tauri::command]
pub async fn test_profile(profile: String) -> Result<ProfileCheck, UiError> {
    Ok(stagecraft_aws::credentials::check_profile(&env(), &profile).await)
}

#[tauri::command]
pub async fn sign_in_status(profile: String) -> Result<SignIn, UiError> {
    Ok(session(&profile).await?.status().await)
}

/// Signs in through IAM Identity Center: the code goes to `on_code` (and the browser is opened on
/// the page), then this waits for the approval.
#[tauri::command]
pub async fn sign_in(
    waiting: State<'_, Waiting>,
    profile: String,
    on_code: Channel<DeviceCode>,
) -> Result<SignIn, UiError> {
    let session = session(&profile).await?;
    sign_in_with(&waiting, &session, on_code).await?;
    Ok(session.status().await)
}

/// Signs in at a start URL typed in the window (no profile names it yet), then lists the accounts
/// and roles it opens, for the user to pick the management account's.
#[tauri::command]
pub async fn sign_in_start_url(
    waiting: State<'_, Waiting>,
    name: String,
    start_url: String,
    region: String,
    on_code: Channel<DeviceCode>,
) -> Result<Vec<SsoAccount>, UiError> {
    let session = env().sso_start(&name, &start_url, &region)?;
    sign_in_with(&waiting, &session, on_code).await?;
    Ok(session.accounts().await?)
}

/// Saves a start URL signed in through [`sign_in_start_url`] as profile `name` in the AWS config
/// file (acting as `role_name` in the management account); returns the profiles.
#[tauri::command]
pub async fn save_sso_profile(
    name: String,
    start_url: String,
    region: String,
    account_id: String,
    role_name: String,
) -> Result<Vec<ProfileInfo>, UiError> {
    let env = env();
    let session = env.sso_start(&name, &start_url, &region)?;
    env.add_sso_profile(&session, &account_id, &role_name)
        .await?;
    Ok(env.profiles().await?)
}

/// The device-code sign-in, cancellable by `sign_in_cancel`.
async fn sign_in_with(
    waiting: &Waiting,
    session: &stagecraft_aws::sso::Session,
    on_code: Channel<DeviceCode>,
) -> Result<(), UiError> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    if let Ok(mut g) = waiting.0.lock() {
        if let Some(old) = g.replace(tx) {
            let _ = old.send(true);
        }
    }
    let show = move |code: &DeviceCode| {
        open_in_browser(&code.verification_uri_complete);
        let _ = on_code.send(code.clone());
    };
    let result = session.sign_in(&show, Some(rx)).await;
    if let Ok(mut g) = waiting.0.lock() {
        *g = None;
    }
    result?;
    Ok(())
}

/// Opens the sign-in page in the user's browser (`STAGECRAFT_BROWSER`, else `xdg-open`); the
/// window shows the link and the code too, so nothing depends on it.
fn open_in_browser(url: &str) {
    let opener = std::env::var("STAGECRAFT_BROWSER").unwrap_or_else(|_| "xdg-open".to_owned());
    if opener.is_empty() || !(url.starts_with("https://") || url.starts_with("http://")) {
        return;
    }
    let _ = crate::rendering::as_the_user_started_it(&mut std::process::Command::new(opener))
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[tauri::command]
pub fn sign_in_cancel(waiting: State<'_, Waiting>) -> bool {
    waiting
        .0
        .lock()
        .ok()
        .and_then(|g| g.as_ref().map(|tx| tx.send(true).is_ok()))
        .unwrap_or(false)
}

#[tauri::command]
pub async fn sign_out(profile: String) -> Result<SignIn, UiError> {
    let session = session(&profile).await?;
    session.sign_out().await?;
    Ok(session.status().await)
}

/// The accounts the sign-in opens, with the roles the user may take in each.
#[tauri::command]
pub async fn sso_accounts(profile: String) -> Result<Vec<SsoAccount>, UiError> {
    Ok(session(&profile).await?.accounts().await?)
}

/// Makes `profile` the management profile, with the roles taken through its sign-in.
#[tauri::command]
pub async fn choose_profile(
    settings: State<'_, Settings>,
    profile: String,
    sso_roles: SsoRoles,
) -> Result<SetupState, UiError> {
    env().require_profile(&profile).await?;
    settings.update(|s| {
        s.profile = Some(profile);
        s.sso_roles = sso_roles;
    })?;
    setup_state(settings).await
}

/// Opens a folder as the workspace (`dir`, else a folder chosen in a native dialog; `None` when it
/// is cancelled): its `stagecraft.toml` is used, or one is proposed from what is found under it.
#[tauri::command]
pub async fn open_workspace(
    app: tauri::AppHandle,
    settings: State<'_, Settings>,
    current: State<'_, Current>,
    dir: Option<String>,
) -> Result<Option<WorkspaceProposal>, UiError> {
    let dir = match dir.filter(|d| !d.trim().is_empty()) {
        Some(d) => PathBuf::from(d.trim()),
        None => {
            use tauri_plugin_dialog::DialogExt;
            let picked = tauri::async_runtime::spawn_blocking(move || {
                app.dialog()
                    .file()
                    .set_title("Open workspace")
                    .blocking_pick_folder()
                    .and_then(|p| p.into_path().ok())
            })
            .await
            .map_err(|e| UiError {
                code: ErrorCode::Io,
                message: e.to_string(),
            })?;
            match picked {
                Some(d) => d,
                None => return Ok(None),
            }
        }
    };
    let dir = std::fs::canonicalize(&dir).map_err(|e| {
        UiError::from(Error::io(
            format!("opening the folder {}", dir.display()),
            e,
        ))
    })?;
    let stages = current_stages(&current);
    let found = stagecraft_iac::propose::open(&dir, &stages)?;
    if found.exists {
        // A config that does not load is said now, not at the next scan.
        stagecraft_iac::config::Workspace::load(std::path::Path::new(&found.config_path))?;
        settings.update(|s| crate::settings::remember(s, &found.config_path))?;
    }
    Ok(Some(found))
}

/// Writes the proposed (or edited) config into `dir` and makes it the workspace; an existing
/// `stagecraft.toml` is never replaced.
#[tauri::command]
pub async fn save_workspace(
    settings: State<'_, Settings>,
    dir: String,
    text: String,
) -> Result<WorkspaceProposal, UiError> {
    let dir = PathBuf::from(dir);
    let path = stagecraft_iac::propose::save(&dir, &text)?;
    settings.update(|s| crate::settings::remember(s, &path.display().to_string()))?;
    Ok(stagecraft_iac::propose::open(&dir, &[])?)
}

fn current_stages(current: &Current) -> Vec<String> {
    let mut stages: Vec<String> = current
        .head()
        .map(|r| r.accounts.iter().filter_map(|a| a.stage.clone()).collect())
        .unwrap_or_default();
    stages.sort_by_key(|s| {
        (
            stagecraft_model::STAGE_WORDS
                .iter()
                .position(|w| w == s)
                .unwrap_or(stagecraft_model::STAGE_WORDS.len()),
            s.clone(),
        )
    });
    stages.dedup();
    stages
}
