//! CloudTrail's event history, which moto lacks: the loopback proxy sees every call, keeps each
//! write it forwarded (time, account, region, caller, user agent, request parameters, the
//! resources named) and answers `cloudtrail:LookupEvents` in the shape AWS documents: events
//! newest first, at most 50 a page, one lookup attribute, the last 90 days, and two requests a
//! second per account and region (then `ThrottlingException`).
//!
//! As in CloudTrail, request values that are secret are not kept (`HIDDEN_DUE_TO_SECURITY_REASONS`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

/// How a request's parameters are written: a JSON body, a form (query or body), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Json,
    Form,
    Other,
}

/// A refusal: the error code and message CloudTrail answers with.
pub(crate) type Refusal = (&'static str, String);

/// What CloudTrail writes in place of a secret request value.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Requests per second (and burst) `LookupEvents` allows per account and region.
const LOOKUPS_PER_SECOND: f64 = 2.0;
const PAGE_MAX: usize = 50;
const HISTORY: time::Duration = time::Duration::days(90);

/// Who made a call, as the proxy learnt it from STS answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub account: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`, `arn:aws:iam::<account>:user/<name>`
    /// or `arn:aws:iam::<account>:root`.
    pub arn: String,
}

/// One forwarded write call.
#[derive(Debug)]
pub(crate) struct Write<'a> {
    pub caller: &'a Caller,
    pub access_key: &'a str,
    pub region: &'a str,
    /// The SigV4 signing name (`lambda`, `secretsmanager`, `apigateway`, …).
    pub service: &'a str,
    pub action: &'a str,
    pub encoding: Encoding,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    pub user_agent: &'a str,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct Recorded {
    id: String,
    account: String,
    region: String,
    name: String,
    source: String,
    at: OffsetDateTime,
    access_key: String,
    username: String,
    /// `(ResourceType, ResourceName)`, as `LookupEvents` lists them.
    resources: Vec<(String, String)>,
    /// The event record, as `CloudTrailEvent` carries it.
    record: Value,
}

type Tokens = (f64, Option<Instant>);

/// The event history of every account the proxy has seen.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    events: Mutex<Vec<Recorded>>,
    /// Each account and region's `LookupEvents` tokens, and when they were last counted.
    buckets: Mutex<HashMap<(String, String), Tokens>>,
}

/// Whether a call is a management event that changes something, as CloudTrail's event history
/// holds it (`readOnly: false`). Data events (S3 objects, DynamoDB items, Lambda invocations) are
/// not in the event history, and a call the proxy cannot name (`<METHOD> <path>`) is not recorded
/// under a made-up name.
pub(crate) fn writes(service: &str, action: &str, method: &str) -> bool {
    if matches!(service, "sts" | "sso" | "sso-oidc" | "cloudtrail")
        || action.is_empty()
        || action.contains(' ')
        || data_event(service, action)
    {
        return false;
    }
    let reads = [
        "List", "Describe", "Get", "Head", "Lookup", "BatchGet", "Query", "Scan", "Filter",
    ]
    .iter()
    .any(|p| action.starts_with(p));
    let rest = matches!(service, "lambda" | "apigateway" | "s3");
    !(reads || (rest && matches!(method, "GET" | "HEAD")))
}

/// A data event: recorded only by a trail with data events selected, never in the event history.
fn data_event(service: &str, action: &str) -> bool {
    match service {
        "s3" => matches!(
            action,
            "PutObject"
                | "PostObject"
                | "DeleteObject"
                | "DeleteObjects"
                | "CopyObject"
                | "CreateMultipartUpload"
                | "UploadPart"
                | "UploadPartCopy"
                | "CompleteMultipartUpload"
                | "AbortMultipartUpload"
                | "PutObjectAcl"
                | "PutObjectTagging"
                | "DeleteObjectTagging"
                | "RestoreObject"
        ),
        "dynamodb" => matches!(
            action,
            "PutItem"
                | "UpdateItem"
                | "DeleteItem"
                | "BatchWriteItem"
                | "TransactWriteItems"
                | "ExecuteStatement"
                | "BatchExecuteStatement"
                | "ExecuteTransaction"
        ),
        "lambda" => action.starts_with("Invoke"),
        _ => false,
    }
}

