use serde_json::json;

use super::*;
use crate::model::{Claim, ServerlessClaim, TerraformClaim};
use crate::testkit::{account, seam, sls, tf, Org, Seam, REGION};

fn run(org: &Org) -> Vec<Finding> {
    audit(&org.report, &Graph::build(&org.report))
}

/// (rule, stage, message) of every finding.
fn summary(findings: &[Finding]) -> Vec<(String, String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f.rule.clone(),
                f.stage.clone().unwrap_or_default(),
                f.message.clone(),
            )
        })
        .collect()
}

fn two_stages() -> (Org, Seam, Seam) {
    let mut org = Org::new(&["dev", "qa"]);
    let dev = seam(&mut org, "dev");
    let qa = seam(&mut org, "qa");
    (org, dev, qa)
}

#[test]
fn a_healthy_organization_has_no_findings() {
    let (org, _, _) = two_stages();
    let findings = run(&org);
    assert!(findings.is_empty(), "{:#?}", summary(&findings));
}

#[test]
fn a_service_with_its_own_rest_api_is_reported_against_the_shared_one() {
    let (mut org, _, qa) = two_stages();
    let own = org.add(
        "qa",
        "AWS::ApiGateway::RestApi",
        &format!("arn:aws:apigateway:{REGION}::/restapis/ownapi"),
        "qa-users",
        sls("qa", "users", Some("ApiGatewayRestApi")),
        &[("api_id", "ownapi".into())],
    );
    let f = run(&org);
    assert_eq!(f.len(), 1, "{:#?}", summary(&f));
    assert_eq!(f[0].rule, "rest-api-not-shared");
    assert_eq!(f[0].stage.as_deref(), Some("qa"));
    assert_eq!(f[0].resources, [own, qa.api, qa.stack]);
    assert!(f[0]
        .message
        .contains("stack users-qa created its own REST API `qa-users`"));
}

#[test]
fn two_rest_apis_of_one_name_without_a_shared_one_were_created_twice() {
    let mut org = Org::new(&["dev"]);
    for id in ["a1", "a2"] {
        org.add(
            "dev",
            "AWS::ApiGateway::RestApi",
            &format!("arn:aws:apigateway:{REGION}::/restapis/{id}"),
            "acme-api",
            Owner::Unmanaged,
            &[("api_id", id.into())],
        );
    }
    let f: Vec<Finding> = run(&org)
        .into_iter()
        .filter(|f| f.rule == "rest-api-not-shared")
        .collect();
    assert_eq!(f.len(), 1);
    assert!(f[0].message.starts_with("2 REST APIs are named `acme-api`"));
}

fn domain(org: &mut Org, stage: &str) -> String {
    org.add(
        stage,
        "AWS::ApiGateway::DomainName",
        &format!("arn:aws:apigateway:{REGION}::/domainnames/api.{stage}.acme.example"),
        &format!("api.{stage}.acme.example"),
        tf(stage, "module.api.aws_api_gateway_domain_name.main"),
        &[],
    )
}

#[test]
fn a_domain_without_mapping_and_a_mapping_to_a_missing_stage_are_the_catch_22() {
    let (mut org, dev, qa) = two_stages();
    // dev: mapped to stage `dev`, which no deploy created yet.
    domain(&mut org, "dev");
    let mapping = org.add(
        "dev",
        "AWS::ApiGateway::BasePathMapping",
        &format!("arn:aws:apigateway:{REGION}::/domainnames/api.dev.acme.example/basepathmappings/(none)"),
        "api.dev.acme.example/",
        tf("dev", "module.api.aws_api_gateway_base_path_mapping.main"),
        &[
            ("api_id", "apidev".into()),
            ("stage", "dev".into()),
            ("domain_name", "api.dev.acme.example".into()),
        ],
    );
    // qa: no mapping at all.
    let qa_domain = domain(&mut org, "qa");
    let f: Vec<Finding> = run(&org);
    assert_eq!(
        summary(&f),
        [
            (
                "base-path-mapping".into(),
                "dev".into(),
                "Base path mapping `api.dev.acme.example/` points at stage `dev` of `acme-api`, which does not exist (yet)".into()
            ),
            (
                "base-path-mapping".into(),
                "qa".into(),
                "Custom domain `api.qa.acme.example` has no base path mapping: requests to it reach no API".into()
            ),
        ],
        "the missing mapping in qa is not also reported as stage drift"
    );
    assert_eq!(f[0].resources[..2], [mapping, dev.api]);
    assert_eq!(f[1].resources, [qa_domain]);
    assert!(f[1].fix.contains("Terraform → Serverless → Terraform"));
    let _ = qa;
}

