//! Tags of the resources whose listings do not carry them: Lambda functions, DynamoDB tables, SSM
//! parameters, KMS keys and S3 buckets.
//!
//! One `tag:GetResources` sweep per account and region (the Resource Groups Tagging API, 100 resources
//! a page) replaces a tag lookup per resource: on a stage account that is a handful of calls instead
//! of one per function, table, parameter, key and bucket (BENCHMARKS.md). The API lists the resources
//! that are or were tagged; a swept resource it does not list has no tags.
//!
//! When the sweep fails (a scan role without `tag:GetResources`, or a partition without the API) the
//! tags are read per resource instead, with the per-service calls the read-only policy also grants, so
//! ownership by stack tags never silently goes missing. S3 buckets in regions that were not swept are
//! read per bucket too (the API answers for the buckets of its own region).

use std::collections::BTreeMap;

use stagecraft_model::FlatMap;

use aws_config::SdkConfig;
use aws_sdk_ssm::types::ResourceTypeForTagging;

use super::{dynamodb, kms, lambda, s3, ssm};
use super::{error_code, failure, CollectError, Collected, Collector, Target};
use crate::model::Resource;

/// The resource types whose tags come from the sweep, with the API's filter for each.
pub const SWEPT: [(&str, &str); 5] = [
    (lambda::TYPE, "lambda:function"),
    (dynamodb::TYPE, "dynamodb:table"),
    (ssm::TYPE, "ssm:parameter"),
    (kms::TYPE, "kms:key"),
    (s3::TYPE, "s3:bucket"),
];

/// Whether `type_name`'s tags come from the sweep (its collector does not read them).
pub fn swept(type_name: &str) -> bool {
    SWEPT.iter().any(|(t, _)| *t == type_name)
}

/// The tags of one region's swept resources, by ARN.
#[derive(Debug, Default)]
pub struct Sweep {
    pub region: String,
    pub tags: BTreeMap<String, FlatMap<String>>,
}

/// `tag:GetResources` over the swept types in one account and region.
pub async fn collect(t: &Target<'_>) -> Result<Collected, CollectError> {
    let client = crate::client!(aws_sdk_resourcegroupstagging, t.config);
    let mut request = client.get_resources().resources_per_page(100);
    for (_, filter) in SWEPT {
        request = request.resource_type_filters(filter);
    }
    let pages: Vec<_> = request
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(Collector::Tags, t.region, "tag:GetResources", &e))?;
    let tags = pages
        .iter()
        .flat_map(|p| p.resource_tag_mapping_list())
        .filter_map(|m| {
            let arn = m.resource_arn()?.to_owned();
            let tags = m
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            Some((arn, tags))
        })
        .collect();
    Ok(Collected {
        sweeps: vec![Sweep {
            region: t.region.to_owned(),
            tags,
        }],
        ..Collected::default()
    })
}

/// Gives every swept resource of one account its tags: from its region's sweep when that succeeded,
/// else read per resource. `failed` holds the sweeps that failed, by region.
///
/// Returns what counts against the account: nothing when the per-resource reading made up for every
/// failed sweep; else each failed sweep with why the reading failed too (or that failure alone, when
/// it stood in for no sweep: a bucket in a region not swept). The resources stay, without tags.
pub async fn apply(
    config: &SdkConfig,
    account_id: &str,
    resources: &mut [Resource],
    sweeps: &[Sweep],
    failed: BTreeMap<String, CollectError>,
) -> Vec<CollectError> {
    let by_region: BTreeMap<&str, &Sweep> = sweeps.iter().map(|s| (s.region.as_str(), s)).collect();
    let mut one_by_one = Vec::new();
    for (i, r) in resources.iter_mut().enumerate() {
        if !swept(&r.type_name) {
            continue;
        }
        match by_region.get(r.region.as_str()) {
            Some(sweep) => r.tags = sweep.tags.get(&r.id).cloned().unwrap_or_default(),
            None => one_by_one.push(i),
        }
    }
    if one_by_one.is_empty() {
        return Vec::new();
    }
    for (region, e) in &failed {
        tracing::warn!(
            account = account_id,
            region = region.as_str(),
            "{}; reading tags per resource instead",
            e.message
        );
    }
    let read = super::each(one_by_one, |i| {
        let r = &resources[i];
        let config = crate::credentials::in_region(config, &r.region);
        async move { Ok((i, read_one(&config, r).await?)) }
    })
    .await;
    match read {
        Ok(found) => {
            for (i, tags) in found {
                resources[i].tags = tags;
            }
            Vec::new()
        }
        Err(per_resource) if failed.is_empty() => vec![per_resource],
        Err(per_resource) => failed
            .into_values()
            .map(|e| CollectError {
                message: format!(
                    "{}; then, per resource: {}",
                    e.message, per_resource.message
                ),
                code: per_resource.code,
                ..e
            })
            .collect(),
    }
}

