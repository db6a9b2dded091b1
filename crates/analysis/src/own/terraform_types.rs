//! How a Terraform resource type finds its live counterpart: the CloudFormation type name Stagecraft
//! files it under, and the attributes to match on, most specific first.

use crate::model::types::{
    apigateway, apigatewayv2, cloudformation, dynamodb, iam, kms, lambda, s3, secrets, ssm,
};
use crate::model::Resource;
use crate::terraform::Instance;

/// One way to recognise the live resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// The resource id (an ARN) exactly.
    Id(String),
    /// The end of an API Gateway id (`/restapis/x/stages/dev`), whatever the region.
    Path(String),
    Name(String),
    /// A collected attribute (`api_id`, `key_id`, …).
    Attr(&'static str, String),
}

impl Matcher {
    pub fn matches(&self, r: &Resource) -> bool {
        match self {
            Matcher::Id(id) => &r.id == id,
            Matcher::Path(p) => r.id.ends_with(&format!("::{p}")),
            Matcher::Name(n) => &r.name == n,
            Matcher::Attr(k, v) => r.attr_str(k) == Some(v.as_str()),
        }
    }

    /// The evidence word recorded in the claim.
    pub fn label(&self) -> &'static str {
        match self {
            Matcher::Id(_) => "arn",
            Matcher::Path(_) => "id",
            Matcher::Name(_) => "name",
            Matcher::Attr(k, _) => k,
        }
    }
}

/// The CloudFormation type and matchers for a state instance; `None` for types Stagecraft does not
/// collect (attachments, permissions, aliases, …).
pub fn cfn_type_of(inst: &Instance) -> Option<(&'static str, Vec<Matcher>)> {
    let a = |k: &str| inst.attr(k).map(str::to_owned);
    let mut m = Vec::new();
    let arn = a("arn");
    let push_arn = |m: &mut Vec<Matcher>| {
        if let Some(arn) = arn.clone() {
            m.push(Matcher::Id(arn));
        }
    };
    let ty = match inst.type_name.as_str() {
        "aws_lambda_function" => {
            push_arn(&mut m);
            m.extend(a("function_name").map(Matcher::Name));
            lambda::TYPE
        }
        "aws_iam_role" => {
            push_arn(&mut m);
            m.extend(a("name").map(Matcher::Name));
            iam::ROLE_TYPE
        }
        "aws_iam_policy" => {
            push_arn(&mut m);
            iam::POLICY_TYPE
        }
        "aws_ssm_parameter" => {
            push_arn(&mut m);
            m.extend(a("name").map(Matcher::Name));
            ssm::TYPE
        }
        "aws_secretsmanager_secret" => {
            push_arn(&mut m);
            m.extend(a("name").map(Matcher::Name));
            secrets::TYPE
        }
        "aws_dynamodb_table" => {
            push_arn(&mut m);
            m.extend(a("name").map(Matcher::Name));
            dynamodb::TYPE
        }
        "aws_s3_bucket" => {
            m.extend(
                a("bucket")
                    .or(a("id"))
                    .map(|b| Matcher::Id(format!("arn:aws:s3:::{b}"))),
            );
            s3::TYPE
        }
        "aws_kms_key" => {
            push_arn(&mut m);
            m.extend(a("key_id").or(a("id")).map(|k| Matcher::Attr("key_id", k)));
            kms::TYPE
        }
        "aws_cloudformation_stack" => {
            m.extend(a("id").map(Matcher::Id));
            m.extend(a("name").map(Matcher::Name));
            cloudformation::STACK_TYPE
        }
        "aws_api_gateway_rest_api" => {
            m.extend(a("id").map(|id| Matcher::Path(format!("/restapis/{id}"))));
            apigateway::REST_API
        }
        "aws_api_gateway_resource" => {
            m.extend(
                a("rest_api_id")
                    .zip(a("id"))
                    .map(|(api, id)| Matcher::Path(format!("/restapis/{api}/resources/{id}"))),
            );
            apigateway::RESOURCE
        }
        "aws_api_gateway_method" => {
            if let (Some(api), Some(res), Some(verb)) =
                (a("rest_api_id"), a("resource_id"), a("http_method"))
            {
                m.push(Matcher::Path(format!(
                    "/restapis/{api}/resources/{res}/methods/{verb}"
                )));
            }
            apigateway::METHOD
        }
        "aws_api_gateway_stage" => {
            m.extend(
                a("rest_api_id")
                    .zip(a("stage_name"))
                    .map(|(api, s)| Matcher::Path(format!("/restapis/{api}/stages/{s}"))),
            );
            apigateway::STAGE
        }
        "aws_api_gateway_authorizer" => {
            push_arn(&mut m);
            m.extend(
                a("rest_api_id")
                    .zip(a("id"))
                    .map(|(api, id)| Matcher::Path(format!("/restapis/{api}/authorizers/{id}"))),
            );
            apigateway::AUTHORIZER
        }
        "aws_api_gateway_gateway_response" => {
            m.extend(
                a("rest_api_id")
                    .zip(a("response_type"))
                    .map(|(api, t)| Matcher::Path(format!("/restapis/{api}/gatewayresponses/{t}"))),
            );
            apigateway::GATEWAY_RESPONSE
        }
        "aws_api_gateway_domain_name" => {
            m.extend(a("domain_name").map(|d| Matcher::Path(format!("/domainnames/{d}"))));
            apigateway::DOMAIN
        }
        "aws_api_gateway_base_path_mapping" => {
            let base = a("base_path").unwrap_or_else(|| apigateway::EMPTY_BASE_PATH.to_owned());
            m.extend(
                a("domain_name")
                    .map(|d| Matcher::Path(format!("/domainnames/{d}/basepathmappings/{base}"))),
            );
            apigateway::BASE_PATH_MAPPING
        }
        "aws_apigatewayv2_api" => {
            m.extend(a("id").map(|id| Matcher::Path(format!("/apis/{id}"))));
            apigatewayv2::API
        }
        "aws_apigatewayv2_stage" => {
            m.extend(
                a("api_id")
                    .zip(a("name"))
                    .map(|(api, s)| Matcher::Path(format!("/apis/{api}/stages/{s}"))),
            );
            apigatewayv2::STAGE
        }
        "aws_apigatewayv2_domain_name" => {
            m.extend(
                a("domain_name")
                    .or(a("id"))
                    .map(|d| Matcher::Path(format!("/domainnames/{d}"))),
            );
            apigateway::DOMAIN
        }
        "aws_apigatewayv2_api_mapping" => {
            m.extend(
                a("domain_name")
                    .zip(a("id"))
                    .map(|(d, id)| Matcher::Path(format!("/domainnames/{d}/apimappings/{id}"))),
            );
            apigatewayv2::API_MAPPING
        }
        _ => return None,
    };
    Some((ty, m))
}