#[test]
fn default_responses_without_cors_headers_are_reported_per_api() {
    let (mut org, dev, _) = two_stages();
    org.report.resources.retain(|r| {
        !(r.type_name == "AWS::ApiGateway::GatewayResponse"
            && r.stage.as_deref() == Some("dev")
            && r.name == "DEFAULT_5XX")
    });
    let r = org
        .report
        .resources
        .iter_mut()
        .find(|r| {
            r.type_name == "AWS::ApiGateway::GatewayResponse" && r.stage.as_deref() == Some("dev")
        })
        .unwrap();
    r.attributes.insert(
        "response_parameters".into(),
        json!({"gatewayresponse.header.Access-Control-Allow-Headers": "'*'"}),
    );
    let four = r.id.clone();
    let f = run(&org);
    assert_eq!(summary(&f).len(), 1, "{:#?}", summary(&f));
    assert_eq!(f[0].rule, "gateway-response-cors");
    assert_eq!(f[0].resources, [dev.api, four]);
    assert!(f[0]
        .message
        .starts_with("DEFAULT_4XX and DEFAULT_5XX of REST API `acme-api` have no Access-Control-Allow-Origin header"));
}

fn authorizer(org: &mut Org, stage: &str, name: &str, owner: Owner, function: &str) -> String {
    org.add(
        stage,
        "AWS::ApiGateway::Authorizer",
        &format!("arn:aws:apigateway:{REGION}::/restapis/api{stage}/authorizers/{name}"),
        name,
        owner,
        &[
            ("api_id", format!("api{stage}").into()),
            (
                "authorizer_uri",
                format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function}/invocations").into(),
            ),
        ],
    )
}

#[test]
fn a_second_authorizer_for_the_same_function_is_reported_with_the_shared_one_first() {
    let (mut org, dev, qa) = two_stages();
    authorizer(
        &mut org,
        "qa",
        "shared-authorizer",
        tf("qa", "module.api.aws_api_gateway_authorizer.main"),
        &qa.function,
    );
    let shared = authorizer(
        &mut org,
        "dev",
        "shared-authorizer",
        tf("dev", "module.api.aws_api_gateway_authorizer.main"),
        &dev.function,
    );
    let own = authorizer(
        &mut org,
        "dev",
        "authorize",
        sls("dev", "users", Some("AuthorizeApiGatewayAuthorizer")),
        &dev.function,
    );
    let f = run(&org);
    assert_eq!(f.len(), 1, "{:#?}", summary(&f));
    assert_eq!(f[0].rule, "duplicate-authorizer");
    assert_eq!(f[0].resources, [shared, own, dev.function]);
    assert!(f[0].fix.contains("In the service of users-dev"));
    assert!(f[0].fix.contains("authorizerId: ${ssm:/api/authorizer_id}"));
}

