//! What the window uses to reach the organization: the settings the user chose in the window
//! (kept in the app's config directory, `settings.json`), with the environment variables as
//! overrides for scripts and tests.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use stagecraft_model::signin::{SavedSettings, SsoRoles};
use stagecraft_model::{ErrorCode, UiError};

/// The shortest Live interval the window takes, in seconds.
pub const MIN_LIVE_INTERVAL: u32 = 5;

/// How many recent workspaces the menu keeps.
const RECENT: usize = 8;

#[derive(Debug)]
pub struct Settings {
    /// The snapshot store (`STAGECRAFT_STORE`, else the platform's data dir).
    pub store: PathBuf,
    /// `STAGECRAFT_EXPORT_DIR`: exports are written there without a save dialog.
    pub export_dir: Option<PathBuf>,
    /// `STAGECRAFT_PROFILE`.
    env_profile: Option<String>,
    /// `STAGECRAFT_CONFIG`.
    env_config: Option<PathBuf>,
    /// `STAGECRAFT_SCAN_ON_OPEN`.
    env_scan_on_open: Option<bool>,
    /// `STAGECRAFT_LIVE_INTERVAL` (seconds).
    env_live_interval: Option<u32>,
    /// `settings.json`.
    file: PathBuf,
    saved: Mutex<SavedSettings>,
    /// Why the saved settings could not be read, once (the window says it).
    pub load_warning: Option<String>,
}

