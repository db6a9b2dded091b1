//! The `spread` organization: laid out unlike the demo, the way many real ones are, so that a scan with
//! no `stagecraft.toml` can be checked against what was built.
//!
//! - Terraform state lives in a **tooling account** (`globex-tooling`, no stage), one key per stage and
//!   component without workspaces (`live/<stage>/core/terraform.tfstate`), with a lock table; the prod
//!   account keeps a state bucket of its own; one state spans both stage accounts.
//! - Stages are named by **account name** in one account (`globex-dev`) and by an **`Environment` tag**
//!   in the other (`globex-payments-live` → prod).
//! - prod runs a service in a **second region** (`reports` in eu-west-1) and keeps a Terraform DR table
//!   there.
//! - A **SAM** stack (`billing-dev`, named like a Serverless stack) and a **CDK** stack (`PaymentsStack`)
//!   must stay "other CloudFormation".
//! - Reads the demo does not have: a service's IAM policy statement and `ManagedPolicyArns` hold
//!   parameter values (template reads), and a Terraform state reads a parameter a Serverless stack
//!   writes (`data "aws_ssm_parameter"`).
//! - AWS Control Tower's **organization trail** delivers every account's events, every region, to a
//!   CloudWatch Logs group in the management account: refreshes read it once for the organization.

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::agent::{Agent, Sessions};
use super::seed::{built, create_role, create_table, new_organization, sdk, Seeded, SeededAccount};
use super::tfstate::{self, TfResource};
use crate::aws;
use crate::Error;

pub const TOOLING_ACCOUNT: &str = "globex-tooling";
pub const STATE_BUCKET: &str = "globex-tfstate";
pub const LOCK_TABLE: &str = "globex-tflock";
pub const PROD_STATE_BUCKET: &str = "globex-prod-tf";
pub const SECOND_REGION: &str = "eu-west-1";
/// The key whose lock is held while the sandbox runs (someone's `terraform apply`).
pub const LOCKED_KEY: &str = "live/dev/core/terraform.tfstate";

