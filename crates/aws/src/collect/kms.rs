//! KMS customer managed keys: state, scheduled deletion date, aliases (tags come from
//! [`super::tags`]). AWS managed keys are skipped (nobody owns them); nothing is ever encrypted or
//! decrypted.

use aws_sdk_kms::types::KeyManagerType;

use super::{failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::kms::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Kms;
    let client = crate::client!(aws_sdk_kms, t.config);
    let keys = async {
        client
            .list_keys()
            .limit(1000)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "kms:ListKeys", &e))
    };
    let aliases = async {
        client
            .list_aliases()
            .limit(100)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, t.region, "kms:ListAliases", &e))
    };
    let (pages, alias_pages): (Vec<_>, Vec<_>) = futures::try_join!(keys, aliases)?;
    let aliases: Vec<_> = alias_pages.iter().flat_map(|p| p.aliases()).collect();

    let items: Vec<_> = pages.iter().flat_map(|p| p.keys()).cloned().collect();
    let found = super::each(items, |key| {
        let client = client.clone();
        let aliases = &aliases;
        async move {
            let Some(key_id) = key.key_id() else {
                return Ok(None);
            };
            let described = client
                .describe_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(|e| failure(c, t.region, "kms:DescribeKey", &e))?;
            let Some(meta) = described.key_metadata() else {
                return Ok(None);
            };
            if meta.key_manager() == Some(&KeyManagerType::Aws) {
                return Ok(None);
            }
            let key_aliases: Vec<String> = aliases
                .iter()
                .filter(|a| a.target_key_id() == Some(key_id))
                .filter_map(|a| a.alias_name().map(str::to_owned))
                .collect();
            let arn = meta.arn().map(str::to_owned).unwrap_or_else(|| {
                format!("arn:aws:kms:{}:{}:key/{key_id}", t.region, t.account_id)
            });
            let name = key_aliases
                .first()
                .cloned()
                .unwrap_or_else(|| key_id.to_owned());
            let mut r = Resource::new(TYPE, arn, name, t.account_id, t.region);
            r.attr("key_id", key_id.to_owned())
                .attr("key_state", meta.key_state().map(|s| s.as_str().to_owned()))
                .attr("description", meta.description().map(str::to_owned))
                .attr("created", timestamp(meta.creation_date()))
                .attr("deletion_date", timestamp(meta.deletion_date()))
                .attr(
                    "pending_window_days",
                    meta.pending_deletion_window_in_days(),
                )
                .attr("aliases", key_aliases);
            Ok(Some(r))
        }
    })
    .await?;
    Ok(found.into_iter().flatten().collect())
}
