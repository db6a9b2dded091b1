//! Seeds the sandbox organization through the public AWS APIs, as Terraform and the Serverless Framework
//! would have left it, and records what it planted.
//!
//! The demo org follows the field write-up: a management account holding the Terraform state bucket, an
//! `environments` OU with one account per stage, Terraform owning the core of each stage and the
//! Serverless services deployed as CloudFormation stacks `<service>-<stage>`. The same generator, with a
//! larger [`SeedSpec`], builds benchmark organizations.
//!
//! moto's CloudFormation lacks a few resource types Serverless emits (`AWS::ApiGateway::Authorizer`,
//! `AWS::ApiGatewayV2::*`) and ignores `ManagedPolicyArns` on roles. The templates still declare them, as
//! Serverless would; the seeder then creates the missing pieces through their own service APIs (tagging
//! them with the `aws:cloudformation:*` tags CloudFormation would add where the service takes tags).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agent::{Agent, Sessions};
use super::services::{self, Service};
use super::tfstate::{self, TfResource};
use crate::aws;
use crate::error::aws_message;
use crate::Error;

/// Every secret value the sandbox stores contains this marker, so tests can prove none leaks.
pub const SECRET_MARKER: &str = "STAGECRAFT-TEST-SECRET";
/// The S3 backend key of the demo's Terraform root module (`examples/infra`).
pub const STATE_KEY: &str = "core/terraform.tfstate";
pub const STATE_BUCKET: &str = "acme-terraform-state";
pub const LOCK_TABLE: &str = "acme-terraform-locks";
pub const ORG_UNIT: &str = "environments";

/// The shape of the organization to build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedSpec {
    /// One member account per stage.
    pub stages: Vec<String>,
    pub region: String,
    /// Generic API services added beside `auth`, `users` and `orders` (for benchmark orgs).
    pub extra_services: usize,
    /// Extra functions per service beyond each service's own (for benchmark orgs).
    pub extra_functions: usize,
    /// Plant the problems later checks must find (off for a clean org).
    pub plant_problems: bool,
    /// How the organization is laid out; the other fields apply to the demo layout.
    #[serde(default)]
    pub shape: Shape,
    /// An organization trail in the management account delivering every account's events to a
    /// CloudWatch Logs group, as AWS Control Tower sets one up ([`ORG_TRAIL`], [`ORG_TRAIL_GROUP`]).
    /// The spread layout always has one.
    #[serde(default)]
    pub org_trail: bool,
}

/// The organization trail's name and log group when [`SeedSpec::org_trail`] is set: AWS Control
/// Tower's.
pub const ORG_TRAIL: &str = "aws-controltower-BaselineCloudTrail";
pub const ORG_TRAIL_GROUP: &str = "aws-controltower/CloudTrailLogs";

/// Organization layouts the sandbox can build.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The field write-up's layout: state in the management account, a workspace per stage, one
    /// region, stages tagged, the planted problems.
    #[default]
    Demo,
    /// State in a tooling account under per-stage keys, a second region, SAM and CDK stacks, reads
    /// in both directions, stages named by tag in one account and by name in another
    /// (`crates/sandbox/src/shape.rs`).
    Spread,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec {
            stages: vec!["dev".into(), "qa".into(), "prod".into()],
            region: aws::FALLBACK_REGION.into(),
            extra_services: 0,
            extra_functions: 0,
            plant_problems: true,
            shape: Shape::Demo,
            org_trail: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeededAccount {
    pub stage: String,
    pub id: String,
    pub name: String,
}

impl Seeded {
    /// (stage, account id) of each stage account: the profiles `sandbox up` writes (accounts without
    /// a stage, such as a tooling account, are reached by assuming the organization's role).
    pub fn stage_profiles(&self) -> Vec<(String, String)> {
        self.accounts
            .iter()
            .filter(|a| !a.stage.is_empty())
            .map(|a| (a.stage.clone(), a.id.clone()))
            .collect()
    }
}

/// A problem the seeder planted on purpose, for the audit, deletion and drift checks to find.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Planted {
    /// A short stable kind: `pending_secret`, `pending_kms_key`, `unread_parameter`, `missing_parameter`,
    /// `stale_deployment`, `ownership_conflict`, `unmanaged_bucket`, `own_authorizer`,
    /// `missing_base_path_mapping`.
    pub kind: String,
    pub stage: String,
    /// The resource's ARN, id or name.
    pub resource: String,
    pub note: String,
}

/// What was built: read by the tests instead of hard-coding ids (member ids are random per run).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seeded {
    pub organization_id: String,
    pub management_account_id: String,
    pub ou_id: String,
    pub accounts: Vec<SeededAccount>,
    pub state_bucket: String,
    pub state_key: String,
    /// Stack names per stage.
    pub stacks: BTreeMap<String, Vec<String>>,
    /// Terraform addresses per workspace, as written to state.
    pub terraform: BTreeMap<String, Vec<String>>,
    pub planted: Vec<Planted>,
}

