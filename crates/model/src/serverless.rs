//! Serverless services resolved for a stage: what a deploy of that stage would create and read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A service resolved for one stage: what a deploy of that stage would create and read.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ResolvedService {
    /// The file it came from.
    pub path: String,
    pub service: String,
    pub stage: String,
    pub region: String,
    /// The CloudFormation stack name: `provider.stackName`, else `<service>-<stage>`.
    pub stack: String,
    pub runtime: Option<String>,
    /// `provider.profile`: the AWS profile the Serverless CLI uses instead of `AWS_PROFILE`.
    #[serde(default)]
    pub profile: Option<String>,
    pub functions: Vec<ServiceFunction>,
    /// `provider.apiGateway.restApiId` / `restApiRootResourceId`: a shared REST API (as resolved, or the
    /// `${ssm:…}` text when it comes from a parameter).
    pub rest_api_id: Option<String>,
    pub rest_api_root_resource_id: Option<String>,
    /// `provider.iam.role.managedPolicies` (or the v2 `iamManagedPolicies`).
    pub managed_policies: Vec<String>,
    /// Logical id → type of the `resources.Resources` section.
    pub resources: BTreeMap<String, String>,
    /// `(logical id, type, name)` of resources there created under a literal name that a pending
    /// deletion could block (a secret's `Name`, a bucket's `BucketName`).
    #[serde(default)]
    pub named_resources: Vec<(String, String, String)>,
    pub plugins: Vec<String>,
    /// Every variable left unresolved (`ssm`, `env`, `file`, `cf`, …), with where it is used.
    pub variables: Vec<VarRef>,
    /// Problems that did not stop the reading (a self-reference cycle, an odd section).
    pub warnings: Vec<String>,
}

impl ResolvedService {
    /// Parameter names read through `${ssm:…}`, each once.
    pub fn ssm_reads(&self) -> Vec<&VarRef> {
        let mut seen = std::collections::BTreeSet::new();
        self.variables
            .iter()
            .filter(|v| v.source == "ssm" && seen.insert(ssm_name(&v.argument)))
            .collect()
    }
}

/// The parameter name of a `${ssm:…}` argument: drops the v1 `~true` decryption suffix and the v3
/// `(raw)`/`(noDecrypt)` flags.
pub fn ssm_name(argument: &str) -> String {
    let a = argument.trim();
    let a = a.strip_prefix("(raw)").unwrap_or(a);
    let a = a.strip_prefix("(noDecrypt)").unwrap_or(a);
    let a = a.split('~').next().unwrap_or(a);
    a.trim().trim_matches(|c| c == '\'' || c == '"').to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, Eq)]
#[ts(export)]
pub struct ServiceFunction {
    /// The key under `functions:`.
    pub key: String,
    /// The deployed name: `name:` or `<service>-<stage>-<key>`.
    pub name: String,
    pub handler: Option<String>,
    /// `http` / `httpApi` / `websocket` events as `GET /users/{id}`, `$connect`, …
    pub events: Vec<FunctionEvent>,
    /// Environment variable names (values are not kept: they may be secrets once resolved).
    pub environment: Vec<String>,
    /// Environment variables (the function's and `provider.environment`) whose value comes from SSM
    /// parameters, with the keyed hash of the value a deploy would give them now.
    pub ssm_environment: Vec<SsmEnv>,
    /// Variable → resolved text with the `${ssm:…}` references still in it. Never serialised: literal
    /// parts may be secrets written into the file.
    #[serde(skip)]
    #[ts(skip)]
    pub templates: BTreeMap<String, String>,
}

/// One environment variable fed by SSM parameters.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SsmEnv {
    pub variable: String,
    /// The parameters its value is built from, in order of appearance.
    pub parameters: Vec<String>,
    /// Keyed hash of the value with today's parameter values; `None` when one of them is missing or a
    /// `SecureString` (never decrypted, so never compared).
    pub expected_hash: Option<String>,
}

/// Equal when everything a snapshot keeps is equal: the templates are never stored.
impl PartialEq for ServiceFunction {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.name == other.name
            && self.handler == other.handler
            && self.events == other.events
            && self.environment == other.environment
            && self.ssm_environment == other.ssm_environment
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct FunctionEvent {
    /// `http`, `httpApi`, `websocket`, `schedule`, `sqs`, …
    pub kind: String,
    /// `GET users/{id}` for http events, the route for websockets, else empty.
    pub route: String,
    /// The authorizer as written: a function name, an ARN, or `id:<authorizerId>`.
    pub authorizer: Option<String>,
}

/// A variable that stays unresolved: its source (`ssm`, `env`, `file`, …), its argument, and where in
/// the file it was met (`functions.list.environment.DB_PW_NAME`).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct VarRef {
    pub source: String,
    pub argument: String,
    pub at: String,
}