/// The tags of one resource, with its own service's call.
async fn read_one(config: &SdkConfig, r: &Resource) -> Result<FlatMap<String>, CollectError> {
    let c = Collector::Tags;
    let (arn, name, region) = (r.id.as_str(), r.name.as_str(), r.region.as_str());
    let tags = match r.type_name.as_str() {
        lambda::TYPE => crate::client!(aws_sdk_lambda, config)
            .list_tags()
            .resource(arn)
            .send()
            .await
            .map_err(|e| failure(c, region, "lambda:ListTags", &e))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .collect(),
        dynamodb::TYPE => crate::client!(aws_sdk_dynamodb, config)
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| failure(c, region, "dynamodb:ListTagsOfResource", &e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        ssm::TYPE => crate::client!(aws_sdk_ssm, config)
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .map_err(|e| failure(c, region, "ssm:ListTagsForResource", &e))?
            .tag_list()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        kms::TYPE => crate::client!(aws_sdk_kms, config)
            .list_resource_tags()
            .key_id(arn)
            .send()
            .await
            .map_err(|e| failure(c, region, "kms:ListResourceTags", &e))?
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
            .collect(),
        s3::TYPE => match crate::client!(aws_sdk_s3, config)
            .get_bucket_tagging()
            .bucket(name)
            .send()
            .await
        {
            Ok(o) => o
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            Err(e) if error_code(&e) == Some("NoSuchTagSet") => FlatMap::new(),
            Err(e) => return Err(failure(c, region, "s3:GetBucketTagging", &e)),
        },
        _ => FlatMap::new(),
    };
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(type_name: &str, id: &str, region: &str) -> Resource {
        let mut r = Resource::new(type_name, id.to_owned(), id.to_owned(), "111", region);
        r.tags
            .insert("stale".into(), "from an earlier reading".into());
        r
    }

    #[tokio::test]
    async fn a_sweep_gives_its_region_s_resources_their_tags_and_untagged_ones_none() {
        let mut resources = vec![
            resource(
                lambda::TYPE,
                "arn:aws:lambda:eu-west-1:111:function:a",
                "eu-west-1",
            ),
            resource(
                lambda::TYPE,
                "arn:aws:lambda:eu-west-1:111:function:b",
                "eu-west-1",
            ),
            resource("AWS::IAM::Role", "arn:aws:iam::111:role/r", "global"),
        ];
        let sweep = Sweep {
            region: "eu-west-1".into(),
            tags: [(
                "arn:aws:lambda:eu-west-1:111:function:a".to_owned(),
                [("STAGE".to_owned(), "qa".to_owned())].into(),
            )]
            .into(),
        };
        let config = SdkConfig::builder().build();
        let errors = apply(&config, "111", &mut resources, &[sweep], BTreeMap::new()).await;
        assert!(
            errors.is_empty(),
            "nothing to read per resource: {errors:?}"
        );
        assert_eq!(
            resources[0].tags.get("STAGE").map(String::as_str),
            Some("qa")
        );
        assert_eq!(resources[0].tags.len(), 1);
        assert!(
            resources[1].tags.is_empty(),
            "not listed by the sweep: untagged"
        );
        assert_eq!(resources[2].tags.len(), 1, "roles are not swept");
    }

    #[tokio::test]
    async fn a_failed_per_resource_read_counts_against_the_account_even_with_no_failed_sweep() {
        // A bucket in a region no sweep covered, and nothing that answers on the endpoint.
        let mut resources = vec![resource(s3::TYPE, "arn:aws:s3:::far-away", "ap-south-2")];
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:1")
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::for_tests(),
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let errors = apply(&config, "111", &mut resources, &[], BTreeMap::new()).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].collector, Collector::Tags);
        assert!(
            errors[0].message.contains("s3:GetBucketTagging"),
            "{errors:?}"
        );
    }
}
