//! Links between resources, inferred from a snapshot, each with its kind and the evidence for it.
//!
//! The SSM seam is the centre: who writes a parameter (`ssm-write`), who reads it (`ssm-read`: a
//! service's `serverless.yml`, a deployed Lambda environment, a stack's template), and what its value
//! names (`names`). Around it: role → attached policy, base path mapping → API, stage and domain,
//! authorizer → function, method → API and → function, function → execution role, stack → members.
//!
//! Not every node is a resource: a Terraform workspace writes parameters, so each workspace state is a
//! node (`terraform:<state location>`), and a service that is not deployed in a stage still reads its
//! parameters (`serverless:<account>/<stack>`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::intern::Interner;
use crate::model::{Claim, Owner, Resource, ScanReport, ServerlessClaim, StackClaim};
use crate::serverless::ResolvedService;
pub use stagecraft_iac::short_path;

/// What a link means. The JSON names are the kebab-case forms (`ssm-write`, `attached-policy`, …).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum LinkKind {
    /// Writer (a Terraform workspace or a stack) → the parameter it writes.
    SsmWrite,
    /// Parameter → its reader (a service's stack, a function).
    SsmRead,
    /// Parameter → the resource its value names (ARN, id or name).
    Names,
    /// IAM role → a customer-managed policy attached to it.
    AttachedPolicy,
    /// Base path mapping / API mapping → its API, stage and domain.
    Mapping,
    /// Authorizer → the function it invokes.
    Invokes,
    /// Method, resource, stage, authorizer or gateway response → its API.
    InApi,
    /// Method → the function its integration calls.
    Integration,
    /// Function → its execution role.
    ExecutionRole,
    /// Stack → a resource it manages.
    StackMember,
}

impl LinkKind {
    pub const ALL: [LinkKind; 10] = [
        LinkKind::SsmWrite,
        LinkKind::SsmRead,
        LinkKind::Names,
        LinkKind::AttachedPolicy,
        LinkKind::Mapping,
        LinkKind::Invokes,
        LinkKind::InApi,
        LinkKind::Integration,
        LinkKind::ExecutionRole,
        LinkKind::StackMember,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::SsmWrite => "ssm-write",
            LinkKind::SsmRead => "ssm-read",
            LinkKind::Names => "names",
            LinkKind::AttachedPolicy => "attached-policy",
            LinkKind::Mapping => "mapping",
            LinkKind::Invokes => "invokes",
            LinkKind::InApi => "in-api",
            LinkKind::Integration => "integration",
            LinkKind::ExecutionRole => "execution-role",
            LinkKind::StackMember => "stack-member",
        }
    }

    /// Whether `to` has to exist before `from` (the link points at a prerequisite). `ssm-write` and
    /// `ssm-read` point the other way (writer, then parameter, then reader); stack membership is
    /// containment, not order.
    pub fn points_at_prerequisite(self) -> Option<bool> {
        match self {
            LinkKind::SsmWrite | LinkKind::SsmRead => Some(false),
            LinkKind::StackMember => None,
            _ => Some(true),
        }
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One link: `from` and `to` are node ids (resource ids, or the synthetic ids above).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct Link {
    pub from: String,
    pub to: String,
    pub kind: LinkKind,
    /// Why the link exists, in words; several reasons are joined with `; `.
    pub evidence: String,
}

/// A node that is not a live resource.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ExtraNode {
    pub id: String,
    /// `Terraform::Workspace` or `Serverless::Service`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    pub account_id: Option<String>,
    pub stage: Option<String>,
}

pub const TERRAFORM_WORKSPACE: &str = "Terraform::Workspace";
pub const SERVERLESS_SERVICE: &str = "Serverless::Service";

/// The node id of a Terraform workspace's state.
pub fn terraform_node(state: &str) -> String {
    format!("terraform:{state}")
}

/// Everything [`infer`] found.
#[derive(Debug, Clone, Default)]
pub struct Linked {
    pub links: Vec<Link>,
    pub extra_nodes: Vec<ExtraNode>,
}

