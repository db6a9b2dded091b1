//! Pacing, so a scan reads about as fast as an account allows today instead of retrying into its
//! limits. AWS limits each API per account and region with a token bucket, at rates it publishes
//! for a few APIs and not for most, and an account's other clients (its deploys, its consoles)
//! share them: the rate left for a scan cannot be known before AWS throttles it.
//!
//! A [`Pacer`] spaces one API's calls once AWS has throttled one. Calls go unpaced until then. They
//! are then spaced at about half the rate AWS answered at over the last second (a token bucket's
//! burst, commonly twice its rate, is spent in that second); a later throttled call that was sent
//! at that pace sets it again from the rate measured (between half and nine tenths of what it was),
//! and two seconds without one quicken it by a twentieth. The tests below hold it to at most a
//! tenth of the calls throttled and a third more than the time the limit itself takes.
//!
//! Every AWS client of a scan is paced this way, per API ([`Paced`]: an interceptor that hands each
//! attempt its API's pacer, and the shared HTTPS client that waits for the pacer's turn before it
//! sends). What one account's API was found to allow is where the same API starts in the next
//! account, for five minutes ([`Learned`], one per HTTPS client): the accounts of one organization have the same quotas, and a scan reaches
//! hundreds of accounts in one process, so only the first few pay for finding the limit.
//! AWS Organizations' tag reads, answered by the management account for the whole organization,
//! are paced by [`Pacer::call`] with retries of its own.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The slowest pace: one call every two seconds.
const MIN_RATE: f64 = 0.5;
/// How far back answers count towards the rate AWS allows.
const MEASURED_OVER: Duration = Duration::from_secs(1);
/// How long the pace holds before it quickens.
const QUICKEN_AFTER: Duration = Duration::from_secs(2);

/// Spaces calls to the rate AWS answers at, once it has throttled one.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Calls a second; `None` until a call is throttled.
    rate: Option<f64>,
    /// The earliest start of the next call.
    next: Instant,
    /// When the rate last changed.
    changed: Instant,
    /// When each answer of the last [`MEASURED_OVER`] came.
    answers: VecDeque<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::starting_at(None)
    }
}

impl State {
    fn forget_before(&mut self, now: Instant) {
        while self
            .answers
            .front()
            .is_some_and(|t| now.duration_since(*t) > MEASURED_OVER)
        {
            self.answers.pop_front();
        }
    }
}

/// What a failed call deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// AWS throttled it.
    Throttled,
    /// Worth another try: a dropped connection, a timeout, a 5xx.
    Transient,
    /// Final: denied, invalid, missing.
    Final,
}

/// Throttled calls are tried this many times (the pace is down to the allowed rate long before).
const THROTTLED_ATTEMPTS: u32 = 12;
/// Other failures worth another try: this many attempts.
const TRANSIENT_ATTEMPTS: u32 = 3;

impl Pacer {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A few numbers, consistent after every update: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls a second, once AWS has throttled one.
    #[cfg(test)]
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    /// A pacer at `rate` calls a second from the start, or unpaced until a call is throttled.
    pub fn starting_at(rate: Option<f64>) -> Self {
        let now = Instant::now();
        Pacer {
            state: Mutex::new(State {
                rate: rate.map(|r| r.max(MIN_RATE)),
                next: now,
                changed: now,
                answers: VecDeque::new(),
            }),
        }
    }

    /// Books the next call's turn: now when unpaced, else the pace's next free slot.
    /// With `within`, a turn further off than that is set at `within` from now (the calls beyond
    /// it go together, and AWS's answer to them sets the pace).
    fn book(&self, within: Option<Duration>) -> Instant {
        let mut s = self.state();
        let now = Instant::now();
        let Some(rate) = s.rate else { return now };
        let mut at = s.next.max(now);
        if let Some(within) = within {
            at = at.min(now + within);
        }
        s.next = s.next.max(at + Duration::from_secs_f64(1.0 / rate));
        at
    }

    /// Waits for this call's turn, at most `within` when given; returns when that was.
    async fn turn(&self, within: Option<Duration>) -> Instant {
        let at = self.book(within);
        tokio::time::sleep_until(at).await;
        at
    }

    /// An answer came: it counts towards the measured rate, and two seconds after the pace last
    /// changed it quickens by a twentieth.
    fn answered(&self) {
        let now = Instant::now();
        let mut s = self.state();
        s.answers.push_back(now);
        s.forget_before(now);
        if let Some(rate) = s.rate {
            if now.duration_since(s.changed) >= QUICKEN_AFTER {
                s.rate = Some(rate * 1.05);
                s.changed = now;
            }
        }
    }

