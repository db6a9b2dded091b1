//! The collectors a scan runs, and how one failed on an account.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The collectors, in the order a scan runs them. `Iam` and `S3` are account-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Collector {
    Cloudformation,
    Lambda,
    Apigateway,
    Apigatewayv2,
    Ssm,
    Secretsmanager,
    Dynamodb,
    Kms,
    /// The tags of the resource types in [`tags::SWEPT`], one sweep per account and region.
    Tags,
    Iam,
    S3,
}

impl Collector {
    pub const REGIONAL: [Collector; 9] = [
        Collector::Cloudformation,
        Collector::Lambda,
        Collector::Apigateway,
        Collector::Apigatewayv2,
        Collector::Ssm,
        Collector::Secretsmanager,
        Collector::Dynamodb,
        Collector::Kms,
        Collector::Tags,
    ];
    pub const GLOBAL: [Collector; 2] = [Collector::Iam, Collector::S3];

    pub fn name(self) -> &'static str {
        match self {
            Collector::Cloudformation => "cloudformation",
            Collector::Lambda => "lambda",
            Collector::Apigateway => "apigateway",
            Collector::Apigatewayv2 => "apigatewayv2",
            Collector::Ssm => "ssm",
            Collector::Secretsmanager => "secretsmanager",
            Collector::Dynamodb => "dynamodb",
            Collector::Kms => "kms",
            Collector::Tags => "tags",
            Collector::Iam => "iam",
            Collector::S3 => "s3",
        }
    }

    /// The collector that reads resources of a CloudFormation type (`AWS::Lambda::Function`, …).
    pub fn of_type(type_name: &str) -> Option<Collector> {
        let service = type_name.strip_prefix("AWS::")?.split("::").next()?;
        Some(match service {
            "CloudFormation" => Collector::Cloudformation,
            "Lambda" => Collector::Lambda,
            "ApiGateway" => Collector::Apigateway,
            "ApiGatewayV2" => Collector::Apigatewayv2,
            "SSM" => Collector::Ssm,
            "SecretsManager" => Collector::Secretsmanager,
            "DynamoDB" => Collector::Dynamodb,
            "KMS" => Collector::Kms,
            "IAM" => Collector::Iam,
            "S3" => Collector::S3,
            _ => return None,
        })
    }

    /// The collectors that read what a CloudTrail event of `source` (`lambda.amazonaws.com`) can
    /// change; none for a service no collector reads. API Gateway's v1 and v2 share one source.
    pub fn for_event_source(source: &str) -> &'static [Collector] {
        match source.strip_suffix(".amazonaws.com").unwrap_or(source) {
            "cloudformation" => &[Collector::Cloudformation],
            "lambda" => &[Collector::Lambda],
            "apigateway" => &[Collector::Apigateway, Collector::Apigatewayv2],
            "ssm" => &[Collector::Ssm],
            "secretsmanager" => &[Collector::Secretsmanager],
            "dynamodb" => &[Collector::Dynamodb],
            "kms" => &[Collector::Kms],
            "tagging" => &[Collector::Tags],
            "iam" => &[Collector::Iam],
            "s3" => &[Collector::S3],
            _ => &[],
        }
    }

    pub fn is_global(self) -> bool {
        Collector::GLOBAL.contains(&self)
    }
}

/// A collector that failed on an account: which one, where, and why.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct CollectError {
    pub collector: Collector,
    pub region: String,
    /// `access_denied`, `expired_credentials`, `throttled`, `timeout`, `unreachable`, `template` or
    /// `aws`.
    pub code: crate::ErrorCode,
    /// The AWS operation and the service's own message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::Collector;

    #[test]
    fn every_collected_type_and_event_source_maps_back_to_its_collector() {
        for c in Collector::REGIONAL.iter().chain(Collector::GLOBAL.iter()) {
            let source = format!("{}.amazonaws.com", c.name());
            let mapped = Collector::for_event_source(&source);
            if *c == Collector::Apigatewayv2 {
                // v2's events come from apigateway.amazonaws.com.
                assert!(mapped.is_empty());
                assert!(Collector::for_event_source("apigateway.amazonaws.com").contains(c));
            } else if *c == Collector::Tags {
                assert!(Collector::for_event_source("tagging.amazonaws.com").contains(c));
            } else {
                assert!(mapped.contains(c), "{source}");
            }
        }
        assert_eq!(
            Collector::of_type("AWS::ApiGatewayV2::Stage"),
            Some(Collector::Apigatewayv2)
        );
        assert_eq!(
            Collector::of_type("AWS::ApiGateway::Stage"),
            Some(Collector::Apigateway)
        );
        assert_eq!(Collector::of_type("AWS::EC2::Instance"), None);
        assert!(Collector::for_event_source("ec2.amazonaws.com").is_empty());
    }
}
