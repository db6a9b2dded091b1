//! CloudTrail's event history: the write events of one account and region (`LookupEvents` with
//! `ReadOnly=false`), read from a point in time, reduced to [`ChangeEvent`]s. Event history is on in
//! every account, holds 90 days of management events and needs no trail; it answers two requests a
//! second per account and region, so the pages of one read are paced to that rate.
//!
//! Only what identifies a change is kept: who, when, with which tool, the names of what it
//! touched, and a deletion's window. Request values are dropped (CloudTrail hides the secret ones
//! anyway).

use std::time::Duration;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::change::{ChangeEvent, ChangeTarget, FeedRead, Tool};
use crate::model::UiError;
use crate::sdk_error::aws_message;

/// `LookupEvents` requests a second per account and region.
const PER_SECOND: f64 = 2.0;
/// Events one read takes at most (newest first); older ones in its window are left unread and the
/// read says from when it has them.
pub const MAX_EVENTS: usize = 2_000;
/// How long after the call an event can appear in the history: each read starts this much before
/// the previous one ended, and events already held are skipped.
pub const DELIVERY_LAG: time::Duration = time::Duration::minutes(15);

/// The write events of one account and region from `since` to `until`.
#[derive(Debug)]
pub struct History {
    pub changes: Vec<ChangeEvent>,
    pub read: FeedRead,
}

pub async fn read(
    config: &aws_config::SdkConfig,
    account_id: &str,
    region: &str,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> History {
    let client = crate::client!(aws_sdk_cloudtrail, config);
    let mut changes = Vec::new();
    let mut token: Option<String> = None;
    let mut last_call: Option<tokio::time::Instant> = None;
    let mut covered_from = since;
    let mut error = None;
    let gap = Duration::from_secs_f64(1.0 / PER_SECOND);
    // Both members are set, so the builder cannot refuse it.
    let writes = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::ReadOnly)
        .attribute_value("false")
        .build()
        .ok()
        .map(|a| vec![a]);
    loop {
        if let Some(at) = last_call {
            tokio::time::sleep_until(at + gap).await;
        }
        last_call = Some(tokio::time::Instant::now());
        let page = client
            .lookup_events()
            .set_lookup_attributes(writes.clone())
            .start_time(aws_smithy_types::DateTime::from_secs(
                since.unix_timestamp(),
            ))
            // Whole seconds: the end rounded up, so an event in the scan's first second is not cut.
            .end_time(aws_smithy_types::DateTime::from_secs(
                until.unix_timestamp() + 1,
            ))
            .max_results(50)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let code = code_of(&e);
                error = Some(UiError {
                    code,
                    message: format!(
                        "cloudtrail:LookupEvents in account {account_id}, {region}: {}{}",
                        aws_message(&e),
                        if code == crate::model::ErrorCode::AccessDenied {
                            "; without it, who changed what is not known and each scan reads everything again (docs/read-only-policy.json grants it)"
                        } else {
                            ""
                        }
                    ),
                });
                break;
            }
        };
        for event in page.events() {
            let resources: Vec<(String, String)> = event
                .resources()
                .iter()
                .filter_map(|r| {
                    Some((
                        r.resource_type().unwrap_or_default().to_owned(),
                        r.resource_name()?.to_owned(),
                    ))
                })
                .collect();
            let Some(record) = event.cloud_trail_event() else {
                continue;
            };
            if let Some(change) = parse(record, &resources, account_id, region) {
                changes.push(change);
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
        if changes.len() >= MAX_EVENTS {
            // Newest first: what is held reaches back to its oldest event.
            if let Some(oldest) = changes.last().and_then(|c| parse_time(&c.at)) {
                covered_from = oldest;
            }
            break;
        }
    }
    let read = FeedRead {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        since: rfc3339(covered_from),
        until: rfc3339(until),
        events: u32::try_from(changes.len()).unwrap_or(u32::MAX),
        error,
    };
    History { changes, read }
}