    /// AWS throttled a call sent at `sent`. The first time, the pace becomes about half the rate AWS
    /// answered at over the last second (that second holds the burst AWS allows before its refill
    /// rate, commonly twice the rate); after that, between half and nine tenths of what it was, as
    /// measured, and only for a call sent at the current pace (calls sent before it changed say
    /// nothing about it). The pace found is kept for the API's next account ([`Learned`]).
    fn throttled(&self, sent: Instant) -> Option<f64> {
        let now = Instant::now();
        let mut s = self.state();
        s.forget_before(now);
        let measured = 0.9 * s.answers.len() as f64;
        let rate = match s.rate {
            None => measured * 0.55,
            Some(_) if sent < s.changed => return None,
            Some(rate) => measured.clamp(0.5 * rate, 0.9 * rate),
        };
        let rate = rate.max(MIN_RATE);
        s.rate = Some(rate);
        s.changed = now;
        Some(rate)
    }

    /// Paced at `rate` from now, unless already paced.
    fn adopt(&self, rate: Option<f64>) {
        let mut s = self.state();
        if s.rate.is_none() {
            s.rate = rate;
        }
    }

    /// `call` in its turn, tried again after a backoff when it is throttled (up to
    /// [`THROTTLED_ATTEMPTS`] times) or fails transiently (up to [`TRANSIENT_ATTEMPTS`]).
    pub async fn call<T, E, F, Fut>(
        &self,
        mut call: F,
        judge: impl Fn(&E) -> Failure,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let (mut throttled, mut transient) = (0, 0);
        loop {
            let sent = self.turn(None).await;
            let e = match call().await {
                Ok(v) => {
                    self.answered();
                    return Ok(v);
                }
                Err(e) => e,
            };
            let again = match judge(&e) {
                Failure::Throttled => {
                    self.throttled(sent);
                    throttled += 1;
                    throttled < THROTTLED_ATTEMPTS
                }
                Failure::Transient => {
                    transient += 1;
                    transient < TRANSIENT_ATTEMPTS
                }
                Failure::Final => false,
            };
            if !again {
                return Err(e);
            }
            tokio::time::sleep(backoff(throttled + transient - 1)).await;
        }
    }
}

/// How long to wait before attempt `attempt + 2` (`attempt` from 0): jittered exponential backoff
/// from 200 ms, at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = (0.2 * 2f64.powi(attempt.min(16) as i32)).min(5.0);
    Duration::from_secs_f64(ceiling * (0.5 + fastrand::f64() / 2.0))
}

/// The longest an SDK call's attempt waits for its turn: the SDK's attempt timeout (30 s,
/// `credentials::timeouts`) counts the wait, and an attempt that timed out would be retried as a
/// failure.
const LONGEST_TURN_WAIT: Duration = Duration::from_secs(20);

/// An API, as the SDK names it: its service and operation.
type Api = (String, String);

/// How long what an API was found to allow is kept: an account's other clients come and go.
const LEARNED_FOR: Duration = Duration::from_secs(300);

/// What each API was found to allow, in calls a second, and when: the pace it fell to after AWS
/// last throttled it in any account reached through one HTTPS client (one [`crate::credentials::AwsEnv`]).
#[derive(Debug, Default)]
pub(crate) struct Learned(Mutex<HashMap<Api, (f64, Instant)>>);

