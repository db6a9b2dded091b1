//! S3 buckets (account-wide) and their regions (tags come from [`super::tags`]). Object contents
//! are never read here.

use super::{failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::s3::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::S3;
    let client = crate::client!(aws_sdk_s3, t.config);
    // With a parameter, ListBuckets names each bucket's region (`BucketRegion`): one call per
    // 10,000 buckets instead of a GetBucketLocation per bucket. That call stays the fallback for an
    // endpoint that leaves the region out (AWS never does, so the read-only policy omits it).
    let pages: Vec<_> = client
        .list_buckets()
        .max_buckets(10_000)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, "global", "s3:ListBuckets", &e))?;
    let items: Vec<_> = pages.iter().flat_map(|p| p.buckets()).cloned().collect();
    let found = super::each(items, |b| {
        let client = client.clone();
        async move {
            let Some(name) = b.name() else {
                return Ok(None);
            };
            let region = match b.bucket_region() {
                Some(r) => r.to_owned(),
                None => {
                    let loc = client
                        .get_bucket_location()
                        .bucket(name)
                        .send()
                        .await
                        .map_err(|e| failure(c, "global", "s3:GetBucketLocation", &e))?;
                    // An empty location constraint means us-east-1.
                    loc.location_constraint()
                        .map(|l| l.as_str().to_owned())
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| "us-east-1".to_owned())
                }
            };
            let mut r = Resource::new(
                TYPE,
                format!("arn:aws:s3:::{name}"),
                name.to_owned(),
                t.account_id,
                &region,
            );
            r.attr("created", timestamp(b.creation_date()));
            Ok(Some(r))
        }
    })
    .await?;
    Ok(found.into_iter().flatten().collect())
}
