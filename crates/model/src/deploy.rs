//! Deploy plans, runs and their steps, as the store keeps them and the window shows them.

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;

/// One step: a real process, run in `dir` with `AWS_PROFILE=profile`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Step {
    pub phase: Phase,
    /// `terraform` or `serverless`.
    pub tool: String,
    /// What it is, in a few words: `terraform apply (workspace qa)`, `deploy auth`.
    pub title: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Run in place of `command` when it fails: `workspace new` after `workspace select` on
    /// Terraform before 1.4, which has no `-or-create`.
    #[serde(default)]
    pub fallback: Option<Vec<String>>,
    pub dir: String,
    /// The stage's profile: the step's `AWS_PROFILE`.
    pub profile: String,
    /// Every profile the step's tools use (the stage's, the backend's, each provider's), each
    /// checked before the step and handed to it as short-lived keys; nothing else of the user's
    /// AWS files reaches the process.
    #[serde(default)]
    pub profiles: Vec<ProfileUse>,
    /// Why the step is in the plan, and why at this position.
    pub reason: String,
}

/// A profile a step's tool uses, what uses it, and the account it must act in.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ProfileUse {
    pub profile: String,
    /// What uses it: `the S3 backend`, `provider "aws"`, `provider "aws" (alias dns)`, `AWS_PROFILE`.
    pub used_by: String,
    /// The account it must act in; `None` when any account will do (an aliased provider) or the
    /// scan did not see the account (then `note` says so).
    pub account: Option<String>,
    /// A role the tool assumes with the profile's keys (the backend's `role_arn`, the provider's
    /// `assume_role`): the check assumes it too.
    pub role_arn: Option<String>,
    /// Where it is named (`infra/main.tf:9`, `stagecraft.toml:12`), or why it is the one used.
    pub named_at: String,
    /// What the check cannot know.
    pub note: Option<String>,
    /// Why the profile cannot be handed to the step (an expression Stagecraft cannot evaluate,
    /// keys of its own in the code): the preflight fails with it.
    #[serde(default)]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Plan {
    pub stage: String,
    pub account_id: Option<String>,
    pub profile: String,
    pub protected: bool,
    /// Where the stage's Terraform state is (`s3://bucket/env:/qa/key`), when the backend is known.
    #[serde(default)]
    pub state_location: Option<String>,
    pub steps: Vec<Step>,
}

/// What a run reports as it goes.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum RunEvent {
    StepStarted {
        index: u32,
        title: String,
        at: String,
    },
    /// One line of a step's output (`stdout`, `stderr`, or `stagecraft` for the runner's own notes).
    Line {
        index: u32,
        stream: String,
        at: String,
        text: String,
    },
    StepFinished {
        index: u32,
        outcome: Outcome,
        exit_code: Option<i32>,
        #[ts(type = "number")]
        duration_ms: u64,
    },
}

/// How one step ended.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StepResult {
    pub index: u32,
    pub title: String,
    /// `succeeded`, `failed`, `cancelled` or `refused` (a check before the step failed); `running`
    /// while it runs, `interrupted` when the process running it died.
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub log: String,
}

/// One stored deploy run.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct DeployRun {
    #[ts(type = "number")]
    pub id: i64,
    pub stage: String,
    pub account_id: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub who: String,
    pub plan: Option<Plan>,
    pub outcome: Outcome,
    pub steps: Vec<StepResult>,
}

/// What the Deploy view shows before a run.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct DeployPreview {
    pub plan: Plan,
    /// The phases in order, each with its title: what the plan's steps are grouped under.
    pub phases: Vec<PhaseTitle>,
    pub preflight: Vec<PreflightItem>,
    /// A step an interrupted run left running on this stage, which holds it until it ends or is
    /// stopped ([`stop_leftover`]).
    pub leftover: Option<String>,
}

/// What a stage's deploy would change, step by step, before anything runs: Terraform's own plan,
/// and a CloudFormation change set (created, read, deleted; never executed) per Serverless service.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StageChanges {
    pub stage: String,
    pub made_at: String,
    pub steps: Vec<StepChanges>,
    /// Something would be deleted or replaced: the deploy then needs the stage's name typed, even
    /// for a stage that is not protected.
    pub destructive: bool,
}

/// What one step of the plan would change.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StepChanges {
    /// The plan step (0-based).
    pub index: u32,
    pub title: String,
    /// `terraform` or `serverless`.
    pub tool: String,
    /// How the changes were found: `terraform plan` + `show -json`, or the change set's name.
    pub source: String,
    pub changes: Vec<Change>,
    /// Why these changes may not be the ones applied: a `${ssm:…}` input the Terraform plan
    /// changes (the service is evaluated again after phase 1), or a step that plans after earlier
    /// ones ran.
    pub provisional: Option<String>,
    /// Why no changes could be found (the step's own error).
    pub error: Option<String>,
}