/// A link whose ends are shared with every other link of the same node (and the graph's nodes).
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub from: Arc<str>,
    pub to: Arc<str>,
    pub kind: LinkKind,
    pub evidence: Arc<str>,
}

/// A link's ends and kind.
type LinkKey = (Arc<str>, Arc<str>, LinkKind);

/// Collects links, merging the evidence of duplicates; each node id and each reason is held once.
#[derive(Default)]
struct LinkSet {
    /// Most links have one reason: the list holds exactly what it has (a `Vec`'s first push
    /// makes room for four, and an organization of a thousand accounts has some 300,000 links).
    links: BTreeMap<LinkKey, Vec<Arc<str>>>,
    ids: Interner,
}

impl LinkSet {
    fn add(&mut self, from: &str, to: &str, kind: LinkKind, evidence: impl AsRef<str>) {
        if from == to {
            return;
        }
        let key = (self.ids.get(from), self.ids.get(to), kind);
        let e = evidence.as_ref();
        match self.links.entry(key) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                // `vec![x]` holds one; a first `push` would make room for four.
                slot.insert(vec![self.ids.get(e)]);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                if !slot.get().iter().any(|x| &**x == e) {
                    let e = self.ids.get(e);
                    slot.get_mut().push(e);
                }
            }
        }
    }

    fn has(&self, from: &str, to: &str, kind: LinkKind) -> bool {
        match (self.ids.held(from), self.ids.held(to)) {
            (Some(from), Some(to)) => self.links.contains_key(&(from, to, kind)),
            _ => false,
        }
    }

    fn into_shared(self) -> (Vec<Shared>, Interner) {
        let links = self
            .links
            .into_iter()
            .map(|((from, to, kind), ev)| Shared {
                from,
                to,
                kind,
                evidence: match ev.as_slice() {
                    [one] => one.clone(),
                    many => Arc::from(many.join("; ")),
                },
            })
            .collect();
        (links, self.ids)
    }
}

/// Lookups over one snapshot's resources.
pub(crate) struct Index<'a> {
    pub by_id: HashMap<&'a str, &'a Resource>,
    /// (account, type, name) → resources with that name.
    by_name: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Resource>>,
    /// (account, type, `attribute=value`) → resources.
    by_attr: HashMap<(&'a str, &'a str, String), Vec<&'a Resource>>,
    /// (account, stack name) → the stack resource.
    stacks: HashMap<(&'a str, &'a str), &'a Resource>,
}

/// Attributes that identify a resource by id (`api_id` of a REST API, …).
const ID_ATTRIBUTES: &[(&str, &str)] = &[
    ("AWS::ApiGateway::RestApi", "api_id"),
    ("AWS::ApiGateway::Resource", "resource_id"),
    ("AWS::ApiGateway::Authorizer", "authorizer_id"),
    ("AWS::ApiGatewayV2::Api", "api_id"),
    ("AWS::KMS::Key", "key_id"),
];

/// Types a parameter's value may name by its plain name.
const NAMED_TYPES: &[&str] = &[
    "AWS::SecretsManager::Secret",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::Lambda::Function",
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
    "AWS::KMS::Key",
    "AWS::ApiGateway::DomainName",
];

