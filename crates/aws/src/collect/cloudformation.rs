//! CloudFormation: stacks (not DELETE_COMPLETE), their resource lists and what their templates declare.
//!
//! The resource list is how ownership reaches resources CloudFormation does not tag (IAM roles, API
//! Gateway methods). Templates can hold values resolved at deploy time — Serverless bakes `${ssm:…}`
//! values, SecureStrings included, into them — so a template is read in memory only: what is kept is
//! the method declarations and a keyed hash of each function's environment values.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::StackStatus;
use serde_json::Value;

use super::{failure, tag_map, timestamp, CollectError, Collected, Collector, Target};
use crate::model::Resource;
use stagecraft_model::limits::RegionLimits;
use stagecraft_model::FlatMap;
pub use stagecraft_model::{Declared, StackFacts, StackMember};

pub use stagecraft_model::types::cloudformation::STACK_TYPE;

pub const IDENTIFYING_PROPERTIES: [&str; 14] = [
    "RestApiId",
    "ResourceId",
    "HttpMethod",
    "Name",
    "StageName",
    "ApiId",
    "FunctionName",
    "RoleName",
    "TableName",
    "BucketName",
    "AuthorizerId",
    "AuthorizerUri",
    "ProtocolType",
    "ManagedPolicyName",
];

pub async fn collect(t: &Target<'_>) -> Result<Collected, CollectError> {
    let c = Collector::Cloudformation;
    let client = crate::client!(aws_sdk_cloudformation, t.config);
    // DescribeStacks without a name pages through every live stack with its outputs and tags: one
    // listing, not a listing plus a call per stack.
    // The stack quota is asked alongside.
    let stack_pages = async {
        client
            .describe_stacks()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "cloudformation:DescribeStacks", &e))
    };
    let (pages, account_limits): (Result<Vec<_>, _>, _) =
        futures::join!(stack_pages, client.describe_account_limits().send());
    let pages = pages?;
    let stacks: Vec<_> = pages
        .iter()
        .flat_map(|p| p.stacks())
        .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
        .cloned()
        .collect();

    let found = super::each(stacks, |stack| {
        let client = client.clone();
        async move {
            let name = stack.stack_name().unwrap_or_default().to_owned();
            let stack_ref = stack.stack_id().unwrap_or(&name).to_owned();
            let members = async {
                client
                    .list_stack_resources()
                    .stack_name(&stack_ref)
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| failure(c, t.region, "cloudformation:ListStackResources", &e))
            };
            let template = async {
                client
                    .get_template()
                    .stack_name(&stack_ref)
                    .send()
                    .await
                    .map_err(|e| failure(c, t.region, "cloudformation:GetTemplate", &e))
                    .and_then(|o| {
                        parse_template(o.template_body().unwrap_or_default()).map_err(|m| {
                            CollectError {
                                collector: c,
                                region: t.region.to_owned(),
                                code: stagecraft_model::ErrorCode::Template,
                                message: m,
                            }
                        })
                    })
            };
            // Independent of each other: one round trip for both.
            let (members, template) = futures::join!(members, template);
            let members: Vec<StackMember> = members?
                .iter()
                .flat_map(|p| p.stack_resource_summaries())
                .map(|r| StackMember {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    physical_id: r
                        .physical_resource_id()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    type_name: r.resource_type().unwrap_or_default().to_owned(),
                    status: r
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                })
                .collect();

            let mut facts = StackFacts {
                account_id: t.account_id.to_owned(),
                region: t.region.to_owned(),
                name: name.clone(),
                id: stack_ref.clone(),
                status: stack
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                description: stack.description().map(str::to_owned),
                outputs: stack
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect(),
                tags: tag_map(
                    stack
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?, t.value()?))),
                ),
                members,
                declared: Vec::new(),
                function_env: BTreeMap::new(),
                template_error: None,
                parameter_reads: Vec::new(),
                value_paths: Vec::new(),
            };
            match template {
                Ok(template) => read_template(&template, &mut facts, t.hasher),
                Err(e) => facts.template_error = Some(e.message),
            }

            let mut r = Resource::new(STACK_TYPE, facts.id.clone(), name, t.account_id, t.region);
            r.tags = facts.tags.clone();
            r.attr("status", facts.status.clone())
                .attr("description", facts.description.clone())
                .attr("created", timestamp(stack.creation_time()))
                .attr("updated", timestamp(stack.last_updated_time()))
                .attr("resource_count", facts.members.len())
                .attr(
                    "outputs",
                    serde_json::to_value(&facts.outputs).unwrap_or_default(),
                );
            Ok((r, facts))
        }
    })
    .await?;
    let mut out = Collected::default();
    let mut limits = RegionLimits {
        region: t.region.to_owned(),
        stacks: found.len() as u32,
        ..RegionLimits::default()
    };
    for (r, facts) in found {
        let n = facts.members.len() as u32;
        if n > limits.largest_stack_resources {
            limits.largest_stack = Some(facts.name.clone());
            limits.largest_stack_resources = n;
        }
        out.resources.push(r);
        out.stacks.push(facts);
    }
    match account_limits {
        Ok(o) => {
            limits.stack_limit = o
                .account_limits()
                .iter()
                .find(|l| l.name() == Some("StackLimit"))
                .and_then(|l| l.value())
                .and_then(|v| u32::try_from(v).ok())
        }
        Err(e) => limits.errors.push(format!(
            "cloudformation:DescribeAccountLimits: {}",
            crate::sdk_error::aws_message(&e)
        )),
    }
    out.limits.push(limits);
    Ok(out)
}