/// An IAM role `service` (`lambda`, `codebuild`) may take, created through `config`; its
/// attributes as Terraform's state records an `aws_iam_role`.
pub(crate) async fn create_role(
    config: &SdkConfig,
    name: &str,
    service: &str,
) -> Result<serde_json::Value, Error> {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": format!("{service}.amazonaws.com")}, "Action": "sts:AssumeRole"}]});
    let role = sdk(
        aws_sdk_iam::Client::new(config)
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await,
        "iam:CreateRole",
    )?
    .role
    .ok_or_else(|| Error::Sandbox(format!("CreateRole returned no role for {name}")))?;
    Ok(json!({"id": name, "name": name, "arn": role.arn, "unique_id": role.role_id}))
}

pub(crate) fn sdk<T, E>(
    r: Result<T, SdkError<E, stagecraft_aws::sdk_error::HttpResponse>>,
    what: &str,
) -> Result<T, Error>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    r.map_err(|e| Error::Sandbox(format!("seeding: {what}: {}", aws_message(&e))))
}

pub(crate) fn built<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, Error> {
    r.map_err(|e| Error::Sandbox(format!("seeding: building {what}: {e}")))
}

/// A new organization's root and its one OU, where accounts are created.
pub(crate) struct NewOrg {
    root: String,
    ou_id: String,
}

/// Creates the organization (all features) with one OU under the root.
pub(crate) async fn new_organization(
    master: &SdkConfig,
    ou_name: &str,
) -> Result<(Seeded, NewOrg), Error> {
    let orgs = aws_sdk_organizations::Client::new(master);
    let org = sdk(
        orgs.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await,
        "organizations:CreateOrganization",
    )?
    .organization
    .ok_or_else(|| Error::Sandbox("CreateOrganization returned nothing".into()))?;
    let root = sdk(orgs.list_roots().send().await, "organizations:ListRoots")?
        .roots
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|r| r.id)
        .ok_or_else(|| Error::Sandbox("the new organization has no root".into()))?;
    let ou_id = sdk(
        orgs.create_organizational_unit()
            .parent_id(&root)
            .name(ou_name)
            .send()
            .await,
        "organizations:CreateOrganizationalUnit",
    )?
    .organizational_unit
    .and_then(|ou| ou.id)
    .unwrap_or_default();
    let seeded = Seeded {
        organization_id: org.id.unwrap_or_default(),
        management_account_id: org.master_account_id.unwrap_or_default(),
        ou_id: ou_id.clone(),
        ..Seeded::default()
    };
    Ok((seeded, NewOrg { root, ou_id }))
}

