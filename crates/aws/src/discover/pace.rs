//! Pacing for an API whose request rate one account shares with everything that calls it, at a
//! rate AWS does not publish: AWS Organizations, answered by the management account for the whole
//! organization. Calls go unpaced until AWS throttles one. Then they are spaced at nine tenths of
//! the rate AWS answered at over the last second (under a token bucket, its refill rate once the
//! burst is spent); a later throttled call that was sent at that pace sets it again the same way
//! (between half and nine tenths of what it was), and two seconds without one quicken it by a
//! twentieth. So a scan reads about as fast as the account allows today instead of retrying into
//! its limit (200 reads against 2.5 a second, burst 5: 7 % throttled, 1.15 × the time the limit
//! itself takes; the tests below).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
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
        let now = Instant::now();
        Pacer {
            state: Mutex::new(State {
                rate: None,
                next: now,
                changed: now,
                answers: VecDeque::new(),
            }),
        }
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

    /// Waits for this call's turn; returns when that was.
    async fn turn(&self) -> Instant {
        let at = {
            let mut s = self.state();
            let now = Instant::now();
            let Some(rate) = s.rate else { return now };
            let at = s.next.max(now);
            s.next = at + Duration::from_secs_f64(1.0 / rate);
            at
        };
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

    /// AWS throttled a call sent at `sent`: the pace becomes nine tenths of the rate AWS answered
    /// at over the last second; after the first time, between half and nine tenths of what it was,
    /// and only for a call sent at the current pace (calls sent before it changed say nothing
    /// about it).
    fn throttled(&self, sent: Instant) {
        let now = Instant::now();
        let mut s = self.state();
        s.forget_before(now);
        let measured = 0.9 * s.answers.len() as f64;
        let rate = match s.rate {
            None => measured,
            Some(_) if sent < s.changed => return,
            Some(rate) => measured.clamp(0.5 * rate, 0.9 * rate),
        };
        s.rate = Some(rate.max(MIN_RATE));
        s.changed = now;
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
            let sent = self.turn().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream::{self, StreamExt};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// AWS's limit as the replaying endpoint enforces it: a token bucket.
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
}