/// A template body as JSON; YAML templates (with short-form tags) are converted.
pub fn parse_template(body: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) => crate::serverless::yaml::parse_cfn_yaml(body).map_err(|yaml_err| {
            format!("template is neither JSON ({json_err}) nor YAML ({yaml_err})")
        }),
    }
}

fn read_template(template: &Value, facts: &mut StackFacts, hasher: &super::ValueHasher) {
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return;
    };
    let physical: BTreeMap<&str, &str> = facts
        .members
        .iter()
        .filter_map(|m| Some((m.logical_id.as_str(), m.physical_id.as_deref()?)))
        .collect();
    // A literal stays as is (a shared API's id baked in at package time); `{"Ref": X}` becomes X's
    // physical id. `!GetAtt X.RootResourceId` and other functions stay unresolved.
    let resolve = |v: &Value| -> Option<String> {
        if let Some(s) = v.as_str() {
            return Some(s.to_owned());
        }
        let logical = v.get("Ref")?.as_str()?;
        physical.get(logical).map(|s| (*s).to_owned())
    };
    let mut declared = Vec::new();
    let mut env = BTreeMap::new();
    for (logical, res) in resources {
        let type_name = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = res.get("Properties");
        let properties: FlatMap<String> = IDENTIFYING_PROPERTIES
            .iter()
            .filter_map(|key| {
                let v = props.and_then(|p| p.get(key)).and_then(&resolve)?;
                Some(((*key).to_owned(), v))
            })
            .collect();
        if type_name == "AWS::Lambda::Function" {
            let vars = props
                .and_then(|p| p.pointer("/Environment/Variables"))
                .and_then(Value::as_object);
            if let Some(vars) = vars {
                let hashed: FlatMap<String> = vars
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), hasher.hash(v.as_str()?))))
                    .collect();
                env.insert(logical.clone(), hashed);
            }
        }
        declared.push(Declared {
            logical_id: logical.clone(),
            type_name: type_name.to_owned(),
            properties,
        });
    }
    facts.declared = declared;
    facts.function_env = env;
    let mut paths = Vec::new();
    for section in ["Resources", "Outputs"] {
        if let Some(v) = template.get(section) {
            hash_strings(v, section.to_owned(), hasher, &mut paths);
        }
    }
    facts.value_paths = paths;
}

