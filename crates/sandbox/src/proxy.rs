//! A loopback proxy between the AWS SDK and the emulator: it adds round-trip latency (so scan
//! benchmarks measure round trips, not the emulator's speed), injects faults (throttling, 5xx,
//! dropped connections, slow answers, an account that always fails, credentials that expire), and
//! records every AWS action it forwards (the read-only proof).
//!
//! It is reached like any endpoint: an AWS config whose `endpoint_url` names it. Each request is
//! attributed to an account by its SigV4 access key, learnt from the `AssumeRole` and
//! `GetCallerIdentity` answers that pass through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::Error;

/// Faults injected into the answers, each a probability per request (0.0–1.0).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// A throttling error in the protocol's own shape (retryable).
    pub throttle: f64,
    /// A 500/503 (retryable).
    pub server_error: f64,
    /// The connection closed with no answer.
    pub reset: f64,
    /// The answer delayed by `slow_by`.
    pub slow: f64,
    pub slow_by: Duration,
    /// Accounts whose every request is dropped (an account that cannot be reached at all).
    pub failing_accounts: Vec<String>,
    /// Accounts whose every request is taken and never answered (traffic swallowed by a firewall
    /// or a dead VPN route): only the caller's own deadline ends the wait.
    pub black_holed_accounts: Vec<String>,
    /// `(account, n)`: after `n` requests with that account's credentials, they are expired.
    pub expire_after: Option<(String, usize)>,
    /// IAM actions (`tag:GetResources`) answered with access denied, as for a role whose policy
    /// lacks them.
    pub denied: Vec<String>,
    /// Seconds AWS's clock is ahead of this machine's (negative: behind). Every answer's `Date`
    /// says AWS's time, and a request signed more than AWS's limit away from it is refused as AWS
    /// refuses it (`RequestTimeTooSkewed` from S3, "Signature expired" from the others).
    pub clock_ahead: Option<i64>,
}

impl Faults {
    /// `rate` of the requests get a fault, spread over throttling, 5xx, dropped connections and slow
    /// answers (in the proportions 2:1:1:1).
    pub fn mixed(rate: f64) -> Faults {
        Faults {
            throttle: rate * 0.4,
            server_error: rate * 0.2,
            reset: rate * 0.2,
            slow: rate * 0.2,
            slow_by: Duration::from_millis(1500),
            ..Faults::default()
        }
    }
}

/// How the proxy behaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Added to every request before it is forwarded.
    pub latency: Duration,
    /// Up to this much more, at random.
    pub jitter: Duration,
    pub faults: Faults,
    /// Seeds the fault and jitter choices, so a run can be repeated.
    pub seed: u64,
    /// Answer IAM Identity Center (`sso-oidc`, `sso`) for these accounts (see [`crate::sso`]).
    pub sso: Option<crate::sso::Directory>,
    /// Keep every request and its answer (a [`crate::recording::Recording`]), to be served again. Refused with
    /// random faults: a recording holds the answers the emulator gave, not injected ones.
    pub record: bool,
}

/// One request the proxy saw.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Call {
    /// The SigV4 signing name (`ssm`, `apigateway`, `s3`, …).
    pub service: String,
    /// The API action (`DescribeParameters`, `GetRestApis`, …), or `<METHOD> <path>` for a REST call
    /// the proxy does not know.
    pub action: String,
    /// The account whose credentials signed it, once known.
    pub account: Option<String>,
    pub method: String,
    pub path: String,
    /// `true` when an SSM call asked for decrypted values.
    pub with_decryption: bool,
    /// A fingerprint of the request (credentials, method, path, query, body): the same request sent
    /// twice (a retry, or a repeated call) has the same one.
    pub fingerprint: String,
    /// The fault injected instead of forwarding, if any.
    pub fault: Option<String>,
    pub status: u16,
    /// Milliseconds since the proxy started, when the request arrived and when it was answered.
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The requests an endpoint (the proxy, the replaying endpoint) saw, kept for the tests and the
/// benchmarks to count.
#[derive(Debug, Default)]
pub(crate) struct CallLog(Mutex<Vec<Call>>);

impl CallLog {
    pub(crate) fn push(&self, call: Call) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(call);
        }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn sorted(&self) -> Vec<Call> {
        let mut calls = self.0.lock().map(|c| c.clone()).unwrap_or_default();
        calls.sort_by_key(|c| c.start_ms);
        calls
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut c) = self.0.lock() {
            c.clear();
        }
    }
}

/// The accounts a proxy's IAM Identity Center answers for; empty until set.
#[derive(Debug, Clone, Default)]
pub struct SignInDirectory(Arc<std::sync::RwLock<Option<Arc<crate::sso::Directory>>>>);

impl SignInDirectory {
    pub fn set(&self, directory: crate::sso::Directory) {
        if let Ok(mut d) = self.0.write() {
            *d = Some(Arc::new(directory));
        }
    }

    fn get(&self) -> Option<Arc<crate::sso::Directory>> {
        self.0.read().ok().and_then(|d| d.clone())
    }
}

struct State {
    upstream: String,
    opts: ProxyOptions,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    calls: CallLog,
    accounts: Mutex<HashMap<String, String>>,
    uses: Mutex<HashMap<String, usize>>,
    /// Accounts whose credentials expired while the proxy ran ([`Proxy::expire`]).
    expired: Mutex<std::collections::HashSet<String>>,
    choices: crate::loopback::Choices,
    started: Instant,
    /// The proxy's own address (the sign-in page's URL names it).
    endpoint: String,
    sessions: crate::sso::Sessions,
    /// The accounts IAM Identity Center answers for: `opts.sso`, or set once the organization is
    /// seeded through this proxy ([`Proxy::answer_sign_in`]).
    directory: SignInDirectory,
    /// Who may read the organization's accounts, learned from the answers that pass through.
    org: Mutex<OrgAdmins>,
    /// Every exchange, when recording.
    exchanges: Mutex<Vec<crate::recording::Exchange>>,
    /// Who each access key is (account and principal), learnt from STS answers or asked of the
    /// emulator.
    callers: Mutex<HashMap<String, crate::trail::Caller>>,
    /// The write calls forwarded: CloudTrail's event history, which the emulator lacks.
    trail: crate::trail::Trail,
}

