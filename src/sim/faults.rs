//! The faults the simulator injects, as one settings document ([`FaultSettings`]) and the live
//! state that applies it to requests ([`FaultState`]).
//!
//! Responsible for what a fault *is*: its settings and their validation (shared by the HTTP
//! control surface `/_sim/faults`, the `tandem jira-sim` flags and [`super::SimHandle`]), and the
//! decisions taken per request (delay, rate-limit token, injected error, lost response) with one
//! seeded random stream, so a run with the same seed and the same request sequence replays.
//! Webhook delivery faults are part of the settings but are applied by the webhook dispatcher.
//!
//! Architecture invariant: every door (handle method, HTTP endpoint, command-line flag) changes
//! faults through `Shared::update_faults` in `mod.rs`, which calls [`FaultState::apply`]; there is
//! no second implementation of any fault.

use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::webhooks::DeliveryFaults;
use super::RateLimit;

/// The fault seed when none is given: the value the webhook dispatcher always used, so
/// behaviour of existing seeded runs does not change.
pub const DEFAULT_SEED: u64 = 0x7a6d;

/// Longest latency, jitter or webhook delay accepted (one hour): anything longer is a typo.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// Highest rate-limit refill accepted, in requests per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Every fault of the simulator: what `GET /_sim/faults` shows and `PUT /_sim/faults` takes
/// (camelCase JSON; an omitted field is "no fault", unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultSettings {
    /// Seeds every fault decision (jitter, error rate, lost responses, webhook drops and
    /// shuffles). `None` in an update keeps the current random stream; reading the settings
    /// always shows the seed last applied.
    pub seed: Option<u64>,
    /// Added to every request before it is handled.
    #[serde(rename = "latencyMs", with = "millis")]
    pub latency: Duration,
    /// A uniformly random extra delay from zero to this, per request.
    #[serde(rename = "jitterMs", with = "millis")]
    pub jitter: Duration,
    /// Added to GET requests only, on top of `latency`.
    #[serde(rename = "readLatencyMs", with = "millis")]
    pub read_latency: Duration,
    /// Probability (0 to 1) that a request fails with `error_status` and does nothing.
    pub error_rate: f64,
    /// The status of `error_rate` failures.
    pub error_status: u16,
    /// The next `count` requests fail with `status` and do nothing (counts down as they do).
    pub inject_errors: InjectErrors,
    /// While set, every request is answered with this status and does nothing.
    pub outage: Option<u16>,
    /// A token bucket in front of everything, answered 429 with `Retry-After` when empty.
    pub rate_limit: Option<RateLimit>,
    /// Writes that are applied and then answered with an error or not at all.
    pub lost_responses: LostResponses,
    /// Webhook delivery faults.
    pub webhooks: DeliveryFaults,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            seed: None,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            read_latency: Duration::ZERO,
            error_rate: 0.0,
            error_status: 500,
            inject_errors: InjectErrors::default(),
            outage: None,
            rate_limit: None,
            lost_responses: LostResponses::default(),
            webhooks: DeliveryFaults::default(),
        }
    }
}

/// A fixed number of failing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct InjectErrors {
    pub count: u32,
    pub status: u16,
}

impl Default for InjectErrors {
    fn default() -> Self {
        InjectErrors {
            count: 0,
            status: 500,
        }
    }
}

/// The lost-response fault: a write (POST, PUT or DELETE outside search, answered 2xx) is
/// applied, webhooks fire, and then the client gets `answer` instead of the result. This is what
/// makes a client retry a write that already happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LostResponses {
    /// Probability (0 to 1) per write.
    pub rate: f64,
    /// The next `count` writes lose their response, whatever the rate (counts down).
    pub count: u32,
    pub answer: LostAnswer,
}

impl Default for LostResponses {
    fn default() -> Self {
        LostResponses {
            rate: 0.0,
            count: 0,
            answer: LostAnswer::Status(503),
        }
    }
}

/// What a client gets instead of the response of a write that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawAnswer", into = "RawAnswer")]
pub enum LostAnswer {
    /// The connection is closed without an answer (JSON `"drop"`).
    Drop,
    /// An error status from 500 to 599 with Jira's error body (JSON: the number).
    Status(u16),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawAnswer {
    Status(u16),
    Word(String),
}

impl TryFrom<RawAnswer> for LostAnswer {
    type Error = String;
    fn try_from(raw: RawAnswer) -> Result<Self, String> {
        match raw {
            RawAnswer::Word(w) => parse_lost_answer(&w),
            RawAnswer::Status(s) => check_lost_status(s).map(|()| LostAnswer::Status(s)),
        }
    }
}

impl From<LostAnswer> for RawAnswer {
    fn from(a: LostAnswer) -> Self {
        match a {
            LostAnswer::Drop => RawAnswer::Word("drop".into()),
            LostAnswer::Status(s) => RawAnswer::Status(s),
        }
    }
}

impl fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostAnswer::Drop => f.write_str("drop"),
            LostAnswer::Status(s) => write!(f, "{s}"),
        }
    }
}