impl<'a> Index<'a> {
    pub fn new(resources: &'a [Resource]) -> Self {
        let mut ix = Index {
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_attr: HashMap::new(),
            stacks: HashMap::new(),
        };
        for r in resources {
            ix.by_id.insert(r.id.as_str(), r);
            ix.by_name
                .entry((r.account_id.as_str(), r.type_name.as_str(), r.name.as_str()))
                .or_default()
                .push(r);
            for (ty, attr) in ID_ATTRIBUTES {
                if r.type_name == *ty {
                    if let Some(v) = r.attr_str(attr) {
                        ix.by_attr
                            .entry((r.account_id.as_str(), ty, format!("{attr}={v}")))
                            .or_default()
                            .push(r);
                    }
                }
            }
            if r.type_name == "AWS::KMS::Key" {
                for alias in r
                    .attributes
                    .get("aliases")
                    .and_then(|a| a.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                {
                    ix.by_attr
                        .entry((
                            r.account_id.as_str(),
                            "AWS::KMS::Key",
                            format!("alias={alias}"),
                        ))
                        .or_default()
                        .push(r);
                }
            }
            if r.type_name == crate::model::types::cloudformation::STACK_TYPE {
                ix.stacks
                    .insert((r.account_id.as_str(), r.name.as_str()), r);
            }
        }
        ix
    }

    /// The one resource of `ty` named `name` in `account`.
    pub fn named(&self, account: &str, ty: &str, name: &str) -> Option<&'a Resource> {
        match self.by_name.get(&(account, ty, name)).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Every resource of `ty` named `name` in `account`.
    pub fn all_named(&self, account: &str, ty: &str, name: &str) -> Vec<&'a Resource> {
        self.by_name
            .get(&(account, ty, name))
            .cloned()
            .unwrap_or_default()
    }

    /// The one resource of `ty` whose `attr` is `value` in `account`.
    pub fn with_attr(
        &self,
        account: &str,
        ty: &str,
        attr: &str,
        value: &str,
    ) -> Option<&'a Resource> {
        match self
            .by_attr
            .get(&(account, ty, format!("{attr}={value}")))
            .map(Vec::as_slice)
        {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    pub fn stack(&self, account: &str, name: &str) -> Option<&'a Resource> {
        self.stacks.get(&(account, name)).copied()
    }

    /// The REST API `api_id` of `account` (v1 first, then v2).
    pub fn api(&self, account: &str, api_id: &str) -> Option<&'a Resource> {
        self.with_attr(account, "AWS::ApiGateway::RestApi", "api_id", api_id)
            .or_else(|| self.with_attr(account, "AWS::ApiGatewayV2::Api", "api_id", api_id))
    }

    /// The resource a parameter's value names, searched in `account` first, then anywhere (a value
    /// exported from the wrong account still names something). Returns it and how it matched.
    pub fn named_by_value(&self, account: &str, value: &str) -> Option<(&'a Resource, String)> {
        let value = value.trim();
        if value.len() < 3 {
            return None;
        }
        if let Some(r) = self.by_id.get(value) {
            return Some((r, "the ARN".to_owned()));
        }
        // Secrets Manager ARNs carry a random suffix; a value may hold the ARN without it.
        if value.starts_with("arn:aws:secretsmanager:") {
            let found: Vec<_> = self
                .by_id
                .values()
                .filter(|r| {
                    r.type_name == "AWS::SecretsManager::Secret"
                        && r.id
                            .strip_prefix(value)
                            .is_some_and(|rest| rest.len() == 7 && rest.starts_with('-'))
                })
                .collect();
            if let [one] = found.as_slice() {
                return Some((one, "the ARN (without the random suffix)".to_owned()));
            }
        }
        for (ty, attr) in ID_ATTRIBUTES {
            if let Some(r) = self.with_attr(account, ty, attr, value) {
                return Some((r, format!("the id ({attr})")));
            }
        }
        if let Some(r) = self.with_attr(account, "AWS::KMS::Key", "alias", value) {
            return Some((r, "an alias".to_owned()));
        }
        for ty in NAMED_TYPES {
            if let Some(r) = self.named(account, ty, value) {
                return Some((r, "the name".to_owned()));
            }
        }
        None
    }
}

/// The function ARN inside an API Gateway Lambda URI
/// (`arn:aws:apigateway:…:lambda:path/2015-03-31/functions/<function arn>/invocations`).
pub fn function_in_uri(uri: &str) -> Option<&str> {
    let start = uri.find("functions/")? + "functions/".len();
    let rest = &uri[start..];
    let end = rest.find("/invocations").unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The account a service of `stage` deploys to.
pub fn stage_account<'a>(report: &'a ScanReport, stage: &str) -> Option<&'a str> {
    report
        .accounts
        .iter()
        .find(|a| a.stage.as_deref() == Some(stage))
        .map(|a| a.id.as_str())
}

