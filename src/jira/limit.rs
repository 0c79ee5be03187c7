//! Pacing of requests to one Jira connection: a sliding one-second window for the configured
//! rate, and a gate that holds every request back until a `Retry-After` has passed.
//!
//! The window, rather than a token bucket, because `requestsPerSecond` is a promise about any
//! second a Jira (or a proxy in front of it) may count: a bucket of one second's burst lets
//! twice the rate leave within one second (the full bucket plus its refill), a window never
//! lets more than the rate leave in any second, and still sustains the rate exactly.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use std::time::Instant;

/// Shared by every clone of a client, so the limit is per connection, not per caller.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Requests per second; `None` disables the window but keeps the `Retry-After` gate.
    rate: Option<f64>,
    /// At most this many requests leave within any [`RateLimiter::window`]: the whole number
    /// of requests in one second (at least one).
    capacity: usize,
    /// One second, or for rates below one request per second the time one request takes.
    window: Duration,
    state: Mutex<State>,
    /// 429 answers seen on this connection (for status).
    limited: std::sync::atomic::AtomicU64,
    /// Gates narrower than the connection, by [`Scope`] key: Jira Cloud says in
    /// `RateLimit-Reason` whether a 429 holds for one endpoint or one issue only.
    scoped: Mutex<std::collections::HashMap<String, Instant>>,
}

/// What a 429 holds back, from Jira Cloud's `RateLimit-Reason`: `jira-burst-based` is one
/// endpoint and method, `jira-per-issue-on-write` writes to one issue; anything else (the
/// quotas, or no header, as on Data Center) is the whole connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Connection,
    Endpoint(String),
    Issue(String),
}

impl Scope {
    /// The scope of a 429 for a request of `method` to `path`.
    pub(crate) fn of(reason: Option<&str>, method: &str, path: &str) -> Scope {
        match reason.map(str::trim) {
            Some("jira-burst-based") => Scope::Endpoint(endpoint_key(method, path)),
            Some("jira-per-issue-on-write") => match issue_of(path) {
                Some(issue) => Scope::Issue(issue),
                None => Scope::Connection,
            },
            _ => Scope::Connection,
        }
    }

    fn key(&self) -> Option<String> {
        match self {
            Scope::Connection => None,
            Scope::Endpoint(e) => Some(format!("endpoint {e}")),
            Scope::Issue(i) => Some(format!("issue {i}")),
        }
    }
}

/// The gates a request of `method` to `path` must pass besides the connection's.
pub(crate) fn scopes_of(method: &str, path: &str) -> Vec<String> {
    let mut keys = vec![format!("endpoint {}", endpoint_key(method, path))];
    if method != "GET" {
        if let Some(issue) = issue_of(path) {
            keys.push(format!("issue {issue}"));
        }
    }
    keys
}

