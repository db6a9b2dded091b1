//! IAM (account-wide): roles with their attached managed and inline policy names, and customer managed
//! policies. Service-linked roles (`/aws-service-role/`) belong to AWS and are skipped.

use aws_sdk_iam::types::PolicyScopeType;

use super::{failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub const ROLE_TYPE: &str = "AWS::IAM::Role";
pub const POLICY_TYPE: &str = "AWS::IAM::ManagedPolicy";
pub const GLOBAL: &str = "global";

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Iam;
    let client = aws_sdk_iam::Client::new(t.config);
    let mut out = Vec::new();

    let pages: Vec<_> = client
        .list_roles()
        .max_items(1000)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, GLOBAL, "iam:ListRoles", &e))?;
    let roles: Vec<_> = pages.iter().flat_map(|p| p.roles()).cloned().collect();
    let found = super::each(roles, |role| {
        let client = client.clone();
        async move {
            if role.path().starts_with("/aws-service-role/") {
                return Ok(None);
            }
            let name = role.role_name();
            let attached = async {
                client
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| failure(c, GLOBAL, "iam:ListAttachedRolePolicies", &e))
            };
            let inline = async {
                client
                    .list_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| failure(c, GLOBAL, "iam:ListRolePolicies", &e))
            };
            let tags = async {
                client
                    .list_role_tags()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(|e| failure(c, GLOBAL, "iam:ListRoleTags", &e))
            };
            // The three are independent: one round trip, not three.
            let (attached, inline, tags) = futures::try_join!(attached, inline, tags)?;
            let attached: Vec<String> = attached
                .iter()
                .flat_map(|p| p.attached_policies())
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            let inline: Vec<String> = inline
                .iter()
                .flat_map(|p| p.policy_names().iter().cloned())
                .collect();
            let mut r = Resource::new(
                ROLE_TYPE,
                role.arn().to_owned(),
                name.to_owned(),
                t.account_id,
                GLOBAL,
            );
            r.tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            r.attr("path", role.path().to_owned())
                .attr("created", timestamp(Some(role.create_date())))
                .attr("description", role.description().map(str::to_owned))
                .attr("attached_policies", attached)
                .attr("inline_policies", inline);
            Ok(Some(r))
        }
    })
    .await?;
    out.extend(found.into_iter().flatten());

    let pages: Vec<_> = client
        .list_policies()
        .scope(PolicyScopeType::Local)
        .max_items(1000)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, GLOBAL, "iam:ListPolicies", &e))?;
    let policies: Vec<_> = pages.iter().flat_map(|p| p.policies()).cloned().collect();
    let found = super::each(policies, |p| {
        let client = client.clone();
        async move {
            let arn = p.arn().unwrap_or_default().to_owned();
            let tags = client
                .list_policy_tags()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| failure(c, GLOBAL, "iam:ListPolicyTags", &e))?;
            let mut r = Resource::new(
                POLICY_TYPE,
                arn,
                p.policy_name().unwrap_or_default().to_owned(),
                t.account_id,
                GLOBAL,
            );
            r.tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            r.attr("path", p.path().map(str::to_owned))
                .attr("attachment_count", p.attachment_count())
                .attr("default_version", p.default_version_id().map(str::to_owned))
                .attr("created", timestamp(p.create_date()));
            Ok(r)
        }
    })
    .await?;
    out.extend(found);
    Ok(out)
}
