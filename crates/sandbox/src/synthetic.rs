//! A synthetic snapshot of an organization of any size, with the demo org's shapes (Terraform core
//! exported through SSM, services of functions, methods, roles and stacks), built in memory without an
//! emulator. The graph benchmark opens the window on one; nothing else uses it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::collect::ValueHasher;
use crate::model::{
    Account, AccountStatus, OrgUnit, Organization, Owner, Resource, ScanReport, ServerlessClaim,
    StageSource, TerraformClaim,
};

const REGION: &str = "us-east-1";

/// How big: `stages` stages of `accounts` accounts each, each account with the stage's Terraform
/// core and `services` services of `functions` functions.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub stages: usize,
    /// Accounts per stage (a stage's accounts share its name: `acme-qa-7`).
    pub accounts: usize,
    pub services: usize,
    pub functions: usize,
}

impl Size {
    /// A size with about `nodes` graph nodes over three stages (four functions per service).
    pub fn about(nodes: usize) -> Size {
        // Per stage: 12 core nodes + 1 workspace node; per service: stack, role, bucket and
        // (function, method, resource) per function.
        let functions = 4;
        let per_service = 3 + 3 * functions;
        let stages = 3;
        let services = (nodes / stages)
            .saturating_sub(13)
            .div_ceil(per_service)
            .max(1);
        Size {
            stages,
            accounts: 1,
            services,
            functions,
        }
    }
}

fn stage_name(i: usize) -> String {
    match i {
        0 => "dev".into(),
        1 => "qa".into(),
        2 => "prod".into(),
        n => format!("stage{n}"),
    }
}

struct Builder {
    resources: Vec<Resource>,
    hasher: ValueHasher,
    /// The stage and account resources are added to.
    stage: String,
    account: String,
}

impl Builder {
    fn add(
        &mut self,
        type_name: &str,
        id: String,
        name: &str,
        owner: Owner,
        attrs: Value,
    ) -> String {
        let region = if type_name.starts_with("AWS::IAM::") {
            "global"
        } else {
            REGION
        };
        let mut r = Resource::new(type_name, id.clone(), name.into(), &self.account, region);
        r.stage = Some(self.stage.clone());
        r.owner = owner;
        if let Value::Object(m) = attrs {
            for (k, v) in m {
                r.attr(&k, v);
            }
        }
        self.resources.push(r);
        id
    }
}

fn tf(stage: &str, address: &str) -> Owner {
    Owner::Terraform(TerraformClaim {
        address: address.into(),
        workspace: stage.into(),
        state: format!("s3://acme-terraform-state/env:/{stage}/core/terraform.tfstate"),
        matched_by: "arn".into(),
    })
}

fn sls(stage: &str, service: &str, logical: Option<String>) -> Owner {
    Owner::Serverless(ServerlessClaim {
        service: service.into(),
        stage: stage.into(),
        stack: format!("{service}-{stage}"),
        logical_id: logical,
        matched_by: "stack resources".into(),
    })
}