impl Trail {
    pub(crate) fn record(&self, w: &Write<'_>) {
        let params = request_parameters(w);
        let source = format!("{}.amazonaws.com", w.service);
        let name = event_name(w.service, w.action);
        // CloudTrail records IAM, a global service, in us-east-1.
        let region = if w.service == "iam" {
            "us-east-1"
        } else {
            w.region
        };
        let named = named_resources(w.service, &params);
        let arns: Vec<Value> = named
            .iter()
            .filter_map(|(kind, name)| {
                let arn = arn_of(kind, name, &w.caller.account, region)?;
                Some(json!({ "ARN": arn, "accountId": w.caller.account, "type": kind }))
            })
            .collect();
        let id = event_id();
        let identity = user_identity(w.caller, w.access_key);
        let username = identity
            .get("userName")
            .or_else(|| identity.pointer("/sessionContext/sessionIssuer/userName"))
            .and_then(Value::as_str)
            .unwrap_or("root")
            .to_owned();
        let console =
            w.user_agent.contains("console.amazonaws.com") || w.user_agent.starts_with("Mozilla/");
        // A call an AWS service made on the caller's behalf (CloudFormation creating a stack's
        // resources) names the service as its user agent, source address and `invokedBy`.
        let service_principal =
            (!console && w.user_agent.ends_with(".amazonaws.com") && !w.user_agent.contains(' '))
                .then_some(w.user_agent);
        let mut record = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": rfc3339(w.at),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": service_principal.unwrap_or("127.0.0.1"),
            "userAgent": w.user_agent,
            "requestParameters": params,
            "responseElements": Value::Null,
            "requestID": event_id(),
            "eventID": id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": w.caller.account,
            "eventCategory": "Management",
        });
        if !arns.is_empty() {
            record["resources"] = Value::Array(arns);
        }
        if console {
            record["sessionCredentialFromConsole"] = json!("true");
        }
        if let Some(service) = service_principal {
            record["userIdentity"]["invokedBy"] = json!(service);
        }
        if let Ok(mut events) = self.events.lock() {
            events.push(Recorded {
                id,
                account: w.caller.account.clone(),
                region: region.to_owned(),
                name,
                source,
                at: w.at,
                access_key: w.access_key.to_owned(),
                username,
                resources: named,
                record,
            });
        }
    }

    /// The answer to a `LookupEvents` request of `account` in `region` (JSON), or its refusal.
    pub(crate) fn lookup(
        &self,
        account: &str,
        region: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<String, Refusal> {
        if !self.admit(account, region) {
            return Err(("ThrottlingException", "Rate exceeded".to_owned()));
        }
        self.page(account, region, body, now).map(|v| v.to_string())
    }

    /// Takes a token from the account and region's bucket.
    fn admit(&self, account: &str, region: &str) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let (tokens, at) = buckets
            .entry((account.to_owned(), region.to_owned()))
            .or_insert((LOOKUPS_PER_SECOND, None));
        let now = Instant::now();
        if let Some(at) = at {
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * LOOKUPS_PER_SECOND)
                .min(LOOKUPS_PER_SECOND);
        }
        *at = Some(now);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn page(
        &self,
        account: &str,
        region: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, Refusal> {
        let request: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
            .map_err(|e| ("SerializationException", format!("{e}")))?;
        let time_of = |key: &str| -> Result<Option<OffsetDateTime>, Refusal> {
            match request.get(key).and_then(Value::as_f64) {
                None => Ok(None),
                Some(secs) => OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
                    .map(Some)
                    .map_err(|e| ("InvalidTimeRangeException", format!("{key}: {e}"))),
            }
        };
        let start = time_of("StartTime")?;
        let end = time_of("EndTime")?;
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err((
                    "InvalidTimeRangeException",
                    "Start time must be earlier than end time.".into(),
                ));
            }
        }
        let max = match request.get("MaxResults").and_then(Value::as_u64) {
            None => PAGE_MAX,
            Some(n) if (1..=PAGE_MAX as u64).contains(&n) => n as usize,
            Some(_) => {
                return Err((
                    "InvalidMaxResultsException",
                    "MaxResults must be between 1 and 50.".into(),
                ))
            }
        };
        let attrs = request
            .get("LookupAttributes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if attrs.len() > 1 {
            return Err((
                "InvalidLookupAttributesException",
                "You can only specify one lookup attribute.".into(),
            ));
        }
        let filter = match attrs.first() {
            None => None,
            Some(a) => {
                let key = a["AttributeKey"].as_str().unwrap_or_default().to_owned();
                let value = a["AttributeValue"].as_str().unwrap_or_default().to_owned();
                const KEYS: [&str; 8] = [
                    "EventId",
                    "EventName",
                    "ReadOnly",
                    "Username",
                    "ResourceType",
                    "ResourceName",
                    "EventSource",
                    "AccessKeyId",
                ];
                if !KEYS.contains(&key.as_str()) || value.is_empty() {
                    return Err((
                        "InvalidLookupAttributesException",
                        format!("Invalid lookup attribute {key}={value}."),
                    ));
                }
                Some((key, value))
            }
        };
        let skip = match request.get("NextToken").and_then(Value::as_str) {
            None => 0,
            Some(t) => t
                .strip_prefix("page-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(("InvalidNextTokenException", "Invalid NextToken.".to_owned()))?,
        };
        let oldest = now - HISTORY;
        let events = self.events.lock().map_err(|_| {
            (
                "CloudTrailInternalException",
                "event history unavailable".to_owned(),
            )
        })?;
        let mut matching: Vec<&Recorded> = events
            .iter()
            .filter(|e| e.account == account && e.region == region && e.at >= oldest)
            .filter(|e| start.is_none_or(|s| e.at >= s) && end.is_none_or(|t| e.at <= t))
            .filter(|e| match &filter {
                None => true,
                Some((k, v)) => match k.as_str() {
                    "EventId" => &e.id == v,
                    "EventName" => &e.name == v,
                    // Every recorded event writes.
                    "ReadOnly" => v == "false",
                    "Username" => &e.username == v,
                    "ResourceType" => e.resources.iter().any(|(t, _)| t == v),
                    "ResourceName" => e.resources.iter().any(|(_, n)| n == v),
                    "EventSource" => &e.source == v,
                    _ => &e.access_key == v,
                },
            })
            .collect();
        // Newest first; events recorded in the same instant keep their order, reversed.
        matching.reverse();
        matching.sort_by_key(|e| std::cmp::Reverse(e.at));
        let page: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(max)
            .map(|e| {
                json!({
                    "EventId": e.id,
                    "EventName": e.name,
                    "ReadOnly": "false",
                    "AccessKeyId": e.access_key,
                    "EventTime": e.at.unix_timestamp_nanos() as f64 / 1e9,
                    "EventSource": e.source,
                    "Username": e.username,
                    "Resources": e.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                    "CloudTrailEvent": e.record.to_string(),
                })
            })
            .collect();
        let mut answer = json!({ "Events": page });
        if skip + max < matching.len() {
            answer["NextToken"] = json!(format!("page-{}", skip + max));
        }
        Ok(answer)
    }
}