/// The node that reads for a service in a stage: its stack when deployed, else a service node.
pub(crate) fn service_node(
    report: &ScanReport,
    ix: &Index<'_>,
    svc: &ResolvedService,
) -> Option<String> {
    let account = stage_account(report, &svc.stage)?;
    Some(
        ix.stack(account, &svc.stack)
            .map(|s| s.id.clone())
            .unwrap_or_else(|| format!("serverless:{account}/{}", svc.stack)),
    )
}

use crate::model::stack::distinctive;

/// Infers every link of a snapshot.
pub fn infer(report: &ScanReport) -> Linked {
    let (links, extra_nodes, _) = infer_shared(report);
    Linked {
        links: links
            .into_iter()
            .map(|l| Link {
                from: l.from.to_string(),
                to: l.to.to_string(),
                kind: l.kind,
                evidence: l.evidence.to_string(),
            })
            .collect(),
        extra_nodes,
    }
}

/// What [`infer`] finds, with the links' ends shared (and the strings that share them).
pub(crate) fn infer_shared(report: &ScanReport) -> (Vec<Shared>, Vec<ExtraNode>, Interner) {
    let ix = Index::new(&report.resources);
    let mut set = LinkSet::default();
    let mut extra: BTreeMap<String, ExtraNode> = BTreeMap::new();

    for state in &report.terraform {
        if state.error.is_none() {
            let id = terraform_node(&state.location);
            extra.insert(
                id.clone(),
                ExtraNode {
                    id,
                    type_name: TERRAFORM_WORKSPACE.into(),
                    name: state_name(&state.workspace, &state.location),
                    account_id: state_account(report, state),
                    stage: state.stage.clone(),
                },
            );
        }
    }

    for r in &report.resources {
        writers(r, &ix, &mut set, &mut extra);
        members(r, &ix, &mut set);
        match r.type_name.as_str() {
            crate::model::types::ssm::TYPE => {
                if let Some(value) = r.attr_str("value") {
                    if let Some((target, how)) = ix.named_by_value(&r.account_id, value) {
                        let mut ev = format!("the value is {how} of `{}`", target.name);
                        if target.account_id != r.account_id {
                            ev.push_str(&format!(" in account {}", target.account_id));
                        }
                        set.add(&r.id, &target.id, LinkKind::Names, ev);
                    }
                }
            }
            "AWS::IAM::Role" => {
                for p in string_list(r, "attached_policies") {
                    if let Some(policy) = ix.by_id.get(p) {
                        set.add(
                            &r.id,
                            &policy.id,
                            LinkKind::AttachedPolicy,
                            "attached to the role",
                        );
                    }
                }
            }
            "AWS::Lambda::Function" => {
                if let Some(role) = r.attr_str("role").and_then(|a| ix.by_id.get(a)) {
                    set.add(
                        &r.id,
                        &role.id,
                        LinkKind::ExecutionRole,
                        "the function's role",
                    );
                }
            }
            "AWS::ApiGateway::Authorizer" => {
                in_api(r, &ix, &mut set);
                calls(
                    r,
                    "authorizer_uri",
                    LinkKind::Invokes,
                    "its authorizer URI calls the function",
                    &ix,
                    &mut set,
                );
            }
            "AWS::ApiGateway::Method" => {
                in_api(r, &ix, &mut set);
                calls(
                    r,
                    "integration_uri",
                    LinkKind::Integration,
                    "its Lambda integration calls the function",
                    &ix,
                    &mut set,
                );
            }
            "AWS::ApiGateway::Resource"
            | "AWS::ApiGateway::Stage"
            | "AWS::ApiGateway::GatewayResponse"
            | "AWS::ApiGatewayV2::Stage" => in_api(r, &ix, &mut set),
            "AWS::ApiGateway::BasePathMapping" | "AWS::ApiGatewayV2::ApiMapping" => {
                mapping(r, &ix, &mut set)
            }
            _ => {}
        }
    }

    readers(report, &ix, &mut set, &mut extra);
    terraform_readers(report, &ix, &mut set);
    template_readers(report, &ix, &mut set);

    drop(ix);
    let (links, ids) = set.into_shared();
    (links, extra.into_values().collect(), ids)
}