#[test]
fn a_role_attaching_its_own_policy_or_lacking_the_exported_one_bypasses_terraform() {
    let (mut org, dev, qa) = two_stages();
    let own = org.add(
        "dev",
        "AWS::IAM::ManagedPolicy",
        &format!("arn:aws:iam::{}:policy/users-secrets", account("dev")),
        "users-secrets",
        sls("dev", "users", Some("UsersSecretsPolicy")),
        &[],
    );
    for r in &mut org.report.resources {
        if r.id == dev.role {
            r.attributes
                .insert("attached_policies".into(), json!([own.clone()]));
        }
        if r.id == qa.role {
            r.attributes.insert("attached_policies".into(), json!([]));
        }
    }
    let f = run(&org);
    assert_eq!(
        f.iter()
            .map(|f| (f.rule.as_str(), f.stage.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("role-bypasses-exported-policy", Some("dev")),
            ("role-bypasses-exported-policy", Some("qa"))
        ],
        "{:#?}",
        summary(&f)
    );
    assert_eq!(f[0].resources, [dev.role.clone(), dev.stack, own]);
    assert!(f[0].message.contains(
        "attaches `users-secrets` instead of the policy Terraform exports (/db_pw_policy)"
    ));
    assert!(f[1]
        .message
        .contains("does not have the policy its serverless.yml takes from /db_pw_policy"));
}

#[test]
fn a_read_of_a_missing_parameter_is_dangling_and_not_also_drift() {
    let (mut org, _, qa) = two_stages();
    org.report.resources.retain(|r| r.id != qa.db_pw_name);
    // The service is resolved again: a deploy now would find no parameter.
    org.report.services.retain(|s| s.stage != "qa");
    org.service("qa", "services/users", crate::testkit::USERS_YML);
    let f = run(&org);
    assert_eq!(
        summary(&f),
        [(
            "ssm-dangling-read".into(),
            "qa".into(),
            "services/users/serverless.yml reads ${ssm:/db_pw_name}, but `/db_pw_name` does not exist in qa: the next `serverless deploy --stage qa` fails".into()
        )]
    );
    assert_eq!(f[0].resources, [qa.stack]);
}

#[test]
fn a_parameter_nobody_reads_is_an_unread_write() {
    let (mut org, _, _) = two_stages();
    let flags = org.param(
        "qa",
        "/legacy/feature_flags",
        "{\"checkout_v2\":false}",
        tf("qa", "aws_ssm_parameter.feature_flags"),
    );
    let f = run(&org);
    let unread: Vec<_> = f.iter().filter(|f| f.rule == "ssm-unread-write").collect();
    assert_eq!(unread.len(), 1, "{:#?}", summary(&f));
    assert_eq!(
        unread[0].resources,
        [
            flags,
            crate::link::terraform_node("s3://state/env:/qa/core.tfstate")
        ]
    );
}

#[test]
fn a_function_deployed_with_an_older_value_is_stale_and_names_the_service_to_redeploy() {
    let (mut org, _, qa) = two_stages();
    // The parameter changed after the deploy: the function still holds the old name.
    for r in &mut org.report.resources {
        if r.id == qa.db_pw_name {
            r.attributes
                .insert("value".into(), json!("database_password_v2"));
            let h = org.hasher.hash("database_password_v2");
            r.attributes.insert("value_hash".into(), json!(h));
        }
    }
    org.report.services.retain(|s| s.stage != "qa");
    org.service("qa", "services/users", crate::testkit::USERS_YML);
    let f = run(&org);
    assert_eq!(
        summary(&f),
        [(
            "stale-deployment".into(),
            "qa".into(),
            "`/db_pw_name` changed after users-qa was deployed: users-qa-list has an older `DB_PW_NAME`".into()
        )]
    );
    assert_eq!(f[0].resources, [qa.db_pw_name, qa.stack, qa.function]);
    assert_eq!(
        f[0].fix,
        "Redeploy users-qa: `serverless deploy --stage qa` in services/users"
    );
}

#[test]
fn a_stack_deployed_on_another_rest_api_than_the_exported_one_is_stale() {
    let (mut org, _, qa) = two_stages();
    org.report.stacks.push(crate::model::StackFacts {
        account_id: account("qa"),
        region: REGION.into(),
        name: "users-qa".into(),
        id: qa.stack.clone(),
        status: "UPDATE_COMPLETE".into(),
        description: None,
        outputs: Default::default(),
        tags: Default::default(),
        members: Vec::new(),
        declared: vec![crate::model::Declared {
            logical_id: "ApiGatewayMethodUsersGet".into(),
            type_name: "AWS::ApiGateway::Method".into(),
            properties: [("RestApiId".to_owned(), "oldapi".to_owned())].into(),
        }],
        function_env: Default::default(),
        template_error: None,
        parameter_reads: Vec::new(),
        value_paths: Vec::new(),
    });
    let f = run(&org);
    assert_eq!(f.len(), 1, "{:#?}", summary(&f));
    assert_eq!(f[0].rule, "stale-deployment");
    assert!(f[0]
        .message
        .contains("users-qa was deployed on REST API oldapi"));
}

#[test]
fn a_parameter_holding_another_accounts_arn_is_in_the_wrong_account() {
    let (mut org, dev, qa) = two_stages();
    for r in &mut org.report.resources {
        if r.id == qa.db_pw_policy {
            r.attributes
                .insert("value".into(), json!(dev.policy.clone()));
        }
    }
    let f: Vec<Finding> = run(&org)
        .into_iter()
        .filter(|f| f.rule == "ssm-wrong-account")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].stage.as_deref(), Some("qa"));
    assert_eq!(f[0].resources, [qa.db_pw_policy, dev.policy]);
    assert!(f[0]
        .message
        .contains(&format!("holds an ARN in account {} (dev)", account("dev"))));
}

