//! Ownership: which tool claims each live resource, with the evidence.
//!
//! Claims come from three places: Terraform state instances (matched by ARN, id or name), stack
//! resource lists (the only way to reach resources CloudFormation does not tag, such as IAM roles),
//! and — for resources a stack declares but that have no usable physical id — the stack's template
//! and the `aws:cloudformation:*` tags. A resource with no claim is unmanaged; one with claims from
//! two owners is a conflict, and both claims are kept.

mod terraform_types;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::types::{apigateway, apigatewayv2};
use crate::model::StackFacts;
use crate::model::{Claim, Owner, Resource, ServerlessClaim, StackClaim, TerraformClaim};
use crate::serverless::{serverless_evidence, split_stack_name};
use crate::terraform::LoadedState;

pub use terraform_types::{cfn_type_of, Matcher};

/// What ownership needs besides the resources.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub stacks: &'a [StackFacts],
    pub states: &'a mut [LoadedState],
    /// Service names from the workspace's `serverless.yml` files.
    pub services: &'a BTreeSet<String>,
    /// Every stage the organization knows.
    pub stages: &'a BTreeSet<String>,
    /// Account id → stage.
    pub account_stages: &'a BTreeMap<String, String>,
    /// Claims decided earlier from states not read again (a refresh reads again only the states
    /// of the stages that changed), by resource id.
    pub carried: &'a HashMap<String, Vec<Claim>>,
}

/// Sets `owner` on every resource and records unmatched state instances.
pub fn assign(resources: &mut [Resource], inputs: Inputs<'_>) {
    let Inputs {
        stacks,
        states,
        services,
        stages,
        account_stages,
        carried,
    } = inputs;
    let mut terraform = Terraform::new(states, account_stages);
    terraform.observe(resources);
    let terraform = terraform.finish();
    assign_claimed(
        resources,
        Claimed {
            stacks,
            services,
            stages,
            account_stages,
            terraform: &terraform,
            carried,
        },
    );
}

/// What [`assign_claimed`] needs: the Terraform claims already decided over the whole
/// organization, and what the stacks' and tags' claims are made from.
#[derive(Debug, Clone, Copy)]
pub struct Claimed<'a> {
    /// The stacks of the resources' accounts (a stack claims only in its own account).
    pub stacks: &'a [StackFacts],
    pub services: &'a BTreeSet<String>,
    pub stages: &'a BTreeSet<String>,
    pub account_stages: &'a BTreeMap<String, String>,
    /// From [`Terraform::finish`], by resource id.
    pub terraform: &'a HashMap<String, Vec<Claim>>,
    pub carried: &'a HashMap<String, Vec<Claim>>,
}

/// Sets `owner` on the resources of some accounts, given the Terraform claims: stacks and tags
/// claim only within their account, so an organization can be decided one account at a time.
pub fn assign_claimed(resources: &mut [Resource], c: Claimed<'_>) {
    let index = Index::new(resources);
    let mut claims: Vec<Vec<Claim>> = vec![Vec::new(); resources.len()];
    let inputs = StackInputs {
        services: c.services,
        stages: c.stages,
        account_stages: c.account_stages,
    };
    for stack in c.stacks {
        stack_claims(stack, resources, &index, &inputs, &mut claims);
    }
    tag_claims(resources, c.stacks, &inputs, &mut claims);
    for (r, claims) in resources.iter().zip(claims.iter_mut()) {
        for from in [c.terraform, c.carried] {
            if let Some(more) = from.get(&r.id) {
                claims.extend(more.iter().cloned());
            }
        }
    }
    for (r, c) in resources.iter_mut().zip(claims) {
        r.owner = decide(c);
    }
    inherit_root_resources(resources);
}

/// What a stack's claim is made from.
struct StackInputs<'a> {
    services: &'a BTreeSet<String>,
    stages: &'a BTreeSet<String>,
    account_stages: &'a BTreeMap<String, String>,
}