/// `PUT /rest/api/3/issue/{}`: the path with ids and keys (segments holding a digit) blanked,
/// so every issue's edit is one endpoint.
fn endpoint_key(method: &str, path: &str) -> String {
    let mut prev = "";
    let template: Vec<&str> = path
        .split('/')
        .map(|s| {
            // The API version after `api`, `agile`, `webhooks` stays.
            let version = matches!(prev, "api" | "agile" | "webhooks");
            prev = s;
            if s.chars().any(|c| c.is_ascii_digit()) && !version {
                "{}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", template.join("/"))
}

/// The issue id or key of `/rest/api/N/issue/{idOrKey}/...`.
fn issue_of(path: &str) -> Option<String> {
    let mut segs = path.split('/');
    segs.by_ref().find(|s| *s == "issue")?;
    let issue = segs.next()?;
    (issue.chars().any(|c| c.is_ascii_digit())).then(|| issue.to_owned())
}

/// How a connection is paced right now, for status: the configured rate, how long Jira's
/// last `Retry-After` still holds requests back, and how many 429s Jira answered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitState {
    pub requests_per_second: Option<f64>,
    pub blocked_for_ms: Option<u64>,
    pub limited_total: u64,
}

#[derive(Debug, PartialEq)]
enum Decision {
    Go,
    Wait(Duration),
    TooLong(Duration),
}

#[derive(Debug)]
struct State {
    /// When the last `capacity` requests left, oldest first.
    sent: std::collections::VecDeque<Instant>,
    /// Jira asked us to stay quiet until then.
    blocked_until: Option<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(requests_per_second: Option<f64>) -> RateLimiter {
        let rate = requests_per_second.filter(|r| r.is_finite() && *r > 0.0);
        // A fractional rate above one rounds down (never more than the rate in any second);
        // below one, one request per 1/rate seconds.
        let (capacity, window) = match rate {
            Some(r) if r >= 1.0 => (r.floor().min(1e6) as usize, Duration::from_secs(1)),
            Some(r) => (1, Duration::from_secs_f64((1.0 / r).min(86_400.0))),
            None => (1, Duration::from_secs(1)),
        };
        RateLimiter {
            rate,
            capacity,
            window,
            state: Mutex::new(State {
                sent: std::collections::VecDeque::with_capacity(capacity.min(4096)),
                blocked_until: None,
            }),
            limited: std::sync::atomic::AtomicU64::new(0),
            scoped: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Holds back only the requests in `scope` for `duration` (the connection's own gate when
    /// the scope is the connection).
    pub(crate) fn block_scope(&self, scope: &Scope, duration: Duration) {
        let Some(key) = scope.key() else {
            return self.block_for(duration);
        };
        let until = Instant::now() + duration;
        let mut scoped = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
        scoped.retain(|_, u| *u > Instant::now());
        let gate = scoped.entry(key).or_insert(until);
        if *gate < until {
            *gate = until;
        }
    }

    /// Waits until no narrower gate among `keys` holds (see [`scopes_of`]), then for the
    /// connection's permission like [`RateLimiter::acquire`].
    pub(crate) async fn acquire_scoped(
        &self,
        keys: &[String],
        max_wait: Duration,
    ) -> Result<(), Duration> {
        let wait = {
            let scoped = self.scoped.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            keys.iter()
                .filter_map(|k| scoped.get(k))
                .filter(|u| **u > now)
                .map(|u| *u - now)
                .max()
        };
        if let Some(wait) = wait {
            if wait > max_wait {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
        self.acquire(max_wait).await
    }

    /// Counts one 429 answer.
    pub(crate) fn note_limited(&self) {
        self.limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The pacing state now (see [`RateLimitState`]).
    pub(crate) fn state(&self) -> RateLimitState {
        let blocked_until = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocked_until;
        let now = Instant::now();
        RateLimitState {
            requests_per_second: self.rate,
            blocked_for_ms: blocked_until
                .filter(|u| *u > now)
                .map(|u| u64::try_from((u - now).as_millis()).unwrap_or(u64::MAX)),
            limited_total: self.limited.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Waits for permission to send one request.
    ///
    /// Returns the remaining block instead of waiting when Jira's `Retry-After` lasts longer
    /// than `max_wait`, so a worker is not parked for minutes.
    pub(crate) async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        loop {
            let decision = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                self.decide(&mut state, Instant::now(), max_wait)
            };
            match decision {
                Decision::Go => return Ok(()),
                Decision::Wait(wait) => tokio::time::sleep(wait).await,
                Decision::TooLong(remaining) => return Err(remaining),
            }
        }
    }

    /// The pure core of [`RateLimiter::acquire`]: takes a token at `now` or says how long to wait.
    fn decide(&self, state: &mut State, now: Instant, max_wait: Duration) -> Decision {
        if let Some(until) = state.blocked_until {
            if until > now {
                let remaining = until - now;
                return if remaining > max_wait {
                    Decision::TooLong(remaining)
                } else {
                    Decision::Wait(remaining)
                };
            }
            state.blocked_until = None;
        }
        if self.rate.is_none() {
            return Decision::Go;
        }
        while state
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            state.sent.pop_front();
        }
        if state.sent.len() < self.capacity {
            state.sent.push_back(now);
            return Decision::Go;
        }
        // The oldest of the last `capacity` requests leaves the window then.
        let oldest = state.sent.front().copied().unwrap_or(now);
        Decision::Wait((oldest + self.window).saturating_duration_since(now))
    }

    /// Holds every request back for `duration` from now (never shortens an existing block).
    pub(crate) fn block_for(&self, duration: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + duration;
        if state.blocked_until.is_none_or(|existing| existing < until) {
            state.blocked_until = Some(until);
        }
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter: uniform in `[0, min(max, base * 2^retry)]`.
///
/// Full jitter spreads the retries of many workers hit by the same outage.
pub(crate) fn backoff(retry: u32, base: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(retry.min(20));
    let ceiling = base.saturating_mul(factor).min(max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_is_scoped_by_its_reason() {
        let path = "/rest/api/3/issue/DEMO-12";
        assert_eq!(
            Scope::of(Some("jira-per-issue-on-write"), "PUT", path),
            Scope::Issue("DEMO-12".into())
        );
        assert_eq!(
            Scope::of(Some("jira-burst-based"), "PUT", path),
            Scope::Endpoint("PUT /rest/api/3/issue/{}".into())
        );
        for other in [
            None,
            Some("jira-quota-tenant-based"),
            Some("jira-quota-global-based"),
        ] {
            assert_eq!(Scope::of(other, "PUT", path), Scope::Connection);
        }
        // Every issue's edit is one endpoint; reads wait for no issue's write limit.
        assert_eq!(
            scopes_of("PUT", "/rest/api/3/issue/10042/transitions"),
            vec![
                "endpoint PUT /rest/api/3/issue/{}/transitions".to_owned(),
                "issue 10042".to_owned()
            ]
        );
        assert_eq!(
            scopes_of("GET", path),
            vec!["endpoint GET /rest/api/3/issue/{}".to_owned()]
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_stays_within_its_ceiling() {
        for retry in 0..30 {
            let d = backoff(retry, Duration::from_millis(100), Duration::from_secs(2));
            assert!(d <= Duration::from_secs(2));
            assert!(d <= Duration::from_millis(100) * 2u32.saturating_pow(retry));
        }
    }

    fn take(limiter: &RateLimiter, now: Instant) -> Decision {
        let mut state = limiter.state.lock().unwrap();
        limiter.decide(&mut state, now, Duration::from_secs(60))
    }

    #[test]
    fn window_never_lets_more_than_the_rate_leave_in_a_second() {
        let limiter = RateLimiter::new(Some(2.0));
        let t0 = Instant::now();
        // One second's worth at once, then the next only when the first is a second old.
        assert_eq!(take(&limiter, t0), Decision::Go);
        assert_eq!(
            take(&limiter, t0 + Duration::from_millis(100)),
            Decision::Go
        );
        assert_eq!(
            take(&limiter, t0 + Duration::from_millis(500)),
            Decision::Wait(Duration::from_millis(500))
        );
        assert_eq!(take(&limiter, t0 + Duration::from_secs(1)), Decision::Go);
        assert_eq!(
            take(&limiter, t0 + Duration::from_millis(1050)),
            Decision::Wait(Duration::from_millis(50))
        );
        // Below one request per second: one per 1/rate seconds.
        let slow = RateLimiter::new(Some(0.5));
        assert_eq!(take(&slow, t0), Decision::Go);
        assert_eq!(
            take(&slow, t0 + Duration::from_secs(1)),
            Decision::Wait(Duration::from_secs(1))
        );
        // A fractional rate rounds down.
        let frac = RateLimiter::new(Some(2.5));
        assert_eq!(take(&frac, t0), Decision::Go);
        assert_eq!(take(&frac, t0), Decision::Go);
        assert!(matches!(take(&frac, t0), Decision::Wait(_)));
    }

    #[test]
    fn gate_holds_requests_and_reports_long_blocks() {
        let limiter = RateLimiter::new(None);
        limiter.block_for(Duration::from_secs(3));
        let now = Instant::now();
        match take(&limiter, now) {
            Decision::Wait(d) => assert!(d > Duration::from_secs(2) && d <= Duration::from_secs(3)),
            other => panic!("expected a wait, got {other:?}"),
        }
        assert_eq!(take(&limiter, now + Duration::from_secs(4)), Decision::Go);
        limiter.block_for(Duration::from_secs(120));
        assert!(
            matches!(take(&limiter, Instant::now()), Decision::TooLong(d) if d > Duration::from_secs(60))
        );
        // A shorter block never shortens a longer one.
        limiter.block_for(Duration::from_secs(1));
        assert!(matches!(
            take(&limiter, Instant::now()),
            Decision::TooLong(_)
        ));
    }
}