/// An organization trail that delivers every account's events to one CloudWatch Logs group (as
/// AWS Control Tower sets one up): one `logs:FilterLogEvents` read there covers every account and
/// region it logs, where the event history takes one `LookupEvents` read per account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgTrail {
    pub trail_arn: String,
    /// The group's name, account and region, from its ARN.
    pub group: String,
    pub group_account: String,
    pub group_region: String,
    /// Every region's events (a multi-region trail), or only its home region's.
    pub home_region: String,
    pub multi_region: bool,
}

impl OrgTrail {
    /// `the organization trail <name> (log group <group> in <account>)`.
    pub fn describe(&self) -> String {
        let name = self
            .trail_arn
            .rsplit_once(":trail/")
            .map_or(self.trail_arn.as_str(), |(_, n)| n);
        format!(
            "the organization trail {name} (log group {} in {})",
            self.group, self.group_account
        )
    }

    /// Whether the trail logs this region's events.
    pub fn covers(&self, region: &str) -> bool {
        self.multi_region || self.home_region == region
    }
}

/// The organization trail of the management account (`config`), when one is logging to
/// CloudWatch Logs: `cloudtrail:DescribeTrails`, then `GetTrailStatus` (a trail that is not
/// logging delivers nothing, so reading it would miss every change). `None` when there is none
/// or either call is refused: the event history is read instead.
pub async fn org_trail(config: &aws_config::SdkConfig) -> Option<OrgTrail> {
    let client = crate::client!(aws_sdk_cloudtrail, config);
    let trails = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .ok()?;
    for t in trails.trail_list() {
        if t.is_organization_trail() != Some(true) {
            continue;
        }
        let (Some(arn), Some(group_arn)) = (t.trail_arn(), t.cloud_watch_logs_log_group_arn())
        else {
            continue;
        };
        // The home region, or the one its ARN names (arn:aws:cloudtrail:<region>:…).
        let Some(home) = t.home_region().or_else(|| arn.split(':').nth(3)) else {
            continue;
        };
        // arn:aws:logs:<region>:<account>:log-group:<name>[:*]
        let parts: Vec<&str> = group_arn.splitn(7, ':').collect();
        let [_, _, "logs", region, account, "log-group", name] = parts[..] else {
            continue;
        };
        let name = name.strip_suffix(":*").unwrap_or(name);
        let trail = OrgTrail {
            trail_arn: arn.to_owned(),
            group: name.to_owned(),
            group_account: account.to_owned(),
            group_region: region.to_owned(),
            home_region: home.to_owned(),
            multi_region: t.is_multi_region_trail() == Some(true),
        };
        if still_logging(config, &trail).await {
            return Some(trail);
        }
    }
    None
}

/// Whether `trail` still logs (`cloudtrail:GetTrailStatus` in its home region).
pub async fn still_logging(config: &aws_config::SdkConfig, trail: &OrgTrail) -> bool {
    crate::client!(
        aws_sdk_cloudtrail,
        &crate::credentials::in_region(config, &trail.home_region)
    )
    .get_trail_status()
    .name(&trail.trail_arn)
    .send()
    .await
    .is_ok_and(|s| s.is_logging() == Some(true))
}

/// Events one organization-wide read takes at most (oldest first); the read then says it covers
/// up to its newest event, and the next read goes on from there.
pub const ORG_MAX_EVENTS: usize = 20_000;

/// How much one organization-wide read takes: [`ORG_MAX_EVENTS`] at CloudWatch Logs' own page
/// size, unless told otherwise.
#[derive(Debug, Clone, Copy)]
pub struct OrgReadCap {
    /// Events read at most; the read stops at the page that reaches it.
    pub events: usize,
    /// Events a page (`limit`); `None`: the service's default (up to 10,000).
    pub page: Option<i32>,
}

impl Default for OrgReadCap {
    fn default() -> Self {
        OrgReadCap {
            events: ORG_MAX_EVENTS,
            page: None,
        }
    }
}