/// Claims → owner. A stage that several services' deployments write to (the shared REST API's stage)
/// is their common ground, not a conflict: such weak claims count only when nothing stronger claims
/// the stage, and then as one claim naming every stack.
fn decide(claims: Vec<Claim>) -> Owner {
    let mut distinct: Vec<Claim> = Vec::new();
    for claim in claims {
        if !distinct.iter().any(|d| same_owner(d, &claim)) {
            distinct.push(claim);
        }
    }
    let (mut weak, mut strong): (Vec<Claim>, Vec<Claim>) = distinct
        .into_iter()
        .partition(|c| matched_by(c) == DEPLOYMENT_STAGE);
    if strong.is_empty() && !weak.is_empty() {
        weak.sort();
        let stacks: Vec<String> = weak.iter().filter_map(stack_of).collect();
        let mut first = weak.remove(0);
        if stacks.len() > 1 {
            set_matched_by(
                &mut first,
                &format!("{DEPLOYMENT_STAGE} (shared by {})", stacks.join(", ")),
            );
        }
        strong.push(first);
    }
    match strong.len() {
        0 => Owner::Unmanaged,
        1 => strong.remove(0).into(),
        _ => {
            strong.sort();
            Owner::Conflict { claims: strong }
        }
    }
}

/// The evidence word of stage claims that come from a deployment's `StageName`.
const DEPLOYMENT_STAGE: &str = "deployment stage";

fn matched_by(c: &Claim) -> &str {
    match c {
        Claim::Terraform(t) => &t.matched_by,
        Claim::Serverless(s) => &s.matched_by,
        Claim::Cloudformation(s) => &s.matched_by,
    }
}

fn set_matched_by(c: &mut Claim, how: &str) {
    match c {
        Claim::Terraform(t) => t.matched_by = how.to_owned(),
        Claim::Serverless(s) => s.matched_by = how.to_owned(),
        Claim::Cloudformation(s) => s.matched_by = how.to_owned(),
    }
}

fn stack_of(c: &Claim) -> Option<String> {
    match c {
        Claim::Serverless(s) => Some(s.stack.clone()),
        Claim::Cloudformation(s) => Some(s.stack.clone()),
        Claim::Terraform(_) => None,
    }
}

/// An API's root resource (`/`) is created with the API and belongs to whoever owns the API.
fn inherit_root_resources(resources: &mut [Resource]) {
    let api_owners: HashMap<(String, String), Owner> = resources
        .iter()
        .filter(|r| r.type_name == apigateway::REST_API)
        .filter_map(|r| {
            Some((
                (r.account_id.clone(), r.attr_str("api_id")?.to_owned()),
                r.owner.clone(),
            ))
        })
        .collect();
    for r in resources.iter_mut() {
        if r.type_name != apigateway::RESOURCE
            || r.attr_str("parent_id").is_some()
            || r.owner != Owner::Unmanaged
        {
            continue;
        }
        let Some(api) = r.attr_str("api_id").map(str::to_owned) else {
            continue;
        };
        if let Some(owner) = api_owners.get(&(r.account_id.clone(), api)) {
            let mut claims = owner.claims();
            for c in &mut claims {
                set_matched_by(c, "root resource of the API");
            }
            r.owner = match claims.len() {
                0 => Owner::Unmanaged,
                1 => claims.remove(0).into(),
                _ => Owner::Conflict { claims },
            };
        }
    }
}

/// Two claims by the same state address or the same stack are one owner (a stack that lists a
/// resource and also tags it).
fn same_owner(a: &Claim, b: &Claim) -> bool {
    match (a, b) {
        (Claim::Terraform(x), Claim::Terraform(y)) => x.address == y.address && x.state == y.state,
        (Claim::Serverless(x), Claim::Serverless(y)) => x.stack == y.stack,
        (Claim::Cloudformation(x), Claim::Cloudformation(y)) => x.stack == y.stack,
        _ => false,
    }
}

/// Resources by (account, type) and by id.
struct Index {
    by_type: HashMap<(String, String), Vec<usize>>,
    by_id: HashMap<String, usize>,
}

