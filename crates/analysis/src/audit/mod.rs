//! The audit: what is wrong at the seam between Terraform and Serverless, as findings with a rule id,
//! a severity, the stage, the resources involved and a fix in plain words.
//!
//! Every rule reads the snapshot and its graph only; none calls AWS. The rules are listed in
//! [`RULES`] (and in `docs/audit.md`, which a test keeps in step with it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::graph::Graph;
use crate::link::{self, function_in_uri, short_path, Index, LinkKind};
use crate::model::{AccountStatus, Claim, Owner, Resource, ScanReport};

#[cfg(test)]
mod tests;

/// How bad a finding is. `stagecraft audit --fail-on` compares against it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            other => Err(format!(
                "unknown severity `{other}`: use info, low, medium or high"
            )),
        }
    }
}

/// One rule of the audit.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

pub const REST_API_NOT_SHARED: Rule = Rule {
    id: "rest-api-not-shared",
    severity: Severity::High,
    title: "A service or a second apply created its own REST API instead of sharing Terraform's",
};
pub const BASE_PATH_MAPPING: Rule = Rule {
    id: "base-path-mapping",
    severity: Severity::High,
    title: "A custom domain has no base path mapping, or its mapping points at a stage that does not exist (the Terraform → Serverless → Terraform catch-22)",
};
pub const GATEWAY_RESPONSE_CORS: Rule = Rule {
    id: "gateway-response-cors",
    severity: Severity::Medium,
    title: "DEFAULT_4XX / DEFAULT_5XX gateway responses of a REST API lack CORS headers",
};
pub const DUPLICATE_AUTHORIZER: Rule = Rule {
    id: "duplicate-authorizer",
    severity: Severity::Medium,
    title: "More than one authorizer of a REST API calls the same function",
};
pub const ROLE_BYPASSES_POLICY: Rule = Rule {
    id: "role-bypasses-exported-policy",
    severity: Severity::Medium,
    title: "A function role does not use the policy Terraform exports through SSM",
};
pub const SSM_DANGLING_READ: Rule = Rule {
    id: "ssm-dangling-read",
    severity: Severity::High,
    title: "A service reads an SSM parameter that does not exist in that stage",
};
pub const SSM_UNREAD_WRITE: Rule = Rule {
    id: "ssm-unread-write",
    severity: Severity::Low,
    title: "A parameter is written but no service reads it",
};
pub const STALE_DEPLOYMENT: Rule = Rule {
    id: "stale-deployment",
    severity: Severity::Medium,
    title: "A deployed service still runs with an older value of a parameter",
};
pub const SSM_WRONG_ACCOUNT: Rule = Rule {
    id: "ssm-wrong-account",
    severity: Severity::High,
    title: "A parameter's value names a resource in another account or region",
};
pub const OWNERSHIP_CONFLICT: Rule = Rule {
    id: "ownership-conflict",
    severity: Severity::High,
    title: "A resource is claimed by more than one tool or stack",
};
pub const UNMANAGED: Rule = Rule {
    id: "unmanaged",
    severity: Severity::Low,
    title: "Resources in a stage account that no tool manages",
};
pub const STAGE_DRIFT: Rule = Rule {
    id: "stage-drift",
    severity: Severity::Low,
    title: "A resource present in some stages is missing in another",
};

pub const NEAR_LIMIT: Rule = Rule {
    id: "near-limit",
    severity: Severity::Medium,
    title: "An account is at 80 % of a limit one account per stage exists for",
};
pub const CHANGED_OUTSIDE_OWNER: Rule = Rule {
    id: "changed-outside-owner",
    severity: Severity::Medium,
    title: "A resource was last changed by a tool other than the one that owns it",
};

/// Every rule, in the order findings are reported.
pub const RULES: [Rule; 14] = [
    REST_API_NOT_SHARED,
    BASE_PATH_MAPPING,
    GATEWAY_RESPONSE_CORS,
    DUPLICATE_AUTHORIZER,
    ROLE_BYPASSES_POLICY,
    SSM_DANGLING_READ,
    SSM_UNREAD_WRITE,
    STALE_DEPLOYMENT,
    SSM_WRONG_ACCOUNT,
    OWNERSHIP_CONFLICT,
    UNMANAGED,
    STAGE_DRIFT,
    NEAR_LIMIT,
    CHANGED_OUTSIDE_OWNER,
];

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    /// The stage it is about (`None` for resources outside any stage).
    pub stage: Option<String>,
    /// Node ids of the graph (resource ids, `terraform:…`, `serverless:…`), most relevant first.
    pub resources: Vec<String>,
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// Logical keys (`tf:<address>`, `ssm:<name>`, `type:<type>`) this finding explains, so stage
    /// drift does not report the same gap again.
    #[serde(skip)]
    #[ts(skip)]
    covers: Vec<String>,
}

impl Finding {
    fn new(rule: Rule, stage: Option<&str>, message: String, fix: String) -> Finding {
        Finding {
            rule: rule.id.to_owned(),
            severity: rule.severity,
            stage: stage.map(str::to_owned),
            resources: Vec::new(),
            message,
            fix,
            covers: Vec::new(),
        }
    }

    fn with(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Finding {
        for id in ids {
            let id = id.into();
            if !self.resources.contains(&id) {
                self.resources.push(id);
            }
        }
        self
    }

    fn covering(mut self, keys: impl IntoIterator<Item = String>) -> Finding {
        self.covers.extend(keys);
        self
    }
}

/// What `stagecraft audit --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct AuditReport {
    /// When the audited snapshot's scan started.
    pub started_at: String,
    pub profile: String,
    /// The audited organization (a store may hold several).
    pub organization_id: String,
    /// Number of findings per severity.
    #[ts(type = "Record<string, number>")]
    pub counts: BTreeMap<String, usize>,
    pub findings: Vec<Finding>,
}