/// A setting that is out of range: `field` is its JSON path (e.g. `webhooks.dropRate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FaultError {}

impl FaultSettings {
    /// Checks every range; the same rules the command-line parsers below apply.
    pub fn validate(&self) -> Result<(), FaultError> {
        let at = |field: &str| {
            let field = field.to_string();
            move |message: String| FaultError { field, message }
        };
        check_delay(self.latency).map_err(at("latencyMs"))?;
        check_delay(self.jitter).map_err(at("jitterMs"))?;
        check_delay(self.read_latency).map_err(at("readLatencyMs"))?;
        check_probability(self.error_rate).map_err(at("errorRate"))?;
        check_error_status(self.error_status).map_err(at("errorStatus"))?;
        check_error_status(self.inject_errors.status).map_err(at("injectErrors.status"))?;
        if let Some(s) = self.outage {
            check_error_status(s).map_err(at("outage"))?;
        }
        if let Some(l) = self.rate_limit {
            check_rate_limit(l).map_err(at("rateLimit"))?;
        }
        check_probability(self.lost_responses.rate).map_err(at("lostResponses.rate"))?;
        if let LostAnswer::Status(s) = self.lost_responses.answer {
            check_lost_status(s).map_err(at("lostResponses.answer"))?;
        }
        check_probability(self.webhooks.drop_rate).map_err(at("webhooks.dropRate"))?;
        check_delay(self.webhooks.delay).map_err(at("webhooks.delayMs"))?;
        Ok(())
    }

    /// True when no fault is switched on (the seed aside).
    pub fn is_quiet(&self) -> bool {
        FaultSettings {
            seed: None,
            ..self.clone()
        } == FaultSettings::default()
    }
}

fn check_probability(p: f64) -> Result<(), String> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!(
            "{p} is not a probability: expected a number from 0 to 1"
        ))
    }
}

fn check_delay(d: Duration) -> Result<(), String> {
    if d <= MAX_DELAY {
        Ok(())
    } else {
        Err(format!(
            "{} ms is longer than the {} ms the simulator accepts",
            d.as_millis(),
            MAX_DELAY.as_millis()
        ))
    }
}

fn check_error_status(s: u16) -> Result<(), String> {
    if (400..=599).contains(&s) {
        Ok(())
    } else {
        Err(format!("{s} is not an error status: expected 400 to 599"))
    }
}

fn check_lost_status(s: u16) -> Result<(), String> {
    if (500..=599).contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "{s} is not a server error: expected \"drop\" or a status from 500 to 599"
        ))
    }
}

fn check_rate_limit(l: RateLimit) -> Result<(), String> {
    if !(l.per_second.is_finite() && l.per_second > 0.0 && l.per_second <= MAX_RATE) {
        return Err(format!(
            "{} requests per second: expected more than 0 and at most {MAX_RATE}",
            l.per_second
        ));
    }
    if l.burst == 0 {
        return Err("a burst of 0 lets no request through: expected at least 1".into());
    }
    Ok(())
}

/// Parses a probability (`0`, `0.25`, `1`) for a command-line flag.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number: expected a probability from 0 to 1"))?;
    check_probability(p).map(|()| p)
}

/// Parses a whole number of milliseconds for a command-line flag.
pub fn parse_millis(s: &str) -> Result<Duration, String> {
    let ms: u64 = s.trim().parse().map_err(|_| {
        format!("{s:?} is not a whole number of milliseconds, 0 or more (e.g. 250)")
    })?;
    let d = Duration::from_millis(ms);
    check_delay(d).map(|()| d)
}

/// Parses an HTTP error status (400 to 599) for a command-line flag.
pub fn parse_error_status(s: &str) -> Result<u16, String> {
    let n: u16 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an HTTP status: expected 400 to 599"))?;
    check_error_status(n).map(|()| n)
}

/// Parses `drop` or a status from 500 to 599.
pub fn parse_lost_answer(s: &str) -> Result<LostAnswer, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("drop") {
        return Ok(LostAnswer::Drop);
    }
    let n: u16 = s
        .parse()
        .map_err(|_| format!("{s:?}: expected \"drop\" or a status from 500 to 599"))?;
    check_lost_status(n).map(|()| LostAnswer::Status(n))
}