/// The write events of every account and region in `places` from `since` to `until`, from the
/// organization trail's log group (`config` reaches the group's account): one
/// `logs:FilterLogEvents` read, paged, keeping only writes (`{ $.readOnly IS FALSE }`, and each
/// record checked again). Each place gets its own [`History`] with the span the read covered.
pub async fn read_org(
    config: &aws_config::SdkConfig,
    trail: &OrgTrail,
    places: &[(String, String)],
    since: OffsetDateTime,
    until: OffsetDateTime,
    cap: OrgReadCap,
) -> Vec<History> {
    let client = crate::client!(
        aws_sdk_cloudwatchlogs,
        &crate::credentials::in_region(config, &trail.group_region)
    );
    let wanted: std::collections::HashSet<(&str, &str)> = places
        .iter()
        .map(|(a, r)| (a.as_str(), r.as_str()))
        .collect();
    let mut by_place: std::collections::HashMap<(String, String), Vec<ChangeEvent>> =
        std::collections::HashMap::new();
    let mut token: Option<String> = None;
    let mut covered_until = until;
    let mut read = 0usize;
    // The newest event read, kept or not: a capped read covers up to it.
    let mut newest_read: Option<i64> = None;
    let mut error = None;
    loop {
        let page = client
            .filter_log_events()
            .log_group_name(&trail.group)
            .filter_pattern(WRITES_PATTERN)
            .start_time(since.unix_timestamp() * 1000)
            // Whole seconds: the end rounded up, so an event in the scan's first second is not cut.
            .end_time((until.unix_timestamp() + 1) * 1000)
            .set_limit(cap.page)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let code = code_of(&e);
                error = Some(UiError {
                    code,
                    message: format!(
                        "logs:FilterLogEvents on the organization trail's log group {} (account {}, {}): {}",
                        trail.group,
                        trail.group_account,
                        trail.group_region,
                        aws_message(&e)
                    ),
                });
                break;
            }
        };
        for event in page.events() {
            read += 1;
            if let Some(t) = event.timestamp() {
                newest_read = newest_read.max(Some(t));
            }
            let Some(record) = event.message() else {
                continue;
            };
            // The filter pattern already keeps writes; a record is checked again, so a delivery
            // that ignored the pattern cannot pass reads off as changes.
            let Ok(fields) = serde_json::from_str::<Value>(record) else {
                continue;
            };
            if fields["readOnly"].as_bool() != Some(false) {
                continue;
            }
            let (Some(account), Some(region)) = (
                fields["recipientAccountId"].as_str(),
                fields["awsRegion"].as_str(),
            ) else {
                continue;
            };
            if !wanted.contains(&(account, region)) {
                continue;
            }
            if let Some(change) = parse(record, &[], account, region) {
                by_place
                    .entry((account.to_owned(), region.to_owned()))
                    .or_default()
                    .push(change);
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
        if read >= cap.events {
            // Oldest first: the read reaches up to the newest event it read, whether or not that
            // event was one of the places' (a read whose events were all elsewhere still moved on).
            if let Some(newest) = newest_read.and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            }) {
                covered_until = newest.min(until);
            }
            break;
        }
    }
    places
        .iter()
        .map(|(account, region)| {
            let mut changes = by_place
                .remove(&(account.clone(), region.clone()))
                .unwrap_or_default();
            // Newest first, as the event history answers.
            changes.sort_by(|a, b| b.at.cmp(&a.at));
            History {
                read: FeedRead {
                    account_id: account.clone(),
                    region: region.clone(),
                    since: rfc3339(since),
                    until: rfc3339(covered_until),
                    events: u32::try_from(changes.len()).unwrap_or(u32::MAX),
                    error: error.clone(),
                },
                changes,
            }
        })
        .collect()
}

/// CloudWatch Logs' filter pattern for CloudTrail records that changed something.
pub const WRITES_PATTERN: &str = "{ $.readOnly IS FALSE }";