impl NewOrg {
    /// Creates a member account with `tags` and moves it into the OU; returns its id.
    pub(crate) async fn account(
        &self,
        master: &SdkConfig,
        name: &str,
        email: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, Error> {
        let orgs = aws_sdk_organizations::Client::new(master);
        let mut req = orgs.create_account().email(email).account_name(name);
        for (k, v) in tags {
            req = req.tags(built(
                aws_sdk_organizations::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build(),
                "tag",
            )?);
        }
        let status = sdk(req.send().await, "organizations:CreateAccount")?
            .create_account_status
            .ok_or_else(|| Error::Sandbox("CreateAccount returned no status".into()))?;
        let id = status.account_id.ok_or_else(|| {
            Error::Sandbox(format!("CreateAccount for {name} returned no account id"))
        })?;
        sdk(
            orgs.move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(&self.ou_id)
                .send()
                .await,
            "organizations:MoveAccount",
        )?;
        Ok(id)
    }
}

/// Builds the organization described by `spec` using the management account's SDK config.
/// Builds the demo layout (the shape module builds the others).
pub async fn seed(master: &SdkConfig, spec: &SeedSpec) -> Result<Seeded, Error> {
    // The organization, its accounts and the state backend were made by hand in the console.
    // (Members are reached from `master` itself: each write there names its own tool.)
    let by_hand = Agent::Console.acting(master);
    let (mut seeded, org) = new_organization(&by_hand, ORG_UNIT).await?;
    seeded.state_bucket = STATE_BUCKET.into();
    seeded.state_key = STATE_KEY.into();
    for stage in &spec.stages {
        let name = format!("acme-{stage}");
        let id = org
            .account(
                &by_hand,
                &name,
                &format!("aws+{stage}@acme.example"),
                &[("Stage", stage)],
            )
            .await?;
        seeded.accounts.push(SeededAccount {
            stage: stage.clone(),
            id,
            name,
        });
    }

    // The management account: the state bucket and the lock table of the S3 backend.
    let s3 = aws_sdk_s3::Client::new(&by_hand);
    sdk(
        s3.create_bucket().bucket(STATE_BUCKET).send().await,
        "s3:CreateBucket",
    )?;
    let ddb = aws_sdk_dynamodb::Client::new(&by_hand);
    create_table(&ddb, LOCK_TABLE, "LockID").await?;
    // The default workspace exists but holds nothing: every stage has its own workspace.
    put_state(&s3, "default", 1, &[]).await?;
    if spec.org_trail {
        org_trail(&by_hand, &s3, &seeded.management_account_id, &spec.region).await?;
    }

    for account in seeded.accounts.clone() {
        let role = aws::role_arn(&account.id, crate::config::DEFAULT_ASSUME_ROLE);
        let member = aws::assume_role(master, &role).await;
        let sessions = Sessions::assume(master, &role).await;
        let stage = StageSeeder::new(&member, &sessions, spec, &account).await?;
        let out = stage.run().await?;
        put_state(&s3, &account.stage, 7, &out.terraform).await?;
        seeded.terraform.insert(
            account.stage.clone(),
            out.terraform.iter().map(TfResource::address).collect(),
        );
        seeded.stacks.insert(account.stage.clone(), out.stacks);
        seeded.planted.extend(out.planted);
        // What happened after the last `terraform apply`: someone deleted a secret by hand.
        for action in out.after_apply {
            action.apply(&sessions).await?;
        }
    }
    Ok(seeded)
}

/// AWS Control Tower's organization trail: every account's events, every region, delivered to a
/// log group in the management account (and to a bucket, which nothing here reads).
pub async fn org_trail(
    config: &SdkConfig,
    s3: &aws_sdk_s3::Client,
    management: &str,
    region: &str,
) -> Result<(), Error> {
    let bucket = format!("aws-controltower-logs-{management}-{region}");
    sdk(
        s3.create_bucket().bucket(&bucket).send().await,
        "s3:CreateBucket",
    )?;
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    sdk(
        logs.create_log_group()
            .log_group_name(ORG_TRAIL_GROUP)
            .send()
            .await,
        "logs:CreateLogGroup",
    )?;
    let trails = aws_sdk_cloudtrail::Client::new(config);
    sdk(
        trails
            .create_trail()
            .name(ORG_TRAIL)
            .s3_bucket_name(&bucket)
            .is_organization_trail(true)
            .is_multi_region_trail(true)
            .include_global_service_events(true)
            .cloud_watch_logs_log_group_arn(format!(
                "arn:aws:logs:{region}:{management}:log-group:{ORG_TRAIL_GROUP}:*"
            ))
            .cloud_watch_logs_role_arn(format!(
                "arn:aws:iam::{management}:role/aws-controltower-CloudWatchLogsRole"
            ))
            .send()
            .await,
        "cloudtrail:CreateTrail",
    )?;
    sdk(
        trails.start_logging().name(ORG_TRAIL).send().await,
        "cloudtrail:StartLogging",
    )?;
    Ok(())
}

async fn put_state(
    s3: &aws_sdk_s3::Client,
    workspace: &str,
    serial: u64,
    resources: &[TfResource],
) -> Result<(), Error> {
    let body = tfstate::render(workspace, serial, resources, json!({}));
    let bytes = built(serde_json::to_vec_pretty(&body), "state JSON")?;
    sdk(
        s3.put_object()
            .bucket(STATE_BUCKET)
            .key(tfstate::state_key(STATE_KEY, workspace))
            .content_type("application/json")
            .body(bytes.into())
            .send()
            .await,
        "s3:PutObject (state)",
    )?;
    Ok(())
}

pub(crate) async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
) -> Result<String, Error> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let out = sdk(
        ddb.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(built(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build(),
                "key schema",
            )?)
            .attribute_definitions(built(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
                "attribute definition",
            )?)
            .send()
            .await,
        "dynamodb:CreateTable",
    )?;
    Ok(out
        .table_description
        .and_then(|t| t.table_arn)
        .unwrap_or_default())
}

/// The function Terraform owns in each stage of the demo (`infra/rotation.tf`).
pub fn rotation_function(stage: &str) -> String {
    format!("acme-{stage}-rotate-db-password")
}

/// Changes made after Terraform last wrote state (so state still describes the old world).
enum AfterApply {
    DeleteSecret { name: String, days: i64 },
}

impl AfterApply {
    async fn apply(self, sessions: &Sessions) -> Result<(), Error> {
        match self {
            AfterApply::DeleteSecret { name, days } => {
                // Someone in the console.
                sdk(
                    aws_sdk_secretsmanager::Client::new(&sessions.acting(Agent::Console))
                        .delete_secret()
                        .secret_id(&name)
                        .recovery_window_in_days(days)
                        .send()
                        .await,
                    "secretsmanager:DeleteSecret",
                )?;
            }
        }
        Ok(())
    }
}

struct StageOutput {
    terraform: Vec<TfResource>,
    stacks: Vec<String>,
    planted: Vec<Planted>,
    after_apply: Vec<AfterApply>,
}

/// Seeds one stage account: Terraform core, then the services, then Terraform's post-deploy part.
struct StageSeeder<'a> {
    /// The account as each tool writes it.
    sessions: &'a Sessions,
    spec: &'a SeedSpec,
    stage: &'a str,
    account_id: &'a str,
    region: &'a str,
    tf: Vec<TfResource>,
    planted: Vec<Planted>,
    after_apply: Vec<AfterApply>,
    /// Current SSM values, as the services' `${ssm:…}` resolve them at deploy time.
    params: BTreeMap<String, String>,
}

