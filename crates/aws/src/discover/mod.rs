//! Discovers the organization from the management account: root, OUs, accounts, their tags and stages.

use crate::pace;
mod stage;

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::Client;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::config::Workspace;
use crate::model::{Account, AccountStatus, OrgUnit, Organization};
use crate::sdk_error::aws_message;
use crate::Error;

pub use stage::infer_stage;

/// How many tag look-ups (and tree listings) run at once during discovery.
const TAG_CONCURRENCY: usize = 8;

/// The organization as the management account's first answers have it (its root, who the profile
/// is); the OUs and accounts below come from [`Tree::accounts`] as their pages are listed.
#[derive(Debug)]
pub struct Tree {
    /// Without its OUs until [`Tree::accounts`] has ended: [`Tree::walked`] adds them.
    pub organization: Organization,
    /// How far AWS's clock is from this machine's, from the management account's answer.
    pub clock: Option<crate::clock::ClockOffset>,
    /// Who the management profile acts as.
    pub identity: crate::model::Identity,
    profile: String,
    client: Client,
    /// Organizations without the SDK's retries: tag reads are retried here, paced by [`pace::Pacer`].
    tags: Client,
    /// The OUs listed so far.
    ous: std::sync::Mutex<Vec<OrgUnit>>,
}

/// An account as the tree lists it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub email: String,
    pub parent_id: String,
    pub ou_path: Vec<String>,
}

fn org_error<'a>(profile: &'a str, operation: &'static str) -> impl Fn(String) -> Error + 'a {
    move |message| Error::Aws {
        operation,
        scope: format!("the management profile `{profile}`"),
        message,
    }
}

/// Walks the organization tree breadth-first (two list calls per node); [`Tree::accounts`] reads
/// the accounts' tags.
pub async fn tree(mgmt: &SdkConfig, profile: &str) -> Result<Tree, Error> {
    let client = crate::client!(aws_sdk_organizations, mgmt);
    // The organization, who this profile is, and the root: three independent calls, at once.
    // Their errors are read in that order, so a member's profile says "not the management
    // account" whichever answer came first.
    let described = async {
        client.describe_organization().send().await.map_err(|e| {
            let message = aws_message(&e);
            // Credentials that lapsed say nothing about the account: say what to do instead.
            if crate::credentials::signed_out(&message) {
                Error::SignedOut {
                    profile: profile.to_owned(),
                    message: format!("lapsed ({message})"),
                }
            } else {
                Error::NotManagement {
                    profile: profile.to_owned(),
                    message,
                }
            }
        })
    };
    let roots = async {
        client
            .list_roots()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| org_error(profile, "organizations:ListRoots")(aws_message(&e)))
    };
    let (described, identity, roots) = futures::join!(
        described,
        crate::credentials::identity_and_clock(mgmt),
        roots
    );
    let org = described?
        .organization
        .ok_or_else(|| Error::NotManagement {
            profile: profile.to_owned(),
            message: "DescribeOrganization returned no organization".to_owned(),
        })?;
    let management_account_id = org.master_account_id.clone().unwrap_or_default();
    // Members may call DescribeOrganization too: make sure this profile really is the management account.
    let (me, clock) = identity.map_err(org_error(profile, "sts:GetCallerIdentity"))?;
    if me.account != management_account_id {
        return Err(Error::NotManagement {
            profile: profile.to_owned(),
            message: format!(
                "it acts in account {} ({}), but the organization's management account is {}",
                me.account, me.arn, management_account_id
            ),
        });
    }
    let root_id = roots?
        .into_iter()
        .flat_map(|page| page.roots.unwrap_or_default())
        .next()
        .and_then(|r| r.id)
        .ok_or_else(|| org_error(profile, "organizations:ListRoots")("no root".to_owned()))?;

    let tags = Client::from_conf(
        aws_sdk_organizations::config::Builder::from(mgmt)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build(),
    );
    Ok(Tree {
        organization: Organization {
            id: org.id.unwrap_or_default(),
            management_account_id,
            root_id,
            ous: Vec::new(),
        },
        clock,
        identity: me,
        profile: profile.to_owned(),
        client,
        tags,
        ous: Default::default(),
    })
}

impl Tree {
    /// The organization with the OUs [`Tree::accounts`] listed, once it has ended.
    pub fn walked(self) -> Organization {
        let mut ous = self.ous.into_inner().unwrap_or_else(|e| e.into_inner());
        ous.sort_by(|a, b| a.path.cmp(&b.path));
        Organization {
            ous,
            ..self.organization
        }
    }

