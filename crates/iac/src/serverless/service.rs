//! One service's `serverless.yml`: read, checked, and resolved for a stage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use stagecraft_model::serverless::{
    ssm_name, FunctionEvent, ResolvedService, ServiceFunction, SsmEnv,
};
use stagecraft_model::ValueHasher;

use super::variables::{Context, Resolver};
use super::yaml::parse_cfn_yaml;

/// A `serverless.yml` as written.
#[derive(Debug, Clone)]
pub struct ServiceFile {
    pub path: PathBuf,
    pub doc: Value,
}

/// Fills each [`SsmEnv::expected_hash`] of `function` from the current parameter values (`value_of`
/// gives `None` for a missing or SecureString parameter).
pub fn expect_values(
    function: &mut ServiceFunction,
    value_of: &dyn Fn(&str) -> Option<String>,
    hasher: &ValueHasher,
) {
    for env in &mut function.ssm_environment {
        env.expected_hash = function
            .templates
            .get(&env.variable)
            .and_then(|t| substitute_ssm(t, value_of))
            .map(|v| hasher.hash(&v));
    }
}

/// Every `${ssm:…}` in a resolved text, as (byte range, parameter name).
fn ssm_refs(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${ssm:") {
        let start = from + i;
        let Some(len) = text[start..].find('}') else {
            break;
        };
        let end = start + len + 1;
        let inner = &text[start + "${ssm:".len()..end - 1];
        // A fallback (`${ssm:/x, 'default'}`) does not change which parameter is read.
        let arg = inner.split(',').next().unwrap_or(inner);
        out.push((start..end, ssm_name(arg)));
        from = end;
    }
    out
}