/// Builds the spread organization from the management account (`region` is the home region).
pub async fn seed(master: &SdkConfig, region: &str) -> Result<Seeded, Error> {
    // The organization and its accounts were made in the console; each write in a member names
    // the tool that made it.
    let by_hand = Agent::Console.acting(master);
    let (mut seeded, ou) = new_organization(&by_hand, "workloads").await?;
    let tooling = ou
        .account(&by_hand, TOOLING_ACCOUNT, "aws+tooling@globex.example", &[])
        .await?;
    let dev = ou
        .account(&by_hand, "globex-dev", "aws+dev@globex.example", &[])
        .await?;
    let prod = ou
        .account(
            &by_hand,
            "globex-payments-live",
            "aws+payments@globex.example",
            &[("Environment", "prod")],
        )
        .await?;
    seeded.state_bucket = STATE_BUCKET.into();
    seeded.state_key = LOCKED_KEY.into();
    let tooling_cfg = member(master, &tooling).await;
    let dev_cfg = member(master, &dev).await;
    let prod_cfg = member(master, &prod).await;
    // Control Tower's organization trail: every account's events in one log group.
    crate::seed::org_trail(
        &by_hand,
        &aws_sdk_s3::Client::new(&by_hand),
        &seeded.management_account_id,
        region,
    )
    .await?;

    // The state backend, made by hand; the lock is Terraform's.
    let s3 = aws_sdk_s3::Client::new(&tooling_cfg.acting(Agent::Console));
    sdk(
        s3.create_bucket().bucket(STATE_BUCKET).send().await,
        "s3:CreateBucket (state)",
    )?;
    let ddb = aws_sdk_dynamodb::Client::new(&tooling_cfg.acting(Agent::Console));
    create_table(&ddb, LOCK_TABLE, "LockID").await?;
    hold_lock(&aws_sdk_dynamodb::Client::new(
        &tooling_cfg.acting(Agent::Terraform),
    ))
    .await?;

    let mut iam_roles = Vec::new();
    for (stage, id, config) in [("dev", &dev, &dev_cfg), ("prod", &prod, &prod_cfg)] {
        let terraform = config.acting(Agent::Terraform);
        let mut core = Core::new(&terraform, stage, id, region);
        core.build().await?;
        if stage == "prod" {
            core.dr_table().await?;
        }
        put_state(
            &s3,
            STATE_BUCKET,
            &format!("live/{stage}/core/terraform.tfstate"),
            &core.tf,
        )
        .await?;
        deploy_api(config, stage, region, &core).await?;
        iam_roles.push(ci_role(&terraform, id).await?);
        seeded.terraform.insert(
            format!("live/{stage}/core"),
            core.tf.iter().map(TfResource::address).collect(),
        );
        seeded.accounts.push(SeededAccount {
            stage: stage.into(),
            id: id.clone(),
            name: if stage == "dev" {
                "globex-dev"
            } else {
                "globex-payments-live"
            }
            .into(),
        });
        seeded
            .stacks
            .insert(stage.into(), vec![format!("api-{stage}")]);
    }
    seeded.accounts.push(SeededAccount {
        stage: String::new(),
        id: tooling.clone(),
        name: TOOLING_ACCOUNT.into(),
    });
    // One state, two stage accounts: the CI role Terraform manages everywhere.
    put_state(
        &s3,
        STATE_BUCKET,
        "live/shared/iam/terraform.tfstate",
        &iam_roles,
    )
    .await?;

    // prod's edge: only an S3 bucket, whose ARN names no account: the key says the stage.
    let prod_s3 = aws_sdk_s3::Client::new(&prod_cfg.acting(Agent::Terraform));
    sdk(
        prod_s3
            .create_bucket()
            .bucket("globex-prod-assets")
            .send()
            .await,
        "s3:CreateBucket (assets)",
    )?;
    put_state(
        &s3,
        STATE_BUCKET,
        "live/prod/edge/terraform.tfstate",
        &[TfResource::managed(
            "aws_s3_bucket",
            "assets",
            json!({"id": "globex-prod-assets", "arn": "arn:aws:s3:::globex-prod-assets",
                   "bucket": "globex-prod-assets", "region": region}),
        )],
    )
    .await?;

    // prod, second region: the reports service writes the parameter a Terraform root reads.
    let eu = prod_cfg.in_region(SECOND_REGION);
    deploy_reports(&eu).await?;
    seeded
        .stacks
        .entry("prod".into())
        .or_default()
        .push("reports-prod".into());
    // prod's own state bucket: a root that reads /reports/bucket_name and grants a role on it.
    sdk(
        prod_s3
            .create_bucket()
            .bucket(PROD_STATE_BUCKET)
            .send()
            .await,
        "s3:CreateBucket (prod state)",
    )?;
    let reader = create_role(
        &prod_cfg.acting(Agent::Terraform),
        "globex-prod-reports-reader",
        "codebuild",
    )
    .await?;
    put_state(
        &prod_s3,
        PROD_STATE_BUCKET,
        "reports-consumer/terraform.tfstate",
        &[
            TfResource::managed("aws_iam_role", "reports_reader", reader),
            TfResource::data(
                "aws_ssm_parameter",
                "reports_bucket",
                json!({"id": "/reports/bucket_name", "name": "/reports/bucket_name",
                       "arn": format!("arn:aws:ssm:{SECOND_REGION}:{prod}:parameter/reports/bucket_name"),
                       "type": "String", "value": "globex-reports-prod-eu", "version": 1}),
            )
            .sensitive("value"),
        ],
    )
    .await?;

    // Other CloudFormation: a SAM application and a CDK app.
    create_stack(
        &dev_cfg.acting(Agent::Sam),
        "billing-dev",
        &json!({
            "Description": "billing: invoices (SAM)",
            "Resources": {"InvoicesTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": "billing-dev-invoices",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST"}}},
            "Metadata": {"AWS::ServerlessRepo::Application": {"Name": "billing"}}
        }),
        &[("lambda:createdBy", "SAM")],
    )
    .await?;
    create_stack(
        &prod_cfg.acting(Agent::Cdk),
        "PaymentsStack",
        &json!({
            "Resources": {"Ledger": {"Type": "AWS::DynamoDB::Table",
                "Metadata": {"aws:cdk:path": "PaymentsStack/Ledger/Resource"},
                "Properties": {
                    "TableName": "globex-prod-ledger",
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST"}}}
        }),
        &[],
    )
    .await?;
    seeded
        .stacks
        .entry("dev".into())
        .or_default()
        .push("billing-dev".into());
    seeded
        .stacks
        .entry("prod".into())
        .or_default()
        .push("PaymentsStack".into());
    Ok(seeded)
}

async fn member(master: &SdkConfig, id: &str) -> Sessions {
    let role = aws::role_arn(id, crate::config::DEFAULT_ASSUME_ROLE);
    Sessions::assume(master, &role).await
}

/// A stage's Terraform core: the orders table, its name and ARN in SSM, and a managed policy on it
/// whose ARN is exported too.
struct Core<'a> {
    config: &'a SdkConfig,
    stage: &'a str,
    account: &'a str,
    region: &'a str,
    tf: Vec<TfResource>,
    table_arn: String,
    policy_arn: String,
}

impl<'a> Core<'a> {
    fn new(config: &'a SdkConfig, stage: &'a str, account: &'a str, region: &'a str) -> Self {
        Core {
            config,
            stage,
            account,
            region,
            tf: Vec::new(),
            table_arn: String::new(),
            policy_arn: String::new(),
        }
    }

    fn table_name(&self) -> String {
        format!("globex-{}-orders", self.stage)
    }

    async fn build(&mut self) -> Result<(), Error> {
        let name = self.table_name();
        self.table_arn =
            create_table(&aws_sdk_dynamodb::Client::new(self.config), &name, "id").await?;
        self.tf.push(TfResource::managed(
            "aws_dynamodb_table",
            "orders",
            json!({"id": name, "arn": self.table_arn, "name": name, "hash_key": "id"}),
        ));
        let policy_name = format!("globex-{}-orders-rw", self.stage);
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": self.table_arn}]});
        self.policy_arn = sdk(
            aws_sdk_iam::Client::new(self.config)
                .create_policy()
                .policy_name(&policy_name)
                .policy_document(doc.to_string())
                .send()
                .await,
            "iam:CreatePolicy",
        )?
        .policy
        .and_then(|p| p.arn)
        .unwrap_or_default();
        self.tf.push(TfResource::managed(
            "aws_iam_policy",
            "orders_rw",
            json!({"id": self.policy_arn, "arn": self.policy_arn, "name": policy_name}),
        ));
        let (table_arn, policy_arn) = (self.table_arn.clone(), self.policy_arn.clone());
        self.parameter("orders_table_name", "/core/orders_table_name", &name)
            .await?;
        self.parameter("orders_table_arn", "/core/orders_table_arn", &table_arn)
            .await?;
        self.parameter("orders_policy_arn", "/core/orders_policy_arn", &policy_arn)
            .await
    }

    /// The disaster-recovery copy of the orders table in the second region.
    async fn dr_table(&mut self) -> Result<(), Error> {
        let name = format!("{}-dr", self.table_name());
        let eu = aws::in_region(self.config, SECOND_REGION);
        let arn = create_table(&aws_sdk_dynamodb::Client::new(&eu), &name, "id").await?;
        self.tf.push(TfResource::managed(
            "aws_dynamodb_table",
            "orders_dr",
            json!({"id": name, "arn": arn, "name": name, "hash_key": "id"}),
        ));
        Ok(())
    }

    async fn parameter(&mut self, tf_name: &str, name: &str, value: &str) -> Result<(), Error> {
        sdk(
            aws_sdk_ssm::Client::new(self.config)
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await,
            "ssm:PutParameter",
        )?;
        let arn = format!(
            "arn:aws:ssm:{}:{}:parameter{name}",
            self.region, self.account
        );
        self.tf.push(
            TfResource::managed(
                "aws_ssm_parameter",
                tf_name,
                json!({"id": name, "arn": arn, "name": name, "type": "String", "value": value}),
            )
            .sensitive("value"),
        );
        Ok(())
    }
}

/// The `api` service as `serverless deploy` leaves it: a role whose inline policy names the table ARN
/// and which attaches the exported policy, a function given the table name.
async fn deploy_api(
    config: &Sessions,
    stage: &str,
    region: &str,
    core: &Core<'_>,
) -> Result<(), Error> {
    let role = format!("api-{stage}-{region}-lambdaRole");
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The AWS CloudFormation template for this Serverless application",
        "Resources": {
            "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": format!("globex-api-{stage}-deploys")}},
            "IamRoleLambdaExecution": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": role,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
                "ManagedPolicyArns": [core.policy_arn],
                "Policies": [{"PolicyName": format!("api-{stage}-lambda"), "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": ["dynamodb:Query"], "Resource": [core.table_arn]}]}}]}},
            "ListLambdaFunction": list_function(stage, &core.table_name()),
        },
        "Outputs": {"ServerlessDeploymentBucketName": {"Value": {"Ref": "ServerlessDeploymentBucket"}}}
    });
    create_stack(
        &config.acting(Agent::Serverless),
        &format!("api-{stage}"),
        &template,
        &[("STAGE", stage)],
    )
    .await?;
    // moto's CloudFormation ignores ManagedPolicyArns: attach what the template declares, as
    // CloudFormation would.
    sdk(
        aws_sdk_iam::Client::new(&config.acting(Agent::Cloudformation))
            .attach_role_policy()
            .role_name(&role)
            .policy_arn(&core.policy_arn)
            .send()
            .await,
        "iam:AttachRolePolicy",
    )?;
    Ok(())
}

