//! The regions an account uses, found cheaply: `account:ListRegions` names the enabled ones, then one
//! `cloudformation:DescribeStacks` page and one `tag:GetResources` page per enabled region say whether
//! anything lives there (a deployed service is a stack; most other resources carry a tag). The home
//! region (the management profile's) is always scanned. A region that holds only untagged resources
//! outside any stack is not found this way: the scan then reports it as left out when a Terraform
//! state's resources name it.

use aws_config::SdkConfig;
use aws_sdk_account::types::RegionOptStatus;
use futures::future::join_all;

use crate::credentials as aws;
use crate::sdk_error::aws_message;

/// Regions found in use, the calls it took, and why only the home region was used, if so.
#[derive(Debug, Clone, Default)]
pub(super) struct InUse {
    pub regions: Vec<String>,
    pub calls: u32,
    pub note: Option<String>,
}

pub(super) async fn in_use(config: &SdkConfig, home: &str) -> InUse {
    let client = crate::client!(aws_sdk_account, config);
    let listed: Result<Vec<_>, _> = client
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .send()
        .try_collect()
        .await;
    let pages = match listed {
        Ok(p) => p,
        Err(e) => {
            return InUse {
                regions: vec![home.to_owned()],
                calls: 1,
                note: Some(format!(
                    "account:ListRegions failed ({}), so only {home} was scanned; grant it or name the \
                     regions with `regions = [...]` in stagecraft.toml",
                    aws_message(&e)
                )),
            }
        }
    };
    let mut calls = pages.len() as u32;
    let enabled: Vec<String> = pages
        .iter()
        .flat_map(|p| p.regions())
        .filter_map(|r| r.region_name().map(str::to_owned))
        .filter(|r| r != home)
        .collect();
    let probes = enabled.iter().map(|region| async move {
        let config = aws::in_region(config, region);
        let stacks = crate::client!(aws_sdk_cloudformation, &config)
            .describe_stacks()
            .send()
            .await
            .map(|o| !o.stacks().is_empty());
        let tagged = crate::client!(aws_sdk_resourcegroupstagging, &config)
            .get_resources()
            .resources_per_page(1)
            .send()
            .await
            .map(|o| !o.resource_tag_mapping_list().is_empty());
        // One probe that answers decides; a region neither can probe is scanned (its collectors
        // then say what failed).
        let used = match (&stacks, &tagged) {
            (Ok(a), Ok(b)) => *a || *b,
            (Ok(a), Err(_)) => *a,
            (Err(_), Ok(b)) => *b,
            (Err(_), Err(_)) => true,
        };
        let blind = tagged.err().map(|e| aws_message(&e));
        (region.clone(), used, blind)
    });
    let probed = join_all(probes).await;
    calls += 2 * probed.len() as u32;
    let mut regions = vec![home.to_owned()];
    let mut note = None;
    for (region, used, blind) in probed {
        if used {
            regions.push(region);
        }
        if let (Some(why), None) = (blind, &note) {
            note = Some(format!(
                "tag:GetResources failed ({why}), so regions were judged by their stacks alone: \
                 a region holding only resources outside stacks may be missing"
            ));
        }
    }
    InUse {
        regions,
        calls,
        note,
    }
}
