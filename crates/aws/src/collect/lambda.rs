//! Lambda functions: runtime, role, handler and environment variable names (tags come from
//! [`super::tags`]). Environment values can hold secrets, so each is replaced by a keyed hash before
//! it leaves this module.

use std::collections::BTreeMap;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_account_settings::{
    GetAccountSettingsError, GetAccountSettingsOutput,
};
use stagecraft_model::limits::RegionLimits;

use super::{failure, CollectError, Collected, Collector, Target};
use crate::model::Resource;
use crate::sdk_error::aws_message;

pub use stagecraft_model::types::lambda::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Collected, CollectError> {
    let c = Collector::Lambda;
    let client = crate::client!(aws_sdk_lambda, t.config);
    // The region's settings do not depend on the functions: asked at once.
    let functions = async {
        client
            .list_functions()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "lambda:ListFunctions", &e))
    };
    let (pages, settings): (Result<Vec<_>, _>, _) =
        futures::join!(functions, client.get_account_settings().send());
    let pages = pages?;
    let resources: Vec<Resource> = pages
        .iter()
        .flat_map(|p| p.functions())
        .map(|f| {
            let arn = f.function_arn().unwrap_or_default().to_owned();
            let name = f.function_name().unwrap_or_default().to_owned();
            let env: BTreeMap<String, String> = f
                .environment()
                .and_then(|e| e.variables())
                .map(|vars| {
                    vars.iter()
                        .map(|(k, v)| (k.clone(), t.hasher.hash(v)))
                        .collect()
                })
                .unwrap_or_default();
            let mut r = Resource::new(TYPE, arn, name, t.account_id, t.region);
            r.attr("runtime", f.runtime().map(|r| r.as_str().to_owned()))
                .attr("handler", f.handler().map(str::to_owned))
                .attr("role", f.role().map(str::to_owned))
                .attr("last_modified", f.last_modified().map(str::to_owned))
                .attr(
                    "environment",
                    serde_json::to_value(&env).unwrap_or_default(),
                );
            r
        })
        .collect();
    let limits = limits(&client, t, settings, &resources).await;
    Ok(Collected {
        resources,
        limits: vec![limits],
        ..Collected::default()
    })
}

/// The region's concurrency limit and what is unreserved (`GetAccountSettings`); when the
/// reservations near the limit, each function's (`GetFunctionConcurrency`). A limit that cannot be read is
/// said, and does not fail the collector.
async fn limits(
    client: &aws_sdk_lambda::Client,
    t: &Target<'_>,
    settings: Result<GetAccountSettingsOutput, SdkError<GetAccountSettingsError>>,
    functions: &[Resource],
) -> RegionLimits {
    let mut out = RegionLimits {
        region: t.region.to_owned(),
        ..RegionLimits::default()
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            out.errors
                .push(format!("lambda:GetAccountSettings: {}", aws_message(&e)));
            return out;
        }
    };
    let limit = settings.account_limit();
    let total = limit.map(|l| l.concurrent_executions());
    let unreserved = limit.and_then(|l| l.unreserved_concurrent_executions());
    out.concurrency_limit = total.and_then(|n| u32::try_from(n).ok());
    out.unreserved_concurrency = unreserved.and_then(|n| u32::try_from(n).ok());
    // Which functions hold the reservation matters when it nears the limit; reading it costs a
    // call per function, so it is read only then.
    if !out
        .near()
        .iter()
        .any(|(what, _, _)| what.starts_with("Lambda"))
    {
        return out;
    }
    let names: Vec<String> = functions.iter().map(|f| f.name.clone()).collect();
    let reserved = super::each(names, |name| {
        let client = client.clone();
        async move {
            let r = client
                .get_function_concurrency()
                .function_name(&name)
                .send()
                .await
                .map_err(|e| {
                    failure(
                        Collector::Lambda,
                        t.region,
                        "lambda:GetFunctionConcurrency",
                        &e,
                    )
                })?;
            Ok((name, r.reserved_concurrent_executions()))
        }
    })
    .await;
    match reserved {
        Ok(found) => {
            out.reserved = found
                .into_iter()
                .filter_map(|(name, n)| Some((name, u32::try_from(n?).ok()?)))
                .collect()
        }
        Err(e) => out.errors.push(e.message),
    }
    out
}