impl Index {
    fn new(resources: &[Resource]) -> Self {
        let mut by_type: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut by_id = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_type
                .entry((r.account_id.clone(), r.type_name.clone()))
                .or_default()
                .push(i);
            by_id.entry(r.id.clone()).or_insert(i);
        }
        Index { by_type, by_id }
    }

    fn of_type(&self, account: &str, type_name: &str) -> &[usize] {
        self.by_type
            .get(&(account.to_owned(), type_name.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The claim a stack makes, before the logical id is known.
fn stack_claim(
    stack: &StackFacts,
    inputs: &StackInputs<'_>,
    logical_id: Option<String>,
    matched_by: &str,
) -> Claim {
    let stages: Vec<&str> = inputs.stages.iter().map(String::as_str).collect();
    let serverless = serverless_evidence(stack).is_some()
        || inputs.services.iter().any(|s| {
            stack
                .name
                .strip_prefix(s)
                .is_some_and(|rest| rest.starts_with('-'))
        });
    if serverless {
        let account_stage = inputs
            .account_stages
            .get(&stack.account_id)
            .map(String::as_str);
        let known_service = inputs
            .services
            .iter()
            .filter(|s| {
                stack
                    .name
                    .strip_prefix(s.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|s| s.len());
        let (service, stage) = match known_service {
            Some(s) => (s.clone(), stack.name[s.len() + 1..].to_owned()),
            None => match split_stack_name(&stack.name, &stages) {
                Some((svc, stg)) => (svc.to_owned(), stg.to_owned()),
                None => (
                    stack.name.clone(),
                    account_stage.unwrap_or_default().to_owned(),
                ),
            },
        };
        Claim::Serverless(ServerlessClaim {
            service,
            stage,
            stack: stack.name.clone(),
            logical_id,
            matched_by: matched_by.to_owned(),
        })
    } else {
        Claim::Cloudformation(StackClaim {
            stack: stack.name.clone(),
            logical_id,
            matched_by: matched_by.to_owned(),
        })
    }
}

fn with_logical(claim: &Claim, logical: &str, matched_by: &str) -> Claim {
    let mut c = claim.clone();
    match &mut c {
        Claim::Serverless(s) => {
            s.logical_id = Some(logical.to_owned());
            s.matched_by = matched_by.to_owned();
        }
        Claim::Cloudformation(s) => {
            s.logical_id = Some(logical.to_owned());
            s.matched_by = matched_by.to_owned();
        }
        Claim::Terraform(_) => {}
    }
    c
}

fn in_region(r: &Resource, region: &str) -> bool {
    r.region == region || r.region == "global" || r.type_name == crate::model::types::s3::TYPE
}

fn last_segment(id: &str) -> &str {
    id.rsplit(['/', ':']).next().unwrap_or(id)
}

fn stack_claims(
    stack: &StackFacts,
    resources: &[Resource],
    index: &Index,
    inputs: &StackInputs<'_>,
    claims: &mut [Vec<Claim>],
) {
    let base = stack_claim(stack, inputs, None, "stack");
    if let Some(&i) = index.by_id.get(&stack.id) {
        claims[i].push(base.clone());
    }
    // APIs this stack works on: its own, and shared ones its template names.
    let mut api_ids: BTreeSet<String> = stack
        .members
        .iter()
        .filter(|m| {
            m.type_name == "AWS::ApiGateway::RestApi" || m.type_name == "AWS::ApiGatewayV2::Api"
        })
        .filter_map(|m| m.physical_id.clone())
        .collect();
    api_ids.extend(stack.declared.iter().filter_map(|d| {
        d.properties
            .get("RestApiId")
            .or(d.properties.get("ApiId"))
            .cloned()
    }));

    let mut matched_logical: BTreeSet<&str> = BTreeSet::new();
    for m in &stack.members {
        let Some(pid) = m.physical_id.as_deref() else {
            continue;
        };
        let found: Vec<usize> = index
            .of_type(&stack.account_id, &m.type_name)
            .iter()
            .copied()
            .filter(|&i| in_region(&resources[i], &stack.region))
            .filter(|&i| member_matches(&resources[i], pid))
            .collect();
        let found: Vec<usize> = if found.len() > 1 {
            // A stage name is only unique within its API.
            found
                .into_iter()
                .filter(|&i| {
                    resources[i]
                        .attr_str("api_id")
                        .is_none_or(|a| api_ids.contains(a))
                })
                .collect()
        } else {
            found
        };
        for i in found {
            claims[i].push(with_logical(&base, &m.logical_id, "stack resources"));
            matched_logical.insert(&m.logical_id);
        }
    }

    // Declared but not reachable through the resource list: the template is the evidence.
    for d in &stack.declared {
        if matched_logical.contains(d.logical_id.as_str()) {
            continue;
        }
        let how = if d.type_name == "AWS::ApiGateway::Deployment" {
            DEPLOYMENT_STAGE
        } else {
            "template"
        };
        for i in declared_matches(d, stack, resources, index) {
            claims[i].push(with_logical(&base, &d.logical_id, how));
        }
    }
}

/// Does a live resource answer to a stack member's physical id?
fn member_matches(r: &Resource, pid: &str) -> bool {
    let by_attr = |k: &str| r.attr_str(k) == Some(pid);
    match r.type_name.as_str() {
        apigateway::REST_API | apigatewayv2::API => by_attr("api_id"),
        apigateway::RESOURCE => by_attr("resource_id"),
        apigateway::AUTHORIZER => by_attr("authorizer_id"),
        apigateway::STAGE | apigatewayv2::STAGE => r.name == pid,
        crate::model::types::kms::TYPE => by_attr("key_id") || r.id == pid,
        _ => r.id == pid || r.name == pid || last_segment(&r.id) == pid,
    }
}

fn declared_matches(
    d: &crate::model::Declared,
    stack: &StackFacts,
    resources: &[Resource],
    index: &Index,
) -> Vec<usize> {
    let p = |k: &str| d.properties.get(k).map(String::as_str);
    let account = stack.account_id.as_str();
    let region = stack.region.as_str();
    let by_suffix = |type_name: &str, path: String| -> Vec<usize> {
        let suffix = format!("::{path}");
        index
            .of_type(account, type_name)
            .iter()
            .copied()
            .filter(|&i| resources[i].region == region && resources[i].id.ends_with(&suffix))
            .collect()
    };
    let by_name = |type_name: &str, name: &str, api: Option<&str>| -> Vec<usize> {
        index
            .of_type(account, type_name)
            .iter()
            .copied()
            .filter(|&i| {
                let r = &resources[i];
                in_region(r, region)
                    && r.name == name
                    && api.is_none_or(|a| r.attr_str("api_id") == Some(a))
            })
            .collect()
    };
    match d.type_name.as_str() {
        apigateway::METHOD => {
            let (Some(api), Some(verb)) = (p("RestApiId"), p("HttpMethod")) else {
                return Vec::new();
            };
            let resource = p("ResourceId").map(str::to_owned).or_else(|| {
                // `!GetAtt Api.RootResourceId`: the API's root resource.
                index
                    .of_type(account, apigateway::REST_API)
                    .iter()
                    .find(|&&i| resources[i].attr_str("api_id") == Some(api))
                    .and_then(|&i| resources[i].attr_str("root_resource_id").map(str::to_owned))
            });
            let Some(resource) = resource else {
                return Vec::new();
            };
            by_suffix(
                apigateway::METHOD,
                format!(
                    "/restapis/{api}/resources/{resource}/methods/{}",
                    verb.to_ascii_uppercase()
                ),
            )
        }
        "AWS::ApiGateway::Deployment" => match (p("RestApiId"), p("StageName")) {
            (Some(api), Some(stage)) => {
                by_suffix(apigateway::STAGE, format!("/restapis/{api}/stages/{stage}"))
            }
            _ => Vec::new(),
        },
        apigateway::AUTHORIZER => match (p("RestApiId"), p("Name")) {
            (Some(api), Some(name)) => by_name(apigateway::AUTHORIZER, name, Some(api)),
            _ => Vec::new(),
        },
        apigatewayv2::STAGE => match (p("ApiId"), p("StageName")) {
            (Some(api), Some(stage)) => {
                by_suffix(apigatewayv2::STAGE, format!("/apis/{api}/stages/{stage}"))
            }
            _ => Vec::new(),
        },
        other => {
            let name = [
                "Name",
                "FunctionName",
                "RoleName",
                "TableName",
                "BucketName",
                "ManagedPolicyName",
            ]
            .iter()
            .find_map(|k| p(k));
            match name {
                Some(n) => by_name(other, n, None),
                None => Vec::new(),
            }
        }
    }
}

/// `aws:cloudformation:stack-name` / `logical-id` tags claim a resource for that stack.
fn tag_claims(
    resources: &[Resource],
    stacks: &[StackFacts],
    inputs: &StackInputs<'_>,
    claims: &mut [Vec<Claim>],
) {
    for (i, r) in resources.iter().enumerate() {
        let (Some(stack_name), Some(logical)) = (
            r.tags.get("aws:cloudformation:stack-name"),
            r.tags.get("aws:cloudformation:logical-id"),
        ) else {
            continue;
        };
        if r.type_name == crate::model::types::cloudformation::STACK_TYPE {
            continue;
        }
        let stack = stacks.iter().find(|s| {
            &s.name == stack_name && s.account_id == r.account_id && in_region(r, &s.region)
        });
        let claim = match stack {
            Some(s) => with_logical(
                &stack_claim(s, inputs, None, "stack tags"),
                logical,
                "stack tags",
            ),
            // The stack is gone (or in a region not scanned) but its tags remain: still evidence.
            None => Claim::Cloudformation(StackClaim {
                stack: stack_name.clone(),
                logical_id: Some(logical.clone()),
                matched_by: "stack tags (stack not found)".to_owned(),
            }),
        };
        claims[i].push(claim);
    }
}

/// Terraform's claims over the whole organization, read one account's resources at a time: an
/// instance claims the one live resource its first answering matcher finds anywhere (two are a
/// guess, and no claim); only instances no account answers are unmatched.
#[derive(Debug)]
pub struct Terraform<'s> {
    states: &'s mut [LoadedState],
    wanted: Vec<Wanted>,
    /// Resource id → (wanted, matcher) for the `Id` matchers.
    by_id: HashMap<String, Vec<(usize, usize)>>,
    /// Whose name matchers look in an account: by the account its ARN names…
    in_account: HashMap<String, Vec<usize>>,
    /// …by its state's stage…
    in_stage: HashMap<String, Vec<usize>>,
    /// …or, with no stage known, in every account that has a stage.
    everywhere: Vec<usize>,
    account_stages: &'s BTreeMap<String, String>,
}

/// One managed instance of a state and what its matchers found so far.
#[derive(Debug)]
struct Wanted {
    state: usize,
    address: String,
    cfn_type: &'static str,
    matchers: Vec<Matcher>,
    /// Per matcher: how many live resources answered, and the first one's id.
    hits: Vec<(usize, Option<String>)>,
}

impl<'s> Terraform<'s> {
    pub fn new(
        states: &'s mut [LoadedState],
        account_stages: &'s BTreeMap<String, String>,
    ) -> Self {
        let mut t = Terraform {
            wanted: Vec::new(),
            by_id: HashMap::new(),
            in_account: HashMap::new(),
            in_stage: HashMap::new(),
            everywhere: Vec::new(),
            account_stages,
            states,
        };
        for (si, loaded) in t.states.iter().enumerate() {
            let Some(state) = &loaded.state else { continue };
            for inst in state.instances.iter().filter(|i| i.managed()) {
                let Some((cfn_type, matchers)) = cfn_type_of(inst) else {
                    continue;
                };
                let w = t.wanted.len();
                // An instance whose ARN names its account is that account's: a resource of the
                // same name elsewhere (another stage's copy, the other shard's account) is not it.
                let own_account = inst
                    .attr("arn")
                    .and_then(|arn| arn.split(':').nth(4))
                    .filter(|a| !a.is_empty());
                match (own_account, &loaded.summary.stage) {
                    (Some(a), _) => t.in_account.entry(a.to_owned()).or_default().push(w),
                    (None, Some(stage)) => t.in_stage.entry(stage.clone()).or_default().push(w),
                    (None, None) => t.everywhere.push(w),
                }
                for (mi, m) in matchers.iter().enumerate() {
                    if let Matcher::Id(id) = m {
                        t.by_id.entry(id.clone()).or_default().push((w, mi));
                    }
                }
                t.wanted.push(Wanted {
                    state: si,
                    address: inst.address.clone(),
                    cfn_type,
                    hits: vec![(0, None); matchers.len()],
                    matchers,
                });
            }
        }
        t
    }

    /// Whether no state holds an instance to look for.
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Looks for the wanted instances among some accounts' resources (each account's whole set
    /// at once: a name is matched within the account).
    pub fn observe(&mut self, resources: &[Resource]) {
        let index = Index::new(resources);
        for r in resources {
            for &(w, mi) in self.by_id.get(&r.id).into_iter().flatten() {
                let wanted = &mut self.wanted[w];
                if r.type_name == wanted.cfn_type {
                    note_hit(&mut wanted.hits[mi], &r.id);
                }
            }
        }
        let accounts: BTreeSet<&str> = resources.iter().map(|r| r.account_id.as_str()).collect();
        for account in accounts {
            let mut here: Vec<usize> = self.in_account.get(account).cloned().unwrap_or_default();
            if let Some(stage) = self.account_stages.get(account) {
                here.extend(self.in_stage.get(stage).into_iter().flatten());
                here.extend(&self.everywhere);
            }
            for w in here {
                let wanted = &mut self.wanted[w];
                let of_type = index.of_type(account, wanted.cfn_type);
                for (m, hits) in wanted.matchers.iter().zip(wanted.hits.iter_mut()) {
                    if matches!(m, Matcher::Id(_)) {
                        continue;
                    }
                    for &i in of_type {
                        if m.matches(&resources[i]) {
                            note_hit(hits, &resources[i].id);
                        }
                    }
                }
            }
        }
    }

    /// The claims, by resource id; each state's summary records the instances nothing answered.
    pub fn finish(self) -> HashMap<String, Vec<Claim>> {
        let mut claims: HashMap<String, Vec<Claim>> = HashMap::new();
        let mut unmatched: Vec<Vec<String>> = vec![Vec::new(); self.states.len()];
        for w in self.wanted {
            let found = w
                .matchers
                .iter()
                .zip(w.hits)
                .find(|(_, (count, _))| *count > 0);
            match found {
                // More than one live resource answers to a name: the claim would be a guess.
                Some((m, (1, Some(id)))) => {
                    let summary = &self.states[w.state].summary;
                    claims
                        .entry(id)
                        .or_default()
                        .push(Claim::Terraform(TerraformClaim {
                            address: w.address,
                            workspace: summary.workspace.clone(),
                            state: summary.location.clone(),
                            matched_by: m.label().to_owned(),
                        }));
                }
                _ => unmatched[w.state].push(w.address),
            }
        }
        for (loaded, unmatched) in self.states.iter_mut().zip(unmatched) {
            if loaded.state.is_some() {
                loaded.summary.unmatched = unmatched;
            }
        }
        claims
    }
}

fn note_hit(hits: &mut (usize, Option<String>), id: &str) {
    hits.0 += 1;
    hits.1.get_or_insert_with(|| id.to_owned());
}

#[cfg(test)]
mod tests;
