//! Serverless Framework services: each service's `serverless.yml` read from the workspace, resolved per
//! stage, and the recognition of deployed Serverless stacks.

pub mod service;
pub mod variables;
pub mod yaml;

pub use service::{expect_values, load_service, ServiceFile};
pub use stagecraft_model::serverless::{ResolvedService, ServiceFunction, VarRef};

use stagecraft_model::StackFacts;

/// The description the Serverless Framework gives every stack it deploys.
const SERVERLESS_DESCRIPTION: &str =
    "The AWS CloudFormation template for this Serverless application";

/// Why a stack is taken for a Serverless service, or `None`.
pub fn serverless_evidence(stack: &StackFacts) -> Option<&'static str> {
    if stack.outputs.contains_key("ServerlessDeploymentBucketName") {
        Some("ServerlessDeploymentBucketName output")
    } else if stack
        .description
        .as_deref()
        .is_some_and(|d| d.contains(SERVERLESS_DESCRIPTION))
    {
        Some("template description")
    } else if stack
        .declared
        .iter()
        .any(|d| d.logical_id == "ServerlessDeploymentBucket")
    {
        Some("ServerlessDeploymentBucket resource")
    } else {
        None
    }
}

/// A stack resource's logical id as it compares across stages: the Serverless Framework names the REST
/// API deployment `ApiGatewayDeployment<epoch ms>`, a new id on every deploy, so two stages deployed at
/// different times never share it.
pub fn stable_logical_id(logical_id: &str) -> &str {
    match logical_id.strip_prefix("ApiGatewayDeployment") {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => {
            "ApiGatewayDeployment"
        }
        _ => logical_id,
    }
}

/// `<service>-<stage>` → (service, stage), given the stages Stagecraft knows.
pub fn split_stack_name<'a>(stack: &'a str, stages: &[&str]) -> Option<(&'a str, &'a str)> {
    let (service, stage) = stack.rsplit_once('-')?;
    (!service.is_empty() && (stages.is_empty() || stages.contains(&stage)))
        .then_some((service, stage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_split_at_the_last_dash_into_service_and_stage() {
        assert_eq!(
            split_stack_name("api-users-qa", &["qa"]),
            Some(("api-users", "qa"))
        );
        assert_eq!(split_stack_name("auth-dev", &[]), Some(("auth", "dev")));
        assert_eq!(split_stack_name("auth-dev", &["qa"]), None);
        assert_eq!(split_stack_name("nodash", &[]), None);
    }
}
