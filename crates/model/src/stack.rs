//! CloudFormation stacks as a scan keeps them: members and what the template declares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A stack and what it is made of.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StackFacts {
    pub account_id: String,
    pub region: String,
    pub name: String,
    /// The stack id (an ARN).
    pub id: String,
    pub status: String,
    pub description: Option<String>,
    pub outputs: BTreeMap<String, String>,
    #[ts(as = "BTreeMap<String, String>")]
    pub tags: crate::FlatMap<String>,
    pub members: Vec<StackMember>,
    /// What the template declares, with identifying properties resolved through the resource list.
    /// Methods, deployments' stages and (in the emulator) authorizers and API Gateway v2 APIs have
    /// no usable physical id, so the template is the evidence that ties them to the stack.
    pub declared: Vec<Declared>,
    /// Per function logical id: environment variable name → keyed hash of the deployed value.
    pub function_env: BTreeMap<String, BTreeMap<String, String>>,
    /// Why the template could not be read, if it could not.
    pub template_error: Option<String>,
    /// Parameters whose current value the deployed template holds, with where (an `ssm-read`
    /// even when no `serverless.yml` is at hand: a policy statement's `Resource`, a managed policy
    /// ARN, an event source, any property).
    #[serde(default)]
    pub parameter_reads: Vec<TemplateRead>,
    /// Keyed hash → JSON paths of every distinctive string in the template, while the scan matches
    /// them against the account's parameters; never stored.
    #[serde(skip)]
    #[ts(skip)]
    pub value_paths: Vec<(String, String)>,
}

/// A parameter's value found in a deployed template.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct TemplateRead {
    /// The parameter's id (its ARN).
    pub parameter: String,
    /// Where in the template: `Resources.Role.Properties.Policies[0].PolicyDocument.Statement[0].Resource`.
    pub path: String,
}

/// Whether a value is worth matching: not a short or common word, not a number.
pub fn distinctive(value: &str) -> bool {
    value.len() >= 6 && !matches!(value, "true" | "false") && value.parse::<f64>().is_err()
}

/// One entry of a stack's resource list.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StackMember {
    pub logical_id: String,
    pub physical_id: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub status: String,
}

/// One resource of a template with the properties that identify it (never values like environment
/// variables: only the keys in [`IDENTIFYING_PROPERTIES`], and only when they resolve to a string).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Declared {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub properties: BTreeMap<String, String>,
}