impl Settings {
    pub fn from_environment() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|s| !s.is_empty());
        let file = var("STAGECRAFT_SETTINGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                dirs::config_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("stagecraft")
                    .join("settings.json")
            });
        let store = stagecraft_store::Store::default_path();
        let (mut saved, load_warning) = load(&file);
        // The workspace an earlier build remembered (`last-workspace`), when none is saved.
        if saved.workspace.is_none() {
            saved.workspace = std::fs::read_to_string(store.with_file_name("last-workspace"))
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|p| Path::new(p).is_file());
        }
        let settings = Settings {
            store,
            export_dir: var("STAGECRAFT_EXPORT_DIR").map(PathBuf::from),
            env_profile: std::env::var("STAGECRAFT_PROFILE")
                .ok()
                .filter(|s| !s.is_empty()),
            env_config: var("STAGECRAFT_CONFIG").map(PathBuf::from),
            env_scan_on_open: std::env::var("STAGECRAFT_SCAN_ON_OPEN")
                .ok()
                .map(|v| v != "0"),
            env_live_interval: std::env::var("STAGECRAFT_LIVE_INTERVAL")
                .ok()
                .and_then(|v| v.parse().ok()),
            file,
            saved: Mutex::new(saved),
            load_warning,
        };
        // A config named by the environment is remembered for the next start without it.
        if let Some(abs) = settings
            .env_config
            .as_deref()
            .and_then(|p| std::fs::canonicalize(p).ok())
        {
            let _ = settings.update(|s| remember(s, &abs.display().to_string()));
        }
        settings
    }

    pub fn saved(&self) -> SavedSettings {
        self.saved.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Changes the saved settings and writes them (whole, through a temporary file).
    pub fn update(&self, f: impl FnOnce(&mut SavedSettings)) -> Result<SavedSettings, UiError> {
        let mut g = self.saved.lock().map_err(|_| UiError {
            code: ErrorCode::Io,
            message: "the settings are unavailable (an earlier change failed midway)".into(),
        })?;
        let mut next = g.clone();
        f(&mut next);
        write(&self.file, &next).map_err(|e| UiError {
            code: ErrorCode::Io,
            message: format!("cannot save the settings to {}: {e}", self.file.display()),
        })?;
        *g = next.clone();
        Ok(next)
    }

    /// The management profile: `STAGECRAFT_PROFILE`, else the one chosen in the window.
    pub fn profile(&self) -> Option<String> {
        self.env_profile.clone().or_else(|| self.saved().profile)
    }

    /// Whether the environment decides the profile (the window then cannot change it).
    pub fn profile_from_env(&self) -> bool {
        self.env_profile.is_some()
    }

    pub fn config_from_env(&self) -> bool {
        self.env_config.is_some()
    }

    /// The workspace config: `STAGECRAFT_CONFIG`, else the workspace opened in the window.
    pub fn config(&self) -> Option<PathBuf> {
        self.env_config.clone().or_else(|| {
            self.saved()
                .workspace
                .map(PathBuf::from)
                .filter(|p| p.is_file())
        })
    }

    /// The roles chosen through the sign-in, for the profile they were chosen with.
    pub fn sso_roles(&self) -> SsoRoles {
        let saved = self.saved();
        match &self.env_profile {
            Some(p) if saved.profile.as_deref() != Some(p.as_str()) => SsoRoles::default(),
            _ => saved.sso_roles,
        }
    }

    pub fn scan_on_open(&self) -> bool {
        self.env_scan_on_open
            .or(self.saved().scan_on_open)
            .unwrap_or(true)
    }

    /// Seconds between two Live passes: `STAGECRAFT_LIVE_INTERVAL`, else the saved one, else 30;
    /// never under 5 (each pass reads every account's history, paced by CloudTrail's limits).
    pub fn live_interval(&self) -> u32 {
        self.env_live_interval
            .or(self.saved().live_interval)
            .unwrap_or(stagecraft_model::LIVE_INTERVAL)
            .max(MIN_LIVE_INTERVAL)
    }

    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// Puts `config` first in the recent workspaces and makes it the workspace.
pub fn remember(s: &mut SavedSettings, config: &str) {
    s.workspace = Some(config.to_owned());
    s.recent_workspaces.retain(|w| w != config);
    s.recent_workspaces.insert(0, config.to_owned());
    s.recent_workspaces.truncate(RECENT);
}

/// The saved settings; a file that cannot be read is moved aside (kept, never overwritten) and
/// the reason returned for the window to show.
fn load(file: &Path) -> (SavedSettings, Option<String>) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (SavedSettings::default(), None)
        }
        Err(e) => {
            return (
                SavedSettings::default(),
                Some(format!("cannot read {}: {e}", file.display())),
            )
        }
    };
    match serde_json::from_str(&text) {
        Ok(s) => (s, None),
        Err(e) => {
            let aside = file.with_extension("json.damaged");
            let moved = std::fs::rename(file, &aside).is_ok();
            (
                SavedSettings::default(),
                Some(format!(
                    "the saved settings {} could not be read ({e}){}; choose the profile and workspace again",
                    file.display(),
                    if moved {
                        format!(" and were kept as {}", aside.display())
                    } else {
                        String::new()
                    }
                )),
            )
        }
    }
}

fn write(file: &Path, saved: &SavedSettings) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("json.tmp{}", std::process::id()));
    let text = serde_json::to_string_pretty(saved).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_a_damaged_file_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        let mut s = SavedSettings {
            profile: Some("sso".into()),
            ..SavedSettings::default()
        };
        remember(&mut s, "/w/a/stagecraft.toml");
        remember(&mut s, "/w/b/stagecraft.toml");
        remember(&mut s, "/w/a/stagecraft.toml");
        assert_eq!(
            s.recent_workspaces,
            ["/w/a/stagecraft.toml", "/w/b/stagecraft.toml"]
        );
        write(&file, &s).unwrap();
        assert_eq!(load(&file), (s, None));

        std::fs::write(&file, "{ not json").unwrap();
        let (loaded, warning) = load(&file);
        assert_eq!(loaded, SavedSettings::default());
        let warning = warning.unwrap();
        assert!(warning.contains("kept as"), "{warning}");
        assert_eq!(
            std::fs::read_to_string(file.with_extension("json.damaged")).unwrap(),
            "{ not json"
        );
    }
}
