use super::*;
use crate::model::{Declared, StackMember};
use crate::terraform::{Instance, State, TerraformState};

fn res(type_name: &str, id: &str, name: &str, account: &str) -> Resource {
    Resource::new(
        type_name,
        id.to_owned(),
        name.to_owned(),
        account,
        "us-east-1",
    )
}

fn stack(name: &str, members: Vec<(&str, &str, &str)>, declared: Vec<Declared>) -> StackFacts {
    StackFacts {
        account_id: "111".into(),
        region: "us-east-1".into(),
        name: name.into(),
        id: format!("arn:aws:cloudformation:us-east-1:111:stack/{name}/x"),
        status: "CREATE_COMPLETE".into(),
        description: Some("The AWS CloudFormation template for this Serverless application".into()),
        outputs: Default::default(),
        tags: Default::default(),
        members: members
            .into_iter()
            .map(|(l, p, t)| StackMember {
                logical_id: l.into(),
                physical_id: (!p.is_empty()).then(|| p.to_owned()),
                type_name: t.into(),
                status: "CREATE_COMPLETE".into(),
            })
            .collect(),
        declared,
        function_env: Default::default(),
        template_error: None,
        parameter_reads: Vec::new(),
        value_paths: Vec::new(),
    }
}

/// (address, type, attributes)
type StateRow<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

fn state(instances: Vec<StateRow<'_>>) -> LoadedState {
    LoadedState {
        summary: TerraformState {
            stage: Some("dev".into()),
            ..crate::terraform::summary("s3://b/env:/dev/k".into(), "dev".into())
        },
        state: Some(State {
            terraform_version: "1.9.8".into(),
            serial: 1,
            lineage: "l".into(),
            outputs: Vec::new(),
            instances: instances
                .into_iter()
                .map(|(addr, ty, attrs)| Instance {
                    address: addr.into(),
                    mode: "managed".into(),
                    type_name: ty.into(),
                    attributes: attrs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                })
                .collect(),
        }),
    }
}

