//! Resources and their owners: what `stagecraft scan --json` lists under `resources`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FlatMap;
use ts_rs::TS;

/// One live resource in one account and region.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct Resource {
    /// Stable id: the ARN where the resource has one (API Gateway objects get their documented
    /// `arn:aws:apigateway:<region>::/restapis/…` form).
    pub id: String,
    /// CloudFormation type name, e.g. `AWS::Lambda::Function`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    pub account_id: String,
    pub stage: Option<String>,
    /// The region, or `global` for IAM.
    pub region: String,
    #[ts(as = "BTreeMap<String, String>")]
    pub tags: FlatMap<String>,
    /// Type-specific facts (runtime, role, deletion date, …). Never a secret value: Lambda environment
    /// values appear only as keyed hashes, SecureString parameters never carry a value.
    #[ts(as = "BTreeMap<String, serde_json::Value>")]
    pub attributes: FlatMap<serde_json::Value>,
    pub owner: Owner,
    /// Its creation and latest change, from the event history read (none when it holds none).
    // Boxed: most resources have none, and a resource is held hundreds of thousands of times
    // when a large organization is assembled (two change events inline are 500 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, as = "Option<crate::change::Provenance>")]
    pub changed: Option<Box<crate::change::Provenance>>,
}

impl Resource {
    pub fn new(type_name: &str, id: String, name: String, account_id: &str, region: &str) -> Self {
        Resource {
            id,
            type_name: type_name.to_owned(),
            name,
            account_id: account_id.to_owned(),
            stage: None,
            region: region.to_owned(),
            tags: FlatMap::new(),
            attributes: FlatMap::new(),
            owner: Owner::Unmanaged,
            changed: None,
        }
    }

    /// Adds an attribute; `None` and empty strings are left out so the JSON stays readable.
    pub fn attr(&mut self, key: &str, value: impl Into<serde_json::Value>) -> &mut Self {
        let v: serde_json::Value = value.into();
        let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
        if !empty {
            self.attributes.insert(key.to_owned(), v);
        }
        self
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(|v| v.as_str())
    }
}

/// Which tool owns a resource, with the evidence.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Owner {
    Terraform(TerraformClaim),
    Serverless(ServerlessClaim),
    /// A CloudFormation stack that is not a Serverless service.
    Cloudformation(StackClaim),
    /// No tool claims it: created by hand or by a tool Stagecraft does not know.
    Unmanaged,
    /// Claimed by more than one tool or stack; every claim is listed.
    Conflict {
        claims: Vec<Claim>,
    },
}

impl Owner {
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Terraform(_) => "terraform",
            Owner::Serverless(_) => "serverless",
            Owner::Cloudformation(_) => "cloudformation",
            Owner::Unmanaged => "unmanaged",
            Owner::Conflict { .. } => "conflict",
        }
    }

    pub fn claims(&self) -> Vec<Claim> {
        match self {
            Owner::Terraform(c) => vec![Claim::Terraform(c.clone())],
            Owner::Serverless(c) => vec![Claim::Serverless(c.clone())],
            Owner::Cloudformation(c) => vec![Claim::Cloudformation(c.clone())],
            Owner::Unmanaged => Vec::new(),
            Owner::Conflict { claims } => claims.clone(),
        }
    }
}

/// One tool's claim on a resource.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Claim {
    Terraform(TerraformClaim),
    Serverless(ServerlessClaim),
    Cloudformation(StackClaim),
}

impl From<Claim> for Owner {
    fn from(c: Claim) -> Self {
        match c {
            Claim::Terraform(c) => Owner::Terraform(c),
            Claim::Serverless(c) => Owner::Serverless(c),
            Claim::Cloudformation(c) => Owner::Cloudformation(c),
        }
    }
}

/// A resource instance in a Terraform state.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct TerraformClaim {
    /// `module.api.aws_api_gateway_rest_api.main`, with `[i]` / `["key"]` for counted instances.
    pub address: String,
    pub workspace: String,
    /// Where the state lives: `s3://bucket/key` or a local path.
    pub state: String,
    /// Which state attribute matched the live resource (`arn`, `id`, `name`, …).
    pub matched_by: String,
}

/// A resource of a Serverless service's stack.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct ServerlessClaim {
    pub service: String,
    pub stage: String,
    pub stack: String,
    /// The logical id in the stack's template; `None` for the stack itself.
    pub logical_id: Option<String>,
    /// `stack resources` (the stack's resource list), `template` (the method a template declares),
    /// `stack tags` (the `aws:cloudformation:*` tags), or `stack`.
    pub matched_by: String,
}

/// A resource of a CloudFormation stack that is not a Serverless service.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct StackClaim {
    pub stack: String,
    pub logical_id: Option<String>,
    pub matched_by: String,
}