impl Learned {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Api, (f64, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pace `api` was found at in the last [`LEARNED_FOR`].
    fn rate(&self, api: &Api) -> Option<f64> {
        self.map()
            .get(api)
            .filter(|(_, at)| at.elapsed() < LEARNED_FOR)
            .map(|(rate, _)| *rate)
    }

    fn found(&self, api: &Api, rate: f64) {
        self.map().insert(api.clone(), (rate, Instant::now()));
    }
}

/// Paces every call of one AWS client ([`crate::client!`] adds it to each): each attempt is handed
/// its API's pacer, whose turn the shared HTTPS client ([`PacedConnector`]) waits for, and each
/// answer tells the pacer whether AWS throttled it.
#[derive(Debug, Default)]
pub struct Paced {
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
}

/// One attempt: its API and pacer, and when the connector sent it and what its client learns.
#[derive(Debug, Clone)]
struct Ticket(Arc<Attempt>);

#[derive(Debug)]
struct Attempt {
    api: Api,
    pacer: Arc<Pacer>,
    sent: Mutex<Option<(Instant, Arc<Learned>)>>,
}

impl aws_smithy_types::config_bag::Storable for Ticket {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Paced {
    fn pacer(&self, operation: &str) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        pacers.entry(operation.to_owned()).or_default().clone()
    }
}

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

impl Intercept for Paced {
    fn name(&self) -> &'static str {
        "Paced"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_smithy_runtime_api::client::orchestrator::Metadata;
        let Some(api) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let ticket = Ticket(Arc::new(Attempt {
            api: (api.service().to_owned(), api.name().to_owned()),
            pacer: self.pacer(api.name()),
            sent: Mutex::new(None),
        }));
        context.request_mut().add_extension(ticket.clone());
        cfg.interceptor_state().store_put(ticket);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_smithy_runtime_api::client::retries::classifiers::{
            ClassifyRetry, RetryAction, RetryReason,
        };
        use aws_smithy_types::retry::ErrorKind;
        let Some(ticket) = cfg.load::<Ticket>() else {
            return Ok(());
        };
        let Attempt { api, pacer, sent } = &*ticket.0;
        let Some((sent, learned)) = sent.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return Ok(()); // never sent: failed before its turn came
        };
        let ctx = context.inner();
        if ctx.is_failed() {
            // As the SDK's retry strategy judges it.
            let mut action = RetryAction::NoActionIndicated;
            for classifier in components.retry_classifiers() {
                let next = classifier.classify_retry_v2(ctx, &action);
                if next != RetryAction::NoActionIndicated {
                    action = next;
                }
                if action == RetryAction::RetryForbidden {
                    break;
                }
            }
            if let RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) = action
            {
                if let Some(rate) = pacer.throttled(sent) {
                    learned.found(api, rate);
                }
            }
        } else {
            pacer.answered();
        }
        Ok(())
    }
}

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// The HTTPS connector, sending each paced attempt in its pacer's turn ([`Paced`]); an API not
/// yet throttled in this account starts at the pace another account found for it.
#[derive(Debug)]
pub(crate) struct PacedConnector {
    pub(crate) inner: SharedHttpConnector,
    pub(crate) learned: Arc<Learned>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(ticket) = request.extension::<Ticket>().cloned() else {
            return self.inner.call(request);
        };
        let (inner, learned) = (self.inner.clone(), self.learned.clone());
        HttpConnectorFuture::new(async move {
            let attempt = &*ticket.0;
            attempt.pacer.adopt(learned.rate(&attempt.api));
            let at = attempt.pacer.turn(Some(LONGEST_TURN_WAIT)).await;
            *attempt.sent.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, learned));
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::http::HttpConnector;
    use futures::stream::{self, StreamExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// AWS's limit as the replaying endpoint enforces it: a token bucket.
    #[derive(Debug)]
    struct Bucket {
        tokens: f64,
        at: Instant,
        rate: f64,
        burst: f64,
    }

    impl Bucket {
        fn admit(&mut self) -> bool {
            let now = Instant::now();
            let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    /// `n` calls, 8 at once, each taking `latency`, against a limit of `rate` a second; returns the
    /// throttled answers, the failed calls and the time taken.
    async fn against_a_limit(
        n: usize,
        rate: f64,
        burst: f64,
        latency: Duration,
    ) -> (usize, usize, Duration) {
        let pacer = Pacer::default();
        let bucket = Mutex::new(Bucket {
            tokens: burst,
            at: Instant::now(),
            rate,
            burst,
        });
        let throttled = AtomicUsize::new(0);
        let started = Instant::now();
        let results: Vec<Result<(), ()>> = stream::iter(0..n)
            .map(|_| {
                pacer.call(
                    || async {
                        tokio::time::sleep(latency).await;
                        if bucket.lock().expect("bucket").admit() {
                            Ok(())
                        } else {
                            throttled.fetch_add(1, Ordering::SeqCst);
                            Err(())
                        }
                    },
                    |_| Failure::Throttled,
                )
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        (throttled.load(Ordering::SeqCst), failed, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn unthrottled_calls_are_not_paced() {
        let (throttled, failed, took) =
            against_a_limit(51, 1000.0, 1000.0, Duration::from_millis(50)).await;
        assert_eq!((throttled, failed), (0, 0));
        // 51 calls, 8 at a time, 50 ms each: 7 waves.
        assert!(took <= Duration::from_millis(400), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn under_a_limit_every_call_succeeds_at_about_the_allowed_rate_with_few_throttled() {
        // An organization's tag reads at a quarter of 10 a second (burst 5), and at 10 a second
        // (burst 20), at 50 ms and at no latency.
        for (rate, burst) in [(2.5, 5.0), (10.0, 20.0)] {
            for latency in [Duration::from_millis(50), Duration::ZERO] {
                let n = 200;
                let (throttled, failed, took) = against_a_limit(n, rate, burst, latency).await;
                assert_eq!(failed, 0, "{rate}/s, {latency:?}");
                assert!(
                    throttled * 10 <= n,
                    "{throttled} of {n} calls throttled at {rate}/s, {latency:?}"
                );
                // The time the limit itself takes, and at most a third more.
                let floor = (n as f64 - burst) / rate;
                assert!(
                    took.as_secs_f64() <= floor * 1.35,
                    "{took:?} against {floor:.1} s at {rate}/s, {latency:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_failure_is_not_tried_again_and_transient_ones_are_tried_three_times() {
        let pacer = Pacer::default();
        let tries = AtomicUsize::new(0);
        let r: Result<(), &str> = pacer
            .call(
                || async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err("denied")
                },
                |_| Failure::Final,
            )
            .await;
        assert_eq!((r, tries.swap(0, Ordering::SeqCst)), (Err("denied"), 1));
        let r: Result<(), &str> = pacer
            .call(
                || async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err("reset")
                },
                |_| Failure::Transient,
            )
            .await;
        assert_eq!((r, tries.load(Ordering::SeqCst)), (Err("reset"), 3));
        assert_eq!(pacer.rate(), None, "nothing was throttled");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..30 {
            let d = backoff(attempt).as_secs_f64();
            let ceiling = (0.2 * 2f64.powi(attempt.min(16) as i32)).min(5.0);
            assert!(d >= ceiling / 2.0 && d <= ceiling, "{attempt}: {d}");
        }
    }

    /// An AWS API limited as AWS limits it (a token bucket), answering SSM's `DescribeParameters`
    /// or `ThrottlingException`, as the HTTPS connector an SDK client sends through.
    #[derive(Debug)]
    struct Limited {
        bucket: Arc<Mutex<Bucket>>,
        throttled: Arc<AtomicUsize>,
        latency: Duration,
        /// Attempts the SDK made, each counted as it is handed to the pacing connector.
        attempts: Arc<AtomicUsize>,
    }

    impl HttpConnector for Limited {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            use aws_smithy_runtime_api::http::{Response, StatusCode};
            use aws_smithy_types::body::SdkBody;
            let (bucket, throttled, latency) =
                (self.bucket.clone(), self.throttled.clone(), self.latency);
            HttpConnectorFuture::new(async move {
                tokio::time::sleep(latency / 2).await;
                let admitted = bucket.lock().expect("bucket").admit();
                tokio::time::sleep(latency / 2).await;
                let (status, body) = if admitted {
                    (200, r#"{"Parameters":[]}"#)
                } else {
                    throttled.fetch_add(1, Ordering::SeqCst);
                    (
                        400,
                        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                    )
                };
                let mut response = Response::new(
                    StatusCode::try_from(status).expect("status"),
                    SdkBody::from(body),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.1");
                Ok(response)
            })
        }
    }

    #[derive(Debug)]
    struct Through(Arc<Limited>, Arc<Learned>);

    impl aws_smithy_runtime_api::client::http::HttpClient for Through {
        fn http_connector(
            &self,
            _: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(Attempts(
                self.0.attempts.clone(),
                SharedHttpConnector::new(PacedConnector {
                    inner: SharedHttpConnector::new(LimitedRef(self.0.clone())),
                    learned: self.1.clone(),
                }),
            ))
        }
    }

    #[derive(Debug)]
    struct Attempts(Arc<AtomicUsize>, SharedHttpConnector);

    impl HttpConnector for Attempts {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.call(request)
        }
    }

    #[derive(Debug)]
    struct LimitedRef(Arc<Limited>);

    impl HttpConnector for LimitedRef {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.0.call(request)
        }
    }

    /// An account's API: `rate` a second, burst `burst`, reached by a client of the scan's kind.
    fn account(
        rate: f64,
        burst: f64,
        learned: &Arc<Learned>,
    ) -> (aws_sdk_ssm::Client, Arc<AtomicUsize>) {
        let (client, limited) = account_with(rate, burst, learned);
        (client, limited.throttled.clone())
    }

    /// [`account`], with the endpoint itself: what it throttled and how many attempts reached it.
    fn account_with(
        rate: f64,
        burst: f64,
        learned: &Arc<Learned>,
    ) -> (aws_sdk_ssm::Client, Arc<Limited>) {
        let limited = Arc::new(Limited {
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
                rate,
                burst,
            })),
            throttled: Arc::new(AtomicUsize::new(0)),
            latency: Duration::from_millis(50),
            attempts: Arc::new(AtomicUsize::new(0)),
        });
        let config = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "AKIDTEST", "secret", None, None, "test",
                    ),
                ),
            )
            .http_client(aws_smithy_runtime_api::client::http::SharedHttpClient::new(
                Through(limited.clone(), learned.clone()),
            ))
            .retry_config(crate::credentials::retries())
            .stalled_stream_protection(crate::credentials::stalled_streams())
            .build();
        (crate::client!(aws_sdk_ssm, &config), limited)
    }

    /// `n` reads of one API, 8 at once, as a collector makes them; how many failed.
    async fn reads(client: &aws_sdk_ssm::Client, n: usize) -> usize {
        reads_at_once(client, n, 8).await
    }

    async fn reads_at_once(client: &aws_sdk_ssm::Client, n: usize, at_once: usize) -> usize {
        stream::iter(0..n)
            .map(|_| client.describe_parameters().send())
            .buffer_unordered(at_once)
            .collect::<Vec<_>>()
            .await
            .iter()
            .filter(|r| r.is_err())
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn every_client_paces_an_api_once_throttled_and_the_next_account_starts_at_that_pace() {
        let learned = Arc::new(Learned::default());
        // A quarter of the rate AWS allows an API it publishes no rate for (10 a second, burst 20).
        let (first, throttled) = account(2.5, 5.0, &learned);
        let n = 60;
        let started = Instant::now();
        assert_eq!(reads(&first, n).await, 0, "every read succeeds");
        let took = started.elapsed().as_secs_f64();
        let throttled = throttled.load(Ordering::SeqCst);
        assert!(
            throttled > 0 && throttled * 10 <= n,
            "{throttled} of {n} reads throttled"
        );
        let floor = (n as f64 - 5.0) / 2.5;
        assert!(took <= floor * 1.5, "{took:.1} s against {floor:.1} s");
        let pace = learned
            .rate(&("SSM".to_owned(), "DescribeParameters".to_owned()))
            .expect("the pace found is kept");
        assert!((1.0..=2.5).contains(&pace), "{pace}");

        // The next account of the organization starts at that pace: barely throttled at all.
        let (next, throttled) = account(2.5, 5.0, &learned);
        assert_eq!(reads(&next, 20).await, 0);
        assert!(throttled.load(Ordering::SeqCst) <= 1);

        // An API that was never throttled is not paced.
        let (fast, throttled) = account(1000.0, 1000.0, &Arc::new(Learned::default()));
        let started = Instant::now();
        assert_eq!(reads(&fast, 80).await, 0);
        assert_eq!(throttled.load(Ordering::SeqCst), 0);
        assert!(
            started.elapsed() <= Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
    }

    /// On the real clock: the SDK watches a request's upload on the system's time, which a paused
    /// runtime does not stop. Calls paced about 2 s apart, 5 at once: the last waits over 6 s for
    /// its turn, past the SDK's 5 s grace for a stalled upload, and succeeds.
    #[tokio::test]
    async fn a_call_waiting_its_turn_longer_than_the_stall_grace_period_succeeds() {
        let learned = Arc::new(Learned::default());
        let api = ("SSM".to_owned(), "DescribeParameters".to_owned());
        learned.found(&api, MIN_RATE);
        let (client, limited) = account_with(100.0, 100.0, &learned);
        let started = Instant::now();
        assert_eq!(reads_at_once(&client, 5, 5).await, 0, "every read succeeds");
        assert!(
            started.elapsed() >= Duration::from_secs(6),
            "paced: {:?}",
            started.elapsed()
        );
        assert_eq!(limited.throttled.load(Ordering::SeqCst), 0);
        // Each read in one attempt: none was given up on as stalled while it waited and retried.
        assert_eq!(limited.attempts.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_never_waits_past_its_timeout_for_its_turn() {
        let pacer = Pacer::starting_at(Some(MIN_RATE));
        let now = Instant::now();
        let turns: Vec<Instant> = (0..30)
            .map(|_| pacer.book(Some(LONGEST_TURN_WAIT)))
            .collect();
        assert!(turns.windows(2).all(|w| w[0] <= w[1]), "in order");
        assert_eq!(turns[1] - turns[0], Duration::from_secs(2), "paced");
        assert!(turns.iter().all(|t| *t - now <= LONGEST_TURN_WAIT));
        // Without a bound (Organizations' own retries wait outside the SDK), the pace holds.
        let unbounded = Pacer::starting_at(Some(MIN_RATE));
        let last = (0..30).map(|_| unbounded.book(None)).last().expect("30");
        assert_eq!(last - now, Duration::from_secs(58));
    }
}