/// The snapshot of a synthetic organization of `size`.
pub fn report(size: Size) -> ScanReport {
    let mut b = Builder {
        resources: Vec::new(),
        hasher: ValueHasher::new([9; 32]),
        stage: String::new(),
        account: String::new(),
    };
    let mut accounts = Vec::new();
    for s in 0..size.stages {
        let stage = stage_name(s);
        for copy in 0..size.accounts.max(1) {
            let acct = format!("{:012}", 100_000_000_000u64 + (s * 100_000 + copy) as u64);
            let name = if size.accounts > 1 {
                format!("acme-{stage}-{copy}")
            } else {
                format!("acme-{stage}")
            };
            accounts.push(Account {
                id: acct.clone(),
                email: format!("aws+{name}@acme.example"),
                name,
                parent_id: "ou-env".into(),
                ou_path: vec!["environments".into()],
                is_management: false,
                stage: Some(stage.clone()),
                stage_source: StageSource::Config,
                tags: BTreeMap::new(),
                status: AccountStatus::Ok,
                access: None,
                identity: None,
                error: None,
                collect_errors: Vec::new(),
                limits: Vec::new(),
                counts: BTreeMap::new(),
            });
            b.stage = stage.clone();
            b.account = acct.clone();
            stage_core_and_services(&mut b, &stage, &acct, size);
        }
    }
    let mut per_account: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &b.resources {
        *per_account.entry(r.account_id.as_str()).or_default() += 1;
    }
    for a in &mut accounts {
        let n = per_account.get(a.id.as_str()).copied().unwrap_or_default();
        a.counts.insert("resources".into(), n);
    }
    ScanReport {
        profile: "master".into(),
        regions: vec![REGION.into()],
        organization: Organization {
            id: "o-synthetic".into(),
            management_account_id: "000000000000".into(),
            root_id: "r-root".into(),
            ous: vec![OrgUnit {
                id: "ou-env".into(),
                name: "environments".into(),
                parent_id: "r-root".into(),
                path: vec!["environments".into()],
            }],
        },
        accounts,
        resources: b.resources,
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
        duration_ms: 0,
    }
}