/// A state node's name: `dev (s3://bucket/env:/dev/key)` for a workspace, the location alone for a
/// layout without workspaces.
fn state_name(workspace: &str, location: &str) -> String {
    if workspace == "default" {
        location.to_owned()
    } else {
        format!("{workspace} ({location})")
    }
}

/// The account a state deploys to: its stage's, else the one account its resources live in.
fn state_account(report: &ScanReport, state: &crate::model::TerraformState) -> Option<String> {
    if let Some(a) = state
        .stage
        .as_deref()
        .and_then(|s| stage_account(report, s))
    {
        return Some(a.to_owned());
    }
    match state.resource_accounts.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Parameter → the Terraform state that reads it through `data "aws_ssm_parameter"`: by ARN when
/// the state recorded it, else by name in the account the state deploys to.
fn terraform_readers(report: &ScanReport, ix: &Index<'_>, set: &mut LinkSet) {
    for state in report.terraform.iter().filter(|s| s.error.is_none()) {
        let node = terraform_node(&state.location);
        let account = state_account(report, state);
        for read in &state.ssm_reads {
            let param = read
                .arn
                .as_deref()
                .and_then(|arn| ix.by_id.get(arn).copied())
                .or_else(|| {
                    let account = account.as_deref()?;
                    ix.named(account, crate::model::types::ssm::TYPE, &read.name)
                });
            if let Some(param) = param {
                set.add(
                    &param.id,
                    &node,
                    LinkKind::SsmRead,
                    format!(
                        "`{}` in {} reads it (data source)",
                        read.address, state.location
                    ),
                );
            }
        }
    }
}

/// Parameter → the stack whose deployed template holds its current value, with where.
fn template_readers(report: &ScanReport, ix: &Index<'_>, set: &mut LinkSet) {
    for stack in &report.stacks {
        let Some(node) = ix.stack(&stack.account_id, &stack.name) else {
            continue;
        };
        let mut at: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for read in &stack.parameter_reads {
            at.entry(read.parameter.as_str())
                .or_default()
                .push(read.path.as_str());
        }
        for (param, paths) in at {
            let Some(param) = ix.by_id.get(param) else {
                continue;
            };
            if set.has(&param.id, &node.id, LinkKind::SsmRead) {
                continue;
            }
            set.add(
                &param.id,
                &node.id,
                LinkKind::SsmRead,
                format!(
                    "the deployed template holds the parameter's current value at {}",
                    paths.join(", ")
                ),
            );
        }
    }
}

fn string_list<'r>(r: &'r Resource, attr: &str) -> impl Iterator<Item = &'r str> {
    r.attributes
        .get(attr)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
}

/// Writers of a parameter: the Terraform workspace or the stack that owns it.
fn writers(
    r: &Resource,
    ix: &Index<'_>,
    set: &mut LinkSet,
    extra: &mut BTreeMap<String, ExtraNode>,
) {
    if r.type_name != crate::model::types::ssm::TYPE {
        return;
    }
    for claim in r.owner.claims() {
        match claim {
            Claim::Terraform(c) => {
                let node = terraform_node(&c.state);
                extra.entry(node.clone()).or_insert_with(|| ExtraNode {
                    id: node.clone(),
                    type_name: TERRAFORM_WORKSPACE.into(),
                    name: state_name(&c.workspace, &c.state),
                    account_id: Some(r.account_id.clone()),
                    stage: r.stage.clone(),
                });
                set.add(
                    &node,
                    &r.id,
                    LinkKind::SsmWrite,
                    if c.workspace == "default" {
                        format!("`{}` in {} writes it", c.address, c.state)
                    } else {
                        format!("`{}` in workspace `{}` writes it", c.address, c.workspace)
                    },
                );
            }
            Claim::Serverless(ServerlessClaim {
                stack, logical_id, ..
            })
            | Claim::Cloudformation(StackClaim {
                stack, logical_id, ..
            }) => {
                if let Some(node) = ix.stack(&r.account_id, &stack) {
                    set.add(
                        &node.id,
                        &r.id,
                        LinkKind::SsmWrite,
                        format!(
                            "stack `{stack}` declares it ({})",
                            logical_id.as_deref().unwrap_or("AWS::SSM::Parameter")
                        ),
                    );
                }
            }
        }
    }
}