/// Parses `PER_SECOND` or `PER_SECOND:BURST` (burst defaults to the rate, at least 1).
pub fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    let (rate, burst) = match s.trim().split_once(':') {
        Some((r, b)) => (r, Some(b)),
        None => (s.trim(), None),
    };
    let per_second: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected PER_SECOND or PER_SECOND:BURST, e.g. 10 or 10:20"))?;
    let burst = match burst {
        Some(b) => b
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: the burst {b:?} is not a whole number"))?,
        None if per_second.is_finite() => per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
        None => 1,
    };
    let limit = RateLimit { per_second, burst };
    check_rate_limit(limit).map(|()| limit)
}

/// A token bucket for the rate limit.
#[derive(Debug, Clone)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }
}

/// A request refused by the rate limit.
pub(crate) struct Throttled {
    /// Seconds until a token is back (at least 1), for `Retry-After`.
    pub wait_secs: u64,
    pub limit: u32,
}

/// Faults in force and what applying them needs across requests: the bucket, the random
/// stream, counters. Lives behind `Shared::faults`.
pub(crate) struct FaultState {
    /// `seed` is always `Some` here.
    settings: FaultSettings,
    bucket: Option<Bucket>,
    rng: StdRng,
    pub rate_limited: u64,
    pub lost_responses: u64,
}

/// The request stream and the webhook stream draw from different seeds derived from one.
pub(crate) fn request_seed(seed: u64) -> u64 {
    seed ^ 0x5eed_f417_0000_0001
}

impl FaultState {
    pub fn new() -> FaultState {
        FaultState {
            settings: FaultSettings {
                seed: Some(DEFAULT_SEED),
                ..FaultSettings::default()
            },
            bucket: None,
            rng: StdRng::seed_from_u64(request_seed(DEFAULT_SEED)),
            rate_limited: 0,
            lost_responses: 0,
        }
    }

    /// The settings in force, with the seed last applied.
    pub fn settings(&self) -> &FaultSettings {
        &self.settings
    }

    /// Replaces the settings. A `seed` restarts the random stream from it; `None` keeps the
    /// stream (and shows the old seed). An unchanged rate limit keeps its bucket.
    pub fn apply(&mut self, mut new: FaultSettings) {
        match new.seed {
            Some(seed) => self.rng = StdRng::seed_from_u64(request_seed(seed)),
            None => new.seed = self.settings.seed,
        }
        self.bucket = match (new.rate_limit, self.bucket.take()) {
            (Some(l), Some(b)) if b.limit == l => Some(b),
            (Some(l), _) => Some(Bucket::new(l)),
            (None, _) => None,
        };
        self.settings = new;
    }

    /// Starts the rate limit in force (if any) over with a full bucket.
    pub fn refill_bucket(&mut self) {
        self.bucket = self.settings.rate_limit.map(Bucket::new);
    }

    /// How long to hold this request before handling it.
    pub fn delay(&mut self, read: bool) -> Duration {
        let s = &self.settings;
        let mut d = s.latency;
        if read {
            d += s.read_latency;
        }
        if !s.jitter.is_zero() {
            let max = u64::try_from(s.jitter.as_micros()).unwrap_or(u64::MAX);
            d += Duration::from_micros(self.rng.random_range(0..=max));
        }
        d
    }

    /// Takes one token, or says how long until one is back.
    pub fn take_token(&mut self) -> Result<(), Throttled> {
        let Some(bucket) = self.bucket.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        let burst = f64::from(bucket.limit.burst);
        let rate = bucket.limit.per_second;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        self.rate_limited += 1;
        Err(Throttled {
            wait_secs: ((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64,
            limit: bucket.limit.burst,
        })
    }

    pub fn outage(&self) -> Option<u16> {
        self.settings.outage
    }

    /// The status of a request that fails before doing anything: injected errors first, then
    /// the error rate.
    pub fn take_error(&mut self) -> Option<u16> {
        let s = &mut self.settings;
        if s.inject_errors.count > 0 {
            s.inject_errors.count -= 1;
            return Some(s.inject_errors.status);
        }
        if chance(&mut self.rng, s.error_rate) {
            return Some(s.error_status);
        }
        None
    }

    /// Whether the response of a write that was just applied is lost, and how.
    pub fn take_lost_response(&mut self) -> Option<LostAnswer> {
        let l = &mut self.settings.lost_responses;
        let lost = if l.count > 0 {
            l.count -= 1;
            true
        } else {
            chance(&mut self.rng, l.rate)
        };
        if lost {
            self.lost_responses += 1;
            Some(l.answer)
        } else {
            None
        }
    }
}

/// True with probability `p`; draws nothing when `p` is 0 (so a fault that is off does not
/// shift the stream of the others), and treats values out of range (only the handle's
/// setters can store them) as the nearest bound.
fn chance(rng: &mut StdRng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    rng.random_bool(p.min(1.0))
}

/// `Duration` as whole milliseconds in JSON.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_as_camel_case_json_and_omitted_fields_are_off() {
        let s: FaultSettings = serde_json::from_value(serde_json::json!({
            "latencyMs": 100,
            "webhooks": {"dropRate": 0.5, "duplicate": true},
            "lostResponses": {"count": 1, "answer": "drop"}
        }))
        .expect("parses");
        assert_eq!(s.latency, Duration::from_millis(100));
        assert_eq!(s.webhooks.drop_rate, 0.5);
        assert!(s.webhooks.duplicate && !s.webhooks.reorder);
        assert_eq!(s.lost_responses.answer, LostAnswer::Drop);
        assert_eq!(s.error_status, 500);
        let back: FaultSettings =
            serde_json::from_value(serde_json::to_value(&s).expect("json")).expect("parses");
        assert_eq!(back, s);
        assert!(FaultSettings::default().is_quiet());
        assert!(!s.is_quiet());
    }