/// The `reports` service in the second region; it exports its bucket's name through SSM.
async fn deploy_reports(eu: &Sessions) -> Result<(), Error> {
    let bucket = "globex-reports-prod-eu";
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The AWS CloudFormation template for this Serverless application",
        "Resources": {
            "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": "globex-reports-prod-deploys"}},
            "ReportsBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "ReportsBucketParameter": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/reports/bucket_name", "Type": "String", "Value": bucket}},
            "IamRoleLambdaExecution": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": format!("reports-prod-{SECOND_REGION}-lambdaRole"),
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]}}},
            "BuildLambdaFunction": function("reports-prod-build", "build",
                json!({"BUCKET": {"Ref": "ReportsBucket"}})),
        },
        "Outputs": {"ServerlessDeploymentBucketName": {"Value": {"Ref": "ServerlessDeploymentBucket"}}}
    });
    create_stack(
        &eu.acting(Agent::Serverless),
        "reports-prod",
        &template,
        &[("STAGE", "prod")],
    )
    .await
}

/// dev's `list` function reserves 900 of the account's 1,000 concurrent executions: near the limit.
pub const DEV_RESERVED: u32 = 900;
/// prod's planted CloudFormation stack quota: its two us-east-1 stacks use all of it.
pub const PROD_STACK_LIMIT: u32 = 2;