fn stage_core_and_services(b: &mut Builder, stage: &str, acct: &str, size: Size) {
    let secret = b.add(
        "AWS::SecretsManager::Secret",
        format!("arn:aws:secretsmanager:{REGION}:{acct}:secret:database_password-AbCdEf"),
        "database_password",
        tf(stage, "aws_secretsmanager_secret.database_password"),
        json!({}),
    );
    let policy = format!("arn:aws:iam::{acct}:policy/db_pw_policy");
    b.add(
        "AWS::IAM::ManagedPolicy",
        policy.clone(),
        "db_pw_policy",
        tf(stage, "aws_iam_policy.db_pw_policy"),
        json!({}),
    );
    // API ids and bucket names are not scoped by account in their ARNs: each account's are its own.
    let api_id = format!("api{stage}{acct}");
    let api = b.add(
        "AWS::ApiGateway::RestApi",
        format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}"),
        "acme-api",
        tf(stage, "module.api.aws_api_gateway_rest_api.main"),
        json!({ "api_id": api_id }),
    );
    for t in ["users", "orders"] {
        b.add(
            "AWS::DynamoDB::Table",
            format!("arn:aws:dynamodb:{REGION}:{acct}:table/{t}"),
            t,
            tf(stage, &format!("aws_dynamodb_table.{t}")),
            json!({ "billing_mode": "PAY_PER_REQUEST" }),
        );
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value, address) in [
        (
            "/db_pw_name",
            "database_password".to_owned(),
            "aws_ssm_parameter.db_pw_name",
        ),
        (
            "/db_pw_policy",
            policy.clone(),
            "aws_ssm_parameter.db_pw_policy",
        ),
        (
            "/api/rest_api_id",
            api_id.clone(),
            "module.api.aws_ssm_parameter.rest_api_id",
        ),
        (
            "/users/table_name",
            "users_table_v1".to_owned(),
            "aws_ssm_parameter.users_table",
        ),
        (
            "/orders/table_name",
            "orders_table_v1".to_owned(),
            "aws_ssm_parameter.orders_table",
        ),
        (
            "/payments/api_url",
            format!("https://payments.{stage}.acme.example/v1"),
            "aws_ssm_parameter.payments_api_url",
        ),
    ] {
        let hash = b.hasher.hash(&value);
        b.add(
            crate::model::types::ssm::TYPE,
            format!("arn:aws:ssm:{REGION}:{acct}:parameter{name}"),
            name,
            tf(stage, address),
            json!({ "parameter_type": "String", "value": value, "value_hash": hash }),
        );
        params.push((name.to_owned(), hash));
    }
    let _ = (secret, api);

    for s in 0..size.services {
        let service = format!("svc{s:03}");
        let stack = format!("{service}-{stage}");
        b.add(
            crate::model::types::cloudformation::STACK_TYPE,
            format!("arn:aws:cloudformation:{REGION}:{acct}:stack/{stack}/1"),
            &stack,
            sls(stage, &service, None),
            json!({}),
        );
        let role = b.add(
            "AWS::IAM::Role",
            format!("arn:aws:iam::{acct}:role/{stack}-lambdaRole"),
            &format!("{stack}-lambdaRole"),
            sls(stage, &service, Some("IamRoleLambdaExecution".into())),
            json!({ "attached_policies": [policy] }),
        );
        b.add(
            "AWS::S3::Bucket",
            format!("arn:aws:s3:::{stack}-{acct}-deploymentbucket"),
            &format!("{stack}-{acct}-deploymentbucket"),
            sls(stage, &service, Some("ServerlessDeploymentBucket".into())),
            json!({}),
        );
        for f in 0..size.functions {
            let name = format!("{stack}-fn{f}");
            // Each function holds one parameter's current value: a read the graph links.
            let (var, hash) = &params[(s + f) % params.len()];
            let fn_arn = b.add(
                                "AWS::Lambda::Function",
                format!("arn:aws:lambda:{REGION}:{acct}:function:{name}"),
                &name,
                sls(stage, &service, Some(format!("Fn{f}LambdaFunction"))),
                json!({ "runtime": "nodejs20.x", "role": role, "environment": { var.trim_start_matches('/').replace('/', "_").to_uppercase(): hash } }),
            );
            let resource_id = format!("r{s}x{f}");
            b.add(
                "AWS::ApiGateway::Resource",
                format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}/resources/{resource_id}"),
                &format!("/{service}/fn{f}"),
                sls(stage, &service, Some(format!("ApiGatewayResource{s}x{f}"))),
                json!({ "api_id": api_id, "resource_id": resource_id }),
            );
            b.add(
                                "AWS::ApiGateway::Method",
                format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}/resources/{resource_id}/methods/GET"),
                &format!("GET /{service}/fn{f}"),
                sls(stage, &service, Some(format!("ApiGatewayMethod{s}x{f}Get"))),
                json!({ "api_id": api_id, "integration_uri": format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{fn_arn}/invocations") }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_of_many_accounts_gives_each_its_own_resources() {
        let r = report(Size {
            stages: 2,
            accounts: 3,
            services: 2,
            functions: 2,
        });
        assert_eq!(r.accounts.len(), 6);
        let ids: std::collections::BTreeSet<_> = r.resources.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), r.resources.len(), "every resource id is its own");
        let per = r.accounts[0].counts["resources"];
        assert!(per > 20, "{per}");
        for a in &r.accounts {
            assert_eq!(a.counts["resources"], per, "{}", a.name);
        }
        assert_eq!(r.accounts[4].name, "acme-qa-1");
        // Every account sits under the root or an OU the organization lists (the window groups by them).
        for a in &r.accounts {
            assert!(
                a.parent_id == r.organization.root_id
                    || r.organization.ous.iter().any(|ou| ou.id == a.parent_id),
                "{} under {}",
                a.name,
                a.parent_id
            );
        }
    }

    #[test]
    fn the_synthetic_org_has_about_the_asked_size_and_the_demo_links() {
        for target in [500, 5000] {
            let r = report(Size::about(target));
            let g = stagecraft_analysis::graph::Graph::build(&r);
            let nodes = g.node_count();
            assert!(
                nodes >= target && nodes < target + target / 5,
                "{target}: {nodes} nodes"
            );
            let links = g.link_count();
            assert!(links > nodes, "{target}: {links} links for {nodes} nodes");
            let kinds: std::collections::BTreeSet<_> = g.links().map(|l| l.kind).collect();
            for k in [
                stagecraft_analysis::link::LinkKind::SsmWrite,
                stagecraft_analysis::link::LinkKind::SsmRead,
                stagecraft_analysis::link::LinkKind::Names,
                stagecraft_analysis::link::LinkKind::StackMember,
                stagecraft_analysis::link::LinkKind::Integration,
            ] {
                assert!(kinds.contains(&k), "{k}");
            }
        }
    }
}
