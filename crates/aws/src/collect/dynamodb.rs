//! DynamoDB tables: status, billing mode, deletion protection (tags come from [`super::tags`]).

use super::{failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::dynamodb::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Dynamodb;
    let client = crate::client!(aws_sdk_dynamodb, t.config);
    let pages: Vec<_> = client
        .list_tables()
        .limit(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, t.region, "dynamodb:ListTables", &e))?;
    let items: Vec<_> = pages
        .iter()
        .flat_map(|p| p.table_names())
        .cloned()
        .collect();
    let found = super::each(items, |name| {
        let client = client.clone();
        async move {
            let described = client
                .describe_table()
                .table_name(&name)
                .send()
                .await
                .map_err(|e| failure(c, t.region, "dynamodb:DescribeTable", &e))?;
            let Some(table) = described.table() else {
                return Ok(None);
            };
            let arn = table.table_arn().unwrap_or_default().to_owned();
            let mut r = Resource::new(TYPE, arn, name.clone(), t.account_id, t.region);
            r.attr(
                "status",
                table.table_status().map(|s| s.as_str().to_owned()),
            )
            .attr(
                "billing_mode",
                table
                    .billing_mode_summary()
                    .and_then(|b| b.billing_mode())
                    .map(|b| b.as_str().to_owned()),
            )
            .attr(
                "hash_key",
                table
                    .key_schema()
                    .iter()
                    .find(|k| k.key_type().as_str() == "HASH")
                    .map(|k| k.attribute_name().to_owned()),
            )
            .attr("created", timestamp(table.creation_date_time()))
            .attr("deletion_protection", table.deletion_protection_enabled());
            Ok(Some(r))
        }
    })
    .await?;
    Ok(found.into_iter().flatten().collect())
}