#[test]
fn owners_come_from_state_stack_lists_templates_and_tags_and_two_claims_conflict() {
    let role_arn = "arn:aws:iam::111:role/users-dev-us-east-1-lambdaRole";
    let mut resources = vec![
        res(
            "AWS::IAM::Role",
            role_arn,
            "users-dev-us-east-1-lambdaRole",
            "111",
        ),
        res(
            "AWS::DynamoDB::Table",
            "arn:aws:dynamodb:us-east-1:111:table/sessions",
            "sessions",
            "111",
        ),
        res(
            "AWS::S3::Bucket",
            "arn:aws:s3:::hand-made",
            "hand-made",
            "111",
        ),
        res(
            "AWS::ApiGatewayV2::Api",
            "arn:aws:apigateway:us-east-1::/apis/ws1",
            "dev-users-websockets",
            "111",
        ),
        res(
            "AWS::ApiGateway::Method",
            "arn:aws:apigateway:us-east-1::/restapis/api1/resources/r1/methods/GET",
            "GET /users",
            "111",
        ),
        res(
            "AWS::ApiGateway::Stage",
            "arn:aws:apigateway:us-east-1::/restapis/api1/stages/dev",
            "dev",
            "111",
        ),
        res(
            "AWS::ApiGateway::Stage",
            "arn:aws:apigateway:us-east-1::/restapis/other/stages/dev",
            "dev",
            "111",
        ),
    ];
    resources[3]
        .tags
        .insert("aws:cloudformation:stack-name".into(), "users-dev".into());
    resources[3].tags.insert(
        "aws:cloudformation:logical-id".into(),
        "WebsocketsApi".into(),
    );
    resources[5].attr("api_id", "api1");
    resources[6].attr("api_id", "other");
    let declared = vec![
        Declared {
            logical_id: "ApiGatewayMethodUsersGet".into(),
            type_name: "AWS::ApiGateway::Method".into(),
            properties: [
                ("RestApiId", "api1"),
                ("ResourceId", "r1"),
                ("HttpMethod", "GET"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        },
        Declared {
            logical_id: "ApiGatewayDeployment".into(),
            type_name: "AWS::ApiGateway::Deployment".into(),
            properties: [("RestApiId", "api1"), ("StageName", "dev")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    ];
    let stacks = vec![stack(
        "users-dev",
        vec![
            (
                "IamRoleLambdaExecution",
                "users-dev-us-east-1-lambdaRole",
                "AWS::IAM::Role",
            ),
            ("SessionsTable", "sessions", "AWS::DynamoDB::Table"),
            ("ApiGatewayMethodUsersGet", "", "AWS::ApiGateway::Method"),
        ],
        declared,
    )];
    let mut states = vec![state(vec![
        (
            "aws_dynamodb_table.sessions",
            "aws_dynamodb_table",
            vec![
                ("name", "sessions"),
                ("arn", "arn:aws:dynamodb:us-east-1:111:table/sessions"),
            ],
        ),
        (
            "aws_s3_bucket.gone",
            "aws_s3_bucket",
            vec![("bucket", "gone")],
        ),
    ])];
    let services = ["users".to_owned()].into_iter().collect();
    let stages = ["dev".to_owned()].into_iter().collect();
    let account_stages = [("111".to_owned(), "dev".to_owned())].into_iter().collect();
    assign(
        &mut resources,
        Inputs {
            stacks: &stacks,
            states: &mut states,
            services: &services,
            stages: &stages,
            account_stages: &account_stages,
            carried: &Default::default(),
        },
    );

    let Owner::Serverless(role) = &resources[0].owner else {
        panic!("{:?}", resources[0].owner)
    };
    assert_eq!(
        (role.service.as_str(), role.stage.as_str()),
        ("users", "dev")
    );
    assert_eq!(role.logical_id.as_deref(), Some("IamRoleLambdaExecution"));
    assert_eq!(role.matched_by, "stack resources");

    let Owner::Conflict { claims } = &resources[1].owner else {
        panic!("{:?}", resources[1].owner)
    };
    assert_eq!(claims.len(), 2);
    assert!(
        matches!(&claims[0], Claim::Terraform(t) if t.address == "aws_dynamodb_table.sessions" && t.matched_by == "arn")
    );
    assert!(
        matches!(&claims[1], Claim::Serverless(s) if s.logical_id.as_deref() == Some("SessionsTable"))
    );

    assert_eq!(resources[2].owner, Owner::Unmanaged);
    assert!(matches!(&resources[3].owner, Owner::Serverless(s) if s.matched_by == "stack tags"));
    assert!(matches!(&resources[4].owner, Owner::Serverless(s) if s.matched_by == "template"));
    assert!(
        matches!(&resources[5].owner, Owner::Serverless(s) if s.logical_id.as_deref() == Some("ApiGatewayDeployment"))
    );
    assert_eq!(
        resources[6].owner,
        Owner::Unmanaged,
        "a stage of another API with the same name"
    );
    assert!(
        matches!(&resources[5].owner, Owner::Serverless(s) if s.matched_by == "deployment stage")
    );
    assert_eq!(states[0].summary.unmatched, ["aws_s3_bucket.gone"]);
}

/// A state naming a role by ARN in account 222 does not claim the role of the same name in 111
/// when 222's was not seen (another shard's account, or one that could not be scanned): the name
/// is a fallback for instances without an account, not a way across accounts.
#[test]
fn an_instance_whose_arn_names_another_account_does_not_claim_a_namesake() {
    let mut resources = vec![res(
        "AWS::IAM::Role",
        "arn:aws:iam::111:role/ci-deployer",
        "ci-deployer",
        "111",
    )];
    let mut states = vec![state(vec![
        (
            "aws_iam_role.ci_111",
            "aws_iam_role",
            vec![
                ("arn", "arn:aws:iam::111:role/ci-deployer"),
                ("name", "ci-deployer"),
            ],
        ),
        (
            "aws_iam_role.ci_222",
            "aws_iam_role",
            vec![
                ("arn", "arn:aws:iam::222:role/ci-deployer"),
                ("name", "ci-deployer"),
            ],
        ),
    ])];
    states[0].summary.stage = None;
    let stages: BTreeMap<String, String> = [
        ("111".to_owned(), "dev".to_owned()),
        ("222".to_owned(), "prod".to_owned()),
    ]
    .into();
    assign(
        &mut resources,
        Inputs {
            stacks: &[],
            states: &mut states,
            services: &BTreeSet::new(),
            stages: &["dev".to_owned(), "prod".to_owned()].into(),
            account_stages: &stages,
            carried: &HashMap::new(),
        },
    );
    assert_eq!(
        resources[0].owner.kind(),
        "terraform",
        "{:?}",
        resources[0].owner
    );
    assert_eq!(states[0].summary.unmatched, ["aws_iam_role.ci_222"]);
}
