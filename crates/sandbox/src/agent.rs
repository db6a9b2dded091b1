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

/// Who writes a member account with each tool: its role assumed once per tool under the session
/// name that tool's runs carry, so the history says `session terraform` or `session dana` (a
/// person in the console), not the name of the tool that reads the history.
#[derive(Debug, Clone)]
pub struct Sessions {
    sessions: Vec<(&'static str, SdkConfig)>,
}

impl Sessions {
    /// `role_arn` assumed from `base` under each tool's session name.
    pub async fn assume(base: &SdkConfig, role_arn: &str) -> Sessions {
        let mut sessions = Vec::new();
        for name in [
            Agent::Terraform,
            Agent::Serverless,
            Agent::Sam,
            Agent::Cdk,
            Agent::Console,
        ]
        .map(Agent::session)
        {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name(name)
                .configure(base)
                .build()
                .await;
            let config = base
                .clone()
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
            sessions.push((name, config));
        }
        Sessions { sessions }
    }

    /// The account as `agent` writes it: its session, its `User-Agent`.
    pub fn acting(&self, agent: Agent) -> SdkConfig {
        let session = agent.session();
        let config = self
            .sessions
            .iter()
            .find(|(name, _)| *name == session)
            .map(|(_, c)| c)
            .unwrap_or(&self.sessions[0].1);
        agent.acting(config)
    }

    /// The same sessions in another region.
    pub fn in_region(&self, region: &str) -> Sessions {
        Sessions {
            sessions: self
                .sessions
                .iter()
                .map(|(n, c)| (*n, stagecraft_aws::credentials::in_region(c, region)))
                .collect(),
        }
    }
}

impl Agent {
    /// The role session a tool's runs carry (CloudFormation acts with its deployer's).
    const fn session(self) -> &'static str {
        match self {
            Agent::Terraform => "terraform",
            Agent::Serverless | Agent::Cloudformation => "serverless-deploy",
            Agent::Sam => "sam-deploy",
            Agent::Cdk => "cdk-deploy",
            Agent::Console => "dana",
        }
    }
}
