//! CloudFormation type names of the resources a scan reads, one module per service: the collectors
//! write them, ownership, links, the audit and the views match on them.

pub mod apigateway {
    pub const REST_API: &str = "AWS::ApiGateway::RestApi";
    pub const RESOURCE: &str = "AWS::ApiGateway::Resource";
    pub const METHOD: &str = "AWS::ApiGateway::Method";
    pub const STAGE: &str = "AWS::ApiGateway::Stage";
    pub const AUTHORIZER: &str = "AWS::ApiGateway::Authorizer";
    pub const GATEWAY_RESPONSE: &str = "AWS::ApiGateway::GatewayResponse";
    pub const DOMAIN: &str = "AWS::ApiGateway::DomainName";
    pub const BASE_PATH_MAPPING: &str = "AWS::ApiGateway::BasePathMapping";
    /// API Gateway shows an empty base path as `(none)`.
    pub const EMPTY_BASE_PATH: &str = "(none)";
}

pub mod apigatewayv2 {
    pub const API: &str = "AWS::ApiGatewayV2::Api";
    pub const STAGE: &str = "AWS::ApiGatewayV2::Stage";
    pub const DOMAIN: &str = "AWS::ApiGatewayV2::DomainName";
    pub const API_MAPPING: &str = "AWS::ApiGatewayV2::ApiMapping";
}

pub mod cloudformation {
    pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
}

pub mod dynamodb {
    pub const TYPE: &str = "AWS::DynamoDB::Table";
}

pub mod iam {
    pub const ROLE_TYPE: &str = "AWS::IAM::Role";
    pub const POLICY_TYPE: &str = "AWS::IAM::ManagedPolicy";
}

pub mod kms {
    pub const TYPE: &str = "AWS::KMS::Key";
}

pub mod lambda {
    pub const TYPE: &str = "AWS::Lambda::Function";
}

pub mod s3 {
    pub const TYPE: &str = "AWS::S3::Bucket";
}

pub mod secrets {
    pub const TYPE: &str = "AWS::SecretsManager::Secret";
}

pub mod ssm {
    pub const TYPE: &str = "AWS::SSM::Parameter";
}

/// The id Stagecraft gives an API Gateway object: the ARN form AWS documents for IAM policies.
pub fn apigateway_arn(region: &str, path: &str) -> String {
    format!("arn:aws:apigateway:{region}::{path}")
}