/// What kind of failure a history read met, for the coverage line.
fn code_of<E, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> crate::model::ErrorCode
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    crate::collect::error_code(e)
        .map(crate::collect::classify)
        .unwrap_or(crate::model::ErrorCode::Aws)
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// One event record (`CloudTrailEvent`'s JSON), with the resources `LookupEvents` listed for it.
/// `None` for a call that failed (it changed nothing) or a record that is not an event.
pub fn parse(
    record: &str,
    listed: &[(String, String)],
    account_id: &str,
    region: &str,
) -> Option<ChangeEvent> {
    let e: Value = serde_json::from_str(record).ok()?;
    if e.get("errorCode").is_some_and(|c| !c.is_null()) {
        return None;
    }
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let id = s(&e["eventID"])?;
    let at = s(&e["eventTime"])?;
    let source = s(&e["eventSource"]).unwrap_or_default();
    let action = action_name(e["eventName"].as_str().unwrap_or_default());
    let user_agent: String = e["userAgent"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let identity = &e["userIdentity"];
    let tool = tool_of(
        &user_agent,
        identity["invokedBy"].as_str(),
        identity["type"].as_str(),
        e["sessionCredentialFromConsole"].as_str() == Some("true"),
    );
    let (who, who_arn) = who(identity);
    let params = &e["requestParameters"];
    let mut targets: Vec<ChangeTarget> = Vec::new();
    for r in e["resources"].as_array().into_iter().flatten() {
        if let Some(arn) = r["ARN"].as_str() {
            targets.push(ChangeTarget {
                type_name: r["type"].as_str().map(str::to_owned),
                name: arn.to_owned(),
            });
        }
    }
    for (kind, name) in listed {
        targets.push(ChangeTarget {
            type_name: (!kind.is_empty()).then(|| kind.clone()),
            name: name.clone(),
        });
    }
    targets.extend(named(&source, params));
    targets.retain(|t| !only_referenced(&source, &action, t));
    targets.sort();
    targets.dedup();
    let window = |key: &str| -> Option<u32> {
        match &params[key] {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(t) => t.parse().ok(),
            _ => None,
        }
    };
    let window_days = match action.as_str() {
        "DeleteSecret" if params["forceDeleteWithoutRecovery"].as_bool() != Some(true) => {
            Some(window("recoveryWindowInDays").unwrap_or(30))
        }
        "ScheduleKeyDeletion" => Some(window("pendingWindowInDays").unwrap_or(30)),
        _ => None,
    };
    Some(ChangeEvent {
        id,
        at,
        account_id: s(&e["recipientAccountId"]).unwrap_or_else(|| account_id.to_owned()),
        region: s(&e["awsRegion"]).unwrap_or_else(|| region.to_owned()),
        source,
        action,
        who,
        who_arn,
        tool,
        user_agent,
        targets,
        window_days,
    })
}

/// CloudTrail names some events with the API version they came through
/// (`UpdateFunctionConfiguration20150331v2`); the action is the name without it.
fn action_name(event: &str) -> String {
    let trimmed = event.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'v');
    let digits = event.len() - trimmed.len();
    // A date of 8 digits, maybe followed by `v<n>`; a name ending in a letter `v` is kept.
    let tail = &event[trimmed.len()..];
    if digits >= 8 && tail.chars().take(8).all(|c| c.is_ascii_digit()) {
        trimmed.to_owned()
    } else {
        event.to_owned()
    }
}

