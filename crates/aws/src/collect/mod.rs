//! Collectors: one module per AWS service, each read-only (List/Describe/Get metadata only; never
//! `GetSecretValue`, never a decrypting call).
//!
//! Round trips are what a scan waits for: every listing asks for the largest page its API allows
//! (pages are sequential), and the calls made per item of a listing overlap ([`each`]).
//!
//! A collector reads one account in one region (IAM and S3 once per account) and returns plain
//! [`Resource`]s. Failures are values, not panics: a denied or throttled service becomes a
//! [`CollectError`] on the account while the other collectors go on.

pub mod apigateway;
pub mod apigatewayv2;
pub mod cloudformation;
pub mod cloudtrail;
pub mod dynamodb;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod s3;
pub mod secrets;
pub mod ssm;
pub mod tags;

use aws_config::SdkConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::model::Resource;
use crate::sdk_error::aws_message;
pub(crate) use crate::sdk_error::error_code;

pub use stagecraft_model::types::apigateway_arn;
pub use stagecraft_model::{
    CollectError, Collector, ErrorCode, StackFacts, StackMember, ValueHasher,
};

/// Where a collector runs.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Credentials of the account, with `region` set.
    pub config: &'a SdkConfig,
    pub account_id: &'a str,
    pub region: &'a str,
    pub hasher: &'a ValueHasher,
}

/// What one collector found in one account and region.
#[derive(Debug, Default)]
pub struct Collected {
    pub resources: Vec<Resource>,
    /// CloudFormation only: each stack's members and the facts its template declares.
    pub stacks: Vec<StackFacts>,
    /// Tags only: the tags of the region's swept resources ([`tags::apply`] hands them out).
    pub sweeps: Vec<tags::Sweep>,
    /// CloudFormation and Lambda: the region's use of their limits.
    pub limits: Vec<stagecraft_model::limits::RegionLimits>,
}

impl From<Vec<Resource>> for Collected {
    fn from(resources: Vec<Resource>) -> Self {
        Collected {
            resources,
            ..Collected::default()
        }
    }
}

/// Runs one collector.
pub async fn run(collector: Collector, t: &Target<'_>) -> Result<Collected, CollectError> {
    match collector {
        Collector::Cloudformation => cloudformation::collect(t).await,
        Collector::Lambda => lambda::collect(t).await,
        Collector::Apigateway => apigateway::collect(t).await.map(Into::into),
        Collector::Apigatewayv2 => apigatewayv2::collect(t).await.map(Into::into),
        Collector::Ssm => ssm::collect(t).await.map(Into::into),
        Collector::Secretsmanager => secrets::collect(t).await.map(Into::into),
        Collector::Dynamodb => dynamodb::collect(t).await.map(Into::into),
        Collector::Kms => kms::collect(t).await.map(Into::into),
        Collector::Tags => tags::collect(t).await,
        Collector::Iam => iam::collect(t).await.map(Into::into),
        Collector::S3 => s3::collect(t).await.map(Into::into),
    }
}

/// Maps an SDK error to a [`CollectError`] of `collector`, classifying the reason a user acts on.
pub(crate) fn failure<E>(
    collector: Collector,
    region: &str,
    operation: &str,
    err: &SdkError<E, crate::sdk_error::HttpResponse>,
) -> CollectError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let code = match err {
        SdkError::TimeoutError(_) => ErrorCode::Timeout,
        SdkError::DispatchFailure(_) => ErrorCode::Unreachable,
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            if crate::clock::is_clock_error(code, se.err().message().unwrap_or_default()) {
                ErrorCode::ClockSkew
            } else {
                classify(code)
            }
        }
        _ => ErrorCode::Aws,
    };
    CollectError {
        collector,
        region: region.to_owned(),
        code,
        message: format!("{operation}: {}", aws_message(err)),
    }
}

/// The reason a user acts on, from an AWS error code: `expired_credentials`, `access_denied`,
/// `throttled`, or `aws`.
pub(crate) fn classify(code: &str) -> ErrorCode {
    let c = code.to_ascii_lowercase();
    if c.contains("expiredtoken") || c == "requestexpired" || c == "tokenrefreshrequired" {
        ErrorCode::ExpiredCredentials
    } else if c.contains("accessdenied") || c.contains("unauthorized") || c.contains("forbidden") {
        ErrorCode::AccessDenied
    } else if c.contains("throttl") || c.contains("toomanyrequests") || c.contains("limitexceeded")
    {
        ErrorCode::Throttled
    } else {
        ErrorCode::Aws
    }
}

/// Calls made at once for the items of one listing (a table's description, a template per stack): the
/// per-item round trips overlap instead of queueing, within what one account's API limits take.
pub(crate) const PER_ITEM: usize = 8;

/// `fetch` for every item, [`PER_ITEM`] at a time, results in the items' order; the first error wins.
pub(crate) async fn each<T, R, F, Fut>(items: Vec<T>, fetch: F) -> Result<Vec<R>, CollectError>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<R, CollectError>>,
{
    use futures::{StreamExt as _, TryStreamExt as _};
    futures::stream::iter(items)
        .map(fetch)
        .buffered(PER_ITEM)
        .try_collect()
        .await
}

/// Follows a `position`/`NextToken` cursor for APIs the SDK has no paginator for: `fetch(cursor)`
/// returns one page's items and the next cursor.
pub(crate) async fn follow<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, CollectError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), CollectError>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) = fetch(cursor).await?;
        all.extend(items);
        match next {
            Some(n) if !n.is_empty() => cursor = Some(n),
            _ => return Ok(all),
        }
    }
}

/// AWS timestamps as RFC 3339 strings.
pub(crate) fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// `[{Key, Value}]`-style tags as a map.
pub(crate) fn tag_map<I, K, V>(tags: I) -> stagecraft_model::FlatMap<String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    tags.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// Collects API Gateway objects (v1 and v2), each with its id built from its path.
pub(crate) struct ApiGatewayOut<'a> {
    pub list: Vec<Resource>,
    account_id: &'a str,
    region: &'a str,
}

impl<'a> ApiGatewayOut<'a> {
    pub fn new(t: &Target<'a>) -> Self {
        ApiGatewayOut {
            list: Vec::new(),
            account_id: t.account_id,
            region: t.region,
        }
    }

    /// Adds the object at `path` (`/restapis/x/stages/dev`) and returns it for its attributes.
    pub fn push(&mut self, type_name: &str, path: String, name: String) -> &mut Resource {
        let r = Resource::new(
            type_name,
            apigateway_arn(self.region, &path),
            name,
            self.account_id,
            self.region,
        );
        self.list.push(r);
        let last = self.list.len() - 1;
        &mut self.list[last]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_classified_for_the_user() {
        assert_eq!(classify("AccessDeniedException"), ErrorCode::AccessDenied);
        assert_eq!(classify("UnauthorizedOperation"), ErrorCode::AccessDenied);
        assert_eq!(classify("ThrottlingException"), ErrorCode::Throttled);
        assert_eq!(classify("TooManyRequestsException"), ErrorCode::Throttled);
        assert_eq!(classify("ResourceNotFoundException"), ErrorCode::Aws);
        assert_eq!(
            classify("ExpiredTokenException"),
            ErrorCode::ExpiredCredentials
        );
        assert_eq!(classify("ExpiredToken"), ErrorCode::ExpiredCredentials);
    }
}
