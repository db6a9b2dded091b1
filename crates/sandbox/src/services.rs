//! The demo's Serverless services and the CloudFormation templates `serverless deploy` would produce for
//! them (the shape of Serverless Framework v3's compiled template: deployment bucket, execution role,
//! `<Name>LambdaFunction`, `ApiGatewayResource…`/`ApiGatewayMethod…` on the shared REST API, a deployment
//! creating the stage). `examples/services/*/serverless.yml` declare the same services.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// Where a function's environment variable gets its value at deploy time.
#[derive(Debug, Clone)]
pub enum EnvValue {
    /// `${ssm:/name}`, resolved when the stack is deployed (and then baked into the function).
    Ssm(String),
}

#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// `(method, path)` of an `http` event on the shared REST API.
    pub http: Option<(String, String)>,
    pub env: Vec<(String, EnvValue)>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub functions: Vec<Function>,
    /// SSM parameters holding managed policy ARNs for the execution role (`${ssm:/db_pw_policy}`).
    pub role_policies: Vec<String>,
    /// Uses the shared authorizer exported as `/api/authorizer_id`.
    pub shared_authorizer: bool,
    /// Declares its own authorizer for auth's function of this name (situation 4 of the write-up).
    pub own_authorizer: Option<String>,
    pub websocket_routes: Vec<String>,
    /// `(logical id, table name)` of DynamoDB tables in the service's `resources:`.
    pub tables: Vec<(String, String)>,
}

fn f(name: &str, http: Option<(&str, &str)>, env: &[(&str, &str)]) -> Function {
    Function {
        name: name.to_owned(),
        http: http.map(|(m, p)| (m.to_owned(), p.to_owned())),
        env: env
            .iter()
            .map(|(k, p)| ((*k).to_owned(), EnvValue::Ssm((*p).to_owned())))
            .collect(),
    }
}

fn extra(service: &str, n: usize) -> impl Iterator<Item = Function> + '_ {
    (0..n).map(move |i| {
        f(
            &format!("fn{i}"),
            Some(("GET", &format!("/{service}/fn{i}"))),
            &[("DB_PW_NAME", "/db_pw_name")],
        )
    })
}

impl Service {
    pub fn auth(extra_functions: usize) -> Service {
        let mut functions = vec![
            f("authorize", None, &[("DB_PW_NAME", "/db_pw_name")]),
            f(
                "login",
                Some(("POST", "/auth/login")),
                &[("DB_PW_NAME", "/db_pw_name")],
            ),
        ];
        functions.extend(extra("auth", extra_functions));
        Service {
            name: "auth".into(),
            functions,
            role_policies: vec!["/db_pw_policy".into()],
            shared_authorizer: false,
            own_authorizer: None,
            websocket_routes: vec![],
            tables: vec![("SessionsTable".into(), "sessions".into())],
        }
    }

    pub fn users(extra_functions: usize) -> Service {
        let env = [
            ("USERS_TABLE", "/users/table_name"),
            ("DB_PW_NAME", "/db_pw_name"),
            ("SERVICE_TOKEN", "/internal/service_token"),
        ];
        let mut functions = vec![
            f("list", Some(("GET", "/users")), &env),
            f("get", Some(("GET", "/users/{id}")), &env),
        ];
        functions.extend(extra("users", extra_functions));
        Service {
            name: "users".into(),
            functions,
            role_policies: vec!["/db_pw_policy".into()],
            shared_authorizer: true,
            own_authorizer: None,
            websocket_routes: vec![],
            tables: vec![],
        }
    }

    /// `with_payments`: the deployed version reads `/payments/api_url` (prod still runs an older one).
    /// `own_authorizer`: it declares its own authorizer for auth's function (overlap situation 4)
    /// instead of using the shared one.
    pub fn orders(extra_functions: usize, with_payments: bool, own_authorizer: bool) -> Service {
        let mut env = vec![
            ("ORDERS_TABLE", "/orders/table_name"),
            ("DB_PW_NAME", "/db_pw_name"),
        ];
        if with_payments {
            env.push(("PAYMENTS_URL", "/payments/api_url"));
        }
        let mut functions = vec![
            f("create", Some(("POST", "/orders")), &env),
            f("list", Some(("GET", "/orders")), &env),
            // `provider.environment` reaches every function, the websocket handlers too.
            f("connect", None, &env[..2]),
            f("disconnect", None, &env[..2]),
        ];
        functions.extend(extra("orders", extra_functions));
        Service {
            name: "orders".into(),
            functions,
            role_policies: vec!["/db_pw_policy".into()],
            shared_authorizer: !own_authorizer,
            own_authorizer: own_authorizer.then(|| "authorize".into()),
            websocket_routes: vec!["$connect".into(), "$disconnect".into()],
            tables: vec![],
        }
    }