/// An organization trail delivering every account's events to a CloudWatch Logs group, as the
/// emulator describes it.
#[derive(Debug, Clone)]
pub(crate) struct TrailSetup {
    home_region: String,
    multi_region: bool,
    group_account: String,
    group_region: String,
    group: String,
    /// When it logged: events outside this span were never delivered.
    logging: (OffsetDateTime, Option<OffsetDateTime>),
}

impl TrailSetup {
    /// From a `DescribeTrails` entry and its `GetTrailStatus`: `None` for a trail that is not an
    /// organization's, has no log group, or never logged.
    pub(crate) fn of(trail: &Value, status: &Value) -> Option<TrailSetup> {
        if trail["IsOrganizationTrail"].as_bool() != Some(true) {
            return None;
        }
        let group_arn = trail["CloudWatchLogsLogGroupArn"].as_str()?;
        let parts: Vec<&str> = group_arn.splitn(7, ':').collect();
        let [_, _, "logs", group_region, group_account, "log-group", group] = parts[..] else {
            return None;
        };
        let home_region = trail["HomeRegion"]
            .as_str()
            .or_else(|| trail["TrailARN"].as_str()?.split(':').nth(3))?;
        // Timestamps in CloudTrail's JSON protocol are epoch seconds.
        let at = |key: &str| {
            status[key]
                .as_f64()
                .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos((t * 1e9) as i128).ok())
        };
        let started = at("StartLoggingTime")?;
        let stopped = if status["IsLogging"].as_bool() == Some(true) {
            None
        } else {
            Some(at("StopLoggingTime")?)
        };
        Some(TrailSetup {
            home_region: home_region.to_owned(),
            multi_region: trail["IsMultiRegionTrail"].as_bool() == Some(true),
            group_account: group_account.to_owned(),
            group_region: group_region.to_owned(),
            group: group.strip_suffix(":*").unwrap_or(group).to_owned(),
            logging: (started, stopped),
        })
    }
}

