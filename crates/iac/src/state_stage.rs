//! Which stage a state deploys, for every layout in use: workspaces (`env:/<ws>/…`), one key per
//! stage and component (Terragrunt's `live/<stage>/<component>/terraform.tfstate`), a bucket per
//! stage account. The rules are tried in order and the summary names the one that decided:
//!
//! 1. an explicit mapping in `stagecraft.toml` (`[terraform.states]`, `[terraform.workspaces]`);
//! 2. the workspace, when it is named like a stage;
//! 3. the account its managed resources live in (the account ids in their ARNs);
//! 4. a stage word in the key path.
//!
//! A state whose resources live in several stage accounts spans them: it gets no stage, and says so.

use std::collections::{BTreeMap, BTreeSet};

use stagecraft_model::terraform::{StageRule, StateRead};

use crate::config::{stage_of_state_key, Workspace};
use crate::terraform::LoadedState;

/// What the rules need besides the state.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub workspace: &'a Workspace,
    /// Every stage the organization knows.
    pub stages: &'a BTreeSet<String>,
    /// Account id → stage.
    pub account_stages: &'a BTreeMap<String, String>,
}

/// `arn:<partition>:<service>:<region>:<account>:…` → (region, account); either may be empty.
pub fn arn_region_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    parts.next()?;
    Some((region, account))
}

/// Fills the summary's stage (with the rule and evidence), the accounts and regions its resources
/// live in, and the parameters it reads.
pub fn decide(loaded: &mut LoadedState, cx: Context<'_>) {
    let summary = &mut loaded.summary;
    let mut accounts = BTreeSet::new();
    let mut regions = BTreeSet::new();
    let mut reads = Vec::new();
    if let Some(state) = &loaded.state {
        for inst in &state.instances {
            if inst.managed() {
                let arn = inst
                    .attr("arn")
                    .or_else(|| inst.attr("id").filter(|id| id.starts_with("arn:")));
                if let Some((region, account)) = arn.and_then(arn_region_account) {
                    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
                        accounts.insert(account.to_owned());
                    }
                    if !region.is_empty() {
                        regions.insert(region.to_owned());
                    }
                }
            } else if inst.type_name == "aws_ssm_parameter" {
                if let Some(name) = inst.attr("name").or_else(|| inst.attr("id")) {
                    reads.push(StateRead {
                        address: inst.address.clone(),
                        name: name.to_owned(),
                        arn: inst.attr("arn").map(str::to_owned),
                    });
                }
            }
        }
    }
    summary.resource_accounts = accounts.into_iter().collect();
    summary.resource_regions = regions.into_iter().collect();
    summary.ssm_reads = reads;

    let (stage, rule, evidence) = rules(summary, cx);
    summary.stage = stage;
    summary.stage_rule = rule;
    summary.stage_evidence = Some(evidence);
}