    /// A generic API service for benchmark orgs.
    pub fn generic(n: usize, extra_functions: usize) -> Service {
        let name = format!("svc{n}");
        let mut functions = vec![f(
            "handler",
            Some(("GET", &format!("/{name}"))),
            &[("DB_PW_NAME", "/db_pw_name")],
        )];
        functions.extend(extra(&name, extra_functions));
        Service {
            name,
            functions,
            role_policies: vec!["/db_pw_policy".into()],
            shared_authorizer: true,
            own_authorizer: None,
            websocket_routes: vec![],
            tables: vec![],
        }
    }
}

/// Serverless's naming: `list` → `List`, `get-user` → `GetDashuser`; enough for our names.
fn logical(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// `/users/{id}` → `UsersIdVar`, as Serverless names `ApiGatewayResource…`.
fn path_logical(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(var) => format!("{}Var", logical(var)),
                None => logical(s),
            },
        )
        .collect()
}

pub fn role_name(service: &Service, stage: &str, region: &str) -> String {
    format!("{}-{stage}-{region}-lambdaRole", service.name)
}

/// The compiled CloudFormation template of `service` deployed to `stage`, with `${ssm:…}` resolved from
/// `params` (the values at deploy time).
pub fn template(
    service: &Service,
    stage: &str,
    region: &str,
    account: &str,
    rest_api_id: &str,
    root_resource_id: &str,
    params: &BTreeMap<String, String>,
) -> Value {
    let mut resources = Map::new();
    let mut outputs = Map::new();
    resources.insert(
        "ServerlessDeploymentBucket".into(),
        json!({"Type": "AWS::S3::Bucket"}),
    );
    outputs.insert(
        "ServerlessDeploymentBucketName".into(),
        json!({"Value": {"Ref": "ServerlessDeploymentBucket"}}),
    );
    let policies: Vec<&String> = service
        .role_policies
        .iter()
        .filter_map(|p| params.get(p))
        .collect();
    resources.insert(
        "IamRoleLambdaExecution".into(),
        json!({"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": role_name(service, stage, region),
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}]},
            "ManagedPolicyArns": policies,
        }}),
    );
    let mut methods = Vec::new();
    let mut path_resources: BTreeMap<String, String> = BTreeMap::new();
    for func in &service.functions {
        let fl = format!("{}LambdaFunction", logical(&func.name));
        let vars: Map<String, Value> = func
            .env
            .iter()
            .filter_map(|(k, EnvValue::Ssm(p))| params.get(p).map(|v| (k.clone(), json!(v))))
            .collect();
        resources.insert(
            fl.clone(),
            json!({"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": format!("{}-{stage}-{}", service.name, func.name),
                "Handler": format!("handler.{}", func.name),
                "Runtime": "nodejs20.x",
                "MemorySize": 1024,
                "Timeout": 6,
                "Role": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]},
                "Code": {"ZipFile": format!("exports.{} = async () => ({{ statusCode: 200 }});", func.name)},
                "Environment": {"Variables": vars},
            }, "DependsOn": ["IamRoleLambdaExecution"]}),
        );
        let Some((method, path)) = &func.http else {
            continue;
        };
        // One ApiGatewayResource per path segment, parented on the shared API's root.
        let mut parent = json!(root_resource_id);
        let mut prefix = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            prefix.push('/');
            prefix.push_str(seg);
            let rl = format!("ApiGatewayResource{}", path_logical(&prefix));
            if !path_resources.contains_key(&prefix) {
                resources.insert(
                    rl.clone(),
                    json!({"Type": "AWS::ApiGateway::Resource", "Properties": {
                        "ParentId": parent, "PathPart": seg, "RestApiId": rest_api_id}}),
                );
                path_resources.insert(prefix.clone(), rl.clone());
            }
            parent = json!({"Ref": rl});
        }
        let ml = format!(
            "ApiGatewayMethod{}{}",
            path_logical(path),
            logical(&method.to_ascii_lowercase())
        );
        let mut props = json!({
            "HttpMethod": method, "RestApiId": rest_api_id, "ResourceId": parent,
            "AuthorizationType": "NONE",
            "Integration": {"IntegrationHttpMethod": "POST", "Type": "AWS_PROXY",
                "Uri": format!("arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/arn:aws:lambda:{region}:{account}:function:{}-{stage}-{}/invocations", service.name, func.name)},
        });
        if service.shared_authorizer {
            if let Some(id) = params.get("/api/authorizer_id") {
                props["AuthorizationType"] = json!("CUSTOM");
                props["AuthorizerId"] = json!(id);
            }
        }
        resources.insert(
            ml.clone(),
            json!({"Type": "AWS::ApiGateway::Method", "Properties": props, "DependsOn": [fl]}),
        );
        methods.push(ml);
    }
    if let Some(name) = &service.own_authorizer {
        resources.insert(
            format!("{}ApiGatewayAuthorizer", logical(name)),
            json!({"Type": "AWS::ApiGateway::Authorizer", "Properties": {
                "Name": name, "RestApiId": rest_api_id, "Type": "TOKEN",
                "IdentitySource": "method.request.header.Authorization",
                "AuthorizerUri": format!("arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/arn:aws:lambda:{region}:{account}:function:auth-{stage}-{name}/invocations")}}),
        );
    }
    if !methods.is_empty() {
        resources.insert(
            deployment_logical_id(stage),
            json!({"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": rest_api_id, "StageName": stage}, "DependsOn": methods}),
        );
        outputs.insert(
            "ServiceEndpoint".into(),
            json!({"Value": format!("https://{rest_api_id}.execute-api.{region}.amazonaws.com/{stage}")}),
        );
    }
    if !service.websocket_routes.is_empty() {
        resources.insert(
            "WebsocketsApi".into(),
            json!({"Type": "AWS::ApiGatewayV2::Api", "Properties": {
                "Name": format!("{stage}-{}-websockets", service.name), "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action"}}),
        );
        resources.insert(
            "WebsocketsDeploymentStage".into(),
            json!({"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "WebsocketsApi"}, "StageName": stage}}),
        );
    }
    for (logical_id, table) in &service.tables {
        resources.insert(
            logical_id.clone(),
            json!({"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": table, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The AWS CloudFormation template for this Serverless application",
        "Resources": resources,
        "Outputs": outputs,
    })
}

/// `ApiGatewayDeployment<epoch ms>`, as the Serverless Framework names it at deploy time; fixed per
/// stage so the seeding stays deterministic, and different between stages as real deploys are.
pub fn deployment_logical_id(stage: &str) -> String {
    let offset: u64 = stage.bytes().map(u64::from).sum();
    format!("ApiGatewayDeployment{}", 1_764_374_400_000 + offset * 1_000)
}

/// The template's text with `ServerlessDeploymentBucket` first among the resources, where the Serverless
/// Framework puts it. Order matters to moto: `DescribeStackResource` walks the resources in template
/// order and fails on the first one its CloudFormation cannot model (`AWS::ApiGateway::Authorizer`), so a
/// later `serverless deploy`, which looks the bucket up, only works when the bucket comes first.
pub fn template_body(template: &Value) -> String {
    let mut top = template.as_object().cloned().unwrap_or_default();
    let mut resources = match top.remove("Resources") {
        Some(Value::Object(r)) => r,
        _ => Map::new(),
    };
    let mut parts = Vec::new();
    if let Some(bucket) = resources.remove("ServerlessDeploymentBucket") {
        parts.push(format!("\"ServerlessDeploymentBucket\":{bucket}"));
    }
    parts.extend(
        resources
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))),
    );
    let mut rest: Vec<String> = top
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect();
    rest.push(format!("\"Resources\":{{{}}}", parts.join(",")));
    format!("{{{}}}", rest.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_bucket_comes_first_in_the_template_text() {
        let t = json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
            "AuthorizeApiGatewayAuthorizer": {"Type": "AWS::ApiGateway::Authorizer"},
            "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket"},
            "ZLast": {"Type": "AWS::SNS::Topic"}}});
        let body = template_body(&t);
        let back: Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(back, t, "same template");
        let bucket = body.find("ServerlessDeploymentBucket").expect("bucket");
        let authorizer = body
            .find("AuthorizeApiGatewayAuthorizer")
            .expect("authorizer");
        assert!(bucket < authorizer, "{body}");
    }

    #[test]
    fn names_follow_serverless() {
        assert_eq!(path_logical("/users/{id}"), "UsersIdVar");
        assert_eq!(logical("get-user"), "GetUser");
    }

    #[test]
    fn template_bakes_ssm_values_and_attaches_the_exported_policy() {
        let params: BTreeMap<String, String> = [
            ("/db_pw_name", "database_password"),
            ("/db_pw_policy", "arn:aws:iam::1:policy/db_pw_policy"),
            ("/users/table_name", "users"),
            ("/api/authorizer_id", "abc123"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let t = template(
            &Service::users(0),
            "qa",
            "us-east-1",
            "1",
            "api1",
            "root1",
            &params,
        );
        let r = &t["Resources"];
        assert_eq!(
            r["ListLambdaFunction"]["Properties"]["FunctionName"],
            "users-qa-list"
        );
        assert_eq!(
            r["ListLambdaFunction"]["Properties"]["Environment"]["Variables"]["DB_PW_NAME"],
            "database_password"
        );
        assert_eq!(
            r["IamRoleLambdaExecution"]["Properties"]["ManagedPolicyArns"][0],
            "arn:aws:iam::1:policy/db_pw_policy"
        );
        assert_eq!(
            r["ApiGatewayMethodUsersIdVarGet"]["Properties"]["AuthorizerId"],
            "abc123"
        );
        assert_eq!(
            r["ApiGatewayResourceUsers"]["Properties"]["ParentId"],
            "root1"
        );
        assert_eq!(
            r[deployment_logical_id("qa").as_str()]["Properties"]["StageName"],
            "qa"
        );
    }
}
