//! Terraform state: where it is (backend block, config, or to be found in buckets), local workspaces,
//! and which stage each workspace deploys. Reading state from S3 is the scan's part (`stagecraft-aws`).

pub mod backend;
pub mod state;

use std::path::{Path, PathBuf};

pub use backend::{read_backend, read_backend_with, Backend, S3Backend};
pub use state::{parse_state, Instance, State, StateError};

pub use stagecraft_model::terraform::{LockInfo, TerraformState};
use stagecraft_model::UiError;

/// A state read for ownership: its summary and its instances (identifying attributes only).
#[derive(Debug, Clone)]
pub struct LoadedState {
    pub summary: TerraformState,
    pub state: Option<State>,
}

/// Where the workspace config says state is (discovery may find more).
#[derive(Debug, Clone)]
pub enum StateSource {
    S3(S3Backend),
    Local(PathBuf),
}

/// A state's summary before it is read.
pub fn summary(location: String, workspace: String) -> TerraformState {
    TerraformState {
        location,
        workspace,
        stage: None,
        terraform_version: None,
        serial: None,
        lineage: None,
        managed_resources: 0,
        data_sources: 0,
        ..TerraformState::default()
    }
}

pub fn loaded(mut summary: TerraformState, parsed: Result<State, StateError>) -> LoadedState {
    match parsed {
        Ok(state) => {
            summary.terraform_version = Some(state.terraform_version.clone());
            summary.serial = Some(state.serial);
            summary.lineage = Some(state.lineage.clone());
            summary.managed_resources =
                state.instances.iter().filter(|i| i.managed()).count() as u32;
            summary.data_sources = state.instances.iter().filter(|i| !i.managed()).count() as u32;
            LoadedState {
                summary,
                state: Some(state),
            }
        }
        Err(e) => {
            summary.error = Some(UiError {
                code: stagecraft_model::ErrorCode::TerraformState,
                message: e.to_string(),
            });
            LoadedState {
                summary,
                state: None,
            }
        }
    }
}

/// Local state: the default workspace's file and `terraform.tfstate.d/<ws>/terraform.tfstate`.
pub fn load_local(path: &Path) -> Vec<LoadedState> {
    let mut out = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![("default".to_owned(), path.to_owned())];
    if let Ok(entries) = std::fs::read_dir(dir.join("terraform.tfstate.d")) {
        for e in entries.flatten() {
            let ws = e.file_name().to_string_lossy().into_owned();
            candidates.push((ws, e.path().join("terraform.tfstate")));
        }
    }
    for (ws, file) in candidates {
        if !file.is_file() {
            continue;
        }
        let name = file.display().to_string();
        let parsed = std::fs::read(&file)
            .map_err(|e| StateError::Shape {
                source_name: name.clone(),
                message: e.to_string(),
            })
            .and_then(|bytes| parse_state(&bytes, &name));
        out.push(loaded(summary(name, ws), parsed));
    }
    out
}

pub fn lock_info(via: &str, json: &[u8]) -> LockInfo {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    LockInfo {
        via: via.to_owned(),
        id: field("ID"),
        operation: field("Operation"),
        who: field("Who"),
        created: field("Created"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{stage_of_workspace, Workspace};
    use std::collections::BTreeSet;

    #[test]
    fn local_workspaces_are_found_and_a_broken_one_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let state = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 1, "lineage": "l", "resources": []}"#;
        std::fs::write(dir.path().join("terraform.tfstate"), state).unwrap();
        let qa = dir.path().join("terraform.tfstate.d/qa");
        std::fs::create_dir_all(&qa).unwrap();
        std::fs::write(qa.join("terraform.tfstate"), "{ broken").unwrap();
        let mut got = load_local(&dir.path().join("terraform.tfstate"));
        got.sort_by(|a, b| a.summary.workspace.cmp(&b.summary.workspace));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].summary.workspace, "default");
        assert_eq!(got[0].summary.serial, Some(1));
        assert_eq!(got[1].summary.workspace, "qa");
        let err = got[1].summary.error.as_ref().unwrap();
        assert!(
            err.message.contains("qa/terraform.tfstate") && err.message.contains("not JSON"),
            "{}",
            err.message
        );
    }

    #[test]
    fn workspaces_map_to_stages_by_name_or_config() {
        let mut ws = Workspace::default();
        let stages: BTreeSet<String> = ["dev", "prod"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            stage_of_workspace(&ws, "dev", &stages).as_deref(),
            Some("dev")
        );
        assert_eq!(stage_of_workspace(&ws, "default", &stages), None);
        ws.config = crate::config::WorkspaceConfig::parse(
            "[terraform]\ndir = \"infra\"\n[terraform.workspaces]\ndefault = \"prod\"\n",
        )
        .unwrap();
        assert_eq!(
            stage_of_workspace(&ws, "default", &stages).as_deref(),
            Some("prod")
        );
    }
}
