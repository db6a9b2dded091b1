//! Writes Terraform state (format v4) exactly as `terraform apply` with the S3 backend would leave it.
//!
//! Terraform cannot be installed here, so the sandbox records what it created through the AWS APIs as the
//! state file of each workspace, at the backend's real key layout (`<key>` for `default`,
//! `env:/<workspace>/<key>` for the others).

use serde_json::{json, Value};

/// The AWS provider address Terraform 1.x writes into state.
const AWS_PROVIDER: &str = "provider[\"registry.terraform.io/hashicorp/aws\"]";
pub const TERRAFORM_VERSION: &str = "1.9.8";

/// One resource block of a state: `module.api.aws_api_gateway_rest_api.main`, `aws_ssm_parameter.x[0]`.
#[derive(Debug, Clone)]
pub struct TfResource {
    pub module: Option<String>,
    pub data: bool,
    pub ty: String,
    pub name: String,
    /// `Some(i)` for a resource with `count`.
    pub index: Option<u32>,
    pub attributes: Value,
    /// Attribute names Terraform marks sensitive.
    pub sensitive: Vec<String>,
}

impl TfResource {
    pub fn managed(ty: &str, name: &str, attributes: Value) -> Self {
        TfResource {
            module: None,
            data: false,
            ty: ty.to_owned(),
            name: name.to_owned(),
            index: None,
            attributes,
            sensitive: Vec::new(),
        }
    }

    pub fn data(ty: &str, name: &str, attributes: Value) -> Self {
        TfResource {
            data: true,
            ..TfResource::managed(ty, name, attributes)
        }
    }

    pub fn in_module(mut self, module: &str) -> Self {
        self.module = Some(format!("module.{module}"));
        self
    }

    pub fn counted(mut self, index: u32) -> Self {
        self.index = Some(index);
        self
    }

    pub fn sensitive(mut self, attr: &str) -> Self {
        self.sensitive.push(attr.to_owned());
        self
    }

    /// The address Terraform prints: `module.api.aws_ssm_parameter.rest_api_id`.
    pub fn address(&self) -> String {
        let mut a = String::new();
        if let Some(m) = &self.module {
            a.push_str(m);
            a.push('.');
        }
        if self.data {
            a.push_str("data.");
        }
        a.push_str(&self.ty);
        a.push('.');
        a.push_str(&self.name);
        if let Some(i) = self.index {
            a.push_str(&format!("[{i}]"));
        }
        a
    }
}

/// The S3 object key of a workspace's state.
pub fn state_key(key: &str, workspace: &str) -> String {
    if workspace == "default" {
        key.to_owned()
    } else {
        format!("env:/{workspace}/{key}")
    }
}

/// A deterministic lineage (a UUID-shaped hash of the workspace), so re-seeding gives the same file.
fn lineage(workspace: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(format!("stagecraft-sandbox/{workspace}")));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Renders a v4 state. Resources sharing module/mode/type/name become one block with several instances.
pub fn render(workspace: &str, serial: u64, resources: &[TfResource], outputs: Value) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut keys: Vec<(Option<String>, bool, String, String)> = Vec::new();
    for r in resources {
        let key = (r.module.clone(), r.data, r.ty.clone(), r.name.clone());
        let sensitive: Vec<Value> = r
            .sensitive
            .iter()
            .map(|a| json!([{ "type": "get_attr", "value": a }]))
            .collect();
        let mut instance = json!({
            "schema_version": 0,
            "attributes": r.attributes,
            "sensitive_attributes": sensitive,
        });
        if let Some(i) = r.index {
            instance["index_key"] = json!(i);
        }
        if !r.data {
            instance["private"] = json!("bnVsbA==");
        }
        match keys.iter().position(|k| *k == key) {
            Some(i) => {
                if let Some(instances) = blocks[i]["instances"].as_array_mut() {
                    instances.push(instance);
                }
            }
            None => {
                let mut block = json!({
                    "mode": if r.data { "data" } else { "managed" },
                    "type": r.ty,
                    "name": r.name,
                    "provider": AWS_PROVIDER,
                    "instances": [instance],
                });
                if let Some(m) = &r.module {
                    block["module"] = json!(m);
                }
                if r.index.is_some() {
                    block["each"] = json!("list");
                }
                keys.push(key);
                blocks.push(block);
            }
        }
    }
    json!({
        "version": 4,
        "terraform_version": TERRAFORM_VERSION,
        "serial": serial,
        "lineage": lineage(workspace),
        "outputs": outputs,
        "resources": blocks,
        "check_results": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_keys_follow_terraform() {
        let r = TfResource::managed("aws_ssm_parameter", "payments_api_url", json!({})).counted(0);
        assert_eq!(r.address(), "aws_ssm_parameter.payments_api_url[0]");
        let d = TfResource::data("aws_lambda_function", "authorizer", json!({})).in_module("api");
        assert_eq!(
            d.address(),
            "module.api.data.aws_lambda_function.authorizer"
        );
        assert_eq!(
            state_key("core/terraform.tfstate", "default"),
            "core/terraform.tfstate"
        );
        assert_eq!(
            state_key("core/terraform.tfstate", "qa"),
            "env:/qa/core/terraform.tfstate"
        );
    }

    #[test]
    fn renders_v4_with_grouped_instances() {
        let rs = vec![
            TfResource::managed("aws_s3_bucket", "b", json!({"id": "one"})).counted(0),
            TfResource::managed("aws_s3_bucket", "b", json!({"id": "two"})).counted(1),
            TfResource::managed("aws_ssm_parameter", "p", json!({"id": "/p"})).sensitive("value"),
        ];
        let s = render("qa", 3, &rs, json!({}));
        assert_eq!(s["version"], 4);
        assert_eq!(s["resources"].as_array().map(Vec::len), Some(2));
        assert_eq!(s["resources"][0]["instances"][1]["index_key"], 1);
        assert_eq!(
            s["resources"][1]["instances"][0]["sensitive_attributes"][0][0]["value"],
            "value"
        );
        assert_eq!(s["lineage"], render("qa", 1, &[], json!({}))["lineage"]);
    }
}
