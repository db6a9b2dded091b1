//! A replaying endpoint: the answers a scan of the seeded organization got, recorded once through
//! the proxy ([`crate::proxy::ProxyOptions::record`]), served again with exactly the injected
//! latency at any concurrency and without the emulator, so a benchmark measures round trips and
//! not an emulator's queue. Requests are matched by account, region, service and the request's
//! canonical parameters. The organization can be scaled: recorded member accounts are served again
//! under new ids, rewritten consistently in requests and answers. AWS's throttling can be replayed
//! too: a token bucket per account, region and API, answering as AWS does when it is empty.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use tokio::net::TcpListener;

use crate::proxy::{classify, coded_error, error_response, Call, Fault, Scope};
use crate::recording::is_account_id;
pub use crate::recording::{CriticalPath, Exchange, Recording};
use crate::Error;

/// How the replaying endpoint behaves.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub latency: Duration,
    /// Up to this much more, at random.
    pub jitter: Duration,
    pub seed: u64,
    /// Serve this many member accounts: the recorded ones, then copies of them under new ids.
    pub members: Option<usize>,
    /// Answer as AWS does past its published request rates ([`rate`]), each scaled by this
    /// share (1.0: the published rates; 0.25: a quarter left, the rest taken by the account's other
    /// clients).
    pub throttle: Option<f64>,
}

/// A request rate: tokens per second and the bucket's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
    /// Whether each action has its own bucket, or the service's actions share one.
    pub per_action: bool,
}

