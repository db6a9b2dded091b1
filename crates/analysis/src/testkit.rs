//! Small hand-built organizations for unit tests of the links, the graph and the audit: a report
//! with one account per stage, resources added one call each, services from real `serverless.yml`
//! text.

use serde_json::Value;

use crate::model::ValueHasher;
use crate::model::{
    Account, AccountStatus, Organization, Owner, Resource, ScanReport, ServerlessClaim,
    StageSource, TerraformClaim,
};
use crate::serverless::ServiceFile;

pub const REGION: &str = "us-east-1";

/// A report under construction.
#[derive(Debug)]
pub struct Org {
    pub report: ScanReport,
    pub hasher: ValueHasher,
}

/// The account id of a stage: dev 111…, qa 222…, prod 333…, anything else 999….
pub fn account(stage: &str) -> String {
    let digit = match stage {
        "dev" => '1',
        "qa" => '2',
        "prod" => '3',
        _ => '9',
    };
    std::iter::repeat_n(digit, 12).collect()
}

pub fn tf(stage: &str, address: &str) -> Owner {
    Owner::Terraform(TerraformClaim {
        address: address.into(),
        workspace: stage.into(),
        state: format!("s3://state/env:/{stage}/core.tfstate"),
        matched_by: "id".into(),
    })
}

pub fn sls(stage: &str, service: &str, logical: Option<&str>) -> Owner {
    Owner::Serverless(ServerlessClaim {
        service: service.into(),
        stage: stage.into(),
        stack: format!("{service}-{stage}"),
        logical_id: logical.map(str::to_owned),
        matched_by: "stack resources".into(),
    })
}

impl Org {
    pub fn new(stages: &[&str]) -> Org {
        let accounts = stages
            .iter()
            .map(|s| Account {
                id: account(s),
                name: format!("acme-{s}"),
                email: format!("{s}@acme.example"),
                parent_id: "ou-1".into(),
                ou_path: vec!["environments".into()],
                is_management: false,
                stage: Some((*s).to_owned()),
                stage_source: StageSource::Config,
                tags: Default::default(),
                status: AccountStatus::Ok,
                access: None,
                identity: None,
                error: None,
                collect_errors: Vec::new(),
                limits: Vec::new(),
                counts: Default::default(),
            })
            .collect();
        Org {
            report: ScanReport {
                profile: "master".into(),
                regions: vec![REGION.into()],
                organization: Organization {
                    id: "o-test".into(),
                    management_account_id: "000000000000".into(),
                    root_id: "r-1".into(),
                    ous: Vec::new(),
                },
                accounts,
                resources: Vec::new(),
                stacks: Vec::new(),
                terraform: Vec::new(),
                services: Vec::new(),
                declared: Vec::new(),
                warnings: Vec::new(),
                coverage: Default::default(),
                changes: Vec::new(),
                feed: Vec::new(),
                refreshed: false,
                started_at: "2026-11-29T00:00:00Z".into(),
                duration_ms: 1,
            },
            hasher: ValueHasher::new([3; 32]),
        }
    }

    /// Adds a resource of `stage`'s account; returns its id.
    pub fn add(
        &mut self,
        stage: &str,
        type_name: &str,
        id: &str,
        name: &str,
        owner: Owner,
        attrs: &[(&str, Value)],
    ) -> String {
        let region = if type_name.starts_with("AWS::IAM::") {
            "global"
        } else {
            REGION
        };
        let mut r = Resource::new(type_name, id.into(), name.into(), &account(stage), region);
        r.stage = Some(stage.into());
        r.owner = owner;
        for (k, v) in attrs {
            r.attr(k, v.clone());
        }
        self.report.resources.push(r);
        id.to_owned()
    }

    /// A String parameter as the SSM collector reports it (value and keyed hash).
    pub fn param(&mut self, stage: &str, name: &str, value: &str, owner: Owner) -> String {
        let id = format!("arn:aws:ssm:{REGION}:{}:parameter{name}", account(stage));
        let hash = self.hasher.hash(value);
        self.add(
            stage,
            crate::model::types::ssm::TYPE,
            &id,
            name,
            owner,
            &[
                ("parameter_type", "String".into()),
                ("value", value.into()),
                ("value_hash", hash.into()),
            ],
        )
    }

    /// A deployed stack resource `<service>-<stage>`.
    pub fn stack(&mut self, stage: &str, service: &str) -> String {
        let name = format!("{service}-{stage}");
        let id = format!(
            "arn:aws:cloudformation:{REGION}:{}:stack/{name}/1",
            account(stage)
        );
        self.add(
            stage,
            crate::model::types::cloudformation::STACK_TYPE,
            &id,
            &name,
            sls(stage, service, None),
            &[],
        )
    }