/// Template keys whose strings are structure or prose, never a value read from elsewhere: a URL
/// path part `orders` is not the parameter holding the table name `orders`.
const NOT_VALUES: [&str; 9] = [
    "Type",
    "DependsOn",
    "Condition",
    "Metadata",
    "Description",
    "PathPart",
    "HttpMethod",
    "Handler",
    "Runtime",
];

/// Every distinctive string under `v`, as (keyed hash, path): the scan matches them against the
/// account's parameter values, then drops them.
fn hash_strings(
    v: &Value,
    path: String,
    hasher: &super::ValueHasher,
    out: &mut Vec<(String, String)>,
) {
    match v {
        Value::String(s) if stagecraft_model::stack::distinctive(s) => {
            out.push((hasher.hash(s), path))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                hash_strings(item, format!("{path}[{i}]"), hasher, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if !NOT_VALUES.contains(&k.as_str()) {
                    hash_strings(item, format!("{path}.{k}"), hasher, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::ValueHasher;

    fn facts() -> StackFacts {
        StackFacts {
            account_id: "1".into(),
            region: "us-east-1".into(),
            name: "users-dev".into(),
            id: "arn".into(),
            status: "CREATE_COMPLETE".into(),
            description: None,
            outputs: BTreeMap::new(),
            tags: Default::default(),
            members: vec![StackMember {
                logical_id: "ApiGatewayResourceUsers".into(),
                physical_id: Some("res123".into()),
                type_name: "AWS::ApiGateway::Resource".into(),
                status: "CREATE_COMPLETE".into(),
            }],
            declared: Vec::new(),
            function_env: BTreeMap::new(),
            template_error: None,
            parameter_reads: Vec::new(),
            value_paths: Vec::new(),
        }
    }

    #[test]
    fn methods_resolve_through_the_resource_list_and_env_values_are_only_hashed() {
        let template = parse_template(
            r#"{"Resources": {
                "ApiGatewayMethodUsersGet": {"Type": "AWS::ApiGateway::Method",
                    "Properties": {"HttpMethod": "get", "RestApiId": "api42",
                                   "ResourceId": {"Ref": "ApiGatewayResourceUsers"}}},
                "ListLambdaFunction": {"Type": "AWS::Lambda::Function",
                    "Properties": {"Environment": {"Variables": {"DB_PW_NAME": "database_password",
                                                                 "TABLE": {"Ref": "T"}}}}}}}"#,
        )
        .unwrap();
        let mut f = facts();
        let h = ValueHasher::new([1; 32]);
        read_template(&template, &mut f, &h);
        let method = f
            .declared
            .iter()
            .find(|d| d.logical_id == "ApiGatewayMethodUsersGet")
            .unwrap();
        assert_eq!(method.type_name, "AWS::ApiGateway::Method");
        assert_eq!(
            method.properties.get("RestApiId").map(String::as_str),
            Some("api42")
        );
        assert_eq!(
            method.properties.get("ResourceId").map(String::as_str),
            Some("res123")
        );
        assert_eq!(
            method.properties.get("HttpMethod").map(String::as_str),
            Some("get")
        );
        let env = &f.function_env["ListLambdaFunction"];
        assert_eq!(env.len(), 1);
        assert_eq!(env.get("DB_PW_NAME"), Some(&h.hash("database_password")));
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("database_password"));
    }

    #[test]
    fn yaml_templates_with_short_tags_are_read() {
        let t = parse_template(
            "Resources:\n  M:\n    Type: AWS::ApiGateway::Method\n    Properties:\n      HttpMethod: POST\n      RestApiId: !Ref Api\n      ResourceId: !GetAtt Api.RootResourceId\n",
        )
        .unwrap();
        assert_eq!(
            t.pointer("/Resources/M/Properties/RestApiId/Ref"),
            Some(&Value::from("Api"))
        );
        assert!(parse_template("{ not: [json").is_err());
    }
}