fn list_function(stage: &str, table: &str) -> Value {
    let mut f = function(
        &format!("api-{stage}-list"),
        "list",
        json!({ "TABLE": table }),
    );
    if stage == "dev" {
        f["Properties"]["ReservedConcurrentExecutions"] = json!(DEV_RESERVED);
    }
    f
}

/// The emulator's per-account limits (`limits.json` beside it): prod's stack quota is planted low.
pub fn limits_file(seeded: &Seeded) -> Value {
    let prod = seeded
        .accounts
        .iter()
        .find(|a| a.stage == "prod")
        .map(|a| a.id.clone())
        .unwrap_or_default();
    json!({ prod: {"StackLimit": PROD_STACK_LIMIT} })
}

fn function(name: &str, handler: &str, env: Value) -> Value {
    json!({"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": name,
        "Handler": format!("handler.{handler}"),
        "Runtime": "nodejs20.x",
        "Role": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]},
        "Code": {"ZipFile": format!("exports.{handler} = async () => ({{ statusCode: 200 }});")},
        "Environment": {"Variables": env},
    }, "DependsOn": ["IamRoleLambdaExecution"]})
}

async fn create_stack(
    config: &SdkConfig,
    name: &str,
    template: &Value,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    use aws_sdk_cloudformation::types::{Capability, Tag};
    let mut req = aws_sdk_cloudformation::Client::new(config)
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .capabilities(Capability::CapabilityNamedIam);
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    sdk(
        req.send().await,
        &format!("cloudformation:CreateStack {name}"),
    )?;
    Ok(())
}

/// The CI deployer role of one stage account, as the shared IAM root manages it.
async fn ci_role(config: &SdkConfig, account: &str) -> Result<TfResource, Error> {
    let attrs = create_role(config, "globex-ci-deployer", "codebuild").await?;
    Ok(TfResource::managed(
        "aws_iam_role",
        &format!("ci_{account}"),
        attrs,
    ))
}

async fn put_state(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    resources: &[TfResource],
) -> Result<(), Error> {
    let body = tfstate::render(key, 3, resources, json!({}));
    let bytes = built(serde_json::to_vec_pretty(&body), "state JSON")?;
    sdk(
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(bytes.into())
            .send()
            .await,
        "s3:PutObject (state)",
    )?;
    Ok(())
}

/// Someone's `terraform apply` on dev's core holds the lock.
async fn hold_lock(ddb: &aws_sdk_dynamodb::Client) -> Result<(), Error> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let info = json!({"ID": "5b0c6f1e-0000-4000-8000-000000000001", "Operation": "OperationTypeApply",
        "Who": "dana@build-7", "Version": "1.5.7", "Created": "2026-12-01T09:30:00Z",
        "Path": format!("{STATE_BUCKET}/{LOCKED_KEY}")});
    sdk(
        ddb.put_item()
            .table_name(LOCK_TABLE)
            .item(
                "LockID",
                AttributeValue::S(format!("{STATE_BUCKET}/{LOCKED_KEY}")),
            )
            .item("Info", AttributeValue::S(info.to_string()))
            .send()
            .await,
        "dynamodb:PutItem (lock)",
    )?;
    Ok(())
}