/// The tool that made a call, from the event's `userAgent`, `invokedBy`, identity type and
/// whether its session came from the console.
pub fn tool_of(
    user_agent: &str,
    invoked_by: Option<&str>,
    identity_type: Option<&str>,
    from_console: bool,
) -> Tool {
    let ua = user_agent.to_ascii_lowercase();
    if ua == "cloudformation.amazonaws.com" || invoked_by == Some("cloudformation.amazonaws.com") {
        return Tool::Cloudformation;
    }
    if from_console
        || ua.contains("console.amazonaws.com")
        || ua == "aws internal"
        || ua.starts_with("mozilla/")
    {
        return Tool::Console;
    }
    if identity_type == Some("AWSService")
        || invoked_by.is_some_and(|i| i.ends_with(".amazonaws.com"))
        || ua.ends_with(".amazonaws.com")
    {
        return Tool::AwsService;
    }
    if ua.contains("terraform") {
        Tool::Terraform
    } else if ua.contains("serverless") {
        Tool::Serverless
    } else if ua.contains("aws-cdk") || ua.contains("cdk/") {
        Tool::Cdk
    } else if ua.contains("sam-cli") || ua.contains("aws-sam") {
        Tool::Sam
    } else if ua.starts_with("aws-cli/") {
        Tool::Cli
    } else if ua.trim_start().starts_with("aws-sdk-nodejs/2.") {
        Tool::JsSdkV2
    } else if [
        "boto3",
        "botocore",
        "aws-sdk",
        "aws-sdk-rust",
        "aws-sdk-go",
        "aws-sdk-java",
    ]
    .iter()
    .any(|s| ua.contains(s))
    {
        Tool::Sdk
    } else {
        Tool::Unknown
    }
}

/// Who acted, in words, and the principal's ARN.
fn who(identity: &Value) -> (String, Option<String>) {
    let arn = identity["arn"].as_str().map(str::to_owned);
    let text = match identity["type"].as_str() {
        Some("AssumedRole") => {
            let role = identity["sessionContext"]["sessionIssuer"]["userName"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    arn.as_deref()
                        .and_then(|a| a.split('/').nth(1))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "an assumed role".to_owned());
            match arn.as_deref().and_then(|a| a.split('/').nth(2)) {
                Some(session) => format!("role {role} (session {session})"),
                None => format!("role {role}"),
            }
        }
        Some("IAMUser") => format!(
            "user {}",
            identity["userName"].as_str().unwrap_or("(unnamed)")
        ),
        Some("Root") => "the account's root user".to_owned(),
        Some("AWSService") => identity["invokedBy"]
            .as_str()
            .unwrap_or("an AWS service")
            .to_owned(),
        Some("IdentityCenterUser") => format!(
            "IAM Identity Center user {}",
            identity["onBehalfOf"]["userId"]
                .as_str()
                .unwrap_or("(unknown)")
        ),
        Some(other) => arn.clone().unwrap_or_else(|| other.to_owned()),
        None => "unknown".to_owned(),
    };
    (text, arn)
}

/// Whether an event names `target` only as what it points to, not as what it changes: attaching
/// a managed policy changes the role (user, group), not the policy; a base path mapping changes
/// the custom domain, not the API it maps to. CloudTrail lists both in `resources`.
fn only_referenced(source: &str, action: &str, target: &ChangeTarget) -> bool {
    use crate::model::types as t;
    let kind = target.type_name.as_deref();
    match source {
        "iam.amazonaws.com" => {
            (action.starts_with("Attach") || action.starts_with("Detach"))
                && action.ends_with("Policy")
                && (kind == Some(t::iam::POLICY_TYPE) || target.name.contains(":policy/"))
        }
        "apigateway.amazonaws.com" => {
            action.ends_with("BasePathMapping") && kind == Some(t::apigateway::REST_API)
        }
        _ => false,
    }
}