/// The request rate AWS allows per account and region for an API, as the service's quota page
/// publishes it (API Gateway, Lambda and Account Management publish theirs). A service that publishes none gets 10 a second with a burst of 20, below every
/// published control-plane read rate here.
pub fn rate(service: &str, action: &str) -> Rate {
    let own = |per_second: f64, burst: f64| Rate {
        per_second,
        burst,
        per_action: true,
    };
    match (service, action) {
        // API Gateway quotas: GetResources 5 requests every 2 seconds; every management
        // operation together 10 a second with a burst of 40.
        ("apigateway", "GetResources") => own(2.5, 5.0),
        ("apigateway", _) => Rate {
            per_second: 10.0,
            burst: 40.0,
            per_action: false,
        },
        // Lambda quotas: GetFunction 100 a second; the other control-plane APIs 15 a second.
        ("lambda", "GetFunction") => own(100.0, 100.0),
        ("lambda", _) => own(15.0, 15.0),
        // Account Management quotas: ListRegions 5 a second, burst 5.
        ("account", "ListRegions") => own(5.0, 5.0),
        // STS: AssumeRole and GetCallerIdentity, 600 a second per account.
        ("sts", _) => own(600.0, 600.0),
        _ => own(10.0, 20.0),
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The copies of one recorded member account served under other ids.
#[derive(Debug, Clone)]
struct Copy {
    recorded: String,
    /// The recorded access keys of that account, each with the key its copy is given.
    keys: Vec<(String, String)>,
    name_suffix: String,
    id: String,
    /// Names AWS keeps unique beyond the account (buckets, API ids, custom domains), each with
    /// the copy's own, longest first.
    names: Vec<(String, String)>,
}

impl Copy {
    /// A request about the copy, as the recorded account's.
    fn to_recorded(&self, s: &str) -> String {
        let mut s = s.replace(&self.id, &self.recorded);
        let mut names: Vec<&(String, String)> = self.names.iter().collect();
        names.sort_by_key(|(_, copy)| std::cmp::Reverse(copy.len()));
        for (recorded, copy) in names {
            s = s.replace(copy.as_str(), recorded);
        }
        s
    }

    /// A recorded answer, as the copy's.
    fn to_copy(&self, s: &str) -> String {
        let mut s = s.replace(&self.recorded, &self.id);
        for (recorded, copy) in &self.names {
            s = s.replace(recorded.as_str(), copy);
        }
        for (recorded, given) in &self.keys {
            s = s.replace(recorded.as_str(), given);
        }
        s
    }
}

/// The names in `account`'s recorded answers that AWS keeps unique beyond one account: bucket
/// names, REST and HTTP API ids, custom domain names. A copy needs its own.
fn global_names(recording: &Recording, account: &str) -> Vec<String> {
    let mut out = HashSet::new();
    for e in recording
        .exchanges
        .iter()
        .filter(|e| e.status < 400 && recording.account_of(e.access_key.as_deref()) == account)
    {
        match (e.service.as_str(), e.action.as_str()) {
            ("s3", "ListBuckets") => {
                for piece in e.answer.split("<Name>").skip(1) {
                    if let Some(name) = piece.split("</Name>").next() {
                        out.insert(name.to_owned());
                    }
                }
            }
            ("apigateway", "GetRestApis" | "GetApis" | "GetDomainNames") => {
                let v: serde_json::Value = serde_json::from_str(&e.answer).unwrap_or_default();
                // REST APIs list under `item` on the wire, HTTP APIs under `items`.
                let lists = ["item", "items", "Items"].map(|k| v[k].as_array());
                for item in lists.into_iter().flatten().flatten() {
                    for key in ["id", "apiId", "ApiId", "domainName", "DomainName"] {
                        if let Some(name) = item[key].as_str() {
                            out.insert(name.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut names: Vec<String> = out.into_iter().filter(|n| n.len() >= 4).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names
}

/// A copy's own name for a recorded one: an id keeps its length, a bucket or a domain gains a
/// mark. The mark has one width for every copy (copies number at most 999, as their account ids
/// do), so no copy's id can be another's: with `c1` and `c11`, copy 1 of `ab1xyz…` and copy 11 of
/// it would both be `c11xyz…`.
fn copied_name(name: &str, copy: usize) -> String {
    let mark = format!("c{copy:03}");
    if name.contains('.') {
        format!("{mark}-{name}")
    } else if name.len() <= 12 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("{mark}{}", name.get(mark.len()..).unwrap_or_default())
    } else {
        format!("{name}-{mark}")
    }
}

struct State {
    opts: ReplayOptions,
    recording: Recording,
    /// Canonical request → index of the answer to give.
    answers: HashMap<String, usize>,
    /// Virtual account id → its copy.
    copies: HashMap<String, Copy>,
    /// A copy's access key → its account id.
    copy_keys: HashMap<String, String>,
    /// Per parent: the accounts `ListAccountsForParent` lists (as JSON), copies included.
    listed: HashMap<String, Vec<serde_json::Value>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    calls: crate::proxy::CallLog,
    misses: Mutex<Vec<String>>,
    choices: crate::loopback::Choices,
    started: Instant,
}

/// A running replaying endpoint; stops when dropped.
pub struct Replay {
    pub endpoint: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Replay {
    /// Serves `recording` on a free loopback port.
    pub async fn start(recording: Recording, opts: ReplayOptions) -> Result<Replay, Error> {
        let (copies, listed) = scale(&recording, opts.members)?;
        let mut answers = HashMap::new();
        for (i, e) in recording.exchanges.iter().enumerate() {
            let key = request_key(
                &recording.account_of(e.access_key.as_deref()),
                &e.region,
                &e.service,
                &e.method,
                &e.path,
                &e.query,
                e.target.as_deref(),
                &e.body,
            );
            // A later answer to the same request (a retry that succeeded) wins over an error.
            let keep = answers
                .get(&key)
                .is_none_or(|&j: &usize| recording.exchanges[j].status >= 400 || e.status < 400);
            if keep {
                answers.insert(key, i);
            }
        }
        let copy_keys = copies
            .values()
            .flat_map(|c| c.keys.iter().map(|(_, k)| (k.clone(), c.id.clone())))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("binding the replaying endpoint to a loopback port", e))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the replaying endpoint's port", e))?;
        let state = Arc::new(State {
            choices: crate::loopback::Choices::new(opts.seed),
            opts,
            recording,
            answers,
            copies,
            copy_keys,
            listed,
            buckets: Mutex::default(),
            calls: crate::proxy::CallLog::default(),
            misses: Mutex::default(),
            started: Instant::now(),
        });
        let task = crate::loopback::serve(listener, state.clone(), serve);
        Ok(Replay {
            endpoint: format!("http://{addr}"),
            state,
            task,
        })
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.sorted()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        self.state.calls.clear();
    }

    /// Requests the recording held no answer for (`service action account`), each once.
    pub fn misses(&self) -> Vec<String> {
        let mut m = self
            .state
            .misses
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        m.sort();
        m.dedup();
        m
    }

    /// The member accounts served beyond the recorded ones, each with the recorded account it
    /// copies.
    pub fn copied_accounts(&self) -> Vec<(String, String)> {
        let mut ids: Vec<(String, String)> = self
            .state
            .copies
            .values()
            .map(|c| (c.id.clone(), c.recorded.clone()))
            .collect();
        ids.sort();
        ids
    }
}

impl State {
    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn random(&self) -> f64 {
        self.choices.next()
    }

    /// Takes a token from the bucket of `key`; `false` when it is empty.
    fn admit(&self, key: String, rate: Rate) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second).min(rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The copies of the recorded members that make `members` accounts, and what each parent lists.
#[allow(clippy::type_complexity)]
fn scale(
    recording: &Recording,
    members: Option<usize>,
) -> Result<
    (
        HashMap<String, Copy>,
        HashMap<String, Vec<serde_json::Value>>,
    ),
    Error,
> {
    let mut copies = HashMap::new();
    let mut listed = HashMap::new();
    let Some(wanted) = members else {
        return Ok((copies, listed));
    };
    let recorded = recording.members();
    if recorded.is_empty() {
        return Err(Error::Sandbox(
            "the recording assumed no role in any member account: nothing to copy".into(),
        ));
    }
    // Each recorded parent's accounts, in listing order.
    let mut parents: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for e in recording
        .exchanges
        .iter()
        .filter(|e| e.action == "ListAccountsForParent" && e.status < 400)
    {
        let parent = serde_json::from_str::<serde_json::Value>(&e.body)
            .ok()
            .and_then(|b| b["ParentId"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&e.answer).unwrap_or_default();
        let at = match parents.iter().position(|(p, _)| *p == parent) {
            Some(at) => at,
            None => {
                parents.push((parent, Vec::new()));
                parents.len() - 1
            }
        };
        for a in answer["Accounts"].as_array().into_iter().flatten() {
            if !parents[at].1.iter().any(|b| b["Id"] == a["Id"]) {
                parents[at].1.push(a.clone());
            }
        }
    }
    let mut served = recorded.len().min(wanted);
    for (parent, accounts) in &parents {
        listed.insert(parent.clone(), accounts.clone());
    }
    // Keep only the first `wanted` recorded members listed.
    let dropped: HashSet<&String> = recorded.iter().skip(wanted).collect();
    for accounts in listed.values_mut() {
        accounts.retain(|a| {
            a["Id"]
                .as_str()
                .is_none_or(|id| !dropped.contains(&id.to_owned()))
        });
    }
    let mut copy = 1usize;
    while served < wanted {
        for r in &recorded {
            if served == wanted {
                break;
            }
            let id = format!("9{copy:03}{}", &r[r.len().saturating_sub(8)..]);
            if !is_account_id(&id) || recorded.contains(&id) || copies.contains_key(&id) {
                return Err(Error::Sandbox(format!(
                    "cannot copy account {r} as {id}: ids would clash"
                )));
            }
            let keys = recording
                .accounts
                .iter()
                .filter(|(_, a)| *a == r)
                .map(|(k, _)| {
                    let tail = k.get(7..).unwrap_or_default();
                    (k.clone(), format!("ASIV{copy:03}{tail}"))
                })
                .collect();
            let c = Copy {
                recorded: r.clone(),
                keys,
                name_suffix: format!("-copy{copy}"),
                id: id.clone(),
                names: global_names(recording, r)
                    .into_iter()
                    .map(|n| {
                        let theirs = copied_name(&n, copy);
                        (n, theirs)
                    })
                    .collect(),
            };
            for accounts in listed.values_mut() {
                if let Some(a) = accounts
                    .iter()
                    .find(|a| a["Id"].as_str() == Some(r.as_str()))
                    .cloned()
                {
                    let text = a.to_string().replace(r.as_str(), &id);
                    let mut a: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(name) = a["Name"].as_str().map(str::to_owned) {
                        a["Name"] = serde_json::Value::String(format!("{name}{}", c.name_suffix));
                    }
                    accounts.push(a);
                }
            }
            copies.insert(id, c);
            served += 1;
        }
        copy += 1;
    }
    Ok((copies, listed))
}

async fn serve(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let start_ms = state.ms();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let scope = Scope::of(&header("authorization").unwrap_or_default());
    let target = header("x-amz-target");
    let method = parts.method.as_str().to_owned();
    let mut path = parts.uri.path().to_owned();
    let mut query = parts.uri.query().unwrap_or_default().to_owned();
    let mut text = String::from_utf8_lossy(&body).into_owned();
    let (protocol, action) = classify(
        &scope.service,
        &method,
        &path,
        &query,
        target.as_deref(),
        &body,
    );

    // Which copy of a recorded account this request is about: its key, or an id it names.
    let copy = scope
        .key
        .as_ref()
        .and_then(|k| state.copy_keys.get(k))
        .or_else(|| {
            account_ids(&format!("{path} {query} {text}"))
                .into_iter()
                .find_map(|id| state.copies.get_key_value(&id).map(|(k, _)| k))
        })
        .and_then(|id| state.copies.get(id))
        .cloned();
    let mut key = scope.key.clone();
    if let Some(c) = &copy {
        path = c.to_recorded(&path);
        query = c.to_recorded(&query);
        text = c.to_recorded(&text);
        if let Some(k) = &key {
            if let Some((recorded, _)) = c.keys.iter().find(|(_, v)| v == k) {
                key = Some(recorded.clone());
            }
        }
    }
    let account = state.recording.account_of(key.as_deref());
    let served_as = copy.as_ref().map_or(account.clone(), |c| c.id.clone());

    let opts = &state.opts;
    let jitter = opts.jitter.mul_f64(state.random());
    if !(opts.latency + jitter).is_zero() {
        tokio::time::sleep(opts.latency + jitter).await;
    }
    let record = |fault: Option<&str>, status: u16| {
        state.calls.push(Call {
            service: scope.service.clone(),
            action: action.clone(),
            account: Some(served_as.clone()),
            method: method.clone(),
            path: parts.uri.path().to_owned(),
            with_decryption: false,
            fingerprint: format!("{}/{}", scope.region, fingerprint(&body, &parts.uri)),
            fault: fault.map(str::to_owned),
            status,
            start_ms,
            end_ms: state.ms(),
        });
    };
    if let Some(share) = opts.throttle {
        let published = rate(&scope.service, &action);
        let limit = Rate {
            per_second: published.per_second * share,
            burst: (published.burst * share).max(1.0),
            ..published
        };
        let which = if limit.per_action {
            action.as_str()
        } else {
            "*"
        };
        let bucket = format!("{served_as}/{}/{}/{which}", scope.region, scope.service);
        if !state.admit(bucket, limit) {
            record(Some("throttle"), Fault::Throttle.status(protocol));
            return Ok(error_response(protocol, Fault::Throttle));
        }
    }

    if action == "ListAccountsForParent" && !state.copies.is_empty() {
        record(None, 200);
        return Ok(list_accounts(&state, &text));
    }
    let wanted = request_key(
        &account,
        &scope.region,
        &scope.service,
        &method,
        &path,
        &query,
        target.as_deref(),
        &text,
    );
    let Some(&i) = state.answers.get(&wanted) else {
        if let Ok(mut m) = state.misses.lock() {
            m.push(format!(
                "{} {action} in {account} ({method} {path}?{query} {text})",
                scope.service
            ));
        }
        record(Some("not_recorded"), 400);
        return Ok(coded_error(
            protocol,
            400,
            "NotRecorded",
            "the replaying endpoint holds no answer to this request: record the scan again",
        ));
    };
    let e = &state.recording.exchanges[i];
    let mut answer = e.answer.clone();
    let mut rewritten = false;
    if let Some(c) = &copy {
        answer = c.to_copy(&answer);
        rewritten = true;
    }
    if e.service == "sts" {
        // Credentials expire an hour from now, not from when they were recorded.
        answer = fresh_expiration(&answer);
        rewritten = true;
    }
    let mut r = Response::new(Full::new(Bytes::from(answer)));
    *r.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::OK);
    for (name, value) in &e.headers {
        // A checksum of the recorded body no longer holds for a rewritten one.
        if rewritten && (name.contains("crc32") || name.contains("checksum")) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    record(None, e.status);
    Ok(r)
}

/// `ListAccountsForParent` over the recorded accounts and their copies, paged as asked.
fn list_accounts(state: &State, request: &str) -> Response<Full<Bytes>> {
    let request: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
    let parent = request["ParentId"].as_str().unwrap_or_default();
    let accounts = state.listed.get(parent).cloned().unwrap_or_default();
    let size = request["MaxResults"].as_u64().unwrap_or(20).clamp(1, 20) as usize;
    let from = request["NextToken"]
        .as_str()
        .and_then(|t| t.strip_prefix("replay-"))
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let page: Vec<_> = accounts.iter().skip(from).take(size).cloned().collect();
    let mut answer = serde_json::json!({ "Accounts": page });
    if from + size < accounts.len() {
        answer["NextToken"] = serde_json::Value::String(format!("replay-{}", from + size));
    }
    let mut r = Response::new(Full::new(Bytes::from(answer.to_string())));
    if let Ok(v) = hyper::header::HeaderValue::from_str("application/x-amz-json-1.1") {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn fingerprint(body: &[u8], uri: &hyper::Uri) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(uri.to_string().as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(&h.finalize()[..8])
}

/// An STS answer with its credentials' `<Expiration>` an hour from now.
fn fresh_expiration(answer: &str) -> String {
    let Some(start) = answer
        .find("<Expiration>")
        .map(|s| s + "<Expiration>".len())
    else {
        return answer.to_owned();
    };
    let Some(end) = answer[start..].find("</Expiration>").map(|e| e + start) else {
        return answer.to_owned();
    };
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let stamp = later
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("{}{stamp}{}", &answer[..start], &answer[end..])
}

/// The key a request is matched by: account, region, service, method, path, and its parameters
/// in a canonical order (query pairs and form fields sorted, JSON with sorted keys). A role
/// session's name and an event history read's time window are left out: clients choose them by
/// the time.
#[allow(clippy::too_many_arguments)]
fn request_key(
    account: &str,
    region: &str,
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    target: Option<&str>,
    body: &str,
) -> String {
    let sorted_pairs = |s: &str| {
        let mut pairs: Vec<&str> = s
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("RoleSessionName="))
            .collect();
        pairs.sort_unstable();
        pairs.join("&")
    };
    let body = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) if body.trim_start().starts_with('{') => {
            if target.is_some_and(|t| t.ends_with(".LookupEvents")) {
                if let Some(m) = v.as_object_mut() {
                    m.remove("StartTime");
                    m.remove("EndTime");
                }
            }
            canonical_json(&v)
        }
        _ if body.contains('=') && !body.contains(['<', '{', '\n']) => sorted_pairs(body),
        _ => body.to_owned(),
    };
    format!(
        "{account}|{region}|{service}|{method}|{path}|{}|{}|{body}",
        sorted_pairs(query),
        target.unwrap_or_default()
    )
}

fn canonical_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_json(&m[k])
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

/// Every run of exactly 12 digits in `s`.
fn account_ids(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 12 {
                out.push(s[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::copied_name;

    #[test]
    fn no_two_copies_share_a_name() {
        for name in ["ab1xyz9q2w", "0123456789", "team-bucket", "api.example.com"] {
            let names: std::collections::HashSet<String> =
                (1..=999).map(|copy| copied_name(name, copy)).collect();
            assert_eq!(names.len(), 999, "{name}");
            assert!(!names.contains(name), "{name}");
            if !name.contains(['.', '-']) {
                assert!(names.iter().all(|n| n.len() == name.len()), "{name}");
            }
        }
    }

    use super::*;

    #[test]
    fn requests_match_whatever_order_their_parameters_come_in() {
        let a = request_key(
            "1",
            "r",
            "s",
            "POST",
            "/",
            "b=2&a=1",
            None,
            r#"{"y":1,"x":{"k":2,"j":3}}"#,
        );
        let b = request_key(
            "1",
            "r",
            "s",
            "POST",
            "/",
            "a=1&b=2",
            None,
            r#"{"x":{"j":3,"k":2},"y":1}"#,
        );
        assert_eq!(a, b);
        let form1 = request_key(
            "1",
            "r",
            "sts",
            "POST",
            "/",
            "",
            None,
            "Action=AssumeRole&RoleArn=x&RoleSessionName=botocore-session-1",
        );
        let form2 = request_key(
            "1",
            "r",
            "sts",
            "POST",
            "/",
            "",
            None,
            "RoleSessionName=botocore-session-2&RoleArn=x&Action=AssumeRole",
        );
        assert_eq!(form1, form2);
        assert_ne!(
            a,
            request_key(
                "2",
                "r",
                "s",
                "POST",
                "/",
                "a=1&b=2",
                None,
                r#"{"x":{"j":3,"k":2},"y":1}"#
            )
        );
    }

    #[test]
    fn credentials_are_fresh_whenever_they_are_replayed() {
        let answer = "<Credentials><AccessKeyId>K</AccessKeyId><Expiration>2020-01-01T00:00:00Z</Expiration></Credentials>";
        let fresh = fresh_expiration(answer);
        assert!(!fresh.contains("2020-01-01"), "{fresh}");
        assert!(fresh.starts_with("<Credentials><AccessKeyId>K</AccessKeyId><Expiration>"));
        assert!(fresh.ends_with("</Expiration></Credentials>"));
    }

    #[test]
    fn an_empty_bucket_refuses_until_it_refills() {
        let state = State {
            opts: ReplayOptions::default(),
            recording: Recording::default(),
            answers: HashMap::new(),
            copies: HashMap::new(),
            copy_keys: HashMap::new(),
            listed: HashMap::new(),
            buckets: Mutex::default(),
            calls: crate::proxy::CallLog::default(),
            misses: Mutex::default(),
            choices: crate::loopback::Choices::new(1),
            started: Instant::now(),
        };
        let r = Rate {
            per_second: 50.0,
            burst: 3.0,
            per_action: true,
        };
        let admitted = (0..5).filter(|_| state.admit("a".into(), r)).count();
        assert_eq!(admitted, 3);
        assert!(state.admit("b".into(), r), "each key has its own bucket");
        std::thread::sleep(Duration::from_millis(60));
        assert!(state.admit("a".into(), r), "refilled at 50 a second");
    }
}
