//! Terraform state, format version 4 (Terraform ≥ 0.12).
//!
//! A state file holds every attribute Terraform knows, secrets included (a SecureString parameter's
//! value, a secret version's string). The reader keeps only the attributes that identify a resource
//! ([`IDENTIFYING`]); everything else is dropped while parsing and never stored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// State attributes kept: enough to find the live resource, never a value.
pub const IDENTIFYING: [&str; 22] = [
    "arn",
    "id",
    "name",
    "bucket",
    "function_name",
    "role",
    "rest_api_id",
    "api_id",
    "domain_name",
    "base_path",
    "stage_name",
    "http_method",
    "resource_id",
    "response_type",
    "key_id",
    "target_key_id",
    "policy_arn",
    "root_resource_id",
    "api_mapping_key",
    "type",
    "region",
    "invoke_arn",
];

/// A parsed state: its header and the identifying attributes of each resource instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub terraform_version: String,
    pub serial: u64,
    pub lineage: String,
    pub instances: Vec<Instance>,
    /// Output names (values can be sensitive and are not kept).
    pub outputs: Vec<String>,
}

/// One instance of a resource block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `module.api.aws_api_gateway_rest_api.main`, `aws_ssm_parameter.url[0]`, `aws_s3_bucket.b["logs"]`.
    pub address: String,
    /// `managed` or `data`.
    pub mode: String,
    pub type_name: String,
    pub attributes: BTreeMap<String, String>,
}

impl Instance {
    pub fn managed(&self) -> bool {
        self.mode == "managed"
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Why a file is not a usable state, in words that say what the file is and what to do.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error(
        "{source_name} is empty; a state always holds a JSON object (was the write interrupted?)"
    )]
    Empty { source_name: String },
    #[error("{source_name} is binary, not JSON{hint}")]
    Binary { source_name: String, hint: String },
    #[error("{source_name} is not JSON ({message}){hint}")]
    NotJson {
        source_name: String,
        message: String,
        hint: String,
    },
    #[error("{source_name} is a Terraform lock record (`.lock.info`), not a state")]
    LockRecord { source_name: String },
    #[error(
        "{source_name} is Terraform's backend configuration (`.terraform/terraform.tfstate`), not a state; \
         point Stagecraft at the backend it names"
    )]
    BackendConfig { source_name: String },
    #[error(
        "{source_name} uses state format version {version} (written by Terraform {terraform}); Stagecraft reads version 4 \
         (Terraform ≥ 0.12) — run `terraform apply` or `terraform state push` with Terraform ≥ 0.12 to upgrade it"
    )]
    UnsupportedVersion {
        source_name: String,
        version: String,
        terraform: String,
    },
    #[error("{source_name} is not a Terraform state: {message}")]
    Shape {
        source_name: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    terraform_version: String,
    #[serde(default)]
    serial: u64,
    #[serde(default)]
    lineage: String,
    #[serde(default)]
    outputs: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Deserialize)]