#[test]
fn a_resource_claimed_twice_is_one_conflict_and_not_also_drift() {
    let (mut org, _, _) = two_stages();
    let table = org.add(
        "dev",
        "AWS::DynamoDB::Table",
        &format!(
            "arn:aws:dynamodb:{REGION}:{}:table/sessions",
            account("dev")
        ),
        "sessions",
        Owner::Conflict {
            claims: vec![
                Claim::Terraform(TerraformClaim {
                    address: "aws_dynamodb_table.sessions".into(),
                    workspace: "dev".into(),
                    state: "s3://state/env:/dev/core.tfstate".into(),
                    matched_by: "name".into(),
                }),
                Claim::Serverless(ServerlessClaim {
                    service: "auth".into(),
                    stage: "dev".into(),
                    stack: "auth-dev".into(),
                    logical_id: Some("SessionsTable".into()),
                    matched_by: "stack resources".into(),
                }),
            ],
        },
        &[],
    );
    let f = run(&org);
    assert_eq!(f.len(), 1, "{:#?}", summary(&f));
    assert_eq!(f[0].rule, "ownership-conflict");
    assert_eq!(f[0].resources, [table]);
    assert!(f[0].message.contains("Terraform `aws_dynamodb_table.sessions` (workspace dev) and stack auth-dev as `SessionsTable`"));
}

#[test]
fn unmanaged_resources_are_grouped_and_expected_ones_are_left_out() {
    let (mut org, _, _) = two_stages();
    for name in ["b-manual", "a-manual"] {
        org.add(
            "dev",
            "AWS::S3::Bucket",
            &format!("arn:aws:s3:::{name}"),
            name,
            Owner::Unmanaged,
            &[],
        );
    }
    org.add(
        "dev",
        "AWS::IAM::Role",
        &format!(
            "arn:aws:iam::{}:role/OrganizationAccountAccessRole",
            account("dev")
        ),
        "OrganizationAccountAccessRole",
        Owner::Unmanaged,
        &[],
    );
    org.add(
        "dev",
        "AWS::KMS::Key",
        &format!("arn:aws:kms:{REGION}:{}:key/k1", account("dev")),
        "k1",
        Owner::Unmanaged,
        &[("key_state", "PendingDeletion".into())],
    );
    let f = run(&org);
    assert_eq!(
        summary(&f),
        [(
            "unmanaged".into(),
            "dev".into(),
            "2 AWS::S3::Bucket in dev are managed by no tool: `b-manual`, `a-manual`".into()
        )]
    );
}