fn rules(
    s: &stagecraft_model::TerraformState,
    cx: Context<'_>,
) -> (Option<String>, Option<StageRule>, String) {
    if let Some(stage) = stage_of_state_key(cx.workspace, &s.location) {
        return (
            Some(stage),
            Some(StageRule::Config),
            format!("[terraform.states] in stagecraft.toml maps {}", s.location),
        );
    }
    if let Some(stage) = cx
        .workspace
        .config
        .terraform
        .as_ref()
        .and_then(|t| t.workspaces.get(&s.workspace))
    {
        return (
            Some(stage.clone()),
            Some(StageRule::Config),
            format!(
                "[terraform.workspaces] in stagecraft.toml maps workspace `{}`",
                s.workspace
            ),
        );
    }
    if s.workspace != "default" && cx.stages.contains(&s.workspace) {
        return (
            Some(s.workspace.clone()),
            Some(StageRule::Workspace),
            format!("workspace `{}`", s.workspace),
        );
    }
    let named = |a: &str| match cx.account_stages.get(a) {
        Some(stage) => format!("{a} ({stage})"),
        None => format!("{a} (no stage)"),
    };
    let staged: BTreeSet<&str> = s
        .resource_accounts
        .iter()
        .filter_map(|a| cx.account_stages.get(a).map(String::as_str))
        .collect();
    let all_staged = s
        .resource_accounts
        .iter()
        .all(|a| cx.account_stages.contains_key(a));
    if staged.len() > 1 {
        let list: Vec<String> = s.resource_accounts.iter().map(|a| named(a)).collect();
        return (
            None,
            Some(StageRule::Spans),
            format!(
                "its resources live in the accounts of several stages: {}",
                list.join(", ")
            ),
        );
    }
    if let (Some(stage), true) = (staged.iter().next(), all_staged) {
        let account = s
            .resource_accounts
            .first()
            .map(String::as_str)
            .unwrap_or("");
        return (
            Some((*stage).to_owned()),
            Some(StageRule::Account),
            format!("its resources are all in account {}", named(account)),
        );
    }
    let key = s
        .location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, key)| key)
        .unwrap_or(&s.location);
    let words: BTreeSet<&str> = key
        .split('/')
        .flat_map(|segment| {
            let stem = segment.strip_suffix(".tfstate").unwrap_or(segment);
            std::iter::once(stem).chain(stem.split(['-', '_', '.']))
        })
        .filter(|w| cx.stages.contains(*w))
        .collect();
    if words.len() == 1 {
        let word = words.iter().next().copied().unwrap_or_default();
        return (
            Some(word.to_owned()),
            Some(StageRule::Key),
            format!("`{word}` in the key {key}"),
        );
    }
    if s.error.is_none() && s.managed_resources == 0 {
        return (
            None,
            None,
            "no stage: the state holds no resources".to_owned(),
        );
    }
    let mut why = vec![format!("workspace `{}` is no stage", s.workspace)];
    if s.resource_accounts.is_empty() {
        why.push("no resource names an account".to_owned());
    } else {
        let list: Vec<String> = s.resource_accounts.iter().map(|a| named(a)).collect();
        why.push(format!("its resources are in {}", list.join(", ")));
    }
    if words.len() > 1 {
        let list: Vec<&str> = words.into_iter().collect();
        why.push(format!(
            "the key names several stages ({})",
            list.join(", ")
        ));
    } else {
        why.push("no stage word in the key".to_owned());
    }
    why.push("map it with [terraform.states] in stagecraft.toml".to_owned());
    (None, None, format!("no stage: {}", why.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::{loaded, parse_state, summary};

    fn state_with(location: &str, workspace: &str, resources: &str) -> LoadedState {
        let json = format!(
            r#"{{"version": 4, "terraform_version": "1.5.7", "serial": 1, "lineage": "l", "resources": [{resources}]}}"#
        );
        loaded(
            summary(location.into(), workspace.into()),
            parse_state(json.as_bytes(), location),
        )
    }

    fn managed(ty: &str, arn: &str) -> String {
        format!(
            r#"{{"mode": "managed", "type": "{ty}", "name": "x", "provider": "p",
                 "instances": [{{"attributes": {{"arn": "{arn}"}}}}]}}"#
        )
    }

    struct Org {
        ws: Workspace,
        stages: BTreeSet<String>,
        accounts: BTreeMap<String, String>,
    }

    impl Org {
        fn new(config: &str) -> Org {
            Org {
                ws: Workspace {
                    config: crate::config::WorkspaceConfig::parse(config).expect("config"),
                    path: None,
                },
                stages: ["dev", "qa", "prod"].map(String::from).into(),
                accounts: [("111111111111", "dev"), ("222222222222", "qa")]
                    .map(|(a, s)| (a.to_owned(), s.to_owned()))
                    .into(),
            }
        }
        fn decide(&self, mut l: LoadedState) -> (Option<String>, Option<StageRule>, String) {
            decide(
                &mut l,
                Context {
                    workspace: &self.ws,
                    stages: &self.stages,
                    account_stages: &self.accounts,
                },
            );
            (
                l.summary.stage,
                l.summary.stage_rule,
                l.summary.stage_evidence.unwrap_or_default(),
            )
        }
    }

    const DEV_TABLE: &str = "arn:aws:dynamodb:us-east-1:111111111111:table/t";
    const QA_ROLE: &str = "arn:aws:iam::222222222222:role/r";

    #[test]
    fn each_rule_decides_in_order_and_names_itself() {
        let org = Org::new("");
        // The workspace beats the accounts.
        let got = org.decide(state_with(
            "s3://b/env:/qa/core/terraform.tfstate",
            "qa",
            &managed("aws_dynamodb_table", DEV_TABLE),
        ));
        assert_eq!(got.0.as_deref(), Some("qa"));
        assert_eq!(got.1, Some(StageRule::Workspace));
        // No workspace: the account of the resources beats a stage word in the key.
        let got = org.decide(state_with(
            "s3://b/live/prod/core/terraform.tfstate",
            "default",
            &managed("aws_dynamodb_table", DEV_TABLE),
        ));
        assert_eq!(
            got,
            (
                Some("dev".into()),
                Some(StageRule::Account),
                "its resources are all in account 111111111111 (dev)".into()
            )
        );
        // Resources without an account in their ARN (S3 buckets): the key decides.
        let got = org.decide(state_with(
            "s3://b/live/prod/edge/terraform.tfstate",
            "default",
            &managed("aws_s3_bucket", "arn:aws:s3:::assets"),
        ));
        assert_eq!(got.0.as_deref(), Some("prod"));
        assert_eq!(got.1, Some(StageRule::Key));
        assert!(got.2.contains("live/prod/edge"), "{}", got.2);
        // A state file named after the stage.
        let got = org.decide(state_with("s3://b/qa.tfstate", "default", ""));
        assert_eq!(
            (got.0.as_deref(), got.1),
            (Some("qa"), Some(StageRule::Key))
        );
    }

    #[test]
    fn a_state_spanning_two_stage_accounts_is_not_forced_into_one() {
        let org = Org::new("");
        let both = format!(
            "{},{}",
            managed("aws_iam_role", QA_ROLE),
            managed("aws_dynamodb_table", DEV_TABLE)
        );
        let got = org.decide(state_with(
            "s3://b/live/dev/iam/terraform.tfstate",
            "default",
            &both,
        ));
        assert_eq!(got.0, None);
        assert_eq!(got.1, Some(StageRule::Spans));
        assert!(
            got.2.contains("111111111111 (dev)") && got.2.contains("222222222222 (qa)"),
            "{}",
            got.2
        );
    }

    #[test]
    fn the_config_maps_keys_by_prefix_and_an_undecided_state_says_why() {
        let org = Org::new(
            "[terraform]\n[terraform.states]\n\"live/shared/\" = \"prod\"\n\"s3://b/x.tfstate\" = \"qa\"\n",
        );
        let got = org.decide(state_with(
            "s3://b/live/shared/dns/terraform.tfstate",
            "default",
            &managed("aws_dynamodb_table", DEV_TABLE),
        ));
        assert_eq!(
            (got.0.as_deref(), got.1),
            (Some("prod"), Some(StageRule::Config))
        );
        let got = org.decide(state_with("s3://b/x.tfstate", "default", ""));
        assert_eq!(got.0.as_deref(), Some("qa"));

        let got = Org::new("").decide(state_with(
            "s3://b/global/terraform.tfstate",
            "default",
            &managed("aws_iam_role", "arn:aws:iam::999999999999:role/ci"),
        ));
        assert_eq!((got.0, got.1), (None, None));
        assert!(
            got.2.contains("999999999999 (no stage)") && got.2.contains("[terraform.states]"),
            "{}",
            got.2
        );
    }

    #[test]
    fn data_sources_of_parameters_are_reads_and_never_decide_the_stage() {
        let org = Org::new("");
        let data = r#"{"mode": "data", "type": "aws_ssm_parameter", "name": "bucket", "provider": "p",
            "instances": [{"attributes": {"name": "/reports/bucket", "arn": "arn:aws:ssm:eu-west-1:222222222222:parameter/reports/bucket", "value": "secret-ish"}}]}"#;
        let mut l = state_with("s3://b/app.tfstate", "default", data);
        decide(
            &mut l,
            Context {
                workspace: &org.ws,
                stages: &org.stages,
                account_stages: &org.accounts,
            },
        );
        assert_eq!(l.summary.stage, None);
        assert_eq!(l.summary.ssm_reads.len(), 1);
        assert_eq!(l.summary.ssm_reads[0].name, "/reports/bucket");
        assert_eq!(
            l.summary.ssm_reads[0].address,
            "data.aws_ssm_parameter.bucket"
        );
        assert!(!serde_json::to_string(&l.summary)
            .expect("json")
            .contains("secret-ish"));
    }
}