/// One resource a step would change.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Change {
    /// The Terraform address (`aws_ssm_parameter.users_table`) or the logical id in the stack
    /// (`nested-stack/LogicalId` inside a nested stack).
    pub address: String,
    /// `aws_ssm_parameter`, `AWS::Lambda::Function`.
    pub type_name: String,
    pub action: ChangeAction,
    /// What changes, one line per attribute: values as Terraform shows them, `(sensitive)` where it
    /// marks them so, `changes` for an SSM parameter's value; CloudFormation's property names.
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ChangeAction {
    Create,
    Update,
    /// Destroyed and created again (Terraform's replace; CloudFormation's `Replacement: True`, or
    /// `Conditional`, which may replace).
    Replace,
    Delete,
}

impl ChangeAction {
    /// Deletes or replaces something: shown in red, and the deploy needs the stage's name typed.
    pub fn destroys(self) -> bool {
        matches!(self, ChangeAction::Replace | ChangeAction::Delete)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Replace => "replace",
            ChangeAction::Delete => "delete",
        }
    }
}

/// One preflight item.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct PreflightItem {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when it fails.
    pub fix: Option<String>,
}

/// The three phases of a stage deploy, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Phase {
    /// `terraform init`, workspace, `apply`: the shared core first.
    Terraform,
    /// Each Serverless service, in dependency order.
    Services,
    /// Terraform again, for what needs the API stage the services' first deploy created.
    PostDeploy,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Terraform, Phase::Services, Phase::PostDeploy];

    /// 1, 2 or 3, as the plan numbers them.
    pub fn number(self) -> u8 {
        match self {
            Phase::Terraform => 1,
            Phase::Services => 2,
            Phase::PostDeploy => 3,
        }
    }

    /// The one place a phase's name is written (the CLI prints it, the window shows it).
    pub fn title(self) -> &'static str {
        match self {
            Phase::Terraform => "Terraform",
            Phase::Services => "Serverless services",
            Phase::PostDeploy => "Terraform, post-deploy",
        }
    }

    pub fn titles() -> Vec<PhaseTitle> {
        Phase::ALL
            .iter()
            .map(|&phase| PhaseTitle {
                phase,
                number: phase.number(),
                title: phase.title().to_owned(),
            })
            .collect()
    }
}

/// Plans stored before phases had names wrote them as the numbers 1, 2, 3: both read.
impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Number(u8),
            Name(String),
        }
        let unknown = |what: String| {
            serde::de::Error::custom(format!(
                "unknown deploy phase {what}: expected terraform, services or post_deploy"
            ))
        };
        match Stored::deserialize(d)? {
            Stored::Number(n) => Phase::ALL
                .into_iter()
                .find(|p| p.number() == n)
                .ok_or_else(|| unknown(n.to_string())),
            Stored::Name(name) => match name.as_str() {
                "terraform" => Ok(Phase::Terraform),
                "services" => Ok(Phase::Services),
                "post_deploy" => Ok(Phase::PostDeploy),
                _ => Err(unknown(format!("`{name}`"))),
            },
        }
    }
}

/// A phase with its number and title, for the window's headings.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct PhaseTitle {
    pub phase: Phase,
    pub number: u8,
    pub title: String,
}

/// How a deploy run or one of its steps ended, or that it has not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// A check before the step failed, so it did not run.
    Refused,
    /// The process running it died (the app or the CLI was killed).
    Interrupted,
}

impl Outcome {
    /// The word the store and the JSON output hold.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Refused => "refused",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Reads a stored outcome; `None` for a word this build does not know.
    pub fn parse(word: &str) -> Option<Outcome> {
        [
            Outcome::Running,
            Outcome::Succeeded,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::Refused,
            Outcome::Interrupted,
        ]
        .into_iter()
        .find(|o| o.as_str() == word)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_stored_as_numbers_or_names_both_load() {
        for (stored, phase) in [
            ("1", Phase::Terraform),
            ("2", Phase::Services),
            ("3", Phase::PostDeploy),
            ("\"post_deploy\"", Phase::PostDeploy),
        ] {
            assert_eq!(serde_json::from_str::<Phase>(stored).unwrap(), phase);
        }
        assert_eq!(
            serde_json::to_string(&Phase::PostDeploy).unwrap(),
            "\"post_deploy\""
        );
        let err = serde_json::from_str::<Phase>("4").unwrap_err().to_string();
        assert!(err.contains("unknown deploy phase 4"), "{err}");
    }

    #[test]
    fn outcomes_are_the_words_stored_runs_hold() {
        for word in [
            "running",
            "succeeded",
            "failed",
            "cancelled",
            "refused",
            "interrupted",
        ] {
            let o = Outcome::parse(word).unwrap();
            assert_eq!(o.as_str(), word);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{word}\""));
        }
        assert_eq!(Outcome::parse("exploded"), None);
    }
}