impl AuditReport {
    pub fn new(report: &ScanReport, findings: Vec<Finding>) -> AuditReport {
        let mut counts = BTreeMap::new();
        for f in &findings {
            *counts.entry(f.severity.as_str().to_owned()).or_insert(0) += 1;
        }
        AuditReport {
            started_at: report.started_at.clone(),
            profile: report.profile.clone(),
            organization_id: report.organization.id.clone(),
            counts,
            findings,
        }
    }
}

/// The audit as a Markdown report: a summary table, then the findings per stage with their fix and
/// the resources involved.
pub fn to_markdown(report: &ScanReport, findings: &[Finding]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# Stagecraft audit\n");
    let _ = writeln!(
        out,
        "Organization `{}`, scanned {} with profile `{}`: {} finding{}.\n",
        report.organization.id,
        report.started_at,
        report.profile,
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    if findings.is_empty() {
        out.push_str("Nothing to report.\n");
        return out;
    }
    out.push_str("| Rule | Severity | Stage | Findings |\n|---|---|---|---|\n");
    let mut summary: BTreeMap<(usize, &str, &str), (Severity, usize)> = BTreeMap::new();
    let order: HashMap<&str, usize> = RULES.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    for f in findings {
        let e = summary
            .entry((
                order.get(f.rule.as_str()).copied().unwrap_or(usize::MAX),
                f.rule.as_str(),
                f.stage.as_deref().unwrap_or("-"),
            ))
            .or_insert((f.severity, 0));
        e.1 += 1;
    }
    for ((_, rule, stage), (sev, n)) in &summary {
        let _ = writeln!(out, "| `{rule}` | {} | {stage} | {n} |", sev.as_str());
    }
    let names: HashMap<&str, &Resource> = report
        .resources
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut stages: Vec<Option<&str>> = findings.iter().map(|f| f.stage.as_deref()).collect();
    stages.sort();
    stages.dedup();
    for stage in stages {
        let _ = writeln!(out, "\n## Stage {}\n", stage.unwrap_or("(none)"));
        for f in findings.iter().filter(|f| f.stage.as_deref() == stage) {
            let _ = writeln!(out, "### `{}` ({})\n", f.rule, f.severity.as_str());
            let _ = writeln!(out, "{}\n", f.message);
            let _ = writeln!(out, "**Fix:** {}\n", f.fix);
            for id in &f.resources {
                match names.get(id.as_str()) {
                    Some(r) => {
                        let _ = writeln!(out, "- {} `{}` — `{id}`", r.type_name, r.name);
                    }
                    None => {
                        let _ = writeln!(out, "- `{id}`");
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

/// The audit of one snapshot, findings sorted by rule order, stage and first resource.
pub fn audit(report: &ScanReport, graph: &Graph) -> Vec<Finding> {
    let cx = Cx::new(report, graph);
    let mut out = Vec::new();
    rest_api_not_shared(&cx, &mut out);
    base_path_mapping(&cx, &mut out);
    gateway_response_cors(&cx, &mut out);
    duplicate_authorizer(&cx, &mut out);
    role_bypasses_policy(&cx, &mut out);
    ssm_dangling_read(&cx, &mut out);
    ssm_unread_write(&cx, &mut out);
    stale_deployment(&cx, &mut out);
    ssm_wrong_account(&cx, &mut out);
    ownership_conflict(&cx, &mut out);
    unmanaged(&cx, &mut out);
    stage_drift(&cx, &mut out);
    near_limit(&cx, &mut out);
    changed_outside_owner(&cx, &mut out);
    let order: HashMap<&str, usize> = RULES.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    // Stages in the order the organization view shows them (dev, qa, prod), then the rest.
    let stage_rank = |s: &Option<String>| {
        report
            .accounts
            .iter()
            .position(|a| a.stage.is_some() && a.stage == *s)
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|a, b| {
        (
            order.get(a.rule.as_str()),
            stage_rank(&a.stage),
            &a.stage,
            &a.resources,
        )
            .cmp(&(
                order.get(b.rule.as_str()),
                stage_rank(&b.stage),
                &b.stage,
                &b.resources,
            ))
    });
    out
}

/// What the rules share: the snapshot, its graph and lookups.
struct Cx<'a> {
    report: &'a ScanReport,
    graph: &'a Graph,
    ix: Index<'a>,
}

impl<'a> Cx<'a> {
    fn new(report: &'a ScanReport, graph: &'a Graph) -> Self {
        Cx {
            report,
            graph,
            ix: Index::new(&report.resources),
        }
    }

    fn of_type(&self, ty: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.report
            .resources
            .iter()
            .filter(move |r| r.type_name == ty)
    }

    /// Stages whose account was scanned completely: only they can be said to lack something.
    fn complete_stages(&self) -> BTreeSet<&'a str> {
        self.report
            .accounts
            .iter()
            .filter(|a| a.status == AccountStatus::Ok)
            .filter_map(|a| a.stage.as_deref())
            .collect()
    }

    /// Who owns a resource, in a few words.
    fn owner_words(r: &Resource) -> String {
        match &r.owner {
            Owner::Terraform(c) => format!("Terraform `{}`", c.address),
            Owner::Serverless(c) => format!("stack {}", c.stack),
            Owner::Cloudformation(c) => format!("stack {}", c.stack),
            Owner::Unmanaged => "no tool".to_owned(),
            Owner::Conflict { .. } => "several tools".to_owned(),
        }
    }

    /// The stage-drift keys of a resource a finding is about, so drift does not report it again.
    fn keys_of(&self, r: &Resource) -> Vec<String> {
        let stages: Vec<&str> = self.complete_stages().into_iter().collect();
        drift_keys(r, &stages)
    }

    fn stack_of(&self, r: &Resource) -> Option<&'a Resource> {
        let stack = match &r.owner {
            Owner::Serverless(c) => &c.stack,
            Owner::Cloudformation(c) => &c.stack,
            _ => return None,
        };
        self.ix.stack(&r.account_id, stack)
    }
}

fn is_parameter_read_as(report: &ScanReport, stage: Option<&str>, param: &str, at: &str) -> bool {
    report.services.iter().any(|s| {
        Some(s.stage.as_str()) == stage
            && s.variables.iter().any(|v| {
                v.source == "ssm"
                    && crate::model::serverless::ssm_name(&v.argument) == param
                    && v.at.contains(at)
            })
    })
}

// ---- the five overlap situations ----------------------------------------------------------------

fn rest_api_not_shared(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut by_account: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for api in cx.of_type("AWS::ApiGateway::RestApi") {
        by_account.entry(&api.account_id).or_default().push(api);
    }
    for apis in by_account.values().filter(|a| a.len() > 1) {
        // The shared one: exported to SSM (a parameter names it), else the one Terraform owns.
        let shared = apis
            .iter()
            .find(|a| !cx.graph.incoming(&a.id, Some(LinkKind::Names)).is_empty())
            .or_else(|| apis.iter().find(|a| matches!(a.owner, Owner::Terraform(_))));
        let Some(shared) = shared else {
            // No shared API: only same-named duplicates are certainly wrong.
            let mut by_name: BTreeMap<&str, Vec<&&Resource>> = BTreeMap::new();
            for a in apis {
                by_name.entry(&a.name).or_default().push(a);
            }
            for (name, same) in by_name.into_iter().filter(|(_, v)| v.len() > 1) {
                let stage = same[0].stage.as_deref();
                out.push(
                    Finding::new(
                        REST_API_NOT_SHARED,
                        stage,
                        format!("{} REST APIs are named `{name}` in one account: it was created more than once", same.len()),
                        "Keep one, owned by Terraform, export its id and root resource id to SSM, and point every service's provider.apiGateway.restApiId at ${ssm:…}; delete the others once nothing uses them".to_owned(),
                    )
                    .with(same.iter().map(|a| a.id.clone())),
                );
            }
            continue;
        };
        for other in apis.iter().filter(|a| a.id != shared.id) {
            let by_stack = cx.stack_of(other);
            let owner = Cx::owner_words(other);
            let (message, fix) = if let Some(stack) = by_stack {
                (
                    format!(
                        "{owner} created its own REST API `{}` ({}) instead of sharing `{}`",
                        other.name,
                        other.attr_str("api_id").unwrap_or("?"),
                        shared.name
                    ),
                    format!(
                        "In the service of {}, set provider.apiGateway.restApiId: ${{ssm:/api/rest_api_id}} and restApiRootResourceId: ${{ssm:/api/root_resource_id}} (the parameters Terraform writes), redeploy, then delete the extra API",
                        stack.name
                    ),
                )
            } else {
                (
                    format!(
                        "A second REST API `{}` ({}, owned by {owner}) exists next to the shared `{}`",
                        other.name,
                        other.attr_str("api_id").unwrap_or("?"),
                        shared.name
                    ),
                    "Find who created it (CloudTrail CreateRestApi), move its routes to the shared API and delete it".to_owned(),
                )
            };
            out.push(
                Finding::new(REST_API_NOT_SHARED, other.stage.as_deref(), message, fix)
                    .with([other.id.clone(), shared.id.clone()])
                    .with(by_stack.map(|s| s.id.clone()))
                    .covering(cx.keys_of(other)),
            );
        }
    }
}

fn base_path_mapping(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mappings: Vec<&Resource> = cx.of_type("AWS::ApiGateway::BasePathMapping").collect();
    for domain in cx.of_type("AWS::ApiGateway::DomainName") {
        let stage = domain.stage.as_deref();
        let stage_word = stage.unwrap_or("this stage");
        let mine: Vec<&&Resource> = mappings
            .iter()
            .filter(|m| {
                m.account_id == domain.account_id && m.attr_str("domain_name") == Some(&domain.name)
            })
            .collect();
        if mine.is_empty() {
            out.push(
                Finding::new(
                    BASE_PATH_MAPPING,
                    stage,
                    format!("Custom domain `{}` has no base path mapping: requests to it reach no API", domain.name),
                    format!("The mapping needs API stage `{stage_word}`, which only the first `serverless deploy --stage {stage_word}` creates: deploy the services, then run Terraform's apply again (Terraform → Serverless → Terraform)"),
                )
                .with([domain.id.clone()])
                .covering(["type:AWS::ApiGateway::BasePathMapping".to_owned()]),
            );
            continue;
        }
        for m in mine {
            let api_id = m.attr_str("api_id").unwrap_or("");
            let api = cx.ix.api(&m.account_id, api_id);
            let Some(api) = api else {
                out.push(
                    Finding::new(
                        BASE_PATH_MAPPING,
                        stage,
                        format!("Base path mapping `{}` points at REST API {api_id}, which does not exist", m.name),
                        "Point the mapping at the shared API (its id is in SSM) and apply Terraform again".to_owned(),
                    )
                    .with([m.id.clone(), domain.id.clone()])
                    .covering([format!("type:{}", m.type_name)]),
                );
                continue;
            };
            let Some(api_stage) = m.attr_str("stage") else {
                continue;
            };
            let exists = cx
                .ix
                .all_named(&m.account_id, "AWS::ApiGateway::Stage", api_stage)
                .iter()
                .any(|s| s.attr_str("api_id") == Some(api_id));
            if !exists {
                out.push(
                    Finding::new(
                        BASE_PATH_MAPPING,
                        stage,
                        format!("Base path mapping `{}` points at stage `{api_stage}` of `{}`, which does not exist (yet)", m.name, api.name),
                        format!("Run `serverless deploy --stage {api_stage}` for the services on `{}` so the stage exists, then apply Terraform again", api.name),
                    )
                    .with([m.id.clone(), api.id.clone(), domain.id.clone()])
                    .covering([format!("type:{}", m.type_name)]),
                );
            }
        }
    }
}

const CORS_HEADER: &str = "gatewayresponse.header.Access-Control-Allow-Origin";

fn gateway_response_cors(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for api in cx.of_type("AWS::ApiGateway::RestApi") {
        let Some(api_id) = api.attr_str("api_id") else {
            continue;
        };
        let in_use = cx
            .of_type("AWS::ApiGateway::Method")
            .any(|m| m.account_id == api.account_id && m.attr_str("api_id") == Some(api_id));
        if !in_use {
            continue;
        }
        let mut lacking = Vec::new();
        let mut responses = Vec::new();
        for ty in ["DEFAULT_4XX", "DEFAULT_5XX"] {
            let resp = cx.of_type("AWS::ApiGateway::GatewayResponse").find(|g| {
                g.account_id == api.account_id
                    && g.attr_str("api_id") == Some(api_id)
                    && g.attr_str("response_type") == Some(ty)
            });
            let has_cors = resp.is_some_and(|g| {
                g.attributes
                    .get("response_parameters")
                    .and_then(|p| p.as_object())
                    .is_some_and(|p| p.keys().any(|k| k.eq_ignore_ascii_case(CORS_HEADER)))
            });
            if !has_cors {
                lacking.push(ty);
                responses.extend(resp.map(|g| g.id.clone()));
            }
        }
        if !lacking.is_empty() {
            out.push(
                Finding::new(
                    GATEWAY_RESPONSE_CORS,
                    api.stage.as_deref(),
                    format!(
                        "{} of REST API `{}` {} no Access-Control-Allow-Origin header: browsers hide the real error behind a CORS failure",
                        lacking.join(" and "),
                        api.name,
                        if lacking.len() == 1 { "has" } else { "have" }
                    ),
                    "Declare aws_api_gateway_gateway_response for DEFAULT_4XX and DEFAULT_5XX in Terraform with response_parameters gatewayresponse.header.Access-Control-Allow-Origin = \"'*'\" (and -Headers), then redeploy the API stage".to_owned(),
                )
                .with([api.id.clone()])
                .with(responses)
                .covering(["type:AWS::ApiGateway::GatewayResponse".to_owned()]),
            );
        }
    }
}

fn duplicate_authorizer(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&Resource>> = BTreeMap::new();
    for a in cx.of_type("AWS::ApiGateway::Authorizer") {
        if let (Some(api), Some(f)) = (
            a.attr_str("api_id"),
            a.attr_str("authorizer_uri").and_then(function_in_uri),
        ) {
            groups
                .entry((a.account_id.as_str(), api, f))
                .or_default()
                .push(a);
        }
    }
    for ((account, api_id, function), mut auths) in groups.into_iter().filter(|(_, v)| v.len() > 1)
    {
        // The shared one first: exported through SSM, else Terraform's.
        auths.sort_by_key(|a| {
            let exported = !cx.graph.incoming(&a.id, Some(LinkKind::Names)).is_empty();
            (
                !exported,
                !matches!(a.owner, Owner::Terraform(_)),
                a.name.clone(),
            )
        });
        let shared = auths[0];
        let api_name = cx
            .ix
            .api(account, api_id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| api_id.to_owned());
        let fname = function.rsplit(':').next().unwrap_or(function);
        let list: Vec<String> = auths
            .iter()
            .map(|a| format!("`{}` ({})", a.name, Cx::owner_words(a)))
            .collect();
        let extra_stacks: Vec<String> = auths[1..]
            .iter()
            .filter_map(|a| cx.stack_of(a))
            .map(|s| s.name.clone())
            .collect();
        let fix = if extra_stacks.is_empty() {
            format!(
                "Keep `{}` and delete the others; point every method at it",
                shared.name
            )
        } else {
            format!(
                "In the service of {}, replace the http events' `authorizer: {{ name, arn }}` with `authorizer: {{ type: TOKEN, authorizerId: ${{ssm:/api/authorizer_id}} }}` so it uses `{}`, and redeploy",
                extra_stacks.join(", "),
                shared.name
            )
        };
        let mut f = Finding::new(
            DUPLICATE_AUTHORIZER,
            shared.stage.as_deref(),
            format!(
                "{} authorizers on `{api_name}` call {fname}: {}",
                auths.len(),
                list.join(", ")
            ),
            fix,
        )
        .with(auths.iter().map(|a| a.id.clone()))
        .covering(auths[1..].iter().flat_map(|a| cx.keys_of(a)));
        if let Some(func) = cx.ix.by_id.get(function) {
            f = f.with([func.id.clone()]);
        }
        out.push(f);
    }
}

fn role_bypasses_policy(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // Per account: the customer policies Terraform exports through a parameter.
    let mut exported: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for p in cx.of_type(crate::model::types::ssm::TYPE) {
        for (_, target) in cx.graph.outgoing(&p.id, Some(LinkKind::Names)) {
            if &*target.type_name == "AWS::IAM::ManagedPolicy" {
                exported
                    .entry(p.account_id.as_str())
                    .or_default()
                    .insert(&*target.id, p.name.as_str());
            }
        }
    }
    for role in cx.of_type("AWS::IAM::Role") {
        let Some(policies) = exported.get(role.account_id.as_str()) else {
            continue;
        };
        let Some(stack) = cx.stack_of(role) else {
            continue;
        };
        let runs_functions = !cx
            .graph
            .incoming(&role.id, Some(LinkKind::ExecutionRole))
            .is_empty();
        if !runs_functions {
            continue;
        }
        let attached: Vec<&str> = role
            .attributes
            .get("attached_policies")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let own_policies: Vec<&str> = attached
            .iter()
            .copied()
            .filter(|a| {
                a.contains(&format!(":{}:policy/", role.account_id)) && !policies.contains_key(a)
            })
            .collect();
        let uses_exported = attached.iter().any(|a| policies.contains_key(a));
        let stage = role.stage.as_deref();
        if !own_policies.is_empty() {
            out.push(
                Finding::new(
                    ROLE_BYPASSES_POLICY,
                    stage,
                    format!(
                        "Role `{}` of {} attaches {} instead of the polic{} Terraform exports ({})",
                        role.name,
                        stack.name,
                        own_policies.iter().map(|p| format!("`{}`", p.rsplit('/').next().unwrap_or(p))).collect::<Vec<_>>().join(", "),
                        if policies.len() == 1 { "y" } else { "ies" },
                        policies.values().copied().collect::<Vec<_>>().join(", ")
                    ),
                    format!(
                        "List the exported policy under provider.iam.role.managedPolicies as ${{ssm:{}}} and drop the service's own policy, so Terraform stays the one place access is granted",
                        policies.values().next().copied().unwrap_or("/…")
                    ),
                )
                .with([role.id.clone(), stack.id.clone()])
                .with(own_policies.iter().filter_map(|p| cx.ix.by_id.get(p).map(|r| r.id.clone())))
                .covering(own_policies.iter().filter_map(|p| cx.ix.by_id.get(p)).flat_map(|r| cx.keys_of(r))),
            );
        } else if !uses_exported {
            // The file asks for the exported policy but the deployed role lacks it.
            let asked: Vec<&str> = policies
                .values()
                .copied()
                .filter(|p| is_parameter_read_as(cx.report, stage, p, "anagedPolicies"))
                .collect();
            if !asked.is_empty() {
                out.push(
                    Finding::new(
                        ROLE_BYPASSES_POLICY,
                        stage,
                        format!("Role `{}` of {} does not have the policy its serverless.yml takes from {}", role.name, stack.name, asked.join(", ")),
                        format!("Redeploy {} so the role gets the exported policy", stack.name),
                    )
                    .with([role.id.clone(), stack.id.clone()]),
                );
            }
        }
    }
}

// ---- the SSM contract ------------------------------------------------------------------------------

fn ssm_dangling_read(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // (stage, parameter) → readers and files.
    /// Reader nodes and the files that read.
    type Readers = (Vec<String>, Vec<String>);
    let mut missing: BTreeMap<(&str, String), Readers> = BTreeMap::new();
    for svc in &cx.report.services {
        let Some(account) = link::stage_account(cx.report, &svc.stage) else {
            continue;
        };
        let scanned = cx
            .report
            .accounts
            .iter()
            .any(|a| a.id == account && a.status == AccountStatus::Ok);
        if !scanned {
            continue;
        }
        for v in svc.ssm_reads() {
            let name = crate::model::serverless::ssm_name(&v.argument);
            let exists = match name.strip_prefix("/aws/reference/secretsmanager/") {
                Some(secret) => cx
                    .ix
                    .named(account, "AWS::SecretsManager::Secret", secret)
                    .is_some(),
                None => cx
                    .ix
                    .named(account, crate::model::types::ssm::TYPE, &name)
                    .is_some(),
            };
            if exists || name.starts_with("/aws/service/") {
                continue;
            }
            let entry = missing.entry((svc.stage.as_str(), name)).or_default();
            if let Some(node) = link::service_node(cx.report, &cx.ix, svc) {
                entry.0.push(node);
            }
            entry.1.push(short_path(&svc.path));
        }
    }
    for ((stage, name), (readers, files)) in missing {
        out.push(
            Finding::new(
                SSM_DANGLING_READ,
                Some(stage),
                format!("{} read{} ${{ssm:{name}}}, but `{name}` does not exist in {stage}: the next `serverless deploy --stage {stage}` fails", files.join(", "), if files.len() == 1 { "s" } else { "" }),
                format!("Create `{name}` in {stage} (the Terraform that writes it in the other stages skips {stage}: check its count/for_each), or stop reading it"),
            )
            .with(readers)
            .covering([format!("ssm:{name}")]),
        );
    }
}

/// Stacks per account and region, resources per stack, and Lambda concurrency reserved, at 80 % of
/// their limits.
fn near_limit(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for a in &cx.report.accounts {
        for region in &a.limits {
            for (what, used, limit) in region.near() {
                let pct = u64::from(used) * 100 / u64::from(limit.max(1));
                let fix = if what.starts_with("CloudFormation stacks") {
                    "Remove stacks no longer used, ask AWS to raise the stack quota, or move services to an account of their own"
                } else if what.starts_with("resources in stack") {
                    "Split the service (the Serverless Framework compiles one stack per service) or move resources to nested stacks before deploys fail at 500"
                } else {
                    "Lower the functions' reserved concurrency or ask AWS to raise the account's concurrency quota: unreserved functions are throttled first"
                };
                out.push(
                    Finding::new(
                        NEAR_LIMIT,
                        a.stage.as_deref(),
                        format!(
                            "account {} ({}) uses {used} of {limit} {what} in {} ({pct} %)",
                            a.id, a.name, region.region
                        ),
                        fix.to_owned(),
                    )
                    .with(
                        region
                            .largest_stack
                            .iter()
                            .filter(|_| what.starts_with("resources in stack"))
                            .filter_map(|name| cx.ix.stack(&a.id, name).map(|s| s.id.clone())),
                    ),
                );
            }
        }
    }
}

fn ssm_unread_write(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let stages_with_services: BTreeSet<&str> = cx
        .report
        .services
        .iter()
        .map(|s| s.stage.as_str())
        .collect();
    for p in cx.of_type(crate::model::types::ssm::TYPE) {
        let Some(stage) = p.stage.as_deref() else {
            continue;
        };
        if !stages_with_services.contains(stage) || p.name.starts_with("/aws/") {
            continue;
        }
        let writers = cx.graph.incoming(&p.id, Some(LinkKind::SsmWrite));
        if writers.is_empty() || !cx.graph.consumers(&p.id).is_empty() {
            continue;
        }
        let by: Vec<String> = writers.iter().map(|(l, _)| l.evidence.to_owned()).collect();
        out.push(
            Finding::new(
                SSM_UNREAD_WRITE,
                Some(stage),
                format!("`{}` is written ({}) but no service reads it in {stage}", p.name, by.join("; ")),
                "If nothing outside these services reads it, remove it from the Terraform code; if a service should, add ${ssm:…} where the value is needed".to_owned(),
            )
            .with([p.id.clone()])
            .with(writers.iter().map(|(_, n)| n.id.to_string())),
        );
    }
}

fn stale_deployment(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // (stage, parameter) → (stack ids, function ids, detail lines)
    #[derive(Default)]
    struct Stale {
        param: Option<String>,
        stacks: Vec<String>,
        functions: Vec<String>,
        details: Vec<String>,
        services: Vec<(String, String)>,
    }
    let mut found: BTreeMap<(String, String), Stale> = BTreeMap::new();
    for svc in &cx.report.services {
        let Some(account) = link::stage_account(cx.report, &svc.stage) else {
            continue;
        };
        let Some(stack) = cx.ix.stack(account, &svc.stack) else {
            continue;
        };
        for f in &svc.functions {
            let Some(function) = cx.ix.named(account, "AWS::Lambda::Function", &f.name) else {
                continue;
            };
            let deployed = function
                .attributes
                .get("environment")
                .and_then(|e| e.as_object());
            for env in &f.ssm_environment {
                let Some(expected) = &env.expected_hash else {
                    continue;
                };
                let now = deployed
                    .and_then(|d| d.get(&env.variable))
                    .and_then(|v| v.as_str());
                if now == Some(expected.as_str()) {
                    continue;
                }
                for name in &env.parameters {
                    let s = found.entry((svc.stage.clone(), name.clone())).or_default();
                    s.param = cx
                        .ix
                        .named(account, crate::model::types::ssm::TYPE, name)
                        .map(|p| p.id.clone());
                    if !s.stacks.contains(&stack.id) {
                        s.stacks.push(stack.id.clone());
                        s.services.push((svc.stack.clone(), short_path(&svc.path)));
                    }
                    s.functions.push(function.id.clone());
                    s.details.push(format!(
                        "{} {}",
                        f.name,
                        if now.is_some() {
                            format!("has an older `{}`", env.variable)
                        } else {
                            format!("lacks `{}`", env.variable)
                        }
                    ));
                }
            }
        }
        // Values the template was deployed with: the shared REST API's id.
        if let Some(param_name) = svc
            .variables
            .iter()
            .find(|v| v.source == "ssm" && v.at == "provider.apiGateway.restApiId")
            .map(|v| crate::model::serverless::ssm_name(&v.argument))
        {
            let param = cx
                .ix
                .named(account, crate::model::types::ssm::TYPE, &param_name);
            let facts = cx
                .report
                .stacks
                .iter()
                .find(|s| s.account_id == account && s.name == svc.stack);
            if let (Some(param), Some(facts)) = (param, facts) {
                let value = param.attr_str("value").unwrap_or("");
                let used: BTreeSet<&str> = facts
                    .declared
                    .iter()
                    .filter_map(|d| d.properties.get("RestApiId").map(String::as_str))
                    .collect();
                if !value.is_empty() && !used.is_empty() && !used.contains(value) {
                    let s = found
                        .entry((svc.stage.clone(), param_name.clone()))
                        .or_default();
                    s.param = Some(param.id.clone());
                    if !s.stacks.contains(&stack.id) {
                        s.stacks.push(stack.id.clone());
                        s.services.push((svc.stack.clone(), short_path(&svc.path)));
                    }
                    s.details.push(format!(
                        "{} was deployed on REST API {}",
                        svc.stack,
                        used.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    for ((stage, name), s) in found {
        let services: Vec<String> = s.services.iter().map(|(stack, _)| stack.clone()).collect();
        let dirs: Vec<String> = s
            .services
            .iter()
            .map(|(_, file)| {
                file.trim_end_matches("/serverless.yml")
                    .trim_end_matches("/serverless.yaml")
                    .to_owned()
            })
            .collect();
        out.push(
            Finding::new(
                STALE_DEPLOYMENT,
                Some(&stage),
                format!(
                    "`{name}` changed after {} {} deployed: {}",
                    services.join(", "),
                    if services.len() == 1 { "was" } else { "were" },
                    s.details.join(", ")
                ),
                format!(
                    "Redeploy {}: `serverless deploy --stage {stage}` in {}",
                    services.join(", "),
                    dirs.join(", ")
                ),
            )
            .with(s.param)
            .with(s.stacks)
            .with(s.functions),
        );
    }
}

/// `arn:partition:service:region:account:…` → (service, region, account).
fn arn_parts(value: &str) -> Option<(&str, &str, &str)> {
    let mut p = value.split(':');
    if p.next()? != "arn" {
        return None;
    }
    let _partition = p.next()?;
    let service = p.next()?;
    let region = p.next()?;
    let account = p.next()?;
    p.next()?;
    Some((service, region, account))
}

fn ssm_wrong_account(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for p in cx.of_type(crate::model::types::ssm::TYPE) {
        let Some(value) = p.attr_str("value") else {
            continue;
        };
        let stage = p.stage.as_deref();
        let mut problem = None;
        let mut targets = Vec::new();
        if let Some((service, region, account)) = arn_parts(value.trim()) {
            let foreign_account =
                !account.is_empty() && account != "aws" && account != p.account_id;
            let foreign_region = !region.is_empty() && region != p.region && service != "iam";
            if foreign_account {
                let whose = cx
                    .report
                    .accounts
                    .iter()
                    .find(|a| a.id == account)
                    .map(|a| match &a.stage {
                        Some(s) => format!(" ({s})"),
                        None => format!(" ({})", a.name),
                    })
                    .unwrap_or_default();
                problem = Some(format!(
                    "holds an ARN in account {account}{whose}, not {}",
                    p.account_id
                ));
            } else if foreign_region {
                problem = Some(format!("holds an ARN in region {region}, not {}", p.region));
            }
        }
        for (l, target) in cx.graph.outgoing(&p.id, Some(LinkKind::Names)) {
            if target.account_id.as_deref() != Some(p.account_id.as_str()) {
                targets.push(target.id.to_string());
                if problem.is_none() {
                    problem = Some(format!(
                        "names `{}` in account {} ({})",
                        target.name,
                        target.account_id.as_deref().unwrap_or("?"),
                        l.evidence
                    ));
                }
            }
        }
        if let Some(problem) = problem {
            out.push(
                Finding::new(
                    SSM_WRONG_ACCOUNT,
                    stage,
                    format!("`{}` in {} {problem}: services of this stage would use another stage's resource", p.name, stage.unwrap_or(&p.account_id)),
                    format!("Apply Terraform in the workspace of {} with that stage's profile so the parameter holds this account's value, then redeploy its readers", stage.unwrap_or("this account")),
                )
                .with([p.id.clone()])
                .with(targets),
            );
        }
    }
}

// ---- ownership and drift ---------------------------------------------------------------------------

/// Logical keys that identify a resource across stages: its claims' matrix rows, and a parameter's name.
fn drift_keys(r: &Resource, stages: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = crate::matrix::claim_rows(r, stages)
        .into_iter()
        .map(|(key, _, _)| key)
        .collect();
    if r.type_name == crate::model::types::ssm::TYPE {
        keys.push(format!("ssm:{}", r.name));
    }
    keys
}

fn ownership_conflict(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let stages: Vec<&str> = cx.complete_stages().into_iter().collect();
    for r in &cx.report.resources {
        let Owner::Conflict { claims } = &r.owner else {
            continue;
        };
        let words: Vec<String> = claims
            .iter()
            .map(|c| match c {
                Claim::Terraform(t) => {
                    format!("Terraform `{}` (workspace {})", t.address, t.workspace)
                }
                Claim::Serverless(s) => format!(
                    "stack {} as `{}`",
                    s.stack,
                    s.logical_id.as_deref().unwrap_or("?")
                ),
                Claim::Cloudformation(s) => format!(
                    "stack {} as `{}`",
                    s.stack,
                    s.logical_id.as_deref().unwrap_or("?")
                ),
            })
            .collect();
        let has_tf = claims.iter().any(|c| matches!(c, Claim::Terraform(_)));
        let fix = if has_tf {
            "Pick one owner. To keep it in the stack: `terraform state rm <address>` and delete the resource block. To keep it in Terraform: remove it from the stack's resources with DeletionPolicy: Retain first, then deploy"
        } else {
            "Pick one stack to own it and remove it from the others (with DeletionPolicy: Retain before removing)"
        };
        out.push(
            Finding::new(
                OWNERSHIP_CONFLICT,
                r.stage.as_deref(),
                format!("{} `{}` is claimed by {}: an apply or a deploy of either can change or delete what the other relies on", r.type_name, r.name, words.join(" and ")),
                fix.to_owned(),
            )
            .with([r.id.clone()])
            .covering(drift_keys(r, &stages)),
        );
    }
}

/// Resources no tool manages that are expected to be so: pending deletion, the role the
/// organization uses to enter the account, service-linked roles.
fn expected_unmanaged(r: &Resource, cx: &Cx<'_>) -> bool {
    let access_role = cx
        .report
        .accounts
        .iter()
        .find(|a| a.id == r.account_id)
        .and_then(|a| match &a.access {
            Some(crate::model::Access::AssumeRole { role_arn, .. }) => {
                role_arn.rsplit('/').next().map(str::to_owned)
            }
            _ => None,
        });
    match r.type_name.as_str() {
        "AWS::IAM::Role" => {
            r.name == "OrganizationAccountAccessRole"
                || access_role.as_deref() == Some(r.name.as_str())
                || r.attr_str("path")
                    .is_some_and(|p| p.starts_with("/aws-service-role/"))
        }
        "AWS::KMS::Key" => r.attr_str("key_state") == Some("PendingDeletion"),
        "AWS::SecretsManager::Secret" => r.attributes.contains_key("deleted_date"),
        crate::model::types::ssm::TYPE => r.name.starts_with("/aws/"),
        _ => false,
    }
}

fn unmanaged(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(&str, &str), Vec<&Resource>> = BTreeMap::new();
    for r in &cx.report.resources {
        // The management account (state bucket, lock table) is not a stage: nothing there is the app's.
        let Some(stage) = r.stage.as_deref() else {
            continue;
        };
        if matches!(r.owner, Owner::Unmanaged) && !expected_unmanaged(r, cx) {
            groups
                .entry((stage, r.type_name.as_str()))
                .or_default()
                .push(r);
        }
    }
    for ((stage, ty), rs) in groups {
        let names: Vec<String> = rs.iter().map(|r| format!("`{}`", r.name)).collect();
        out.push(
            Finding::new(
                UNMANAGED,
                Some(stage),
                format!("{} {ty} in {stage} {} managed by no tool: {}", rs.len(), if rs.len() == 1 { "is" } else { "are" }, names.join(", ")),
                "Import into Terraform (`terraform import`) or a service's resources if it is needed, else delete it; either way it will not be recreated in another stage".to_owned(),
            )
            .with(rs.iter().map(|r| r.id.clone())),
        );
    }
}

fn changed_outside_owner(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for r in &cx.report.resources {
        let Some(last) = r.changed.as_ref().and_then(|p| p.last_change.as_ref()) else {
            continue;
        };
        if crate::change::by_owner(&r.owner, last) != Some(false) {
            continue;
        }
        let at = last.at.replace('T', " ").trim_end_matches('Z').to_owned();
        let fix = match &r.owner {
            Owner::Terraform(c) => format!(
                "Run `terraform plan` in workspace `{}`: apply to put back what the code says, or write the change into the code (and `terraform apply`) if it is to stay",
                c.workspace
            ),
            Owner::Serverless(c) => format!(
                "Deploy service `{}` to stage `{}` to put back what serverless.yml says, or write the change into serverless.yml if it is to stay",
                c.service, c.stage
            ),
            _ => format!(
                "Update stack `{}` to put back what its template says, or write the change into the template; if this tool is to own it from now on, move the resource out of its owner first",
                cx.stack_of(r).map(|s| s.name.as_str()).unwrap_or("its stack")
            ),
        };
        out.push(
            Finding::new(
                CHANGED_OUTSIDE_OWNER,
                r.stage.as_deref(),
                format!(
                    "{} `{}` is owned by {}, but was last changed with {} by {} at {at} UTC ({}); the next run of its owner may undo the change, or fail on it",
                    r.type_name,
                    r.name,
                    Cx::owner_words(r),
                    last.tool.label(),
                    last.who,
                    last.action
                ),
                fix,
            )
            .with([r.id.clone()]),
        );
    }
}

fn stage_drift(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let complete = cx.complete_stages();
    if complete.len() < 2 {
        return;
    }
    let stages: Vec<&str> = complete.iter().copied().collect();
    // Primary key → stage → resources; every key of those resources.
    /// Per stage, the resources with the key; and every key they have.
    type Item<'r> = (BTreeMap<&'r str, Vec<&'r Resource>>, BTreeSet<String>);
    let mut items: BTreeMap<String, Item<'_>> = BTreeMap::new();
    for r in &cx.report.resources {
        let Some(stage) = r.stage.as_deref().filter(|s| complete.contains(s)) else {
            continue;
        };
        let keys = drift_keys(r, &stages);
        let Some(primary) = keys.first() else {
            continue;
        };
        let item = items.entry(primary.clone()).or_default();
        item.0.entry(stage).or_default().push(r);
        item.1.extend(keys.iter().cloned());
        item.1.insert(format!("type:{}", r.type_name));
    }
    for (key, (present, keys)) in items {
        for &stage in &stages {
            if present.contains_key(stage) {
                continue;
            }
            let covered = out.iter().any(|f| {
                let relevant = f
                    .stage
                    .as_deref()
                    .is_some_and(|s| s == stage || present.contains_key(s));
                relevant && f.covers.iter().any(|c| keys.contains(c))
            });
            if covered {
                continue;
            }
            let example = present.values().next().and_then(|v| v.first());
            let what = example
                .map(|r| format!("{} `{}`", r.type_name, r.name))
                .unwrap_or_default();
            let in_stages: Vec<&str> = present.keys().copied().collect();
            let (label, fix) = match key.split_once(':') {
                Some(("tf", address)) => (
                    format!("Terraform `{address}`"),
                    format!("Run `terraform workspace select {stage} && terraform apply`, or make the difference explicit in the code (count/for_each on terraform.workspace)"),
                ),
                Some(("sls", rest)) => (
                    format!("stack resource `{rest}`"),
                    format!("Deploy the service to {stage} (`serverless deploy --stage {stage}`), or make the difference explicit in serverless.yml"),
                ),
                Some(("ssm", name)) => (
                    format!("parameter `{name}`"),
                    format!("Create `{name}` in {stage} where the other stages get it from"),
                ),
                _ => (key.clone(), "Bring the stages in line".to_owned()),
            };
            out.push(
                Finding::new(
                    STAGE_DRIFT,
                    Some(stage),
                    format!(
                        "{label} ({what}) exists in {} but not in {stage}",
                        in_stages.join(", ")
                    ),
                    fix,
                )
                .with(present.values().flatten().map(|r| r.id.clone())),
            );
        }
    }
}