/// Stack → each resource it claims (a conflict's stack claims count too).
fn members(r: &Resource, ix: &Index<'_>, set: &mut LinkSet) {
    let claims = match &r.owner {
        Owner::Conflict { claims } => claims.clone(),
        other => other.claims(),
    };
    for claim in claims {
        let (stack, logical, matched) = match &claim {
            Claim::Serverless(c) => (&c.stack, &c.logical_id, &c.matched_by),
            Claim::Cloudformation(c) => (&c.stack, &c.logical_id, &c.matched_by),
            Claim::Terraform(_) => continue,
        };
        let Some(logical) = logical else { continue };
        if let Some(s) = ix.stack(&r.account_id, stack) {
            set.add(
                &s.id,
                &r.id,
                LinkKind::StackMember,
                format!("logical id `{logical}` (from the {matched})"),
            );
        }
    }
}

/// `r` → the function in its Lambda URI attribute `attr`.
fn calls(
    r: &Resource,
    attr: &str,
    kind: LinkKind,
    evidence: &str,
    ix: &Index<'_>,
    set: &mut LinkSet,
) {
    if let Some(f) = r
        .attr_str(attr)
        .and_then(function_in_uri)
        .and_then(|arn| ix.by_id.get(arn))
    {
        set.add(&r.id, &f.id, kind, evidence);
    }
}

fn in_api(r: &Resource, ix: &Index<'_>, set: &mut LinkSet) {
    if let Some(api) = r
        .attr_str("api_id")
        .and_then(|id| ix.api(&r.account_id, id))
    {
        set.add(
            &r.id,
            &api.id,
            LinkKind::InApi,
            format!("part of API `{}`", api.name),
        );
    }
}

fn mapping(r: &Resource, ix: &Index<'_>, set: &mut LinkSet) {
    let api = r
        .attr_str("api_id")
        .and_then(|id| ix.api(&r.account_id, id));
    if let Some(api) = api {
        set.add(
            &r.id,
            &api.id,
            LinkKind::Mapping,
            format!("maps to API `{}`", api.name),
        );
        if let Some(stage) = r.attr_str("stage") {
            let stage_type = if api.type_name == "AWS::ApiGatewayV2::Api" {
                "AWS::ApiGatewayV2::Stage"
            } else {
                "AWS::ApiGateway::Stage"
            };
            if let Some(s) = ix
                .all_named(&r.account_id, stage_type, stage)
                .iter()
                .find(|s| s.attr_str("api_id") == api.attr_str("api_id"))
            {
                set.add(
                    &r.id,
                    &s.id,
                    LinkKind::Mapping,
                    format!("maps to stage `{stage}`"),
                );
            }
        }
    }
    if let Some(domain) = r.attr_str("domain_name") {
        let found = ix
            .named(&r.account_id, "AWS::ApiGateway::DomainName", domain)
            .or_else(|| ix.named(&r.account_id, "AWS::ApiGatewayV2::DomainName", domain));
        if let Some(d) = found {
            set.add(
                &r.id,
                &d.id,
                LinkKind::Mapping,
                format!("on domain `{domain}`"),
            );
        }
    }
}

