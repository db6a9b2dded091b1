//! Which stage an account belongs to: the config says so, else a tag, else its name.

use std::collections::BTreeMap;

use crate::config::Workspace;
use crate::model::{StageSource, STAGE_WORDS};

/// Tag keys that name a stage, in order of preference (matched case-insensitively).
const STAGE_TAGS: [&str; 3] = ["stage", "environment", "env"];

pub fn infer_stage(
    account_id: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
    is_management: bool,
    workspace: &Workspace,
) -> (Option<String>, StageSource) {
    if let Some(stage) = workspace.stage_of_account(account_id) {
        return (Some(stage.to_owned()), StageSource::Config);
    }
    if is_management {
        return (None, StageSource::Management);
    }
    for key in STAGE_TAGS {
        if let Some((_, v)) = tags
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.trim().is_empty())
        {
            return (Some(v.trim().to_owned()), StageSource::Tag);
        }
    }
    let configured: Vec<&str> = workspace.config.stages.keys().map(String::as_str).collect();
    let lower = name.to_ascii_lowercase();
    // Last token first: `acme-prod-data` is more likely "prod" than "acme".
    for token in lower.split(|c: char| !c.is_ascii_alphanumeric()).rev() {
        let known = if configured.is_empty() {
            STAGE_WORDS.contains(&token)
        } else {
            configured.contains(&token)
        };
        if known {
            return (Some(token.to_owned()), StageSource::Name);
        }
    }
    (None, StageSource::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkspaceConfig;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ws(toml: &str) -> Workspace {
        Workspace {
            config: WorkspaceConfig::parse(toml).expect("config"),
            path: None,
        }
    }

    #[test]
    fn config_wins_over_tag_and_name() {
        let w = ws("[stages.qa]\naccount = \"222222222222\"\n");
        let got = infer_stage(
            "222222222222",
            "acme-prod",
            &tags(&[("Stage", "dev")]),
            false,
            &w,
        );
        assert_eq!(got, (Some("qa".into()), StageSource::Config));
    }

    #[test]
    fn tag_wins_over_name_and_keys_are_case_insensitive() {
        let got = infer_stage(
            "1",
            "acme-prod",
            &tags(&[("ENVIRONMENT", "qa")]),
            false,
            &Workspace::default(),
        );
        assert_eq!(got, (Some("qa".into()), StageSource::Tag));
    }

    #[test]
    fn name_token_from_the_right() {
        let got = infer_stage("1", "Acme Prod", &tags(&[]), false, &Workspace::default());
        assert_eq!(got, (Some("prod".into()), StageSource::Name));
        let got = infer_stage(
            "1",
            "dev-tools-qa",
            &tags(&[]),
            false,
            &Workspace::default(),
        );
        assert_eq!(got, (Some("qa".into()), StageSource::Name));
    }

    #[test]
    fn configured_stage_names_replace_the_word_list() {
        let w = ws("[stages.blue]\n[stages.green]\n");
        assert_eq!(
            infer_stage("1", "acme-green", &tags(&[]), false, &w)
                .0
                .as_deref(),
            Some("green")
        );
        assert_eq!(
            infer_stage("1", "acme-prod", &tags(&[]), false, &w).1,
            StageSource::None
        );
    }

    #[test]
    fn management_has_no_stage_unless_configured() {
        let got = infer_stage(
            "123456789012",
            "acme-prod-root",
            &tags(&[("Stage", "prod")]),
            true,
            &Workspace::default(),
        );
        assert_eq!(got, (None, StageSource::Management));
    }

    #[test]
    fn blank_tag_is_ignored() {
        let got = infer_stage(
            "1",
            "shared-services",
            &tags(&[("Stage", "  ")]),
            false,
            &Workspace::default(),
        );
        assert_eq!(got, (None, StageSource::None));
    }
}