    /// The tree a level at a time: each node's OUs and accounts are listed at once, the nodes of
    /// a level [`TAG_CONCURRENCY`] at a time, and each page of accounts handed to `found` as it
    /// comes, so that their tags (and their scans) start while the rest of the tree is listed.
    async fn walk(
        &self,
        found: futures::channel::mpsc::UnboundedSender<Result<Member, Error>>,
    ) -> Result<(), Error> {
        let profile = self.profile.as_str();
        // (parent id, path of OU names down to the parent)
        let mut level = vec![(self.organization.root_id.clone(), Vec::<String>::new())];
        while !level.is_empty() {
            let listed: Vec<_> = stream::iter(level)
                .map(|(parent, path)| {
                    let (client, found) = (self.client.clone(), found.clone());
                    async move {
                        let children = client
                            .list_organizational_units_for_parent()
                            .parent_id(&parent)
                            .max_results(20)
                            .into_paginator()
                            .send()
                            .try_collect();
                        let accounts = async {
                            let mut pages = client
                                .list_accounts_for_parent()
                                .parent_id(&parent)
                                .max_results(20)
                                .into_paginator()
                                .send();
                            while let Some(page) = pages.next().await {
                                for a in page?.accounts.unwrap_or_default() {
                                    let id = a.id.unwrap_or_default();
                                    // A scan that stopped taking accounts needs no more.
                                    let _ = found.unbounded_send(Ok(Member {
                                        name: a.name.unwrap_or_else(|| id.clone()),
                                        email: a.email.unwrap_or_default(),
                                        parent_id: parent.clone(),
                                        ou_path: path.clone(),
                                        id,
                                    }));
                                }
                            }
                            Ok(())
                        };
                        let (children, accounts) = futures::join!(children, accounts);
                        let children = children.map_err(|e| {
                            org_error(profile, "organizations:ListOrganizationalUnitsForParent")(
                                aws_message(&e),
                            )
                        })?;
                        accounts.map_err(|e| {
                            org_error(profile, "organizations:ListAccountsForParent")(aws_message(
                                &e,
                            ))
                        })?;
                        Ok::<_, Error>((parent, path, children))
                    }
                })
                .buffer_unordered(TAG_CONCURRENCY)
                .try_collect()
                .await?;
            let mut next = Vec::new();
            let mut ous = self.ous.lock().unwrap_or_else(|e| e.into_inner());
            for (parent, path, children) in listed {
                for ou in children
                    .into_iter()
                    .flat_map(|page| page.organizational_units.unwrap_or_default())
                {
                    let id = ou.id.unwrap_or_default();
                    let name = ou.name.unwrap_or_else(|| id.clone());
                    let mut ou_path = path.clone();
                    ou_path.push(name.clone());
                    next.push((id.clone(), ou_path.clone()));
                    ous.push(OrgUnit {
                        id,
                        name,
                        parent_id: parent.clone(),
                        path: ou_path,
                    });
                }
            }
            level = next;
        }
        Ok(())
    }

    /// Every member account with its tags and stage, as its page is listed and its tags read,
    /// [`TAG_CONCURRENCY`] reads at a time, paced once AWS throttles them ([`pace::Pacer`]). A
    /// listing that fails ends the stream with its error.
    pub fn accounts<'a>(
        &'a self,
        workspace: &'a Workspace,
    ) -> impl futures::Stream<Item = Result<Account, Error>> + 'a {
        let pacer = std::sync::Arc::new(pace::Pacer::default());
        let (found, members) = futures::channel::mpsc::unbounded();
        // The walk runs as the stream is polled; its error comes after the members it listed.
        let failed = found.clone();
        let walking = async move {
            if let Err(e) = self.walk(found).await {
                let _ = failed.unbounded_send(Err(e));
            }
        };
        stream::select(
            stream::once(walking).filter_map(|()| futures::future::ready(None)),
            members,
        )
        .map(move |m: Result<Member, Error>| {
            let pacer = pacer.clone();
            async move {
                let m = m?;
                let tags = pacer
                    .call(|| read_tags(&self.tags, &m.id), judge)
                    .await
                    .map_err(|e| {
                        org_error(&self.profile, "organizations:ListTagsForResource")(aws_message(
                            &e,
                        ))
                    })?;
                let is_management = m.id == self.organization.management_account_id;
                let (stage, stage_source) =
                    infer_stage(&m.id, &m.name, &tags, is_management, workspace);
                Ok::<_, Error>(Account {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    email: m.email.clone(),
                    parent_id: m.parent_id.clone(),
                    ou_path: m.ou_path.clone(),
                    is_management,
                    stage,
                    stage_source,
                    tags,
                    status: AccountStatus::Pending,
                    access: None,
                    identity: None,
                    error: None,
                    collect_errors: Vec::new(),
                    limits: Vec::new(),
                    counts: BTreeMap::new(),
                })
            }
        })
        .buffer_unordered(TAG_CONCURRENCY)
    }
}

type TagsError = SdkError<
    aws_sdk_organizations::operation::list_tags_for_resource::ListTagsForResourceError,
    crate::sdk_error::HttpResponse,
>;

/// What a failed tag read deserves: throttling is paced and tried again; a 5xx, a lost connection
/// or a refused signing time tried again; anything else is final.
fn judge(e: &TagsError) -> pace::Failure {
    match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let message = se.err().message().unwrap_or_default();
            if crate::collect::classify(code) == stagecraft_model::ErrorCode::Throttled {
                pace::Failure::Throttled
            } else if se.raw().status().is_server_error()
                // AWS refused the time this machine signed with: the SDK has learnt AWS's time
                // from the answer and signs the next try with it.
                || crate::clock::is_clock_error(code, message)
            {
                pace::Failure::Transient
            } else {
                pace::Failure::Final
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            pace::Failure::Transient
        }
        _ => pace::Failure::Final,
    }
}

/// One read of an account's tags, every page.
async fn read_tags(
    client: &Client,
    account_id: &str,
) -> Result<BTreeMap<String, String>, TagsError> {
    let pages: Vec<_> = client
        .list_tags_for_resource()
        .resource_id(account_id)
        .into_paginator()
        .send()
        .try_collect()
        .await?;
    Ok(pages
        .into_iter()
        .flat_map(|page| page.tags.unwrap_or_default())
        .map(|t| (t.key, t.value))
        .collect())
}
