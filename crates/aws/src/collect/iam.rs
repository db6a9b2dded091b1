//! IAM (account-wide): roles with their attached managed and inline policy names, and customer managed
//! policies. Service-linked roles (`/aws-service-role/`) and the roles IAM Identity Center provisions
//! for its permission sets (`/aws-reserved/`) belong to AWS and are skipped: no tool of the user's
//! owns them, and AWS refuses to change them.
//!
//! A role's policies and tags, and the customer managed policies, come from
//! `GetAccountAuthorizationDetails`, a few pages for the whole account, read alongside `ListRoles`
//! (which has the descriptions). A role it does not cover (a scan role without that action, or a
//! role created between the two listings) is read with the three per-role calls instead, and the
//! policies with `ListPolicies` when the action is denied.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{EntityType, Policy, PolicyScopeType, Role};

use super::{error_code, failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::iam::{POLICY_TYPE, ROLE_TYPE};
pub const GLOBAL: &str = "global";

/// What a role's resource needs besides the role itself.
#[derive(Debug, Default)]
struct RoleFacts {
    attached: Vec<String>,
    inline: Vec<String>,
    tags: stagecraft_model::FlatMap<String>,
}

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Iam;
    let client = crate::client!(aws_sdk_iam, t.config);
    let mut out = Vec::new();

    let roles = async {
        client
            .list_roles()
            .max_items(1000)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure(c, GLOBAL, "iam:ListRoles", &e))
    };
    let (pages, details) = futures::try_join!(roles, authorization_details(&client))?;
    let (mut facts, listed_policies) = details;
    let roles: Vec<Role> = pages.iter().flat_map(|p| p.roles()).cloned().collect();
    let found = super::each(roles, |role| {
        let client = client.clone();
        let known = facts.remove(role.arn());
        async move {
            if role.path().starts_with("/aws-service-role/")
                || role.path().starts_with("/aws-reserved/")
            {
                return Ok(None);
            }
            let facts = match known {
                Some(f) => f,
                None => role_facts(&client, role.role_name()).await?,
            };
            let mut r = Resource::new(
                ROLE_TYPE,
                role.arn().to_owned(),
                role.role_name().to_owned(),
                t.account_id,
                GLOBAL,
            );
            r.tags = facts.tags;
            r.attr("path", role.path().to_owned())
                .attr("created", timestamp(Some(role.create_date())))
                .attr("description", role.description().map(str::to_owned))
                .attr("attached_policies", facts.attached)
                .attr("inline_policies", facts.inline);
            Ok(Some(r))
        }
    })
    .await?;
    out.extend(found.into_iter().flatten());

    let policies = match listed_policies {
        Some(policies) => policies,
        None => {
            let pages: Vec<_> = client
                .list_policies()
                .scope(PolicyScopeType::Local)
                .max_items(1000)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| failure(c, GLOBAL, "iam:ListPolicies", &e))?;
            pages.iter().flat_map(|p| p.policies()).cloned().collect()
        }
    };
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

/// Every role's policies and tags, by ARN, and the customer managed policies, from
/// `GetAccountAuthorizationDetails`; nothing when the scan role may not call it (the roles are then
/// read one by one, the policies listed).
#[allow(clippy::type_complexity)]
async fn authorization_details(
    client: &aws_sdk_iam::Client,
) -> Result<(BTreeMap<String, RoleFacts>, Option<Vec<Policy>>), CollectError> {
    let pages: Result<Vec<_>, _> = client
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .filter(EntityType::LocalManagedPolicy)
        .max_items(1000)
        .into_paginator()
        .send()
        .try_collect()
        .await;
    let pages = match pages {
        Ok(p) => p,
        Err(e)
            if super::classify(error_code(&e).unwrap_or_default())
                == super::ErrorCode::AccessDenied =>
        {
            tracing::warn!(
                "iam:GetAccountAuthorizationDetails is denied; reading each role's policies and tags one by one"
            );
            return Ok((BTreeMap::new(), None));
        }
        Err(e) => {
            return Err(failure(
                Collector::Iam,
                GLOBAL,
                "iam:GetAccountAuthorizationDetails",
                &e,
            ))
        }
    };
    let policies = pages
        .iter()
        .flat_map(|p| p.policies())
        .map(|d| {
            Policy::builder()
                .set_policy_name(d.policy_name().map(str::to_owned))
                .set_arn(d.arn().map(str::to_owned))
                .set_path(d.path().map(str::to_owned))
                .set_default_version_id(d.default_version_id().map(str::to_owned))
                .set_attachment_count(d.attachment_count())
                .set_create_date(d.create_date().copied())
                .build()
        })
        .collect();
    let roles = pages
        .iter()
        .flat_map(|p| p.role_detail_list())
        .filter_map(|d| {
            let facts = RoleFacts {
                attached: d
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
                inline: d
                    .role_policy_list()
                    .iter()
                    .filter_map(|p| p.policy_name().map(str::to_owned))
                    .collect(),
                tags: d
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            };
            Some((d.arn()?.to_owned(), facts))
        })
        .collect();
    Ok((roles, Some(policies)))
}

/// One role's policies and tags, with the three per-role calls (one round trip: they are independent).
async fn role_facts(client: &aws_sdk_iam::Client, name: &str) -> Result<RoleFacts, CollectError> {
    let c = Collector::Iam;
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
    let (attached, inline, tags) = futures::try_join!(attached, inline, tags)?;
    Ok(RoleFacts {
        attached: attached
            .iter()
            .flat_map(|p| p.attached_policies())
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect(),
        inline: inline
            .iter()
            .flat_map(|p| p.policy_names().iter().cloned())
            .collect(),
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
    })
}
