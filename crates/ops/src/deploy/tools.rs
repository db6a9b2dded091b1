//! The Terraform a deploy runs, as it reports itself: `version -json` decides which commands the
//! plan uses (`workspace select -or-create` exists from Terraform 1.4; OpenTofu has it throughout).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Workspace;

/// What `terraform version -json` (or `tofu version -json`) said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terraform {
    /// Where the binary is; `None` when it is not installed.
    pub path: Option<PathBuf>,
    /// `(major, minor, patch)`; `None` when it could not be told.
    pub version: Option<(u32, u32, u32)>,
    /// OpenTofu rather than Terraform.
    pub opentofu: bool,
    /// One line for the preflight: `Terraform v1.0.3`, or why the version is unknown.
    pub describe: String,
}

/// The tools a plan is made for.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub terraform: Option<Terraform>,
}

impl Tools {
    /// Asks the configured Terraform binary its version (nothing when the config has no Terraform).
    pub async fn detect(ws: &Workspace) -> Tools {
        let terraform = match &ws.config.terraform {
            Some(t) if t.dir.is_some() => Some(Terraform::detect(&t.binary).await),
            _ => None,
        };
        Tools { terraform }
    }
}

/// `"1.0.3"`, `"v1.9.8-dev"` → `(1, 0, 3)`, `(1, 9, 8)`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let t = text.trim().trim_start_matches('v');
    let mut parts = t.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

impl Terraform {
    /// Runs `<binary> version -json` (no update check), falling back to the text of `version` for
    /// releases before 0.13, which have no `-json`.
    pub async fn detect(binary: &str) -> Terraform {
        let Some(path) = super::find_binary(binary) else {
            return Terraform {
                describe: format!("`{binary}` is not on PATH"),
                ..Terraform::default()
            };
        };
        let name_says_tofu = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("tofu"));
        let json = run(&path, &["version", "-json"]).await;
        let from_json = json.as_ref().ok().and_then(|out| {
            let v: serde_json::Value = serde_json::from_str(out).ok()?;
            v.get("terraform_version")?.as_str().map(str::to_owned)
        });
        let (version_text, opentofu) = match from_json {
            Some(v) => (Some(v), name_says_tofu),
            None => {
                let text = run(&path, &["version"]).await.unwrap_or_default();
                let first = text.lines().next().unwrap_or("").trim().to_owned();
                let tofu = name_says_tofu || first.starts_with("OpenTofu");
                let v = first
                    .split_whitespace()
                    .find(|w| w.starts_with('v') && parse_version(w).is_some())
                    .map(str::to_owned);
                (v, tofu)
            }
        };
        let version = version_text.as_deref().and_then(parse_version);
        let product = if opentofu { "OpenTofu" } else { "Terraform" };
        let describe = match (&version_text, &json) {
            (Some(v), _) => format!("{product} v{}", v.trim_start_matches('v')),
            (None, Err(e)) => format!("version unknown: {e}"),
            (None, Ok(_)) => "version unknown".to_owned(),
        };
        Terraform {
            path: Some(path),
            version,
            opentofu,
            describe,
        }
    }

    /// Whether `workspace select -or-create` exists (Terraform 1.4 and later, every OpenTofu). An
    /// unknown version is taken to be recent: the preflight says it is unknown.
    pub fn selects_or_creates(&self) -> bool {
        self.opentofu || self.version.is_none_or(|v| v >= (1, 4, 0))
    }
}

async fn run(path: &Path, args: &[&str]) -> Result<String, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(path)
            .args(args)
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("`{} {}` took over 20 s", path.display(), args.join(" ")))?
    .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{} {}` failed: {}",
            path.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_terraform_and_opentofu_print_them() {
        assert_eq!(parse_version("1.0.3"), Some((1, 0, 3)));
        assert_eq!(parse_version("v1.9.8-dev"), Some((1, 9, 8)));
        assert_eq!(parse_version("v0.12"), Some((0, 12, 0)));
        assert_eq!(parse_version("nightly"), None);
        let old = Terraform {
            version: Some((1, 3, 9)),
            ..Terraform::default()
        };
        assert!(!old.selects_or_creates());
        let new = Terraform {
            version: Some((1, 4, 0)),
            ..Terraform::default()
        };
        assert!(new.selects_or_creates());
        let tofu = Terraform {
            version: Some((1, 3, 0)),
            opentofu: true,
            ..Terraform::default()
        };
        assert!(tofu.selects_or_creates());
    }
}