/// The organization's management account and delegated administrators, as the proxy has seen
/// them: moto answers the Organizations API to any account, AWS only to these.
#[derive(Debug, Default)]
struct OrgAdmins {
    /// The organization's id (`o-…`).
    id: Option<String>,
    management: Option<String>,
    /// Each delegated administrator with the service principals it administers for.
    delegated: HashMap<String, std::collections::BTreeSet<String>>,
}

impl State {
    fn random(&self) -> f64 {
        self.choices.next()
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub endpoint: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:<port>`).
    pub async fn start(upstream: &str, opts: ProxyOptions) -> Result<Proxy, Error> {
        let f = &opts.faults;
        if opts.record && f.throttle + f.server_error + f.reset + f.slow > 0.0 {
            return Err(Error::Sandbox(
                "a recording proxy injects no random faults: its recording would replay them"
                    .to_owned(),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("binding the proxy to a loopback port", e))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the proxy's port", e))?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        let seed = opts.seed.max(1);
        let directory = SignInDirectory::default();
        if let Some(dir) = &opts.sso {
            directory.set(dir.clone());
        }
        let state = Arc::new(State {
            directory,
            upstream: upstream.trim_end_matches('/').to_owned(),
            opts,
            client,
            calls: CallLog::default(),
            accounts: Mutex::new(HashMap::new()),
            uses: Mutex::new(HashMap::new()),
            expired: Mutex::new(std::collections::HashSet::new()),
            choices: crate::loopback::Choices::new(seed),
            started: Instant::now(),
            endpoint: format!("http://{addr}"),
            sessions: crate::sso::Sessions::default(),
            org: Mutex::default(),
            exchanges: Mutex::default(),
            callers: Mutex::default(),
            trail: crate::trail::Trail::default(),
        });
        let task = crate::loopback::serve(listener, state.clone(), dispatch);
        Ok(Proxy {
            endpoint: format!("http://{addr}"),
            state,
            task,
        })
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.sorted()
    }

    /// Forgets the requests (and, when recording, the exchanges) seen so far.
    pub fn clear(&self) {
        self.state.calls.clear();
        if let Ok(mut e) = self.state.exchanges.lock() {
            e.clear();
        }
    }

    /// From now on every request with `account`'s credentials is answered as AWS answers an
    /// expired session token (a sign-in that lapsed while the caller works).
    pub fn expire(&self, account: &str) {
        if let Ok(mut expired) = self.state.expired.lock() {
            expired.insert(account.to_owned());
        }
    }

    /// Where IAM Identity Center's accounts are set once they are known: a proxy started before the
    /// organization is seeded (so that the seeding is recorded) answers sign-ins from then on.
    pub fn sign_in_directory(&self) -> SignInDirectory {
        self.state.directory.clone()
    }

    /// Approves the sign-in waiting with `user_code`, as the user would on AWS's page.
    pub fn approve(&self, user_code: &str) -> bool {
        self.state.sessions.approve(user_code)
    }

    /// Every IAM Identity Center access token issued so far lapses now.
    pub fn expire_sign_ins(&self) {
        self.state.sessions.expire_all();
    }

    /// Every request and answer so far (when started with `record`), with the account each
    /// access key acted for.
    pub fn recording(&self) -> crate::recording::Recording {
        let mut exchanges = self
            .state
            .exchanges
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        exchanges.sort_by_key(|e| e.start_ms);
        crate::recording::Recording {
            exchanges,
            accounts: self.accounts().into_iter().collect(),
        }
    }

    /// The account each access key acts for, as learnt so far.
    pub fn accounts(&self) -> HashMap<String, String> {
        self.state
            .accounts
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }
}

/// Why a request was not forwarded; `Drop` closes the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault injector")
    }
}

impl std::error::Error for Dropped {}

/// How a service speaks: where its action is and how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `X-Amz-Target` + JSON body (SSM, Secrets Manager, KMS, DynamoDB, Organizations).
    Json,
    /// Form body with `Action=` (STS, IAM, CloudFormation); XML answers.
    Query,
    /// REST with JSON (Lambda, API Gateway).
    RestJson,
    /// REST with XML (S3).
    RestXml,
}

async fn dispatch(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    if state.opts.record {
        recorded(state, req).await
    } else {
        handle(state, req).await
    }
}

/// [`handle`], keeping the request and its answer.
async fn recorded(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let start_ms = state.ms();
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = header("authorization").unwrap_or_default();
    let scope = Scope::of(&auth);
    let target = header("x-amz-target");
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let answer = answer(state.clone(), parts, body.clone(), start_ms).await?;
    let (rparts, rbody) = answer.into_parts();
    let rbody = rbody.collect().await.map_err(|_| Dropped)?.to_bytes();
    let (_, action) = classify(
        &scope.service,
        &method,
        &path,
        &query,
        target.as_deref(),
        &body,
    );
    let kept = rparts
        .headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n == "content-type" || n.starts_with("x-amz")
        })
        .filter_map(|(name, v)| Some((name.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if let Ok(mut exchanges) = state.exchanges.lock() {
        exchanges.push(crate::recording::Exchange {
            access_key: scope.key,
            region: scope.region,
            service: scope.service,
            action,
            method,
            path,
            query,
            target,
            body: String::from_utf8_lossy(&body).into_owned(),
            status: rparts.status.as_u16(),
            headers: kept,
            answer: String::from_utf8_lossy(&rbody).into_owned(),
            start_ms,
            end_ms: state.ms(),
        });
    }
    Ok(Response::from_parts(rparts, Full::new(rbody)))
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let start_ms = state.ms();
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    answer(state, parts, body, start_ms).await
}

async fn answer(
    state: Arc<State>,
    parts: hyper::http::request::Parts,
    body: Bytes,
    start_ms: u64,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let auth = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Scope {
        key,
        service,
        region,
    } = Scope::of(auth);
    let user_agent = parts
        .headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let method = parts.method.as_str().to_owned();
    if let Some(dir) = state
        .directory
        .get()
        .filter(|_| crate::sso::is_sso(&path, key.is_some()))
    {
        return Ok(identity_center(&state, &dir, &parts, &path, &query, &body).await);
    }
    let (protocol, action) = classify(&service, &method, &path, &query, target.as_deref(), &body);
    let with_decryption = service == "ssm"
        && serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("WithDecryption").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
    let account = key
        .as_ref()
        .and_then(|k| state.accounts.lock().ok().and_then(|a| a.get(k).cloned()));
    let fingerprint = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for part in [
            key.as_deref().unwrap_or_default().as_bytes(),
            method.as_bytes(),
            path.as_bytes(),
            query.as_bytes(),
            target.as_deref().unwrap_or_default().as_bytes(),
            &body,
        ] {
            h.update(part);
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    };
    let record = |fault: Option<&str>, status: u16| {
        state.calls.push(Call {
            service: service.clone(),
            action: action.clone(),
            account: account.clone(),
            method: method.clone(),
            path: path.clone(),
            with_decryption,
            fingerprint: fingerprint.clone(),
            fault: fault.map(str::to_owned),
            status,
            start_ms,
            end_ms: state.ms(),
        });
    };

    // Round-trip latency, as a far-away endpoint would add.
    let opts = &state.opts;
    let jitter = opts.jitter.mul_f64(state.random());
    if !(opts.latency + jitter).is_zero() {
        tokio::time::sleep(opts.latency + jitter).await;
    }

    let faults = &opts.faults;
    let aws_now = faults
        .clock_ahead
        .map(|ahead| time::OffsetDateTime::now_utc() + time::Duration::seconds(ahead));
    if let (Some(aws_now), false) = (aws_now, path.starts_with("/moto-api")) {
        let signed = parts
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| time::PrimitiveDateTime::parse(v, AMZ_DATE).ok())
            .map(time::PrimitiveDateTime::assume_utc);
        if let Some(signed) = signed {
            if let Some(refused) = skewed(protocol, signed, aws_now) {
                record(Some("clock_skew"), refused.status().as_u16());
                return Ok(dated(refused, Some(aws_now)));
            }
        }
    }
    if let Some(acct) = &account {
        if faults.failing_accounts.contains(acct) {
            record(Some("unreachable"), 0);
            return Err(Dropped);
        }
        if faults.black_holed_accounts.contains(acct) {
            record(Some("black_holed"), 0);
            std::future::pending::<()>().await;
        }
        if state.expired.lock().is_ok_and(|e| e.contains(acct)) {
            record(Some("expired"), 403);
            return Ok(error_response(protocol, Fault::Expired));
        }
        if let Some((expiring, after)) = &faults.expire_after {
            if expiring == acct {
                let n = state
                    .uses
                    .lock()
                    .map(|mut u| {
                        let n = u.entry(acct.clone()).or_insert(0);
                        *n += 1;
                        *n
                    })
                    .unwrap_or(0);
                if n > *after {
                    record(Some("expired"), 403);
                    return Ok(error_response(protocol, Fault::Expired));
                }
            }
        }
    }
    if service == "organizations" {
        if let Some(refused) = organizations_refusal(&state, account.as_deref(), &action) {
            record(Some("not_an_administrator"), 400);
            return Ok(refused);
        }
    }
    if faults.denied.contains(&iam_action(&service, &action)) {
        record(Some("denied"), Fault::Denied.status(protocol));
        return Ok(error_response(protocol, Fault::Denied));
    }
    // Never fault the calls that teach the proxy who is who, nor the emulator's own API.
    let teaches = service == "sts" && account.is_none();
    let faultable = !(path.starts_with("/moto-api") || teaches);
    let mut slowed = false;
    if faultable {
        let roll = state.random();
        let mut edge = faults.throttle;
        if roll < edge {
            record(Some("throttle"), Fault::Throttle.status(protocol));
            return Ok(error_response(protocol, Fault::Throttle));
        }
        edge += faults.server_error;
        if roll < edge {
            record(Some("server_error"), 503);
            return Ok(error_response(protocol, Fault::ServerError));
        }
        edge += faults.reset;
        if roll < edge {
            record(Some("reset"), 0);
            return Err(Dropped);
        }
        edge += faults.slow;
        if roll < edge {
            slowed = true;
            tokio::time::sleep(faults.slow_by).await;
        }
    }

    let now = aws_now.unwrap_or_else(time::OffsetDateTime::now_utc);
    if service == "cloudtrail" && action == "LookupEvents" {
        let caller = match key.as_deref() {
            Some(k) => caller_of(&state, k).await,
            None => None,
        };
        let Some(caller) = caller else {
            record(Some("unknown_caller"), 400);
            return Ok(coded_error(
                protocol,
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        let answer = answered(
            protocol,
            state.trail.lookup(&caller.account, &region, &body, now),
        );
        record(None, answer.status().as_u16());
        return Ok(dated(answer, aws_now));
    }

    if service == "logs" && action == "FilterLogEvents" {
        // An organization trail's log group: its events are the proxy's (the emulator's trails
        // deliver nothing).
        let caller = match key.as_deref() {
            Some(k) => caller_of(&state, k).await,
            None => None,
        };
        let organization = state
            .org
            .lock()
            .ok()
            .and_then(|o| o.id.clone())
            .unwrap_or_default();
        let trails = match (key.as_deref(), &caller) {
            (Some(k), Some(_)) => org_trails(&state, k, &region).await,
            _ => Vec::new(),
        };
        if let Some(answer) = caller.and_then(|c| {
            state
                .trail
                .filter(&trails, &c.account, &region, &organization, &body)
        }) {
            let answer = answered(protocol, answer);
            record(None, answer.status().as_u16());
            return Ok(dated(answer, aws_now));
        }
    }

    let uri = format!(
        "{}{}",
        state.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut upstream = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let Ok(upstream) = upstream.body(Full::new(body.clone())) else {
        record(Some("bad_request"), 0);
        return Err(Dropped);
    };
    let answer = match state.client.request(upstream).await {
        Ok(a) => a,
        Err(_) => {
            record(Some("upstream_unreachable"), 502);
            return Ok(plain(
                StatusCode::BAD_GATEWAY,
                "the emulator did not answer",
            ));
        }
    };
    let (rparts, rbody) = answer.into_parts();
    let rbody = rbody.collect().await.map_err(|_| Dropped)?.to_bytes();
    if service == "sts" && action == "AssumeRole" && rparts.status.is_success() {
        if let Some(refused) = missing_role(&state, account.as_deref(), &body, &rbody).await {
            record(Some("no_such_role"), 403);
            return Ok(refused);
        }
    }
    if service == "sts" && rparts.status.is_success() {
        learn_accounts(&state, key.as_deref(), &action, &rbody);
    }
    if service == "organizations" && rparts.status.is_success() {
        learn_administrators(&state, &action, &body, &rbody);
    }
    if rparts.status.is_success() && crate::trail::writes(&service, &action, &method) {
        if let Some(k) = key.as_deref() {
            if let Some(caller) = caller_of(&state, k).await {
                state.trail.record(&crate::trail::Write {
                    caller: &caller,
                    access_key: k,
                    region: &region,
                    service: &service,
                    action: &action,
                    encoding: match protocol {
                        Protocol::Json | Protocol::RestJson => crate::trail::Encoding::Json,
                        Protocol::Query => crate::trail::Encoding::Form,
                        Protocol::RestXml => crate::trail::Encoding::Other,
                    },
                    method: &method,
                    path: &path,
                    query: &query,
                    body: &body,
                    user_agent: &user_agent,
                    at: now,
                });
            }
        }
    }
    record(slowed.then_some("slow"), rparts.status.as_u16());
    Ok(dated(
        Response::from_parts(rparts, Full::new(rbody)),
        aws_now,
    ))
}

/// An IAM Identity Center request, answered here; role credentials are assumed from the emulator.
async fn identity_center(
    state: &State,
    dir: &crate::sso::Directory,
    parts: &hyper::http::request::Parts,
    path: &str,
    query: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    use crate::sso::{self, Answer};
    let start_ms = state.ms();
    let bearer = parts
        .headers
        .get("x-amz-sso_bearer_token")
        .and_then(|v| v.to_str().ok());
    let asked = sso::Asked {
        method: parts.method.as_str(),
        path,
        query,
        bearer,
        body,
        endpoint: &state.endpoint,
    };
    let answer = match sso::answer(dir, &state.sessions, &asked) {
        Answer::Ready(r) => r,
        Answer::AssumeRole { role_arn, session } => {
            let form = format!(
                "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={session}&DurationSeconds=3600",
                role_arn.replace(':', "%3A").replace('/', "%2F")
            );
            let upstream = Request::builder()
                .method("POST")
                .uri(format!("{}/", state.upstream))
                .header(
                    hyper::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(
                    hyper::header::AUTHORIZATION,
                    "AWS4-HMAC-SHA256 Credential=AKIASANDBOXPORTAL000/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(Full::new(Bytes::from(form)));
            let assumed = match upstream {
                Ok(req) => match state.client.request(req).await {
                    Ok(a) if a.status().is_success() => a.into_body().collect().await.ok(),
                    _ => None,
                },
                Err(_) => None,
            };
            let xml = assumed
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            learn_accounts(state, None, "AssumeRole", xml.as_bytes());
            sso::role_credentials(&xml).unwrap_or_else(|| {
                coded_error(
                    Protocol::RestJson,
                    500,
                    "InternalServerException",
                    "the emulator's STS did not assume the permission set's role",
                )
            })
        }
    };
    state.calls.push(Call {
        service: if path.starts_with("/assignment")
            || path.starts_with("/federation")
            || path == "/logout"
        {
            "sso".into()
        } else {
            "sso-oidc".into()
        },
        action: sso::action(path).into(),
        account: None,
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        with_decryption: false,
        fingerprint: String::new(),
        fault: None,
        status: answer.status().as_u16(),
        start_ms,
        end_ms: state.ms(),
    });
    answer
}

/// `x-amz-date`'s shape: `20261202T213342Z`.
const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// Sets the answer's `Date` to AWS's time (the SDK measures the skew from it).
fn dated(
    mut r: Response<Full<Bytes>>,
    aws_now: Option<time::OffsetDateTime>,
) -> Response<Full<Bytes>> {
    const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    if let Some(date) = aws_now.and_then(|t| t.format(HTTP_DATE).ok()) {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&date) {
            r.headers_mut().insert(hyper::header::DATE, v);
        }
    }
    r
}

/// AWS's refusal of a request signed at `signed` when its clock says `aws_now`, if it is refused:
/// S3 allows 15 minutes and says `RequestTimeTooSkewed`; the others allow 5 and say the
/// signature expired (or is not yet current).
fn skewed(
    protocol: Protocol,
    signed: time::OffsetDateTime,
    aws_now: time::OffsetDateTime,
) -> Option<Response<Full<Bytes>>> {
    let off = (signed - aws_now).abs();
    let stamp = |t: time::OffsetDateTime| t.format(AMZ_DATE).unwrap_or_default();
    if protocol == Protocol::RestXml {
        return (off > time::Duration::minutes(15)).then(|| {
            coded_error(
                protocol,
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        });
    }
    if off <= time::Duration::minutes(5) {
        return None;
    }
    let message = if signed < aws_now {
        format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            stamp(signed),
            stamp(aws_now - time::Duration::minutes(5)),
            stamp(aws_now)
        )
    } else {
        format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            stamp(signed),
            stamp(aws_now + time::Duration::minutes(5)),
            stamp(aws_now)
        )
    };
    let (status, code) = match protocol {
        Protocol::Query => (403, "SignatureDoesNotMatch"),
        Protocol::RestJson => (403, "InvalidSignatureException"),
        _ => (400, "InvalidSignatureException"),
    };
    Some(coded_error(protocol, status, code, &message))
}

/// An answer the proxy gives itself (the trail's): its JSON, or the refusal in the protocol's shape.
fn answered(
    protocol: Protocol,
    answer: Result<String, crate::trail::Refusal>,
) -> Response<Full<Bytes>> {
    match answer {
        Ok(json) => {
            let mut r = Response::new(Full::new(Bytes::from(json)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
        Err((code, message)) => coded_error(protocol, 400, code, &message),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r
}

/// What a SigV4 `Authorization` header's credential scope names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub key: Option<String>,
    pub region: String,
    /// The signing name (`ssm`, `apigateway`, …), or `unsigned`.
    pub service: String,
}

impl Scope {
    pub(crate) fn of(auth: &str) -> Scope {
        let Some(cred) = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split([',', ' ']).next())
        else {
            return Scope {
                key: None,
                region: String::new(),
                service: "unsigned".into(),
            };
        };
        let parts: Vec<&str> = cred.split('/').collect();
        Scope {
            key: parts.first().map(|k| (*k).to_owned()),
            region: parts.get(2).copied().unwrap_or_default().to_owned(),
            service: parts.get(3).copied().unwrap_or("unknown").to_owned(),
        }
    }
}

/// A Query-protocol request of the proxy's own to the emulator, made as the holder of `key` (the
/// emulator checks no signature, only whose key it is).
async fn ask_emulator(
    state: &State,
    key: &str,
    service: &str,
    form: String,
) -> Option<Response<Incoming>> {
    let probe = Request::builder()
        .method("POST")
        .uri(format!("{}/", state.upstream))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .body(Full::new(Bytes::from(form)))
        .ok()?;
    state.client.request(probe).await.ok()
}

/// AWS's refusal of an `AssumeRole` into a role that does not exist, which moto grants: the
/// proxy asks the emulator for the role (`iam:GetRole`, with the keys just issued, which moto
/// attributes to the role's account) and answers as AWS does when it is missing.
async fn missing_role(
    state: &State,
    caller: Option<&str>,
    request: &[u8],
    answer: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let role_arn = form_urlencoded::parse(request)
        .find_map(|(k, v)| (k == "RoleArn").then(|| v.into_owned()))?;
    let role_name = role_arn.rsplit('/').next()?.to_owned();
    let text = String::from_utf8_lossy(answer);
    let key = text
        .split("<AccessKeyId>")
        .nth(1)?
        .split("</AccessKeyId>")
        .next()?
        .trim()
        .to_owned();
    let found = ask_emulator(
        state,
        &key,
        "iam",
        format!("Action=GetRole&Version=2010-05-08&RoleName={role_name}"),
    )
    .await?;
    if found.status() != StatusCode::NOT_FOUND {
        return None;
    }
    let who = caller.map_or_else(
        || "the caller".to_owned(),
        |a| format!("a principal of account {a}"),
    );
    Some(coded_error(
        Protocol::Query,
        403,
        "AccessDenied",
        &format!(
            "User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        ),
    ))
}

/// Learns which account an access key acts for from STS answers.
fn learn_accounts(state: &State, signing_key: Option<&str>, action: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_owned())
    };
    let learnt = match action {
        // arn:aws:sts::<account>:assumed-role/…
        "AssumeRole" => tag("AccessKeyId").zip(tag("Arn")).and_then(|(key, arn)| {
            let account = arn.split(':').nth(4).filter(|a| !a.is_empty())?.to_owned();
            Some((key, crate::trail::Caller { account, arn }))
        }),
        "GetCallerIdentity" => signing_key.zip(tag("Account")).map(|(key, account)| {
            let arn = tag("Arn").unwrap_or_else(|| format!("arn:aws:iam::{account}:root"));
            (key.to_owned(), crate::trail::Caller { account, arn })
        }),
        _ => None,
    };
    let Some((key, caller)) = learnt else {
        return;
    };
    if let Ok(mut accounts) = state.accounts.lock() {
        accounts.insert(key.clone(), caller.account.clone());
    }
    if let Ok(mut callers) = state.callers.lock() {
        callers.insert(key, caller);
    }
}

/// Who signed with `key`: learnt from the STS answers that passed through, else asked of the
/// emulator (`GetCallerIdentity` with that key; the emulator checks no signature).
async fn caller_of(state: &State, key: &str) -> Option<crate::trail::Caller> {
    if let Some(c) = state.callers.lock().ok()?.get(key).cloned() {
        return Some(c);
    }
    let answer = ask_emulator(
        state,
        key,
        "sts",
        "Action=GetCallerIdentity&Version=2011-06-15".to_owned(),
    )
    .await?;
    if !answer.status().is_success() {
        return None;
    }
    let body = answer.into_body().collect().await.ok()?.to_bytes();
    learn_accounts(state, Some(key), "GetCallerIdentity", &body);
    state.callers.lock().ok()?.get(key).cloned()
}

/// The emulator's trails in the caller's account (`DescribeTrails` with the shadow trails, then
/// each one's `GetTrailStatus`), as the emulator keeps them: which deliver to a log group, and
/// when they logged.
async fn org_trails(state: &State, key: &str, region: &str) -> Vec<crate::trail::TrailSetup> {
    let ask = |action: &'static str, body: String| async move {
        let request = Request::builder()
            .method("POST")
            .uri(format!("{}/", state.upstream))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                format!("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{action}"),
            )
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/cloudtrail/aws4_request, SignedHeaders=host, Signature=0"
                ),
            )
            .body(Full::new(Bytes::from(body)))
            .ok()?;
        let answer = state.client.request(request).await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let body = answer.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice::<serde_json::Value>(&body).ok()
    };
    let Some(trails) = ask(
        "DescribeTrails",
        r#"{"includeShadowTrails":true}"#.to_owned(),
    )
    .await
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in trails["trailList"].as_array().into_iter().flatten() {
        let Some(arn) = t["TrailARN"].as_str() else {
            continue;
        };
        let status = ask(
            "GetTrailStatus",
            serde_json::json!({ "Name": arn }).to_string(),
        )
        .await
        .unwrap_or_default();
        if let Some(setup) = crate::trail::TrailSetup::of(t, &status) {
            out.push(setup);
        }
    }
    out
}

/// Organizations actions any member account may call; every other one AWS answers only to the
/// management account, or (the reads) to a delegated administrator.
const ORGANIZATIONS_FOR_MEMBERS: &[&str] = &[
    "DescribeOrganization",
    "LeaveOrganization",
    "AcceptHandshake",
    "DeclineHandshake",
    "DescribeHandshake",
    "ListHandshakesForAccount",
    "DescribeEffectivePolicy",
    "DescribeResourcePolicy",
];

/// AWS's answer to a member account calling an Organizations action it may not (the emulator
/// answers every account): `AccessDeniedException`, as AWS Organizations returns it. Nothing is
/// refused before the proxy has seen who the management account is.
fn organizations_refusal(
    state: &State,
    account: Option<&str>,
    action: &str,
) -> Option<Response<Full<Bytes>>> {
    let account = account?;
    if ORGANIZATIONS_FOR_MEMBERS.contains(&action) {
        return None;
    }
    let org = state.org.lock().ok()?;
    let management = org.management.as_deref()?;
    let reads = action.starts_with("List") || action.starts_with("Describe");
    let delegated = org.delegated.get(account).is_some_and(|s| !s.is_empty());
    if account == management || (reads && delegated) {
        return None;
    }
    Some(coded_error(
        Protocol::Json,
        400,
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    ))
}

/// Learns the management account and the delegated administrators from Organizations traffic.
fn learn_administrators(state: &State, action: &str, request: &[u8], answer: &[u8]) {
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap_or_default();
    let Ok(mut org) = state.org.lock() else {
        return;
    };
    match action {
        "DescribeOrganization" | "CreateOrganization" => {
            let answer = json(answer);
            if let Some(id) = answer["Organization"]["MasterAccountId"].as_str() {
                org.management = Some(id.to_owned());
            }
            if let Some(id) = answer["Organization"]["Id"].as_str() {
                org.id = Some(id.to_owned());
            }
        }
        "RegisterDelegatedAdministrator" | "DeregisterDelegatedAdministrator" => {
            let request = json(request);
            let (Some(id), Some(service)) = (
                request["AccountId"].as_str(),
                request["ServicePrincipal"].as_str(),
            ) else {
                return;
            };
            let services = org.delegated.entry(id.to_owned()).or_default();
            if action.starts_with("Register") {
                services.insert(service.to_owned());
            } else {
                services.remove(service);
            }
        }
        "ListDelegatedAdministrators" => {
            let service = json(request)["ServicePrincipal"]
                .as_str()
                .unwrap_or("(some service)")
                .to_owned();
            let answer = json(answer);
            let ids = answer["DelegatedAdministrators"].as_array().cloned();
            for admin in ids.unwrap_or_default() {
                if let Some(id) = admin["Id"].as_str() {
                    org.delegated
                        .entry(id.to_owned())
                        .or_default()
                        .insert(service.clone());
                }
            }
        }
        _ => {}
    }
}

/// The protocol and action of a request.
pub(crate) fn classify(
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    target: Option<&str>,
    body: &[u8],
) -> (Protocol, String) {
    if let Some(t) = target {
        return (Protocol::Json, t.rsplit('.').next().unwrap_or(t).to_owned());
    }
    if matches!(service, "sts" | "iam" | "cloudformation" | "sqs" | "sns") {
        let form = if method == "GET" {
            query.as_bytes()
        } else {
            body
        };
        let action = String::from_utf8_lossy(form)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("")
            .to_owned();
        return (Protocol::Query, action);
    }
    if service == "s3" {
        return (Protocol::RestXml, s3_action(method, path, query));
    }
    (
        Protocol::RestJson,
        rest_action(method, path).unwrap_or_else(|| format!("{method} {path}")),
    )
}

/// Lambda and API Gateway (v1 and v2 sign as `apigateway`) actions by method and path shape.
fn rest_action(method: &str, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segs.as_slice()) {
        // Lambda
        ("GET", ["2015-03-31", "functions"]) => "ListFunctions",
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        ("GET", ["2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("GET", ["2015-03-31", "functions", _, "policy"]) => "GetPolicy",
        ("GET", ["2015-03-31", "functions", _, "aliases"]) => "ListAliases",
        ("GET", ["2015-03-31", "functions", _, "versions"]) => "ListVersionsByFunction",
        ("GET", ["2015-03-31", "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", ["2017-03-31", "tags", ..]) => "ListTags",
        ("GET", ["2016-08-19", "account-settings"]) => "GetAccountSettings",
        ("GET", ["2019-09-30", "functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
        ("DELETE", ["2015-03-31", "functions", _]) => "DeleteFunction",
        ("PUT", ["2015-03-31", "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("POST", ["2015-03-31", "functions", _, "policy"]) => "AddPermission",
        ("POST", ["2017-03-31", "tags", ..]) => "TagResource",
        ("DELETE", ["2017-03-31", "tags", ..]) => "UntagResource",
        // Account (REST-JSON, every action a POST to its name)
        ("POST", ["listRegions"]) => "ListRegions",
        // API Gateway v2
        ("GET", ["v2", "apis"]) => "GetApis",
        ("GET", ["v2", "apis", _]) => "GetApi",
        ("GET", ["v2", "apis", _, "routes"]) => "GetRoutes",
        ("GET", ["v2", "apis", _, "stages"]) => "GetStages",
        ("GET", ["v2", "apis", _, "integrations"]) => "GetIntegrations",
        ("GET", ["v2", "apis", _, "authorizers"]) => "GetAuthorizers",
        ("GET", ["v2", "domainnames"]) => "GetDomainNames",
        ("GET", ["v2", "domainnames", _, "apimappings"]) => "GetApiMappings",
        ("GET", ["v2", "tags", ..]) => "GetTags",
        // API Gateway v1
        ("GET", ["restapis"]) => "GetRestApis",
        ("GET", ["restapis", _]) => "GetRestApi",
        ("GET", ["restapis", _, "resources"]) => "GetResources",
        ("GET", ["restapis", _, "stages"]) => "GetStages",
        ("GET", ["restapis", _, "authorizers"]) => "GetAuthorizers",
        ("GET", ["restapis", _, "gatewayresponses"]) => "GetGatewayResponses",
        ("GET", ["restapis", _, "deployments"]) => "GetDeployments",
        ("GET", ["restapis", _, "resources", _, "methods", _]) => "GetMethod",
        ("GET", ["restapis", _, "resources", _, "methods", _, "integration"]) => "GetIntegration",
        ("GET", ["domainnames"]) => "GetDomainNames",
        ("GET", ["domainnames", _]) => "GetDomainName",
        ("GET", ["domainnames", _, "basepathmappings"]) => "GetBasePathMappings",
        ("GET", ["tags", ..]) => "GetTags",
        ("GET", ["apikeys"]) => "GetApiKeys",
        ("GET", ["usageplans"]) => "GetUsagePlans",
        ("POST", ["restapis"]) => "CreateRestApi",
        ("PATCH", ["restapis", _]) => "UpdateRestApi",
        ("DELETE", ["restapis", _]) => "DeleteRestApi",
        ("POST", ["restapis", _, "deployments"]) => "CreateDeployment",
        ("POST", ["v2", "apis"]) => "CreateApi",
        ("PATCH", ["v2", "apis", _]) => "UpdateApi",
        ("DELETE", ["v2", "apis", _]) => "DeleteApi",
        _ => return None,
    };
    Some(name.to_owned())
}

/// S3 actions (path-style addressing, as the SDK uses for a loopback endpoint).
fn s3_action(method: &str, path: &str, query: &str) -> String {
    let has = |k: &str| {
        query
            .split('&')
            .any(|kv| kv == k || kv.starts_with(&format!("{k}=")))
    };
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let name = match (method, segs.len()) {
        ("GET", 0) => "ListBuckets",
        ("HEAD", 1) => "HeadBucket",
        ("GET", 1) if has("tagging") => "GetBucketTagging",
        ("GET", 1) if has("location") => "GetBucketLocation",
        ("GET", 1) if has("versioning") => "GetBucketVersioning",
        ("GET", 1) if has("policy") => "GetBucketPolicy",
        ("GET", 1) if has("encryption") => "GetBucketEncryption",
        ("GET", 1) if has("list-type") => "ListObjectsV2",
        ("GET", 1) if has("versions") => "ListObjectVersions",
        ("GET", 1) => "ListObjects",
        ("GET", _) if has("tagging") => "GetObjectTagging",
        ("GET", _) => "GetObject",
        ("HEAD", _) => "HeadObject",
        ("PUT", 1) if has("tagging") => "PutBucketTagging",
        ("PUT", 1) if has("policy") => "PutBucketPolicy",
        ("PUT", 1) if has("encryption") => "PutBucketEncryption",
        ("PUT", 1) if has("versioning") => "PutBucketVersioning",
        ("PUT", 1) if has("publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", 1) if query.is_empty() => "CreateBucket",
        ("DELETE", 1) if has("tagging") => "DeleteBucketTagging",
        ("DELETE", 1) if has("policy") => "DeleteBucketPolicy",
        ("PUT" | "DELETE", 1) if !query.is_empty() => return format!("{method} {path}?{query}"),
        ("PUT", _) => "PutObject",
        ("DELETE", 1) if query.is_empty() => "DeleteBucket",
        ("DELETE", _) => "DeleteObject",
        ("POST", _) => "PostObject",
        _ => return format!("{method} {path}"),
    };
    name.to_owned()
}

/// The IAM action that permits `action` of `service` (as IAM policies name it).
pub fn iam_action(service: &str, action: &str) -> String {
    match (service, action) {
        // API Gateway (v1 and v2) is authorised by HTTP method on resource paths.
        ("apigateway", a) if a.starts_with("Get") => "apigateway:GET".to_owned(),
        ("s3", "ListBuckets") => "s3:ListAllMyBuckets".to_owned(),
        ("s3", "ListObjectsV2" | "ListObjects" | "HeadBucket") => "s3:ListBucket".to_owned(),
        ("s3", "HeadObject") => "s3:GetObject".to_owned(),
        // The Resource Groups Tagging API signs as `tagging`; IAM calls it `tag`.
        ("tagging", a) => format!("tag:{a}"),
        (s, a) => format!("{s}:{a}"),
    }
}

/// Whether a recorded call only reads: a `List`/`Describe`/`Get`/`Head` action (or the two STS calls
/// that reach an account, or CloudTrail's event history), a `GET`/`HEAD` for REST services, never a secret's value, never decryption.
pub fn is_read_only(call: &Call) -> bool {
    let reads = ["List", "Describe", "Get", "Head"]
        .iter()
        .any(|p| call.action.starts_with(p))
        || (call.service == "sts" && call.action == "AssumeRole")
        || (call.service == "cloudtrail" && call.action == "LookupEvents")
        || (call.service == "logs" && call.action == "FilterLogEvents");
    let rest_method_ok = match call.service.as_str() {
        "lambda" | "apigateway" | "s3" => matches!(call.method.as_str(), "GET" | "HEAD"),
        _ => true,
    };
    reads
        && rest_method_ok
        && call.action != "GetSecretValue"
        && !call.with_decryption
        && !(call.service == "kms" && call.action.contains("Decrypt"))
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Throttle,
    ServerError,
    Expired,
    Denied,
}

impl Fault {
    pub(crate) fn status(self, protocol: Protocol) -> u16 {
        match (self, protocol) {
            (Fault::Throttle, Protocol::RestJson) => 429,
            (Fault::Throttle, Protocol::RestXml) => 503,
            (Fault::Throttle, _) => 400,
            (Fault::ServerError, _) => 503,
            (Fault::Expired, Protocol::RestXml | Protocol::Query) => 400,
            (Fault::Expired, _) => 403,
            (Fault::Denied, _) => 403,
        }
    }
}

/// An error answer in the shape the SDK parses for `protocol`.
pub(crate) fn error_response(protocol: Protocol, fault: Fault) -> Response<Full<Bytes>> {
    let (code, message) = match (fault, protocol) {
        (Fault::Throttle, Protocol::Json) => ("ThrottlingException", "Rate exceeded"),
        (Fault::Throttle, Protocol::Query) => ("Throttling", "Rate exceeded"),
        (Fault::Throttle, Protocol::RestJson) => ("TooManyRequestsException", "Rate exceeded"),
        (Fault::Throttle, Protocol::RestXml) => ("SlowDown", "Please reduce your request rate."),
        (Fault::ServerError, _) => ("ServiceUnavailable", "Service is unavailable"),
        (Fault::Expired, Protocol::Json | Protocol::RestJson) => (
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        (Fault::Expired, _) => (
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        (Fault::Denied, Protocol::Json | Protocol::RestJson) => (
            "AccessDeniedException",
            "User is not authorized to perform this action (denied by the sandbox proxy)",
        ),
        (Fault::Denied, _) => (
            "AccessDenied",
            "User is not authorized to perform this action (denied by the sandbox proxy)",
        ),
    };
    coded_error(protocol, fault.status(protocol), code, message)
}

/// An error answer with `code` and `message` in the shape the SDK parses for `protocol`.
pub(crate) fn coded_error(
    protocol: Protocol,
    status: u16,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let (content_type, body) = match protocol {
        Protocol::Json | Protocol::RestJson => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::Query => (
            "text/xml",
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>stagecraft-proxy</RequestId></ErrorResponse>"),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>stagecraft-proxy</RequestId></Error>"),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    if protocol == Protocol::RestJson {
        if let Ok(v) = hyper::header::HeaderValue::from_str(code) {
            headers.insert("x-amzn-errortype", v);
        }
    }
    headers.insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("stagecraft-proxy"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_read_from_each_protocol() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261129/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            Scope::of(auth),
            Scope {
                key: Some("AKIAEXAMPLE".into()),
                region: "us-east-1".into(),
                service: "ssm".into()
            }
        );
        assert_eq!(
            classify(
                "ssm",
                "POST",
                "/",
                "",
                Some("AmazonSSM.DescribeParameters"),
                b"{}"
            )
            .1,
            "DescribeParameters"
        );
        assert_eq!(
            classify(
                "sts",
                "POST",
                "/",
                "",
                None,
                b"Action=AssumeRole&Version=2011-06-15"
            )
            .1,
            "AssumeRole"
        );
        assert_eq!(
            classify(
                "apigateway",
                "GET",
                "/restapis/abc/resources",
                "embed=methods",
                None,
                b""
            )
            .1,
            "GetResources"
        );
        assert_eq!(
            classify(
                "s3",
                "GET",
                "/state-bucket",
                "list-type=2&prefix=env%3A",
                None,
                b""
            )
            .1,
            "ListObjectsV2"
        );
        assert_eq!(
            classify(
                "lambda",
                "PUT",
                "/2015-03-31/functions/f/configuration",
                "",
                None,
                b""
            )
            .1,
            "UpdateFunctionConfiguration"
        );
        assert_eq!(
            classify(
                "lambda",
                "PUT",
                "/2015-03-31/functions/f/unheard-of",
                "",
                None,
                b""
            )
            .1,
            "PUT /2015-03-31/functions/f/unheard-of"
        );
    }
}