/// Events a `FilterLogEvents` page holds at most, and by default.
const LOG_PAGE_MAX: usize = 10_000;

impl Trail {
    /// The answer to a `logs:FilterLogEvents` request of `account` in `region` when it reads an
    /// organization trail's group (`None`: it does not, and the emulator answers). Events come
    /// oldest first, one stream per account and region (`<org>_<account>_CloudTrail_<region>`),
    /// each message the event's record. The filter patterns answered are none and the JSON
    /// selectors on `readOnly` (`{ $.readOnly IS FALSE }`, `{ $.readOnly = false }`, and their
    /// `TRUE` / `true` forms); any other is refused rather than answered unfiltered.
    pub(crate) fn filter(
        &self,
        trails: &[TrailSetup],
        account: &str,
        region: &str,
        organization: &str,
        body: &[u8],
    ) -> Option<Result<String, Refusal>> {
        let request: Value =
            serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).unwrap_or_default();
        let named = request["logGroupName"].as_str();
        let identifier = request["logGroupIdentifier"].as_str();
        let delivery = {
            trails
                .iter()
                .find(|d| {
                    d.group_account == account
                        && d.group_region == region
                        && (named == Some(d.group.as_str())
                            || identifier.is_some_and(|i| {
                                i == d.group
                                    || i.strip_suffix(":*").unwrap_or(i).ends_with(&format!(
                                        ":{}:log-group:{}",
                                        d.group_account, d.group
                                    ))
                            }))
                })?
                .clone()
        };
        Some(self.delivered(&delivery, organization, &request))
    }

    fn delivered(
        &self,
        d: &TrailSetup,
        organization: &str,
        request: &Value,
    ) -> Result<String, Refusal> {
        let invalid = |m: &str| ("InvalidParameterException", m.to_owned());
        if request.get("logGroupName").is_some() && request.get("logGroupIdentifier").is_some() {
            return Err(invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            ));
        }
        let limit = match request.get("limit").and_then(Value::as_u64) {
            None => LOG_PAGE_MAX,
            Some(n) if (1..=LOG_PAGE_MAX as u64).contains(&n) => n as usize,
            Some(_) => {
                return Err(invalid(
                    "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
                ))
            }
        };
        let pattern: String = request["filterPattern"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let read_only = match pattern.as_str() {
            "" => None,
            "{$.readOnlyISFALSE}" | "{$.readOnly=false}" => Some(false),
            "{$.readOnlyISTRUE}" | "{$.readOnly=true}" => Some(true),
            other => {
                return Err(invalid(&format!(
                    "the sandbox's CloudTrail delivery answers only filter patterns on readOnly, not `{other}`"
                )))
            }
        };
        let ms = |key: &str| -> Option<i128> { request[key].as_i64().map(i128::from) };
        let (start, end) = (ms("startTime"), ms("endTime"));
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(invalid("startTime must be before endTime"));
            }
        }
        let skip = match request.get("nextToken").and_then(Value::as_str) {
            None => 0,
            Some(t) => t
                .strip_prefix("logs-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
        };
        let delivered = |at: OffsetDateTime| {
            let (from, to) = d.logging;
            at >= from && to.is_none_or(|t| at <= t)
        };
        let events = self.events.lock().map_err(|_| {
            (
                "ServiceUnavailableException",
                "log events unavailable".to_owned(),
            )
        })?;
        let mut matching: Vec<&Recorded> = events
            .iter()
            .filter(|e| delivered(e.at))
            .filter(|e| d.multi_region || e.region == d.home_region)
            // Every recorded event writes.
            .filter(|_| read_only != Some(true))
            .filter(|e| {
                let t = e.at.unix_timestamp_nanos() / 1_000_000;
                start.is_none_or(|s| t >= s) && end.is_none_or(|x| t <= x)
            })
            .collect();
        // Oldest first.
        matching.sort_by_key(|e| e.at);
        let page: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(limit)
            .map(|e| {
                let t = (e.at.unix_timestamp_nanos() / 1_000_000) as i64;
                json!({
                    "logStreamName": format!("{organization}_{}_CloudTrail_{}", e.account, e.region),
                    "timestamp": t,
                    "message": e.record.to_string(),
                    "ingestionTime": t,
                    "eventId": e.id,
                })
            })
            .collect();
        let mut answer = json!({ "events": page, "searchedLogStreams": [] });
        if skip + limit < matching.len() {
            answer["nextToken"] = json!(format!("logs-{}", skip + limit));
        }
        Ok(answer.to_string())
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn event_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// CloudTrail names Lambda's events with the API version they came through.
fn event_name(service: &str, action: &str) -> String {
    match (service, action) {
        ("lambda", "CreateFunction" | "DeleteFunction" | "AddPermission") => {
            format!("{action}20150331")
        }
        ("lambda", "UpdateFunctionConfiguration" | "UpdateFunctionCode") => {
            format!("{action}20150331v2")
        }
        ("lambda", "TagResource" | "UntagResource") => format!("{action}20170331v2"),
        _ => action.to_owned(),
    }
}

fn user_identity(caller: &Caller, access_key: &str) -> Value {
    let parts: Vec<&str> = caller.arn.splitn(6, ':').collect();
    let resource = parts.get(5).copied().unwrap_or_default();
    let segs: Vec<&str> = resource.split('/').collect();
    match segs.as_slice() {
        ["assumed-role", role, session, ..] => json!({
            "type": "AssumedRole",
            "principalId": format!("AROASANDBOX{}:{session}", role.len()),
            "arn": caller.arn,
            "accountId": caller.account,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROASANDBOX{}", role.len()),
                    "arn": format!("arn:aws:iam::{}:role/{role}", caller.account),
                    "accountId": caller.account,
                    "userName": role,
                },
                "attributes": { "mfaAuthenticated": "false" },
            },
        }),
        ["user", .., name] => json!({
            "type": "IAMUser",
            "principalId": "AIDASANDBOX",
            "arn": caller.arn,
            "accountId": caller.account,
            "accessKeyId": access_key,
            "userName": name,
        }),
        _ => json!({
            "type": "Root",
            "principalId": caller.account,
            "arn": format!("arn:aws:iam::{}:root", caller.account),
            "accountId": caller.account,
            "accessKeyId": access_key,
        }),
    }
}