struct RawResource {
    module: Option<String>,
    #[serde(default = "managed")]
    mode: String,
    #[serde(rename = "type")]
    type_name: String,
    name: String,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

fn managed() -> String {
    "managed".to_owned()
}

#[derive(Deserialize)]
struct RawInstance {
    index_key: Option<Value>,
    #[serde(default)]
    attributes: BTreeMap<String, Value>,
}

/// Parses a state file's bytes; `source_name` (a path or `s3://…`) names it in errors.
pub fn parse_state(bytes: &[u8], source_name: &str) -> Result<State, StateError> {
    let name = source_name.to_owned();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::Empty { source_name: name });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            let hint = if bytes.starts_with(b"\0GITCRYPT") {
                "; it is encrypted with git-crypt — run `git-crypt unlock` first".to_owned()
            } else {
                String::new()
            };
            return Err(StateError::Binary {
                source_name: name,
                hint,
            });
        }
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let looks_like_tfvars = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.contains(" = ") || l.trim_start().starts_with('#'));
        StateError::NotJson {
            source_name: name.clone(),
            message: e.to_string(),
            hint: if looks_like_tfvars {
                "; it looks like a .tfvars file saved under a state file's name".to_owned()
            } else {
                String::new()
            },
        }
    })?;
    let Some(obj) = value.as_object() else {
        return Err(StateError::Shape {
            source_name: name,
            message: "the top level is not a JSON object".to_owned(),
        });
    };
    if obj.contains_key("ID") && obj.contains_key("Operation") {
        return Err(StateError::LockRecord { source_name: name });
    }
    if obj.contains_key("backend") && !obj.contains_key("resources") {
        return Err(StateError::BackendConfig { source_name: name });
    }
    match obj.get("version").and_then(Value::as_u64) {
        Some(4) => {}
        Some(v) if v > 4 => {
            return Err(StateError::Shape {
                source_name: name,
                message: format!(
                    "state format version {v} is newer than the version 4 every Terraform since 0.12 writes; \
                     check the file came from Terraform or OpenTofu"
                ),
            })
        }
        Some(v) => {
            return Err(StateError::UnsupportedVersion {
                source_name: name,
                version: v.to_string(),
                terraform: obj
                    .get("terraform_version")
                    .and_then(Value::as_str)
                    .unwrap_or("of unknown version")
                    .to_owned(),
            })
        }
        None => {
            return Err(StateError::Shape {
                source_name: name,
                message: "no numeric `version` field".to_owned(),
            })
        }
    }
    let raw: RawState = serde_json::from_value(value).map_err(|e| StateError::Shape {
        source_name: name.clone(),
        message: e.to_string(),
    })?;
    let mut instances = Vec::new();
    for r in raw.resources {
        let mut base = String::new();
        if let Some(m) = &r.module {
            base.push_str(m);
            base.push('.');
        }
        if r.mode == "data" {
            base.push_str("data.");
        }
        base.push_str(&r.type_name);
        base.push('.');
        base.push_str(&r.name);
        for i in r.instances {
            let address = match &i.index_key {
                Some(Value::Number(n)) => format!("{base}[{n}]"),
                Some(Value::String(s)) => format!("{base}[{}]", Value::String(s.clone())),
                _ => base.clone(),
            };
            let attributes = i
                .attributes
                .into_iter()
                .filter(|(k, _)| IDENTIFYING.contains(&k.as_str()))
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect();
            instances.push(Instance {
                address,
                mode: r.mode.clone(),
                type_name: r.type_name.clone(),
                attributes,
            });
        }
    }
    Ok(State {
        terraform_version: raw.terraform_version,
        serial: raw.serial,
        lineage: raw.lineage,
        instances,
        outputs: raw.outputs.into_keys().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{
      "version": 4, "terraform_version": "1.9.8", "serial": 7, "lineage": "abc",
      "outputs": {"db": {"value": "x", "sensitive": true}},
      "resources": [
        {"mode": "managed", "type": "aws_ssm_parameter", "name": "token", "provider": "p",
         "instances": [{"schema_version": 0, "attributes": {"name": "/internal/service_token",
           "type": "SecureString", "value": "TOP-SECRET", "arn": "arn:aws:ssm:us-east-1:1:parameter/internal/service_token",
           "version": 3}, "sensitive_attributes": []}]},
        {"module": "module.api", "mode": "managed", "type": "aws_s3_bucket", "name": "b", "provider": "p",
         "instances": [{"index_key": "logs", "attributes": {"bucket": "acme-logs"}},
                       {"index_key": 0, "attributes": {"bucket": "acme-0"}}]},
        {"mode": "data", "type": "aws_caller_identity", "name": "me", "provider": "p",
         "instances": [{"attributes": {"account_id": "1"}}]}
      ]}"#;

    #[test]
    fn v4_state_keeps_addresses_and_identifying_attributes_only() {
        let s = parse_state(STATE.as_bytes(), "s3://b/k").unwrap();
        assert_eq!(
            (s.serial, s.lineage.as_str(), s.terraform_version.as_str()),
            (7, "abc", "1.9.8")
        );
        let addrs: Vec<_> = s.instances.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(
            addrs,
            [
                "aws_ssm_parameter.token",
                "module.api.aws_s3_bucket.b[\"logs\"]",
                "module.api.aws_s3_bucket.b[0]",
                "data.aws_caller_identity.me"
            ]
        );
        assert_eq!(s.instances[0].attr("type"), Some("SecureString"));
        assert!(s.instances[0].attr("value").is_none());
        assert!(!format!("{s:?}").contains("TOP-SECRET"));
        assert!(!s.instances[3].managed());
        assert_eq!(s.outputs, ["db"]);
    }

    #[test]
    fn non_states_are_named_for_what_they_are() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "is empty"),
            (b"\0GITCRYPT\0\x90\xff", "git-crypt"),
            (b"region = \"eu-west-1\"\nenv = \"dev\"\n", ".tfvars"),
            (
                br#"{"ID": "x", "Operation": "OperationTypeApply"}"#,
                "lock record",
            ),
            (
                br#"{"version": 3, "backend": {"type": "s3"}}"#,
                "backend configuration",
            ),
            (
                br#"{"version": 3, "terraform_version": "0.11.13", "modules": []}"#,
                "version 3 (written by Terraform 0.11.13)",
            ),
            (br#"[1, 2]"#, "not a JSON object"),
            (
                br#"{"version": 4, "resources": {"not": "a list"}}"#,
                "not a Terraform state",
            ),
        ];
        for (bytes, needle) in cases {
            let err = parse_state(bytes, "dir/terraform.tfstate")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("dir/terraform.tfstate"),
                "{err}"
            );
        }
    }
}
