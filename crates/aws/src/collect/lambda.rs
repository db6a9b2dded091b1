//! Lambda functions: runtime, role, handler and environment variable names (tags come from
//! [`super::tags`]). Environment values can hold secrets, so each is replaced by a keyed hash before
//! it leaves this module.

use std::collections::BTreeMap;

use super::{failure, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::lambda::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Lambda;
    let client = aws_sdk_lambda::Client::new(t.config);
    let pages: Vec<_> = client
        .list_functions()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, t.region, "lambda:ListFunctions", &e))?;
    Ok(pages
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
        .collect())
}
