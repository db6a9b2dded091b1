//! What a recording proxy saw (the proxy's `record` option): every request and its answer, with
//! the account each access key acted for. [`Recording::critical_path`] reads from it which call
//! needed which earlier call's output: the least number of dependent round trips any client
//! making those calls must wait for. The replaying endpoint serves a recording again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One request the proxy forwarded, and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub access_key: Option<String>,
    pub region: String,
    pub service: String,
    pub action: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub target: Option<String>,
    pub body: String,
    pub status: u16,
    /// The answer's `content-type` and `x-amz*` headers.
    pub headers: Vec<(String, String)>,
    pub answer: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// What a recording proxy saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recording {
    /// In the order the requests arrived.
    pub exchanges: Vec<Exchange>,
    /// The account each access key acted for.
    pub accounts: BTreeMap<String, String>,
}

impl Recording {
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_vec(self)
            .map_err(|e| Error::Sandbox(format!("writing the recording: {e}")))?;
        std::fs::write(path, text)
            .map_err(|e| Error::io(format!("writing the recording {}", path.display()), e))
    }

    pub fn load(path: &Path) -> Result<Recording, Error> {
        let text = std::fs::read(path)
            .map_err(|e| Error::io(format!("reading the recording {}", path.display()), e))?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::Sandbox(format!(
                "{} is not a recording ({e}); record it again",
                path.display()
            ))
        })
    }

    /// Both recordings' exchanges (another client's calls against the same organization).
    pub fn merge(&mut self, other: Recording) {
        self.exchanges.extend(other.exchanges);
        self.exchanges.sort_by_key(|e| e.start_ms);
        self.accounts.extend(other.accounts);
    }

    pub(crate) fn account_of(&self, key: Option<&str>) -> String {
        let key = key.unwrap_or("unsigned");
        self.accounts
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// The member accounts the management account assumed a role in, in the order it did.
    pub(crate) fn members(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for e in self.exchanges.iter().filter(|e| e.action == "AssumeRole") {
            let arn = crate::loopback::form_param(&e.body, "RoleArn").unwrap_or_default();
            if let Some(id) = arn.split(':').nth(4).filter(|a| is_account_id(a)) {
                if !seen.iter().any(|s| s == id) {
                    seen.push(id.to_owned());
                }
            }
        }
        seen
    }

    /// The longest chain of calls where each needed a value only an earlier answer held (a
    /// page's token, a listed name, an assumed role's key, a region learnt from `ListRegions`).
    /// A value counts as needed only when no request carried it before an answer did (the
    /// configured region, page sizes and the profile's own key are known up front). Each call
    /// takes its values from the earliest-chained answer that held them, so the chain is the
    /// least any client making these calls must wait for, whatever its concurrency.
    pub fn critical_path(&self) -> CriticalPath {
        let n = self.exchanges.len();
        let asks: Vec<HashSet<String>> = self.exchanges.iter().map(request_values).collect();
        let tells: Vec<HashSet<String>> = self.exchanges.iter().map(answer_values).collect();
        // A value is known up front when a request carried it before any answer had.
        let mut first_told: HashMap<&str, u64> = HashMap::new();
        for (e, told) in self.exchanges.iter().zip(&tells) {
            for v in told {
                let t = first_told.entry(v.as_str()).or_insert(u64::MAX);
                *t = (*t).min(e.end_ms);
            }
        }
        let mut known: HashSet<&str> = HashSet::new();
        for (e, asked) in self.exchanges.iter().zip(&asks) {
            for v in asked {
                if first_told.get(v.as_str()).is_none_or(|t| e.start_ms < *t) {
                    known.insert(v.as_str());
                }
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| self.exchanges[i].start_ms);
        let mut depth = vec![0usize; n];
        let mut parent: Vec<Option<usize>> = vec![None; n];
        let mut answered: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        // Each value with the shallowest answer that held it so far.
        let mut source: HashMap<&str, (usize, usize)> = HashMap::new();
        for i in order {
            let e = &self.exchanges[i];
            while let Some(Reverse((end, j))) = answered.peek().copied() {
                if end > e.start_ms {
                    break;
                }
                answered.pop();
                for v in &tells[j] {
                    let s = source.entry(v.as_str()).or_insert((depth[j], j));
                    if depth[j] < s.0 {
                        *s = (depth[j], j);
                    }
                }
            }
            let mut needs: Option<(usize, usize)> = None;
            for v in asks[i].iter().filter(|v| !known.contains(v.as_str())) {
                if let Some(&(d, j)) = source.get(v.as_str()) {
                    if needs.is_none_or(|(nd, _)| d > nd) {
                        needs = Some((d, j));
                    }
                }
            }
            depth[i] = needs.map_or(0, |(d, _)| d) + 1;
            parent[i] = needs.map(|(_, j)| j);
            answered.push(Reverse((e.end_ms, i)));
        }
        let Some(deepest) = (0..n).max_by_key(|&i| depth[i]) else {
            return CriticalPath::default();
        };
        let mut chain = Vec::new();
        let mut at = Some(deepest);
        while let Some(i) = at {
            let e = &self.exchanges[i];
            chain.push(format!("{}:{}", e.service, e.action));
            at = parent[i];
        }
        chain.reverse();
        CriticalPath {
            calls: depth[deepest],
            chain,
        }
    }
}

/// The longest chain of dependent calls in a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalPath {
    pub calls: usize,
    /// `service:Action` of each call along it, first to last.
    pub chain: Vec<String>,
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A value worth following: long enough not to be a flag or a count.
fn worth(v: &str) -> bool {
    v.len() >= 3
        && !matches!(v, "true" | "false" | "null")
        && !(v.bytes().all(|b| b.is_ascii_digit()) && v.len() < 12)
}

/// A value and the parts of it an ARN or a path is made of.
fn with_parts(v: &str, into: &mut HashSet<String>) {
    let v = v.trim();
    if worth(v) {
        into.insert(v.to_owned());
    }
    if v.contains([':', '/']) {
        for part in v.split([':', '/']).filter(|p| worth(p)) {
            into.insert(part.to_owned());
        }
    }
}

fn json_leaves(v: &serde_json::Value, into: &mut HashSet<String>) {
    match v {
        serde_json::Value::String(s) => with_parts(s, into),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_leaves(x, into)),
        serde_json::Value::Object(m) => m.values().for_each(|x| json_leaves(x, into)),
        _ => {}
    }
}