impl<'a> StageSeeder<'a> {
    async fn new(
        config: &'a SdkConfig,
        sessions: &'a Sessions,
        spec: &'a SeedSpec,
        account: &'a SeededAccount,
    ) -> Result<StageSeeder<'a>, Error> {
        let who = aws::caller_identity(config).await.map_err(|e| {
            Error::Sandbox(format!(
                "seeding {}: sts:GetCallerIdentity: {e}",
                account.stage
            ))
        })?;
        if who.account != account.id {
            return Err(Error::Sandbox(format!(
                "seeding {}: assumed role acts in {} instead of {}",
                account.stage, who.account, account.id
            )));
        }
        Ok(StageSeeder {
            sessions,
            spec,
            stage: &account.stage,
            account_id: &account.id,
            region: &spec.region,
            tf: Vec::new(),
            planted: Vec::new(),
            after_apply: Vec::new(),
            params: BTreeMap::new(),
        })
    }

    fn plant(&mut self, kind: &str, resource: impl Into<String>, note: impl Into<String>) {
        if self.spec.plant_problems {
            self.planted.push(Planted {
                kind: kind.into(),
                stage: self.stage.into(),
                resource: resource.into(),
                note: note.into(),
            });
        }
    }

    /// This stage's account, written with `agent`'s `User-Agent`.
    fn acting(&self, agent: Agent) -> SdkConfig {
        self.sessions.acting(agent)
    }

    fn planting(&self, stage: &str) -> bool {
        self.spec.plant_problems && self.stage == stage
    }

    async fn run(mut self) -> Result<StageOutput, Error> {
        // Phase 1: `terraform apply` of the core.
        let secret_arn = self
            .secret(
                "database_password",
                "database_password",
                "Database password of the acme app",
            )
            .await?;
        self.secret(
            "legacy_api_key",
            "legacy_api_key",
            "API key of the legacy partner integration",
        )
        .await?;
        let policy_arn = self.db_pw_policy(&secret_arn).await?;
        self.parameter(None, "db_pw_policy", "/db_pw_policy", &policy_arn, None)
            .await?;
        self.parameter(None, "db_pw_name", "/db_pw_name", "database_password", None)
            .await?;
        for table in ["users", "orders"] {
            self.table(table).await?;
            self.parameter(
                None,
                &format!("{table}_table"),
                &format!("/{table}/table_name"),
                table,
                None,
            )
            .await?;
        }
        if self.planting("dev") {
            // Imported into Terraform while the auth stack still declares it: claimed by both.
            self.tf.push(TfResource::managed(
                "aws_dynamodb_table",
                "sessions",
                json!({ "id": "sessions", "name": "sessions", "hash_key": "id", "billing_mode": "PAY_PER_REQUEST",
                        "arn": format!("arn:aws:dynamodb:{}:{}:table/sessions", self.region, self.account_id) }),
            ));
            self.plant(
                "ownership_conflict",
                format!(
                    "arn:aws:dynamodb:{}:{}:table/sessions",
                    self.region, self.account_id
                ),
                "table `sessions` is in dev's Terraform state (imported) and in stack auth-dev",
            );
        }
        self.bucket(&format!("acme-{}-uploads", self.stage), Some("uploads"))
            .await?;
        self.kms_key().await?;
        self.rotation().await?;
        if self.spec.plant_problems {
            self.parameter(
                None,
                "feature_flags",
                "/legacy/feature_flags",
                "{\"checkout_v2\":false}",
                None,
            )
            .await?;
            self.plant(
                "unread_parameter",
                "/legacy/feature_flags",
                "written by Terraform, read by no service",
            );
        }
        self.secure_parameter("service_token", "/internal/service_token")
            .await?;
        let payments = self.spec.plant_problems && self.stage == "prod";
        if payments {
            self.plant("missing_parameter", "/payments/api_url",
                "services/orders reads ${ssm:/payments/api_url}; Terraform creates it in every workspace but prod");
        } else {
            self.parameter(
                None,
                "payments_api_url",
                "/payments/api_url",
                &format!("https://payments.{}.acme.example/v1", self.stage),
                Some(0),
            )
            .await?;
        }
        let api = self.rest_api().await?;

        // Phase 2: `serverless deploy` of each service, auth first.
        let mut stacks = Vec::new();
        let auth = Service::auth(self.spec.extra_functions);
        stacks.push(self.deploy(&auth, &api).await?);
        // Terraform wires the shared authorizer to the auth function (it must exist first).
        self.shared_authorizer(&api).await?;
        let users = Service::users(self.spec.extra_functions);
        stacks.push(self.deploy(&users, &api).await?);
        let orders = Service::orders(
            self.spec.extra_functions,
            !payments,
            self.spec.plant_problems,
        );
        stacks.push(self.deploy(&orders, &api).await?);
        self.own_authorizer(&api, &orders).await?;
        self.websocket_api(&orders).await?;
        for n in 0..self.spec.extra_services {
            let svc = Service::generic(n, self.spec.extra_functions);
            stacks.push(self.deploy(&svc, &api).await?);
        }

        if self.planting("qa") {
            // `terraform apply` changed the URL after orders was deployed: orders-qa still has v1 baked in.
            let v2 = "https://payments.qa.acme.example/v2";
            self.parameter(None, "payments_api_url", "/payments/api_url", v2, Some(0))
                .await?;
            self.plant(
                "stale_deployment",
                "/payments/api_url",
                "orders-qa's functions were deployed with .../v1; the parameter now holds .../v2",
            );
        }

        // Phase 3: Terraform post-deploy: the base path mapping needs the API stage phase 2 created.
        self.domain(&api).await?;

        // Hand-made and leftover things Terraform does not know.
        if self.planting("dev") {
            let bucket = format!("acme-{}-manual-exports", self.stage);
            self.bucket(&bucket, None).await?;
            self.plant(
                "unmanaged_bucket",
                format!("arn:aws:s3:::{bucket}"),
                "created by hand in the console",
            );
            let key = self.pending_kms_key().await?;
            self.plant("pending_kms_key", key, "scheduled for deletion in 7 days");
        }
        if self.planting("qa") {
            self.after_apply.push(AfterApply::DeleteSecret {
                name: "legacy_api_key".into(),
                days: 7,
            });
            self.plant("pending_secret", "legacy_api_key",
                "deleted by hand with a 7-day recovery window; infra/secrets.tf still declares it, so the next apply fails");
        }
        self.plant("own_authorizer", format!("orders-{}", self.stage),
            "services/orders declares its own authorizer for auth's `authorize` function instead of the shared one");

        Ok(StageOutput {
            terraform: self.tf,
            stacks,
            planted: self.planted,
            after_apply: self.after_apply,
        })
    }

    async fn secret(
        &mut self,
        tf_name: &str,
        name: &str,
        description: &str,
    ) -> Result<String, Error> {
        let sm = aws_sdk_secretsmanager::Client::new(&self.acting(Agent::Terraform));
        // The value is typed into the console by hand in the field setup; Terraform only owns the secret.
        let out = sdk(
            sm.create_secret()
                .name(name)
                .description(description)
                .secret_string(format!(
                    "{{\"password\":\"{SECRET_MARKER}-{}-{name}\"}}",
                    self.stage
                ))
                .send()
                .await,
            "secretsmanager:CreateSecret",
        )?;
        let arn = out.arn.unwrap_or_default();
        self.tf.push(TfResource::managed(
            "aws_secretsmanager_secret",
            tf_name,
            json!({ "id": arn, "arn": arn, "name": name, "description": description,
                    "recovery_window_in_days": 30, "kms_key_id": "", "tags": {}, "tags_all": {} }),
        ));
        Ok(arn)
    }

    async fn db_pw_policy(&mut self, secret_arn: &str) -> Result<String, Error> {
        let doc = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [secret_arn]}]})
        .to_string();
        let out = sdk(
            aws_sdk_iam::Client::new(&self.acting(Agent::Terraform))
                .create_policy()
                .policy_name("db_pw_policy")
                .description("Read the database password")
                .policy_document(&doc)
                .send()
                .await,
            "iam:CreatePolicy",
        )?;
        let policy = out
            .policy
            .ok_or_else(|| Error::Sandbox("CreatePolicy returned nothing".into()))?;
        let arn = policy.arn.unwrap_or_default();
        self.tf.push(TfResource::managed(
            "aws_iam_policy",
            "db_pw_policy",
            json!({ "id": arn, "arn": arn, "name": "db_pw_policy", "path": "/", "policy": doc,
                    "policy_id": policy.policy_id, "description": "Read the database password" }),
        ));
        Ok(arn)
    }

    async fn parameter(
        &mut self,
        module: Option<&str>,
        tf_name: &str,
        name: &str,
        value: &str,
        index: Option<u32>,
    ) -> Result<(), Error> {
        use aws_sdk_ssm::types::ParameterType;
        let out = sdk(
            aws_sdk_ssm::Client::new(&self.acting(Agent::Terraform))
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(ParameterType::String)
                .overwrite(true)
                .send()
                .await,
            "ssm:PutParameter",
        )?;
        self.params.insert(name.to_owned(), value.to_owned());
        let arn = format!(
            "arn:aws:ssm:{}:{}:parameter{name}",
            self.region, self.account_id
        );
        let mut r = TfResource::managed(
            "aws_ssm_parameter",
            tf_name,
            json!({ "id": name, "arn": arn, "name": name, "type": "String", "value": value,
                    "insecure_value": null, "version": out.version, "tier": "Standard", "data_type": "text",
                    "overwrite": null, "tags": {}, "tags_all": {} }),
        )
        .sensitive("value");
        if let Some(m) = module {
            r = r.in_module(m);
        }
        if let Some(i) = index {
            r = r.counted(i);
        }
        // Overwriting (a later apply) replaces the earlier instance in state.
        let address = r.address();
        self.tf.retain(|t| t.address() != address);
        self.tf.push(r);
        Ok(())
    }

    async fn secure_parameter(&mut self, tf_name: &str, name: &str) -> Result<(), Error> {
        use aws_sdk_ssm::types::ParameterType;
        let value = format!("{SECRET_MARKER}-{}-service-token", self.stage);
        let out = sdk(
            aws_sdk_ssm::Client::new(&self.acting(Agent::Terraform))
                .put_parameter()
                .name(name)
                .value(&value)
                .r#type(ParameterType::SecureString)
                .send()
                .await,
            "ssm:PutParameter (SecureString)",
        )?;
        let arn = format!(
            "arn:aws:ssm:{}:{}:parameter{name}",
            self.region, self.account_id
        );
        // Terraform keeps SecureString values in state in clear text; a reader must never copy them.
        self.tf.push(
            TfResource::managed(
                "aws_ssm_parameter",
                tf_name,
                json!({ "id": name, "arn": arn, "name": name, "type": "SecureString", "value": value,
                        "key_id": "alias/aws/ssm", "version": out.version, "tier": "Standard", "data_type": "text" }),
            )
            .sensitive("value"),
        );
        self.params.insert(name.to_owned(), value);
        Ok(())
    }

    async fn table(&mut self, name: &str) -> Result<(), Error> {
        let arn = create_table(
            &aws_sdk_dynamodb::Client::new(&self.acting(Agent::Terraform)),
            name,
            "id",
        )
        .await?;
        self.tf.push(TfResource::managed(
            "aws_dynamodb_table",
            name,
            json!({ "id": name, "arn": arn, "name": name, "hash_key": "id", "billing_mode": "PAY_PER_REQUEST",
                    "attribute": [{"name": "id", "type": "S"}] }),
        ));
        Ok(())
    }

    async fn bucket(&mut self, name: &str, tf_name: Option<&str>) -> Result<(), Error> {
        sdk(
            aws_sdk_s3::Client::new(&self.acting(if tf_name.is_some() {
                Agent::Terraform
            } else {
                Agent::Console
            }))
            .create_bucket()
            .bucket(name)
            .send()
            .await,
            "s3:CreateBucket",
        )?;
        if let Some(tf_name) = tf_name {
            self.tf.push(TfResource::managed(
                "aws_s3_bucket",
                tf_name,
                json!({ "id": name, "arn": format!("arn:aws:s3:::{name}"), "bucket": name,
                        "region": self.region, "force_destroy": false }),
            ));
        }
        Ok(())
    }

    async fn kms_key(&mut self) -> Result<(), Error> {
        let kms = aws_sdk_kms::Client::new(&self.acting(Agent::Terraform));
        let meta = sdk(
            kms.create_key().description("acme data key").send().await,
            "kms:CreateKey",
        )?
        .key_metadata
        .ok_or_else(|| Error::Sandbox("CreateKey returned no metadata".into()))?;
        sdk(
            kms.create_alias()
                .alias_name("alias/acme-data")
                .target_key_id(&meta.key_id)
                .send()
                .await,
            "kms:CreateAlias",
        )?;
        let arn = meta.arn.unwrap_or_default();
        self.tf.push(TfResource::managed(
            "aws_kms_key",
            "data",
            json!({ "id": meta.key_id, "key_id": meta.key_id, "arn": arn, "description": "acme data key",
                    "deletion_window_in_days": 30, "enable_key_rotation": false, "is_enabled": true }),
        ));
        self.tf.push(TfResource::managed(
            "aws_kms_alias",
            "data",
            json!({ "id": "alias/acme-data", "name": "alias/acme-data", "target_key_id": meta.key_id,
                    "target_key_arn": arn,
                    "arn": format!("arn:aws:kms:{}:{}:alias/acme-data", self.region, self.account_id) }),
        ));
        Ok(())
    }

    /// Terraform's own function (`infra/rotation.tf`): the database password's rotation, with its
    /// role.
    async fn rotation(&mut self) -> Result<(), Error> {
        use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
        let terraform = self.acting(Agent::Terraform);
        let role = create_role(
            &terraform,
            &format!("acme-{}-rotation", self.stage),
            "lambda",
        )
        .await?;
        let role_arn = role["arn"].as_str().unwrap_or_default().to_owned();
        self.tf
            .push(TfResource::managed("aws_iam_role", "rotation", role));
        let name = rotation_function(self.stage);
        // An empty zip archive (its end-of-central-directory record alone): the code is never run.
        let mut empty_zip = b"PK\x05\x06".to_vec();
        empty_zip.resize(22, 0);
        let function = sdk(
            aws_sdk_lambda::Client::new(&terraform)
                .create_function()
                .function_name(&name)
                .runtime(Runtime::Python312)
                .role(&role_arn)
                .handler("rotate.handler")
                .code(
                    FunctionCode::builder()
                        .zip_file(aws_smithy_types::Blob::new(empty_zip))
                        .build(),
                )
                .environment(
                    Environment::builder()
                        .variables("SECRET_ID", "database_password")
                        .build(),
                )
                .send()
                .await,
            "lambda:CreateFunction (rotation)",
        )?;
        self.tf.push(TfResource::managed(
            "aws_lambda_function",
            "rotate_db_password",
            json!({"id": name, "function_name": name, "arn": function.function_arn,
                   "role": role_arn, "handler": "rotate.handler", "runtime": "python3.12",
                   "filename": "rotation/rotate.zip",
                   "environment": [{"variables": {"SECRET_ID": "database_password"}}]}),
        ));
        Ok(())
    }

    async fn pending_kms_key(&mut self) -> Result<String, Error> {
        let kms = aws_sdk_kms::Client::new(&self.acting(Agent::Console));
        let meta = sdk(
            kms.create_key().description("old reports key").send().await,
            "kms:CreateKey",
        )?
        .key_metadata
        .ok_or_else(|| Error::Sandbox("CreateKey returned no metadata".into()))?;
        sdk(
            kms.schedule_key_deletion()
                .key_id(&meta.key_id)
                .pending_window_in_days(7)
                .send()
                .await,
            "kms:ScheduleKeyDeletion",
        )?;
        Ok(meta.arn.unwrap_or_default())
    }

    async fn rest_api(&mut self) -> Result<RestApi, Error> {
        use aws_sdk_apigateway::types::GatewayResponseType;
        let ag = aws_sdk_apigateway::Client::new(&self.acting(Agent::Terraform));
        let api = sdk(
            ag.create_rest_api()
                .name("acme-api")
                .description("API for our App")
                .send()
                .await,
            "apigateway:CreateRestApi",
        )?;
        let id = api.id.unwrap_or_default();
        let root = sdk(
            ag.get_resources().rest_api_id(&id).send().await,
            "apigateway:GetResources",
        )?
        .items
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.path.as_deref() == Some("/"))
        .and_then(|r| r.id)
        .ok_or_else(|| Error::Sandbox("the new REST API has no root resource".into()))?;
        let arn = format!("arn:aws:apigateway:{}::/restapis/{id}", self.region);
        self.tf.push(
            TfResource::managed(
                "aws_api_gateway_rest_api",
                "main",
                json!({ "id": id, "arn": arn, "name": "acme-api", "description": "API for our App",
                        "root_resource_id": root,
                        "execution_arn": format!("arn:aws:execute-api:{}:{}:{id}", self.region, self.account_id) }),
            )
            .in_module("api"),
        );
        self.parameter(Some("api"), "rest_api_id", "/api/rest_api_id", &id, None)
            .await?;
        self.parameter(
            Some("api"),
            "root_resource_id",
            "/api/root_resource_id",
            &root,
            None,
        )
        .await?;
        for (tf_name, ty) in [
            ("default_4xx", GatewayResponseType::Default4Xx),
            ("default_5xx", GatewayResponseType::Default5Xx),
        ] {
            let params = [
                ("gatewayresponse.header.Access-Control-Allow-Origin", "'*'"),
                ("gatewayresponse.header.Access-Control-Allow-Headers", "'*'"),
            ];
            let mut call = ag
                .put_gateway_response()
                .rest_api_id(&id)
                .response_type(ty.clone());
            for (k, v) in params {
                call = call.response_parameters(k, v);
            }
            sdk(call.send().await, "apigateway:PutGatewayResponse")?;
            self.tf.push(
                TfResource::managed(
                    "aws_api_gateway_gateway_response",
                    tf_name,
                    json!({ "id": format!("aggr-{id}-{}", ty.as_str()), "rest_api_id": id,
                            "response_type": ty.as_str(), "status_code": "",
                            "response_parameters": params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                            "response_templates": {} }),
                )
                .in_module("api"),
            );
        }
        Ok(RestApi { id, root })
    }

    async fn deploy(&mut self, service: &Service, api: &RestApi) -> Result<String, Error> {
        use aws_sdk_cloudformation::types::Capability;
        let stack = format!("{}-{}", service.name, self.stage);
        let template = services::template(
            service,
            self.stage,
            self.region,
            self.account_id,
            api.id.as_str(),
            api.root.as_str(),
            &self.params,
        );
        let cf = aws_sdk_cloudformation::Client::new(&self.acting(Agent::Serverless));
        sdk(
            cf.create_stack()
                .stack_name(&stack)
                .template_body(services::template_body(&template))
                .capabilities(Capability::CapabilityIam)
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await,
            "cloudformation:CreateStack",
        )?;
        let status = sdk(
            cf.describe_stacks().stack_name(&stack).send().await,
            "cloudformation:DescribeStacks",
        )?
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|s| s.stack_status)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
        if status != "CREATE_COMPLETE" {
            return Err(Error::Sandbox(format!("stack {stack} ended in {status}")));
        }
        // moto's CloudFormation ignores ManagedPolicyArns: attach what the template declares.
        let iam = aws_sdk_iam::Client::new(&self.acting(Agent::Cloudformation));
        for param in &service.role_policies {
            if let Some(arn) = self.params.get(param.as_str()) {
                sdk(
                    iam.attach_role_policy()
                        .role_name(services::role_name(service, self.stage, self.region))
                        .policy_arn(arn)
                        .send()
                        .await,
                    "iam:AttachRolePolicy",
                )?;
            }
        }
        Ok(stack)
    }

    fn authorizer_uri(&self, function: &str) -> String {
        format!(
            "arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/arn:aws:lambda:{r}:{a}:function:{function}/invocations",
            r = self.region,
            a = self.account_id
        )
    }

    async fn shared_authorizer(&mut self, api: &RestApi) -> Result<(), Error> {
        use aws_sdk_apigateway::types::AuthorizerType;
        let function = format!("auth-{}-authorize", self.stage);
        let uri = self.authorizer_uri(&function);
        let out = sdk(
            aws_sdk_apigateway::Client::new(&self.acting(Agent::Terraform))
                .create_authorizer()
                .rest_api_id(&api.id)
                .name("shared-authorizer")
                .r#type(AuthorizerType::Token)
                .authorizer_uri(&uri)
                .identity_source("method.request.header.Authorization")
                .send()
                .await,
            "apigateway:CreateAuthorizer",
        )?;
        let id = out.id.unwrap_or_default();
        let function_arn = format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            self.region, self.account_id
        );
        self.tf.push(
            TfResource::data(
                "aws_lambda_function",
                "authorizer",
                json!({ "id": function, "function_name": function, "arn": function_arn,
                        "invoke_arn": uri,
                        "qualified_arn": format!("{function_arn}:$LATEST") }),
            )
            .in_module("api"),
        );
        self.tf.push(
            TfResource::managed(
                "aws_api_gateway_authorizer",
                "main",
                json!({ "id": id, "rest_api_id": api.id, "name": "shared-authorizer", "type": "TOKEN",
                        "authorizer_uri": uri, "identity_source": "method.request.header.Authorization",
                        "authorizer_result_ttl_in_seconds": 300,
                        "arn": format!("arn:aws:apigateway:{}::/restapis/{}/authorizers/{id}", self.region, api.id) }),
            )
            .in_module("api"),
        );
        self.parameter(
            Some("api"),
            "authorizer_id",
            "/api/authorizer_id",
            &id,
            None,
        )
        .await
    }

    /// `authorizer: { arn: … }` on an http event makes Serverless create its own authorizer (situation 4).
    async fn own_authorizer(&mut self, api: &RestApi, service: &Service) -> Result<(), Error> {
        use aws_sdk_apigateway::types::AuthorizerType;
        let Some(name) = &service.own_authorizer else {
            return Ok(());
        };
        let uri = self.authorizer_uri(&format!("auth-{}-{name}", self.stage));
        sdk(
            aws_sdk_apigateway::Client::new(&self.acting(Agent::Cloudformation))
                .create_authorizer()
                .rest_api_id(&api.id)
                .name(name)
                .r#type(AuthorizerType::Token)
                .authorizer_uri(uri)
                .identity_source("method.request.header.Authorization")
                .send()
                .await,
            "apigateway:CreateAuthorizer (service)",
        )?;
        Ok(())
    }

    async fn websocket_api(&mut self, service: &Service) -> Result<(), Error> {
        use aws_sdk_apigatewayv2::types::ProtocolType;
        if service.websocket_routes.is_empty() {
            return Ok(());
        }
        let v2 = aws_sdk_apigatewayv2::Client::new(&self.acting(Agent::Cloudformation));
        let stack = format!("{}-{}", service.name, self.stage);
        let api = sdk(
            v2.create_api()
                .name(format!("{}-{}-websockets", self.stage, service.name))
                .protocol_type(ProtocolType::Websocket)
                .route_selection_expression("$request.body.action")
                .tags("aws:cloudformation:stack-name", &stack)
                .tags("aws:cloudformation:logical-id", "WebsocketsApi")
                .tags("STAGE", self.stage)
                .send()
                .await,
            "apigatewayv2:CreateApi",
        )?;
        let id = api.api_id.unwrap_or_default();
        for route in &service.websocket_routes {
            sdk(
                v2.create_route().api_id(&id).route_key(route).send().await,
                "apigatewayv2:CreateRoute",
            )?;
        }
        sdk(
            v2.create_stage()
                .api_id(&id)
                .stage_name(self.stage)
                .tags("aws:cloudformation:stack-name", &stack)
                .tags("aws:cloudformation:logical-id", "WebsocketsDeploymentStage")
                .send()
                .await,
            "apigatewayv2:CreateStage",
        )?;
        Ok(())
    }

    async fn domain(&mut self, api: &RestApi) -> Result<(), Error> {
        let ag = aws_sdk_apigateway::Client::new(&self.acting(Agent::Terraform));
        let domain = format!("api.{}.acme.example", self.stage);
        let cert = format!(
            "arn:aws:acm:{}:{}:certificate/acme-{}",
            self.region, self.account_id, self.stage
        );
        sdk(
            ag.create_domain_name()
                .domain_name(&domain)
                .regional_certificate_arn(&cert)
                .send()
                .await,
            "apigateway:CreateDomainName",
        )?;
        self.tf.push(
            TfResource::managed(
                "aws_api_gateway_domain_name",
                "main",
                json!({ "id": domain, "domain_name": domain, "regional_certificate_arn": cert,
                        "arn": format!("arn:aws:apigateway:{}::/domainnames/{domain}", self.region) }),
            )
            .in_module("api"),
        );
        if self.planting("prod") {
            self.plant("missing_base_path_mapping", domain.clone(),
                "api.prod.acme.example has no base path mapping: Terraform's post-deploy apply never ran in prod");
            // moto 5.2.5 answers GetBasePathMappings with a 500 for a domain that never had a mapping
            // (a KeyError), which real API Gateway does not; a mapping created and removed again leaves
            // the domain as AWS would show it: no mappings.
            sdk(
                ag.create_base_path_mapping()
                    .domain_name(&domain)
                    .rest_api_id(&api.id)
                    .base_path("removed")
                    .send()
                    .await,
                "apigateway:CreateBasePathMapping",
            )?;
            sdk(
                ag.delete_base_path_mapping()
                    .domain_name(&domain)
                    .base_path("removed")
                    .send()
                    .await,
                "apigateway:DeleteBasePathMapping",
            )?;
            return Ok(());
        }
        sdk(
            ag.create_base_path_mapping()
                .domain_name(&domain)
                .rest_api_id(&api.id)
                .stage(self.stage)
                .send()
                .await,
            "apigateway:CreateBasePathMapping",
        )?;
        self.tf.push(
            TfResource::managed(
                "aws_api_gateway_base_path_mapping",
                "main",
                json!({ "id": format!("{domain}/"), "api_id": api.id, "stage_name": self.stage,
                        "domain_name": domain, "base_path": "" }),
            )
            .in_module("api"),
        );
        Ok(())
    }
}

struct RestApi {
    id: String,
    root: String,
}