/// A key's name as CloudTrail writes request parameters: the API member's, first letter lowered.
fn camel(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Request members CloudTrail never records the value of.
fn is_secret(key: &str) -> bool {
    matches!(
        key,
        "secretString" | "secretBinary" | "value" | "plaintext" | "variables" | "password"
    )
}

fn lowered(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = camel(&k);
                    let v = if is_secret(&k) {
                        json!(HIDDEN)
                    } else {
                        lowered(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(lowered).collect()),
        other => other,
    }
}

/// The request's parameters as CloudTrail's `requestParameters` holds them.
fn request_parameters(w: &Write<'_>) -> Value {
    let body_json = || {
        serde_json::from_slice::<Value>(w.body)
            .ok()
            .filter(Value::is_object)
    };
    let mut params = match w.encoding {
        Encoding::Json => body_json().map(lowered).unwrap_or_else(|| json!({})),
        Encoding::Form => {
            let form = if w.method == "GET" {
                w.query.as_bytes()
            } else {
                w.body
            };
            let mut m = Map::new();
            for (k, v) in form_urlencoded::parse(form) {
                if k == "Action" || k == "Version" {
                    continue;
                }
                let k = camel(&k);
                let v = if is_secret(&k) {
                    json!(HIDDEN)
                } else {
                    json!(v)
                };
                m.insert(k, v);
            }
            Value::Object(m)
        }
        Encoding::Other => json!({}),
    };
    let segs: Vec<String> = w
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::loopback::path_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let path_params: Vec<(&str, &str)> = match (w.service, segs.as_slice()) {
        ("lambda", [_, "functions", name, ..]) => vec![("functionName", name)],
        ("lambda", [_, "tags", arn]) => vec![("resource", arn)],
        ("apigateway", ["restapis", id, ..]) => vec![("restApiId", id)],
        ("apigateway", ["v2", "apis", id, ..]) => vec![("apiId", id)],
        ("apigateway", ["domainnames", name, ..] | ["v2", "domainnames", name, ..]) => {
            vec![("domainName", name)]
        }
        ("s3", [bucket]) => vec![("bucketName", bucket), ("Host", "127.0.0.1")],
        ("s3", [bucket, ..]) => vec![("bucketName", bucket), ("key", "")],
        _ => Vec::new(),
    };
    if let Value::Object(m) = &mut params {
        for (k, v) in path_params {
            let v = if k == "key" {
                segs.get(1..).map(|s| s.join("/")).unwrap_or_default()
            } else {
                v.to_owned()
            };
            m.insert(k.to_owned(), json!(v));
        }
    }
    params
}

/// The resources an event names, `(ResourceType, ResourceName)`, from its request parameters.
fn named_resources(service: &str, params: &Value) -> Vec<(String, String)> {
    let keys: &[(&str, &str)] = match service {
        "lambda" => &[("functionName", "AWS::Lambda::Function")],
        "ssm" => &[("name", "AWS::SSM::Parameter")],
        "secretsmanager" => &[
            ("secretId", "AWS::SecretsManager::Secret"),
            ("name", "AWS::SecretsManager::Secret"),
        ],
        "dynamodb" => &[("tableName", "AWS::DynamoDB::Table")],
        "kms" => &[("keyId", "AWS::KMS::Key")],
        "iam" => &[
            ("roleName", "AWS::IAM::Role"),
            ("policyArn", "AWS::IAM::Policy"),
        ],
        "s3" => &[("bucketName", "AWS::S3::Bucket")],
        "cloudformation" => &[("stackName", "AWS::CloudFormation::Stack")],
        "apigateway" => &[
            ("restApiId", "AWS::ApiGateway::RestApi"),
            ("apiId", "AWS::ApiGatewayV2::Api"),
            ("domainName", "AWS::ApiGateway::DomainName"),
        ],
        _ => &[],
    };
    let mut out = Vec::new();
    for (key, kind) in keys {
        if let Some(v) = params.get(*key).and_then(Value::as_str) {
            out.push(((*kind).to_owned(), v.to_owned()));
        }
    }
    if let Some(names) = params.get("names").and_then(Value::as_array) {
        if service == "ssm" {
            for n in names.iter().filter_map(Value::as_str) {
                out.push(("AWS::SSM::Parameter".to_owned(), n.to_owned()));
            }
        }
    }
    out
}

fn arn_of(kind: &str, name: &str, account: &str, region: &str) -> Option<String> {
    if name.starts_with("arn:") {
        return Some(name.to_owned());
    }
    Some(match kind {
        "AWS::Lambda::Function" => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
        "AWS::DynamoDB::Table" => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
        "AWS::IAM::Role" => format!("arn:aws:iam::{account}:role/{name}"),
        "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
        "AWS::SSM::Parameter" => format!(
            "arn:aws:ssm:{region}:{account}:parameter/{}",
            name.trim_start_matches('/')
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            account: "111111111111".into(),
            arn: "arn:aws:sts::111111111111:assumed-role/Admin/alice".into(),
        }
    }

    fn write<'a>(c: &'a Caller, service: &'a str, action: &'a str, body: &'a [u8]) -> Write<'a> {
        Write {
            caller: c,
            access_key: "ASIAKEY",
            region: "eu-west-1",
            service,
            action,
            encoding: Encoding::Json,
            method: "POST",
            path: "/",
            query: "",
            body,
            user_agent: "aws-cli/2.15.0",
            at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn an_organization_trails_group_holds_what_it_logged_oldest_first_in_pages() {
        let trail = Trail::default();
        let c = caller();
        let before = OffsetDateTime::now_utc() - time::Duration::minutes(10);
        let mut early = write(&c, "ssm", "PutParameter", br#"{"Name":"/a"}"#);
        early.at = before;
        trail.record(&early);
        for name in ["/b", "/c", "/d"] {
            trail.record(&write(
                &c,
                "ssm",
                "PutParameter",
                format!(r#"{{"Name":"{name}"}}"#).as_bytes(),
            ));
        }
        let setup = TrailSetup::of(
            &json!({
                "IsOrganizationTrail": true,
                "IsMultiRegionTrail": true,
                "TrailARN": "arn:aws:cloudtrail:us-east-1:999999999999:trail/org",
                "CloudWatchLogsLogGroupArn": "arn:aws:logs:us-east-1:999999999999:log-group:org/CloudTrailLogs:*",
            }),
            &json!({
                "IsLogging": true,
                "StartLoggingTime": (before + time::Duration::minutes(1)).unix_timestamp(),
            }),
        )
        .expect("an organization trail with a group");
        let ask = |account: &str, body: Value| {
            trail.filter(
                std::slice::from_ref(&setup),
                account,
                "us-east-1",
                "o-abc",
                body.to_string().as_bytes(),
            )
        };
        // Another group, or the group read from another account: not the trail's.
        assert!(ask("999999999999", json!({"logGroupName": "app/logs"})).is_none());
        assert!(ask(
            "111111111111",
            json!({"logGroupName": "org/CloudTrailLogs"})
        )
        .is_none());
        let page = |body: Value| -> Value {
            serde_json::from_str(
                &ask("999999999999", body)
                    .expect("the trail's group")
                    .expect("an answer"),
            )
            .expect("JSON")
        };
        let first = page(json!({
            "logGroupName": "org/CloudTrailLogs",
            "filterPattern": "{ $.readOnly IS FALSE }",
            "limit": 2,
        }));
        let names = |p: &Value| -> Vec<String> {
            p["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| {
                    let record: Value =
                        serde_json::from_str(e["message"].as_str().expect("message"))
                            .expect("record");
                    record["requestParameters"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        };
        // The write before the trail logged was never delivered.
        assert_eq!(names(&first), ["/b", "/c"]);
        assert_eq!(
            first["events"][0]["logStreamName"],
            "o-abc_111111111111_CloudTrail_eu-west-1"
        );
        let token = first["nextToken"].as_str().expect("a next page").to_owned();
        let second = page(json!({
            "logGroupIdentifier": "arn:aws:logs:us-east-1:999999999999:log-group:org/CloudTrailLogs",
            "filterPattern": "{ $.readOnly IS FALSE }",
            "limit": 2,
            "nextToken": token,
        }));
        assert_eq!(names(&second), ["/d"]);
        assert!(second.get("nextToken").is_none());
        // Reads only: none recorded.
        assert_eq!(
            names(&page(
                json!({"logGroupName": "org/CloudTrailLogs", "filterPattern": "{ $.readOnly IS TRUE }"})
            )),
            Vec::<String>::new()
        );
        // A pattern the sandbox cannot apply is refused, not answered unfiltered.
        let refused = ask(
            "999999999999",
            json!({"logGroupName": "org/CloudTrailLogs", "filterPattern": "ERROR"}),
        )
        .expect("the trail's group");
        assert_eq!(refused.map_err(|e| e.0), Err("InvalidParameterException"));
        let too_many = ask(
            "999999999999",
            json!({"logGroupName": "org/CloudTrailLogs", "limit": 10_001}),
        )
        .expect("the trail's group");
        assert!(too_many.is_err());
    }

    #[test]
    fn secret_values_are_not_kept() {
        let trail = Trail::default();
        let c = caller();
        trail.record(&write(
            &c,
            "secretsmanager",
            "PutSecretValue",
            br#"{"SecretId":"db","SecretString":"hunter2"}"#,
        ));
        let answer = trail
            .page(
                "111111111111",
                "eu-west-1",
                b"{}",
                OffsetDateTime::now_utc(),
            )
            .expect("a page");
        let text = answer.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(HIDDEN));
        let event = &answer["Events"][0];
        assert_eq!(event["Username"], "Admin");
        assert_eq!(event["Resources"][0]["ResourceName"], "db");
        let record: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap_or("{}"))
            .unwrap_or_default();
        assert_eq!(record["requestParameters"]["secretId"], "db");
        assert_eq!(record["userIdentity"]["type"], "AssumedRole");
        assert_eq!(record["eventSource"], "secretsmanager.amazonaws.com");
    }

    #[test]
    fn pages_newest_first_within_the_asked_window() {
        let trail = Trail::default();
        let c = caller();
        let now = OffsetDateTime::now_utc();
        for i in 0..60 {
            let body = format!(r#"{{"Name":"/p/{i}","Value":"v","Overwrite":true}}"#);
            let mut w = write(&c, "ssm", "PutParameter", body.as_bytes());
            w.at = now - time::Duration::minutes(60 - i);
            trail.record(&w);
        }
        let first = trail
            .page("111111111111", "eu-west-1", b"{}", now)
            .expect("page");
        let events = first["Events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), 50);
        assert_eq!(events[0]["Resources"][0]["ResourceName"], "/p/59");
        let token = first["NextToken"].as_str().unwrap_or_default();
        let second = trail
            .page(
                "111111111111",
                "eu-west-1",
                format!(r#"{{"NextToken":"{token}"}}"#).as_bytes(),
                now,
            )
            .expect("page");
        assert_eq!(second["Events"].as_array().map(Vec::len), Some(10));
        assert!(second.get("NextToken").is_none());
        let since = (now - time::Duration::minutes(5)).unix_timestamp();
        let recent = trail
            .page(
                "111111111111",
                "eu-west-1",
                format!(r#"{{"StartTime":{since}}}"#).as_bytes(),
                now,
            )
            .expect("page");
        assert_eq!(recent["Events"].as_array().map(Vec::len), Some(5));
        let other = trail
            .page("222222222222", "eu-west-1", b"{}", now)
            .expect("page");
        assert_eq!(other["Events"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn refuses_what_cloudtrail_refuses() {
        let trail = Trail::default();
        let now = OffsetDateTime::now_utc();
        let two = br#"{"LookupAttributes":[{"AttributeKey":"ReadOnly","AttributeValue":"false"},{"AttributeKey":"EventName","AttributeValue":"X"}]}"#;
        assert_eq!(
            trail.page("1", "r", two, now).err().map(|e| e.0),
            Some("InvalidLookupAttributesException")
        );
        assert_eq!(
            trail
                .page("1", "r", br#"{"MaxResults":51}"#, now)
                .err()
                .map(|e| e.0),
            Some("InvalidMaxResultsException")
        );
        assert_eq!(
            trail
                .page("1", "r", br#"{"StartTime":20,"EndTime":10}"#, now)
                .err()
                .map(|e| e.0),
            Some("InvalidTimeRangeException")
        );
        // Two requests a second per account and region.
        assert!(trail.admit("1", "r") && trail.admit("1", "r"));
        assert!(!trail.admit("1", "r"));
        assert!(trail.admit("1", "other"));
    }

    #[test]
    fn reads_are_not_events() {
        assert!(!writes("ssm", "GetParameters", "POST"));
        assert!(!writes("lambda", "GET /2015-03-31/functions", "GET"));
        assert!(!writes("cloudtrail", "LookupEvents", "POST"));
        assert!(writes("lambda", "UpdateFunctionConfiguration", "PUT"));
        assert!(writes("secretsmanager", "DeleteSecret", "POST"));
    }
}