#[test]
fn a_resource_missing_in_one_stage_is_drift_matched_by_address_and_logical_id() {
    let (mut org, _, _) = two_stages();
    let bucket = org.add(
        "dev",
        "AWS::S3::Bucket",
        "arn:aws:s3:::acme-dev-uploads",
        "acme-dev-uploads",
        tf("dev", "aws_s3_bucket.uploads"),
        &[],
    );
    let queue_fn = org.function("qa", "users", "worker", &[]);
    let f = run(&org);
    assert_eq!(
        summary(&f),
        [
            (
                "stage-drift".into(),
                "dev".into(),
                "stack resource `users/WorkerLambdaFunction` (AWS::Lambda::Function `users-qa-worker`) exists in qa but not in dev".into()
            ),
            (
                "stage-drift".into(),
                "qa".into(),
                "Terraform `aws_s3_bucket.uploads` (AWS::S3::Bucket `acme-dev-uploads`) exists in dev but not in qa".into()
            ),
        ]
    );
    assert_eq!(f[0].resources, [queue_fn]);
    assert_eq!(f[1].resources, [bucket]);
    assert!(f[1]
        .fix
        .contains("terraform workspace select qa && terraform apply"));
}

#[test]
fn rest_api_deployments_named_by_deploy_time_are_the_same_resource_in_every_stage() {
    let (mut org, _, _) = two_stages();
    for (stage, logical) in [
        ("dev", "ApiGatewayDeployment1764388800000"),
        ("qa", "ApiGatewayDeployment1764403200123"),
    ] {
        org.add(
            stage,
            "AWS::ApiGateway::Stage",
            &format!("arn:aws:apigateway:{REGION}::/restapis/api-{stage}/stages/{stage}"),
            stage,
            sls(stage, "users", Some(logical)),
            &[],
        );
    }
    // A logical id that only starts like one is still compared as it is.
    org.add(
        "dev",
        "AWS::ApiGateway::Stage",
        &format!("arn:aws:apigateway:{REGION}::/restapis/api-dev/stages/v2"),
        "v2",
        sls("dev", "users", Some("ApiGatewayDeploymentV2")),
        &[],
    );
    let f = run(&org);
    assert_eq!(
        summary(&f),
        [(
            "stage-drift".into(),
            "qa".into(),
            "stack resource `users/ApiGatewayDeploymentV2` (AWS::ApiGateway::Stage `v2`) exists in dev but not in qa".into()
        )]
    );
}

#[test]
fn a_stage_whose_scan_failed_is_not_said_to_lack_anything() {
    let (mut org, _, _) = two_stages();
    org.add(
        "dev",
        "AWS::S3::Bucket",
        "arn:aws:s3:::acme-dev-uploads",
        "acme-dev-uploads",
        tf("dev", "aws_s3_bucket.uploads"),
        &[],
    );
    org.report.accounts[1].status = AccountStatus::Partial;
    assert!(run(&org).is_empty());
}

#[test]
fn severities_parse_and_order() {
    assert!(Severity::High > Severity::Medium && Severity::Low > Severity::Info);
    assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
    assert!("urgent"
        .parse::<Severity>()
        .unwrap_err()
        .contains("info, low, medium or high"));
    let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
}

#[test]
fn the_markdown_report_has_a_summary_and_each_finding_with_its_fix() {
    let (mut org, _, _) = two_stages();
    org.add(
        "dev",
        "AWS::S3::Bucket",
        "arn:aws:s3:::manual",
        "manual",
        Owner::Unmanaged,
        &[],
    );
    let f = run(&org);
    let md = to_markdown(&org.report, &f);
    assert!(md.contains("| `unmanaged` | low | dev | 1 |"), "{md}");
    assert!(md.contains("## Stage dev"));
    assert!(md.contains("**Fix:** Import into Terraform"));
    assert!(md.contains("- AWS::S3::Bucket `manual` — `arn:aws:s3:::manual`"));
    assert!(to_markdown(&org.report, &[]).contains("Nothing to report."));
}

#[test]
fn the_docs_list_every_rule_and_link_kind() {
    let doc = include_str!("../../../../docs/audit.md");
    for rule in RULES {
        assert!(
            doc.contains(&format!("| `{}` | {} |", rule.id, rule.severity.as_str())),
            "docs/audit.md lacks rule {} ({})",
            rule.id,
            rule.severity.as_str()
        );
    }
    for kind in LinkKind::ALL {
        assert!(
            doc.contains(&format!("| `{kind}` |")),
            "docs/audit.md lacks link kind {kind}"
        );
    }
}
