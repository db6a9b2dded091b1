use super::*;
use crate::testkit::{self, account, seam, tf, Org, REGION};

fn find<'a>(links: &'a [Link], from: &str, to: &str, kind: LinkKind) -> &'a Link {
    links
        .iter()
        .find(|l| l.from == from && l.to == to && l.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} link {from} → {to} in {links:#?}"))
}

#[test]
fn the_ssm_seam_is_linked_writer_to_parameter_to_reader_with_evidence() {
    let mut org = Org::new(&["dev"]);
    let s = seam(&mut org, "dev");
    let linked = infer(&org.report);
    let links = &linked.links;
    let workspace = terraform_node("s3://state/env:/dev/core.tfstate");

    let w = find(links, &workspace, &s.db_pw_name, LinkKind::SsmWrite);
    assert_eq!(
        w.evidence,
        "`aws_ssm_parameter.db_pw_name` in workspace `dev` writes it"
    );
    let r = find(links, &s.db_pw_name, &s.stack, LinkKind::SsmRead);
    assert_eq!(
        r.evidence,
        "services/users/serverless.yml reads ${ssm:/db_pw_name} at provider.environment.DB_PW_NAME"
    );
    let f = find(links, &s.db_pw_name, &s.function, LinkKind::SsmRead);
    assert!(f.evidence.contains("sets `DB_PW_NAME`"), "{}", f.evidence);

    // What the values name.
    let n = find(links, &s.db_pw_name, &s.secret, LinkKind::Names);
    assert_eq!(n.evidence, "the value is the name of `database_password`");
    find(links, &s.db_pw_policy, &s.policy, LinkKind::Names);
    let api = find(links, &s.rest_api_id, &s.api, LinkKind::Names);
    assert_eq!(api.evidence, "the value is the id (api_id) of `acme-api`");

    // The rest of the chain.
    find(links, &s.role, &s.policy, LinkKind::AttachedPolicy);
    find(links, &s.function, &s.role, LinkKind::ExecutionRole);
    find(links, &s.method, &s.api, LinkKind::InApi);
    find(links, &s.method, &s.function, LinkKind::Integration);
    find(links, &s.stack, &s.function, LinkKind::StackMember);

    // The workspace is a node of its own, in the stage.
    let ws = linked
        .extra_nodes
        .iter()
        .find(|n| n.id == workspace)
        .expect("workspace node");
    assert_eq!(
        (ws.type_name.as_str(), ws.stage.as_deref()),
        (TERRAFORM_WORKSPACE, Some("dev"))
    );
}

#[test]
fn a_value_baked_into_a_deployed_environment_is_a_read_even_without_a_file() {
    let mut org = Org::new(&["dev"]);
    let p = org.param(
        "dev",
        "/payments/api_url",
        "https://payments.dev.acme.example/v1",
        tf("dev", "aws_ssm_parameter.payments_api_url"),
    );
    let f = org.function(
        "dev",
        "billing",
        "charge",
        &[("PAYMENTS", "https://payments.dev.acme.example/v1")],
    );
    // A short, common value is not evidence of anything.
    let short = org.param("dev", "/flag", "true", tf("dev", "aws_ssm_parameter.flag"));
    org.function("dev", "billing", "other", &[("FLAG", "true")]);
    let links = infer(&org.report).links;
    let l = find(&links, &p, &f, LinkKind::SsmRead);
    assert_eq!(
        l.evidence,
        "the deployed `PAYMENTS` holds the parameter's current value"
    );
    assert!(!links
        .iter()
        .any(|l| l.from == short && l.kind == LinkKind::SsmRead));
}

#[test]
fn an_undeployed_service_still_reads_through_a_service_node() {
    let mut org = Org::new(&["qa"]);
    org.param(
        "qa",
        "/db_pw_name",
        "database_password",
        tf("qa", "aws_ssm_parameter.db_pw_name"),
    );
    org.service("qa", "services/users", testkit::USERS_YML);
    let linked = infer(&org.report);
    let node = format!("serverless:{}/users-qa", account("qa"));
    assert!(linked
        .links
        .iter()
        .any(|l| l.to == node && l.kind == LinkKind::SsmRead));
    let n = linked
        .extra_nodes
        .iter()
        .find(|n| n.id == node)
        .expect("service node");
    assert_eq!(n.name, "users-qa (not deployed)");
}

#[test]
fn a_value_naming_another_accounts_resource_links_across_and_says_so() {
    let mut org = Org::new(&["dev", "qa"]);
    let s = seam(&mut org, "dev");
    // qa's parameter holds dev's policy ARN: exported from the wrong account.
    let p = org.param(
        "qa",
        "/db_pw_policy",
        &s.policy,
        tf("qa", "aws_ssm_parameter.db_pw_policy"),
    );
    let links = infer(&org.report).links;
    let l = find(&links, &p, &s.policy, LinkKind::Names);
    assert_eq!(
        l.evidence,
        format!(
            "the value is the ARN of `db_pw_policy` in account {}",
            account("dev")
        )
    );
}

#[test]
fn mappings_and_authorizers_point_at_what_they_use() {
    let mut org = Org::new(&["dev"]);
    let s = seam(&mut org, "dev");
    let stage = org.add(
        "dev",
        "AWS::ApiGateway::Stage",
        &format!("{}/stages/dev", s.api),
        "dev",
        testkit::sls("dev", "users", Some("ApiGatewayDeployment")),
        &[("api_id", "apidev".into())],
    );
    let domain = org.add(
        "dev",
        "AWS::ApiGateway::DomainName",
        &format!("arn:aws:apigateway:{REGION}::/domainnames/api.dev.acme.example"),
        "api.dev.acme.example",
        tf("dev", "module.api.aws_api_gateway_domain_name.main"),
        &[],
    );
    let mapping = org.add(
        "dev",
        "AWS::ApiGateway::BasePathMapping",
        &format!("{domain}/basepathmappings/(none)"),
        "api.dev.acme.example/",
        tf("dev", "module.api.aws_api_gateway_base_path_mapping.main"),
        &[
            ("api_id", "apidev".into()),
            ("stage", "dev".into()),
            ("domain_name", "api.dev.acme.example".into()),
        ],
    );
    let authorizer = org.add(
        "dev",
        "AWS::ApiGateway::Authorizer",
        &format!("{}/authorizers/a1", s.api),
        "shared-authorizer",
        tf("dev", "module.api.aws_api_gateway_authorizer.main"),
        &[
            ("api_id", "apidev".into()),
            (
                "authorizer_uri",
                format!(
                    "arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{}/invocations",
                    s.function
                )
                .into(),
            ),
        ],
    );
    let links = infer(&org.report).links;
    find(&links, &mapping, &s.api, LinkKind::Mapping);
    find(&links, &mapping, &stage, LinkKind::Mapping);
    find(&links, &mapping, &domain, LinkKind::Mapping);
    find(&links, &authorizer, &s.function, LinkKind::Invokes);
    find(&links, &authorizer, &s.api, LinkKind::InApi);
}

#[test]
fn lambda_uris_and_paths_are_read_as_expected() {
    assert_eq!(
        function_in_uri("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations"),
        Some("arn:aws:lambda:us-east-1:1:function:f")
    );
    assert_eq!(function_in_uri("https://example.com"), None);
    assert_eq!(
        short_path("/work/acme/services/orders/serverless.yml"),
        "services/orders/serverless.yml"
    );
    assert_eq!(short_path("serverless.yml"), "serverless.yml");
    // Every kind's JSON name is its display name.
    for k in LinkKind::ALL {
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::Value::from(k.as_str())
        );
    }
}