    /// A deployed function with its environment (values hashed as the Lambda collector does).
    pub fn function(
        &mut self,
        stage: &str,
        service: &str,
        key: &str,
        env: &[(&str, &str)],
    ) -> String {
        let name = format!("{service}-{stage}-{key}");
        let id = format!("arn:aws:lambda:{REGION}:{}:function:{name}", account(stage));
        let env: serde_json::Map<String, Value> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(self.hasher.hash(v))))
            .collect();
        let logical = format!("{}LambdaFunction", capitalise(key));
        self.add(
            stage,
            "AWS::Lambda::Function",
            &id,
            &name,
            sls(stage, service, Some(&logical)),
            &[("environment", Value::Object(env))],
        )
    }

    /// A service from `serverless.yml` text, resolved for `stage` with today's parameter values.
    pub fn service(&mut self, stage: &str, dir: &str, yaml: &str) {
        let path = std::path::PathBuf::from(format!("/work/acme/{dir}/serverless.yml"));
        let file = ServiceFile::parse(&path, yaml).expect("test serverless.yml parses");
        let acct = account(stage);
        let mut svc = file.resolve(Some(stage), Some(REGION), Some(&acct));
        let params: Vec<(String, Option<String>)> = self
            .report
            .resources
            .iter()
            .filter(|r| r.type_name == crate::model::types::ssm::TYPE && r.account_id == acct)
            .map(|r| (r.name.clone(), r.attr_str("value").map(str::to_owned)))
            .collect();
        let value_of = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.clone())
        };
        for f in &mut svc.functions {
            stagecraft_iac::serverless::expect_values(f, &value_of, &self.hasher);
        }
        self.report.services.push(svc);
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub const USERS_YML: &str = r#"
service: users
provider:
  name: aws
  runtime: nodejs20.x
  stage: ${opt:stage, 'dev'}
  apiGateway:
    restApiId: ${ssm:/api/rest_api_id}
  environment:
    DB_PW_NAME: ${ssm:/db_pw_name}
  iam:
    role:
      managedPolicies:
        - ${ssm:/db_pw_policy}
functions:
  list:
    handler: handler.list
    events:
      - http: GET users
"#;

/// Ids of the seam built by [`seam`] in one stage.
#[derive(Debug, Clone)]
pub struct Seam {
    pub secret: String,
    pub policy: String,
    pub api: String,
    pub db_pw_name: String,
    pub db_pw_policy: String,
    pub rest_api_id: String,
    pub stack: String,
    pub role: String,
    pub function: String,
    pub method: String,
}

/// The field write-up's seam in one stage: Terraform's secret, policy and REST API exported through
/// SSM; the `users` service reading them, deployed with today's values.
pub fn seam(org: &mut Org, stage: &str) -> Seam {
    let acct = account(stage);
    let secret = org.add(
        stage,
        "AWS::SecretsManager::Secret",
        &format!("arn:aws:secretsmanager:{REGION}:{acct}:secret:database_password-AbCdEf"),
        "database_password",
        tf(stage, "aws_secretsmanager_secret.database_password"),
        &[],
    );
    let policy = org.add(
        stage,
        "AWS::IAM::ManagedPolicy",
        &format!("arn:aws:iam::{acct}:policy/db_pw_policy"),
        "db_pw_policy",
        tf(stage, "aws_iam_policy.db_pw_policy"),
        &[],
    );
    let api_id = format!("api{stage}");
    let api = org.add(
        stage,
        "AWS::ApiGateway::RestApi",
        &format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}"),
        "acme-api",
        tf(stage, "module.api.aws_api_gateway_rest_api.main"),
        &[("api_id", api_id.clone().into())],
    );
    let db_pw_name = org.param(
        stage,
        "/db_pw_name",
        "database_password",
        tf(stage, "aws_ssm_parameter.db_pw_name"),
    );
    let db_pw_policy = org.param(
        stage,
        "/db_pw_policy",
        &policy.clone(),
        tf(stage, "aws_ssm_parameter.db_pw_policy"),
    );
    let rest_api_id = org.param(
        stage,
        "/api/rest_api_id",
        &api_id,
        tf(stage, "module.api.aws_ssm_parameter.rest_api_id"),
    );
    let stack = org.stack(stage, "users");
    let role = org.add(
        stage,
        "AWS::IAM::Role",
        &format!("arn:aws:iam::{acct}:role/users-{stage}-lambdaRole"),
        &format!("users-{stage}-lambdaRole"),
        sls(stage, "users", Some("IamRoleLambdaExecution")),
        &[("attached_policies", Value::from(vec![policy.clone()]))],
    );
    let function = org.function(
        stage,
        "users",
        "list",
        &[("DB_PW_NAME", "database_password")],
    );
    if let Some(f) = org.report.resources.last_mut() {
        f.attr("role", role.clone());
    }
    let method = org.add(
        stage,
        "AWS::ApiGateway::Method",
        &format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}/resources/r1/methods/GET"),
        "GET /users",
        sls(stage, "users", Some("ApiGatewayMethodUsersGet")),
        &[
            ("api_id", api_id.clone().into()),
            (
                "integration_uri",
                format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function}/invocations").into(),
            ),
        ],
    );
    // Terraform's default responses carry CORS headers, as they should.
    for ty in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        org.add(
            stage,
            "AWS::ApiGateway::GatewayResponse",
            &format!("{api}/gatewayresponses/{ty}"),
            ty,
            tf(stage, &format!("module.api.aws_api_gateway_gateway_response.{}", ty.to_lowercase())),
            &[
                ("api_id", api_id.clone().into()),
                ("response_type", ty.into()),
                (
                    "response_parameters",
                    serde_json::json!({"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}),
                ),
            ],
        );
    }
    org.service(stage, "services/users", USERS_YML);
    Seam {
        secret,
        policy,
        api,
        db_pw_name,
        db_pw_policy,
        rest_api_id,
        stack,
        role,
        function,
        method,
    }
}
