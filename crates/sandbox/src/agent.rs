//! The tools that write the sandbox's organization, as CloudTrail tells them apart: by the
//! `User-Agent` each one sends. The seeder acts as Terraform for the core, as the Serverless CLI
//! for the deploys, as CloudFormation for what a stack creates and moto's CloudFormation cannot, and
//! as a person in the console for what was made by hand; the sandbox's proxy records each write
//! with that header, as CloudTrail does.

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A tool that writes to AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Terraform 1.0.3 with the AWS provider 3.x (the pinned version the tests run).
    Terraform,
    /// The Serverless Framework v3 (3.40), through the AWS SDK for JavaScript v2 it bundles, which
    /// adds no mark of its own.
    Serverless,
    /// CloudFormation creating a stack's resources on the stack's behalf.
    Cloudformation,
    /// The AWS SAM CLI.
    Sam,
    /// The AWS CDK CLI.
    Cdk,
    /// A person in the AWS console.
    Console,
}

impl Agent {
    /// The `User-Agent` the tool sends (as CloudTrail records it in `userAgent`).
    pub const fn user_agent(self) -> &'static str {
        match self {
            Agent::Terraform => {
                "APN/1.0 HashiCorp/1.0 Terraform/1.0.3 (+https://www.terraform.io) \
                 terraform-provider-aws/3.76.1 (+https://registry.terraform.io/providers/hashicorp/aws) \
                 aws-sdk-go/1.44.157 (go1.19.3; linux; amd64)"
            }
            // `aws-sdk` 2.1693.0 is what serverless 3.40.0's lock file installs.
            Agent::Serverless => "aws-sdk-nodejs/2.1693.0 linux/v18.20.4 promise",
            Agent::Cloudformation => "cloudformation.amazonaws.com",
            Agent::Sam => "aws-sam-cli/1.100.0 aws-sdk-python/1.34.0",
            Agent::Cdk => "aws-cdk/2.110.0 aws-sdk-nodejs/2.1500.0",
            Agent::Console => "console.amazonaws.com",
        }
    }

    /// `config`, sending this tool's `User-Agent` on every request.
    pub fn acting(self, config: &SdkConfig) -> SdkConfig {
        let inner = config
            .http_client()
            .unwrap_or_else(|| aws_smithy_http_client::Builder::new().build_http());
        config
            .clone()
            .into_builder()
            .http_client(SharedHttpClient::new(AgentClient {
                inner,
                user_agent: self.user_agent(),
            }))
            .build()
    }
}

#[derive(Debug)]
struct AgentClient {
    inner: SharedHttpClient,
    user_agent: &'static str,
}

impl HttpClient for AgentClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(AgentConnector {
            inner: self.inner.http_connector(settings, components),
            user_agent: self.user_agent,
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct AgentConnector {
    inner: SharedHttpConnector,
    user_agent: &'static str,
}

impl HttpConnector for AgentConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        // After signing: SigV4 leaves `User-Agent` out of the signed headers.
        request.headers_mut().insert("user-agent", self.user_agent);
        self.inner.call(request)
    }
}
