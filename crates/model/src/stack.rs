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
    #[serde(deserialize_with = "crate::map::fitted_vec")]
    pub members: Vec<StackMember>,
    /// What the template declares, with identifying properties resolved through the resource list.
    /// Methods, deployments' stages and (in the emulator) authorizers and API Gateway v2 APIs have
    /// no usable physical id, so the template is the evidence that ties them to the stack.
    #[serde(deserialize_with = "crate::map::fitted_vec")]
    pub declared: Vec<Declared>,
    /// Per function logical id: environment variable name → keyed hash of the deployed value.
    #[ts(as = "BTreeMap<String, BTreeMap<String, String>>")]
    pub function_env: BTreeMap<String, crate::FlatMap<String>>,
    /// Why the template could not be read, if it could not.
    pub template_error: Option<String>,
    /// Parameters whose current value the deployed template holds, with where (an `ssm-read`
    /// even when no `serverless.yml` is at hand: a policy statement's `Resource`, a managed policy
    /// ARN, an event source, any property).
    #[serde(default, deserialize_with = "crate::map::fitted_vec")]
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

impl StackFacts {
    /// A stack as listed, before its resources, template or outputs are read.
    pub fn new(account_id: &str, region: &str, name: &str, id: String, status: &str) -> Self {
        StackFacts {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            id,
            status: status.to_owned(),
            description: None,
            outputs: Default::default(),
            tags: Default::default(),
            members: Vec::new(),
            declared: Vec::new(),
            function_env: Default::default(),
            template_error: None,
            parameter_reads: Vec::new(),
            value_paths: Vec::new(),
        }
    }
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
    #[ts(as = "BTreeMap<String, String>")]
    pub properties: crate::FlatMap<String>,
}

#[cfg(test)]
mod tests {
    use super::StackFacts;

    /// A stack's facts as stored before they were held compactly: read and written back, the JSON
    /// is the same, and every list holds no more room than its items.
    #[test]
    fn stored_stack_facts_read_back_unchanged_and_fitted() {
        let members: Vec<String> = (0..5)
            .map(|i| {
                format!(
                    r#"{{"logical_id":"Fn{i}","physical_id":"fn-{i}","type":"AWS::Lambda::Function","status":"CREATE_COMPLETE"}}"#
                )
            })
            .collect();
        let json = format!(
            r#"{{"account_id":"111111111111","region":"us-east-1","name":"orders-dev","id":"arn:aws:cloudformation:us-east-1:111111111111:stack/orders-dev/1","status":"UPDATE_COMPLETE","description":null,"outputs":{{"ServiceEndpoint":"https://x"}},"tags":{{"STAGE":"dev"}},"members":[{}],"declared":[{{"logical_id":"Method","type":"AWS::ApiGateway::Method","properties":{{"HttpMethod":"GET","RestApiId":"api1"}}}},{{"logical_id":"Deployment","type":"AWS::ApiGateway::Deployment","properties":{{}}}}],"function_env":{{"Fn0":{{"A_NAME":"hash-a","B_NAME":"hash-b"}}}},"template_error":null,"parameter_reads":[{{"parameter":"arn:aws:ssm:us-east-1:111111111111:parameter/dev/db","path":"Resources.Role"}}]}}"#,
            members.join(",")
        );
        let facts: StackFacts = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&facts).unwrap(), json);
        assert_eq!(facts.members.capacity(), 5);
        assert_eq!(facts.declared.capacity(), 2);
        assert_eq!(facts.parameter_reads.capacity(), 1);
        assert_eq!(
            facts.declared[0]
                .properties
                .get("RestApiId")
                .map(String::as_str),
            Some("api1")
        );
        // A record written before parameter reads were kept still reads.
        let older = json.replace(
            r#","parameter_reads":[{"parameter":"arn:aws:ssm:us-east-1:111111111111:parameter/dev/db","path":"Resources.Role"}]"#,
            "",
        );
        assert_ne!(older, json);
        let older: StackFacts = serde_json::from_str(&older).unwrap();
        assert!(older.parameter_reads.is_empty());
    }
}