/// The resources a request's parameters name, by the event source's member names.
fn named(source: &str, params: &Value) -> Vec<ChangeTarget> {
    use crate::model::types as t;
    let keys: &[(&str, &str)] = match source {
        "lambda.amazonaws.com" => &[("functionName", t::lambda::TYPE)],
        "ssm.amazonaws.com" => &[("name", t::ssm::TYPE)],
        "secretsmanager.amazonaws.com" => {
            &[("secretId", t::secrets::TYPE), ("name", t::secrets::TYPE)]
        }
        "dynamodb.amazonaws.com" => &[("tableName", t::dynamodb::TYPE)],
        "kms.amazonaws.com" => &[("keyId", t::kms::TYPE)],
        "iam.amazonaws.com" => &[
            ("roleName", t::iam::ROLE_TYPE),
            ("policyArn", t::iam::POLICY_TYPE),
        ],
        "s3.amazonaws.com" => &[("bucketName", t::s3::TYPE)],
        "cloudformation.amazonaws.com" => &[("stackName", t::cloudformation::STACK_TYPE)],
        "apigateway.amazonaws.com" => &[
            ("restApiId", t::apigateway::REST_API),
            ("apiId", t::apigatewayv2::API),
            ("domainName", t::apigateway::DOMAIN),
        ],
        _ => &[],
    };
    let mut out: Vec<ChangeTarget> = keys
        .iter()
        .filter_map(|(key, kind)| {
            Some(ChangeTarget {
                type_name: Some((*kind).to_owned()),
                name: params.get(*key)?.as_str()?.to_owned(),
            })
        })
        .collect();
    if source == "ssm.amazonaws.com" {
        for n in params["names"].as_array().into_iter().flatten() {
            if let Some(n) = n.as_str() {
                out.push(ChangeTarget {
                    type_name: Some(t::ssm::TYPE.to_owned()),
                    name: n.to_owned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE_UPDATE: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAX:alice","arn":"arn:aws:sts::111111111111:assumed-role/Admin/alice","accountId":"111111111111","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111111111111:role/Admin","userName":"Admin"}}},"eventTime":"2026-12-01T10:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"UpdateFunctionConfiguration20150331v2","awsRegion":"eu-west-1","userAgent":"console.amazonaws.com","requestParameters":{"functionName":"users-dev-api","environment":{}},"eventID":"e1","readOnly":false,"recipientAccountId":"111111111111","sessionCredentialFromConsole":"true"}"#;

    #[test]
    fn a_console_change_says_who_and_with_what() {
        let c = parse(CONSOLE_UPDATE, &[], "111111111111", "eu-west-1").expect("an event");
        assert_eq!(c.action, "UpdateFunctionConfiguration");
        assert_eq!(c.tool, Tool::Console);
        assert_eq!(c.who, "role Admin (session alice)");
        assert_eq!(
            c.targets,
            vec![ChangeTarget {
                type_name: Some("AWS::Lambda::Function".into()),
                name: "users-dev-api".into()
            }]
        );
        assert_eq!(c.window_days, None);
    }

    #[test]
    fn a_failed_call_changed_nothing() {
        let failed = CONSOLE_UPDATE.replace(
            r#""readOnly":false"#,
            r#""readOnly":false,"errorCode":"AccessDenied""#,
        );
        assert!(parse(&failed, &[], "1", "r").is_none());
        assert!(parse("not json", &[], "1", "r").is_none());
    }

    #[test]
    fn attaching_a_policy_changes_the_role_not_the_policy() {
        let attach = r#"{"eventID":"a","eventTime":"2026-12-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy","userAgent":"cloudformation.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Deployer/ci","invokedBy":"cloudformation.amazonaws.com"},"requestParameters":{"roleName":"users-dev-lambdaRole","policyArn":"arn:aws:iam::1:policy/db_pw_policy"}}"#;
        let listed = [
            (
                "AWS::IAM::Role".to_owned(),
                "users-dev-lambdaRole".to_owned(),
            ),
            (
                "AWS::IAM::Policy".to_owned(),
                "arn:aws:iam::1:policy/db_pw_policy".to_owned(),
            ),
        ];
        let c = parse(attach, &listed, "1", "us-east-1").expect("an event");
        assert_eq!(c.tool, Tool::Cloudformation);
        assert_eq!(
            c.targets,
            vec![ChangeTarget {
                type_name: Some("AWS::IAM::Role".into()),
                name: "users-dev-lambdaRole".into()
            }]
        );
        // Changing the policy itself is a change of the policy.
        let version = attach
            .replace("AttachRolePolicy", "CreatePolicyVersion")
            .replace(r#""roleName":"users-dev-lambdaRole","#, "");
        let c = parse(&version, &listed[1..], "1", "us-east-1").expect("an event");
        assert!(!c.targets.is_empty());
        assert!(c
            .targets
            .iter()
            .all(|t| t.name == "arn:aws:iam::1:policy/db_pw_policy"));
    }

    #[test]
    fn deletion_windows_are_read_with_their_defaults() {
        let event = |params: &str| {
            format!(
                r#"{{"eventID":"x","eventTime":"2026-12-01T10:00:00Z","eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret","userAgent":"aws-cli/2.15.0 Python/3.11","userIdentity":{{"type":"IAMUser","userName":"bob","arn":"arn:aws:iam::1:user/bob"}},"requestParameters":{params}}}"#
            )
        };
        let twelve = parse(
            &event(r#"{"secretId":"db","recoveryWindowInDays":12}"#),
            &[],
            "1",
            "r",
        );
        assert_eq!(twelve.as_ref().and_then(|c| c.window_days), Some(12));
        assert_eq!(twelve.as_ref().map(|c| c.tool), Some(Tool::Cli));
        assert_eq!(twelve.map(|c| c.who), Some("user bob".to_owned()));
        let default = parse(&event(r#"{"secretId":"db"}"#), &[], "1", "r");
        assert_eq!(default.and_then(|c| c.window_days), Some(30));
        let forced = parse(
            &event(r#"{"secretId":"db","forceDeleteWithoutRecovery":true}"#),
            &[],
            "1",
            "r",
        );
        assert_eq!(forced.and_then(|c| c.window_days), None);
    }

    #[test]
    fn tools_are_told_apart_by_their_user_agents() {
        let t = |ua: &str| tool_of(ua, None, Some("AssumedRole"), false);
        assert_eq!(
            t("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0 aws-sdk-go/1.49.6"),
            Tool::Terraform
        );
        assert_eq!(
            t("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64"),
            Tool::Cli
        );
        assert_eq!(
            t("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux"),
            Tool::Sdk
        );
        assert_eq!(t("aws-cdk/2.110.0"), Tool::Cdk);
        // The Serverless Framework v3 sends its SDK's agent alone: it cannot be told from a script.
        assert_eq!(
            t("aws-sdk-nodejs/2.1693.0 linux/v18.20.4 promise"),
            Tool::JsSdkV2
        );
        assert_eq!(
            t("aws-sdk-nodejs/2.1693.0 linux/v18.20.4 exec-env/AWS_Lambda_nodejs18.x"),
            Tool::JsSdkV2
        );
        assert_eq!(t("aws-sdk-js/3.500.0 ua/2.0 os/linux"), Tool::Sdk);
        assert_eq!(t("aws-sam-cli/1.100.0"), Tool::Sam);
        assert_eq!(
            t("Serverless/3.38.0 aws-sdk-nodejs/2.1500.0"),
            Tool::Serverless
        );
        assert_eq!(t("curl/8"), Tool::Unknown);
        assert_eq!(
            tool_of(
                "cloudformation.amazonaws.com",
                Some("cloudformation.amazonaws.com"),
                Some("AssumedRole"),
                false
            ),
            Tool::Cloudformation
        );
        assert_eq!(
            tool_of(
                "lambda.amazonaws.com",
                Some("lambda.amazonaws.com"),
                Some("AWSService"),
                false
            ),
            Tool::AwsService
        );
        assert_eq!(
            tool_of("Mozilla/5.0 (X11)", None, Some("AssumedRole"), false),
            Tool::Console
        );
        assert_eq!(
            tool_of("aws-sdk-js/3", None, Some("AssumedRole"), true),
            Tool::Console
        );
    }

    #[test]
    fn versioned_event_names_lose_their_version() {
        assert_eq!(
            action_name("UpdateFunctionCode20150331v2"),
            "UpdateFunctionCode"
        );
        assert_eq!(action_name("CreateFunction20150331"), "CreateFunction");
        assert_eq!(action_name("DeleteSecret"), "DeleteSecret");
        assert_eq!(action_name("PutBucketV2"), "PutBucketV2");
    }
}