/// Parameter → reader: what `serverless.yml` reads per stage, and values found in deployed Lambda
/// environments and stack templates.
fn readers(
    report: &ScanReport,
    ix: &Index<'_>,
    set: &mut LinkSet,
    extra: &mut BTreeMap<String, ExtraNode>,
) {
    for svc in &report.services {
        let Some(account) = stage_account(report, &svc.stage) else {
            continue;
        };
        let Some(reader) = service_node(report, ix, svc) else {
            continue;
        };
        let file = short_path(&svc.path);
        let mut places: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for v in svc.variables.iter().filter(|v| v.source == "ssm") {
            places
                .entry(crate::model::serverless::ssm_name(&v.argument))
                .or_default()
                .push(v.at.as_str());
        }
        let mut any = false;
        for (name, at) in &places {
            let Some(param) = ix.named(account, crate::model::types::ssm::TYPE, name) else {
                continue;
            };
            any = true;
            set.add(
                &param.id,
                &reader,
                LinkKind::SsmRead,
                format!("{file} reads ${{ssm:{name}}} at {}", at.join(", ")),
            );
        }
        if any && ix.stack(account, &svc.stack).is_none() {
            extra.entry(reader.clone()).or_insert_with(|| ExtraNode {
                id: reader.clone(),
                type_name: SERVERLESS_SERVICE.into(),
                name: format!("{} (not deployed)", svc.stack),
                account_id: Some(account.to_owned()),
                stage: Some(svc.stage.clone()),
            });
        }
        // Function by function: the environment variables built from parameters.
        for f in &svc.functions {
            let Some(function) = ix.named(account, "AWS::Lambda::Function", &f.name) else {
                continue;
            };
            for env in &f.ssm_environment {
                for name in &env.parameters {
                    if let Some(param) = ix.named(account, crate::model::types::ssm::TYPE, name) {
                        set.add(
                            &param.id,
                            &function.id,
                            LinkKind::SsmRead,
                            format!("{file} sets `{}` from ${{ssm:{name}}}", env.variable),
                        );
                    }
                }
            }
        }
    }

    // Values baked into deployed environments and templates, whatever the files say.
    let mut by_hash: HashMap<(&str, &str), &Resource> = HashMap::new();
    let mut by_value: HashMap<(&str, &str), &Resource> = HashMap::new();
    for p in report
        .resources
        .iter()
        .filter(|r| r.type_name == crate::model::types::ssm::TYPE)
    {
        if let (Some(h), Some(v)) = (p.attr_str("value_hash"), p.attr_str("value")) {
            if distinctive(v) {
                by_hash.insert((p.account_id.as_str(), h), p);
                by_value.insert((p.account_id.as_str(), v), p);
            }
        }
    }
    for f in report
        .resources
        .iter()
        .filter(|r| r.type_name == "AWS::Lambda::Function")
    {
        let Some(env) = f.attributes.get("environment").and_then(|e| e.as_object()) else {
            continue;
        };
        for (var, hash) in env {
            let Some(param) = hash
                .as_str()
                .and_then(|h| by_hash.get(&(f.account_id.as_str(), h)))
            else {
                continue;
            };
            if !set.has(&param.id, &f.id, LinkKind::SsmRead) {
                set.add(
                    &param.id,
                    &f.id,
                    LinkKind::SsmRead,
                    format!("the deployed `{var}` holds the parameter's current value"),
                );
            }
        }
    }
    for stack in &report.stacks {
        let Some(node) = ix.stack(&stack.account_id, &stack.name) else {
            continue;
        };
        for d in &stack.declared {
            for (prop, value) in &d.properties {
                if let Some(param) = by_value.get(&(stack.account_id.as_str(), value.as_str())) {
                    if !set.has(&param.id, &node.id, LinkKind::SsmRead) {
                        set.add(
                            &param.id,
                            &node.id,
                            LinkKind::SsmRead,
                            format!(
                                "the deployed template uses the parameter's value as {prop} of `{}`",
                                d.logical_id
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