    #[test]
    fn unknown_fields_and_bad_answers_are_refused() {
        assert!(serde_json::from_str::<FaultSettings>(r#"{"latency": 5}"#).is_err());
        assert!(
            serde_json::from_str::<FaultSettings>(r#"{"lostResponses": {"answer": 200}}"#).is_err()
        );
        assert!(serde_json::from_str::<FaultSettings>(r#"{"latencyMs": -1}"#).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let s = FaultSettings {
            webhooks: DeliveryFaults {
                drop_rate: 1.5,
                ..DeliveryFaults::default()
            },
            ..FaultSettings::default()
        };
        assert_eq!(
            s.validate().expect_err("invalid").field,
            "webhooks.dropRate"
        );
        let s = FaultSettings {
            outage: Some(200),
            ..FaultSettings::default()
        };
        assert_eq!(s.validate().expect_err("invalid").field, "outage");
    }

    #[test]
    fn flag_parsers_accept_sense_and_refuse_nonsense() {
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("NaN").is_err());
        assert!(parse_probability("x").is_err());
        assert_eq!(parse_millis("250"), Ok(Duration::from_millis(250)));
        assert!(parse_millis("-1").is_err());
        assert!(parse_millis("1.5").is_err());
        assert!(parse_millis("3600001").is_err());
        assert_eq!(parse_error_status("503"), Ok(503));
        assert!(parse_error_status("200").is_err());
        assert_eq!(parse_lost_answer("DROP"), Ok(LostAnswer::Drop));
        assert_eq!(parse_lost_answer("502"), Ok(LostAnswer::Status(502)));
        assert!(parse_lost_answer("404").is_err());
        assert_eq!(
            parse_rate_limit("10:20"),
            Ok(RateLimit {
                per_second: 10.0,
                burst: 20
            })
        );
        assert_eq!(parse_rate_limit("0.5").map(|l| l.burst), Ok(1));
        assert!(parse_rate_limit("0").is_err());
        assert!(parse_rate_limit("10:0").is_err());
    }

    #[test]
    fn one_seed_replays_the_same_decisions() {
        let run = || {
            let mut st = FaultState::new();
            st.apply(FaultSettings {
                seed: Some(42),
                error_rate: 0.3,
                jitter: Duration::from_millis(50),
                ..FaultSettings::default()
            });
            (0..200)
                .map(|_| (st.take_error(), st.delay(false)))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let errors = a.iter().filter(|(e, _)| e.is_some()).count();
        assert!((30..=90).contains(&errors), "{errors} errors at 0.3");
        assert!(a.iter().all(|(_, d)| *d <= Duration::from_millis(50)));
    }

    #[test]
    fn counts_count_down_and_an_unchanged_rate_limit_keeps_its_bucket() {
        let mut st = FaultState::new();
        let limit = RateLimit {
            per_second: 0.001,
            burst: 1,
        };
        st.apply(FaultSettings {
            inject_errors: InjectErrors {
                count: 1,
                status: 502,
            },
            rate_limit: Some(limit),
            ..FaultSettings::default()
        });
        assert_eq!(st.take_error(), Some(502));
        assert_eq!(st.take_error(), None);
        assert_eq!(st.settings().inject_errors.count, 0);
        assert!(st.take_token().is_ok());
        assert!(st.take_token().is_err());
        let same = st.settings().clone();
        st.apply(same);
        assert!(st.take_token().is_err(), "bucket kept");
        assert_eq!(st.settings().seed, Some(DEFAULT_SEED));
    }
}