/// The values a request carries: path segments, query and form values, JSON strings, the
/// signing key and the region.
fn request_values(e: &Exchange) -> HashSet<String> {
    let mut out = HashSet::new();
    for seg in e.path.split('/') {
        with_parts(&crate::loopback::form_decode(seg), &mut out);
    }
    for form in [e.query.as_str(), e.body.as_str()] {
        if form.trim_start().starts_with('{') {
            continue;
        }
        for kv in form.split('&') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            if !matches!(k, "Action" | "Version" | "RoleSessionName") {
                with_parts(&crate::loopback::form_decode(v), &mut out);
            }
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.body) {
        json_leaves(&v, &mut out);
    }
    if let Some(k) = &e.access_key {
        out.insert(k.clone());
    }
    if !e.region.is_empty() {
        out.insert(e.region.clone());
    }
    out
}

/// The values an answer holds: JSON strings, or XML text.
fn answer_values(e: &Exchange) -> HashSet<String> {
    let mut out = HashSet::new();
    if e.status >= 400 {
        return out;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.answer) {
        json_leaves(&v, &mut out);
        return out;
    }
    for piece in e.answer.split('>').filter_map(|p| p.split('<').next()) {
        let text = piece
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        with_parts(&text, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(action: &str, start: u64, end: u64, body: &str, answer: &str) -> Exchange {
        Exchange {
            access_key: Some("AKIDMANAGEMENT".into()),
            region: "us-east-1".into(),
            service: "svc".into(),
            action: action.into(),
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            target: Some(format!("Svc.{action}")),
            body: body.into(),
            status: 200,
            headers: Vec::new(),
            answer: answer.into(),
            start_ms: start,
            end_ms: end,
        }
    }

    #[test]
    fn a_call_depends_on_the_answer_that_held_its_values() {
        // List (page 1) → List (page 2, its token) → Describe (an item of page 2); a second
        // Describe of an item of page 1 is one deeper than page 1 only; a call carrying only
        // values known up front starts a chain of its own.
        let rec = Recording {
            exchanges: vec![
                exchange(
                    "List",
                    0,
                    10,
                    r#"{"MaxResults":50}"#,
                    r#"{"Items":["alpha-one"],"NextToken":"tok-123"}"#,
                ),
                exchange(
                    "List",
                    10,
                    20,
                    r#"{"MaxResults":50,"NextToken":"tok-123"}"#,
                    r#"{"Items":["beta-two"]}"#,
                ),
                exchange(
                    "Describe",
                    20,
                    30,
                    r#"{"Name":"beta-two"}"#,
                    r#"{"Thing":{"Arn":"arn:aws:svc:us-east-1:123456789012:thing/beta-two"}}"#,
                ),
                exchange("Describe", 25, 35, r#"{"Name":"alpha-one"}"#, r#"{}"#),
                exchange("Other", 40, 50, r#"{"Filter":"us-east-1"}"#, r#"{}"#),
            ],
            accounts: BTreeMap::new(),
        };
        let path = rec.critical_path();
        assert_eq!(path.calls, 3);
        assert_eq!(path.chain, ["svc:List", "svc:List", "svc:Describe"]);
    }

    #[test]
    fn the_chain_counts_the_earliest_answer_that_held_a_value_not_the_one_used() {
        // "gamma" is in page 1's answer and, later, in a deep call's answer: the call using it
        // needs only page 1.
        let rec = Recording {
            exchanges: vec![
                exchange("A", 0, 10, "{}", r#"{"X":"first-value"}"#),
                exchange(
                    "B",
                    10,
                    20,
                    r#"{"V":"first-value"}"#,
                    r#"{"Y":"second-value"}"#,
                ),
                exchange(
                    "C",
                    20,
                    30,
                    r#"{"V":"second-value"}"#,
                    r#"{"Z":"gamma-name"}"#,
                ),
                exchange("D", 30, 40, r#"{"V":"gamma-name"}"#, r#"{}"#),
            ],
            accounts: BTreeMap::new(),
        };
        assert_eq!(rec.critical_path().calls, 4);
        let mut shortcut = rec.clone();
        shortcut.exchanges[0].answer = r#"{"X":"first-value","W":"gamma-name"}"#.into();
        assert_eq!(shortcut.critical_path().calls, 3);
    }
}