/// The text with every `${ssm:…}` replaced by the parameter's value; `None` if one is unknown.
fn substitute_ssm(text: &str, value_of: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    for (range, name) in ssm_refs(text) {
        out.push_str(&text[last..range.start]);
        out.push_str(&value_of(&name)?);
        last = range.end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// Why a `serverless.yml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {message}; fix the file (the Serverless CLI would reject it too)")]
    Yaml { path: PathBuf, message: String },
    #[error("{path} is not a Serverless service: {message}")]
    Shape { path: PathBuf, message: String },
}

/// Finds `serverless.yml` / `.yaml` in a service directory (or takes a file path) and parses it.
pub fn load_service(dir_or_file: &Path) -> Result<ServiceFile, ServiceError> {
    let path = if dir_or_file.is_dir() || dir_or_file.extension().is_none() {
        ["serverless.yml", "serverless.yaml"]
            .iter()
            .map(|n| dir_or_file.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| dir_or_file.join("serverless.yml"))
    } else {
        dir_or_file.to_owned()
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ServiceError::Read {
        path: path.clone(),
        source,
    })?;
    ServiceFile::parse(&path, &text)
}

impl ServiceFile {
    pub fn parse(path: &Path, text: &str) -> Result<ServiceFile, ServiceError> {
        let doc = parse_cfn_yaml(text).map_err(|message| ServiceError::Yaml {
            path: path.to_owned(),
            message,
        })?;
        let shape = |message: &str| ServiceError::Shape {
            path: path.to_owned(),
            message: message.to_owned(),
        };
        let Some(root) = doc.as_object() else {
            return Err(shape(
                "the top level must be a mapping with `service:` and `provider:`",
            ));
        };
        match root.get("service") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            // Serverless v1 allowed `service: { name: … }`.
            Some(Value::Object(o)) if o.get("name").and_then(Value::as_str).is_some() => {}
            Some(_) => return Err(shape("`service:` must be a name")),
            None => return Err(shape("`service:` is missing")),
        }
        match root.get("provider") {
            Some(Value::Object(_)) | Some(Value::String(_)) => {}
            None => return Err(shape("`provider:` is missing")),
            Some(_) => return Err(shape("`provider:` must be a mapping")),
        }
        if let Some(f) = root.get("functions") {
            if !(f.is_object() || f.is_null() || f.is_array() || f.is_string()) {
                return Err(shape("`functions:` must be a mapping of function names"));
            }
        }
        Ok(ServiceFile {
            path: path.to_owned(),
            doc,
        })
    }

    /// The service for `stage` (`None`: the file's own default, else `dev`) in `region` (`None`: the
    /// file's, else `us-east-1`).
    pub fn resolve(
        &self,
        stage: Option<&str>,
        region: Option<&str>,
        account_id: Option<&str>,
    ) -> ResolvedService {
        let provider = self.doc.get("provider");
        let raw = |key: &str| provider.and_then(|p| p.get(key)).and_then(Value::as_str);
        // The file's own defaults are themselves often variables (`${opt:stage, 'dev'}`).
        let default_stage = raw("stage").filter(|s| !s.contains("${")).unwrap_or("dev");
        let stage = stage.unwrap_or(default_stage).to_owned();
        let default_region = raw("region")
            .filter(|s| !s.contains("${"))
            .unwrap_or(stagecraft_model::FALLBACK_REGION);
        let region = region.unwrap_or(default_region).to_owned();
        let mut r = Resolver::new(Context {
            root: &self.doc,
            stage: &stage,
            region: &region,
            account_id,
        });
        let doc = r.value(&self.doc, "");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let service = match doc.get("service") {
            Some(Value::Object(o)) => text(o.get("name")),
            other => text(other),
        }
        .unwrap_or_default();
        let provider = doc.get("provider").cloned().unwrap_or(Value::Null);
        let mut warnings = std::mem::take(&mut r.errors);
        let provider_env = provider.get("environment").and_then(Value::as_object);

        let mut functions = Vec::new();
        match doc.get("functions") {
            Some(Value::Object(fs)) => {
                for (key, f) in fs {
                    functions.push(function(&service, &stage, key, f, provider_env));
                }
            }
            Some(Value::Array(items)) => {
                // v1 allowed a list of single-key mappings.
                for item in items {
                    if let Some(m) = item.as_object() {
                        for (key, f) in m {
                            functions.push(function(&service, &stage, key, f, provider_env));
                        }
                    }
                }
            }
            Some(Value::String(s)) => warnings.push(format!(
                "functions come from `{s}`, which Stagecraft does not follow"
            )),
            _ => {}
        }

        let api = provider.get("apiGateway");
        let managed_policies = provider
            .pointer("/iam/role/managedPolicies")
            .or_else(|| provider.get("iamManagedPolicies"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(display).collect())
            .unwrap_or_default();
        let resources = doc
            .pointer("/resources/Resources")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.get("Type")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let named_resources = doc
            .pointer("/resources/Resources")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(logical, v)| {
                        let ty = v.get("Type")?.as_str()?;
                        let prop = crate::declared::name_property(ty)?;
                        let name = v.pointer(&format!("/Properties/{prop}"))?.as_str()?;
                        (!name.contains("${"))
                            .then(|| (logical.clone(), ty.to_owned(), name.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let plugins = match doc.get("plugins") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
            Some(Value::Object(o)) => o
                .get("modules")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut variables = r.refs;
        variables.sort();
        variables.dedup();
        ResolvedService {
            path: self.path.display().to_string(),
            // `provider.stackName` overrides the default `<service>-<stage>`.
            stack: text(provider.get("stackName"))
                .filter(|n| !n.contains("${"))
                .unwrap_or_else(|| format!("{service}-{stage}")),
            service,
            region: text(provider.get("region")).unwrap_or(region),
            stage,
            runtime: text(provider.get("runtime")),
            profile: text(provider.get("profile")),
            functions,
            rest_api_id: api.and_then(|a| a.get("restApiId")).map(display),
            rest_api_root_resource_id: api
                .and_then(|a| a.get("restApiRootResourceId"))
                .map(display),
            managed_policies,
            resources,
            named_resources,
            plugins,
            variables,
            warnings,
        }
    }
}

/// A value as text: strings as they are, intrinsic functions as compact JSON.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn function(
    service: &str,
    stage: &str,
    key: &str,
    f: &Value,
    provider_env: Option<&serde_json::Map<String, Value>>,
) -> ServiceFunction {
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{service}-{stage}-{key}"));
    let own_env = f.get("environment").and_then(Value::as_object);
    let environment = own_env
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // The function's own variables override the provider's.
    let mut templates = BTreeMap::new();
    for (var, v) in provider_env.into_iter().chain(own_env).flatten() {
        if let Some(text) = v.as_str() {
            templates.insert(var.clone(), text.to_owned());
        } else {
            templates.remove(var);
        }
    }
    templates.retain(|_, t| !ssm_refs(t).is_empty());
    let ssm_environment = templates
        .iter()
        .map(|(var, t)| SsmEnv {
            variable: var.clone(),
            parameters: ssm_refs(t).into_iter().map(|(_, name)| name).collect(),
            expected_hash: None,
        })
        .collect();
    let events = f
        .get("events")
        .and_then(Value::as_array)
        .map(|events| events.iter().filter_map(event).collect())
        .unwrap_or_default();
    ServiceFunction {
        key: key.to_owned(),
        name,
        handler: f.get("handler").and_then(Value::as_str).map(str::to_owned),
        events,
        environment,
        ssm_environment,
        templates,
    }
}

fn event(e: &Value) -> Option<FunctionEvent> {
    let (kind, body) = e.as_object()?.iter().next()?;
    let route = match (kind.as_str(), body) {
        ("http" | "httpApi", Value::String(s)) => s.clone(),
        ("http" | "httpApi", Value::Object(o)) => {
            let method = o.get("method").and_then(Value::as_str).unwrap_or("any");
            let path = o.get("path").and_then(Value::as_str).unwrap_or("/");
            format!("{} {}", method.to_ascii_uppercase(), path)
        }
        ("websocket", Value::String(s)) => s.clone(),
        ("websocket", Value::Object(o)) => o
            .get("route")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let authorizer = body.get("authorizer").map(|a| match a {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("authorizerId")
            .map(|id| format!("id:{}", display(id)))
            .or_else(|| o.get("arn").map(display))
            .or_else(|| o.get("name").map(display))
            .unwrap_or_else(|| a.to_string()),
        other => other.to_string(),
    });
    Some(FunctionEvent {
        kind: kind.clone(),
        route,
        authorizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = r#"
service: users
provider:
  name: aws
  runtime: nodejs18.x
  stage: ${opt:stage, 'dev'}
  region: us-east-1
  apiGateway:
    restApiId: ${ssm:/api/rest_api_id}
    restApiRootResourceId: ${ssm:/api/root_resource_id}
  iam:
    role:
      managedPolicies:
        - ${ssm:/db_pw_policy}
functions:
  list:
    handler: handler.list
    environment:
      DB_PW_NAME: ${ssm:/db_pw_name}
      TABLE: ${ssm:/users/table_name}
    events:
      - http:
          path: users
          method: get
          authorizer:
            type: TOKEN
            authorizerId: ${ssm:/api/authorizer_id}
resources:
  Resources:
    Extra:
      Type: AWS::SNS::Topic
      Properties:
        TopicName: !Sub '${AWS::StackName}-topic'
"#;

    #[test]
    fn a_service_resolves_per_stage_and_records_its_ssm_reads() {
        let f = ServiceFile::parse(Path::new("users/serverless.yml"), USERS).unwrap();
        let s = f.resolve(Some("qa"), None, None);
        assert_eq!(s.service, "users");
        assert_eq!(s.stack, "users-qa");
        assert_eq!(s.functions[0].name, "users-qa-list");
        assert_eq!(s.functions[0].events[0].route, "GET users");
        assert_eq!(
            s.functions[0].events[0].authorizer.as_deref(),
            Some("id:${ssm:/api/authorizer_id}")
        );
        assert_eq!(s.rest_api_id.as_deref(), Some("${ssm:/api/rest_api_id}"));
        assert_eq!(s.managed_policies, ["${ssm:/db_pw_policy}"]);
        assert_eq!(s.resources["Extra"], "AWS::SNS::Topic");
        let reads: Vec<_> = s
            .ssm_reads()
            .iter()
            .map(|v| ssm_name(&v.argument))
            .collect();
        assert_eq!(
            reads,
            [
                "/api/authorizer_id",
                "/api/rest_api_id",
                "/api/root_resource_id",
                "/db_pw_name",
                "/db_pw_policy",
                "/users/table_name"
            ]
        );
        assert!(s
            .variables
            .iter()
            .any(|v| v.at == "functions.list.environment.DB_PW_NAME"));
        // Without a stage, the file's default.
        assert_eq!(f.resolve(None, None, None).stage, "dev");
        let named = USERS.replace(
            "  stage: ${opt:stage, 'dev'}",
            "  stage: ${opt:stage, 'dev'}\n  stackName: api-${sls:stage}-users",
        );
        let f = ServiceFile::parse(Path::new("users/serverless.yml"), &named).unwrap();
        assert_eq!(f.resolve(Some("qa"), None, None).stack, "api-qa-users");
    }

    #[test]
    fn ssm_names_drop_decryption_suffixes() {
        assert_eq!(ssm_name("/db_pw~true"), "/db_pw");
        assert_eq!(ssm_name("(noDecrypt)/db_pw"), "/db_pw");
        assert_eq!(ssm_name("'/quoted'"), "/quoted");
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let p = Path::new("x/serverless.yml");
        for (text, needle) in [
            ("service: [unclosed", "not valid YAML"),
            ("- a\n- b\n", "top level must be a mapping"),
            ("provider: {name: aws}\n", "`service:` is missing"),
            ("service: x\n", "`provider:` is missing"),
            (
                "service: x\nprovider: [1]\n",
                "`provider:` must be a mapping",
            ),
            (
                "service: x\nprovider: aws\nfunctions: 3\n",
                "`functions:` must be a mapping",
            ),
        ] {
            let err = ServiceFile::parse(p, text).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("x/serverless.yml"),
                "{err}"
            );
        }
        let err = load_service(Path::new("/nonexistent/dir"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read /nonexistent/dir/serverless.yml"),
            "{err}"
        );
    }
}
