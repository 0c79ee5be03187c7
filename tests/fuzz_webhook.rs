//! Property-based fuzzing of the webhook decoder (issue 6): `http::public::route_webhook`, the
//! exact step the public listener runs on every body it has read (JSON parse, `self` URL
//! match, signature or `?secret=` check, identifier), and `signature_matches`.
//!
//! Seeds are the bodies the in-process simulator fires for real-shaped events (issue created,
//! updated, transitioned, commented, deleted). Properties: arbitrary and mutated bodies never
//! panic and yield a route or a typed error, and exactly the right one; the HMAC check accepts
//! exactly the correct signature.
//!
//! Bounded like every `cargo test`: `TANDEM_FUZZ_CASES` cases per property (default below).

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::json;
use tandem::http::public::{
    route_webhook, sign, signature_matches, RoutedWebhook, WebhookConnection, WebhookError,
};
use tandem::http::Secret;

/// Cases per property when `TANDEM_FUZZ_CASES` is not set: a few seconds each in a debug build.
const DEFAULT_CASES: u32 = 1000;

fn config() -> Config {
    let cases = std::env::var("TANDEM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        max_shrink_iters: 512,
        max_shrink_time: 15_000,
        failure_persistence: None,
        ..Config::default()
    }
}

const SECRET: &str = "fuzz-webhook-s3cret";

/// Real-shaped bodies and the simulator's base URL their `self` links start with.
struct Seeds {
    base: String,
    bodies: Vec<Vec<u8>>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let sim = tandem::sim::Simulator::start(tandem::sim::SimConfig::new(
                tandem::sim::Deployment::Cloud,
            ))
            .await
            .expect("simulator starts");
            let issue = sim
                .create_issue(json!({
                    "project": {"key": "DEMO"},
                    "issuetype": {"name": "Story"},
                    "summary": "Checkout fails with ünïcödé ✓ and \"quotes\"",
                    "description": "Steps\nto\treproduce",
                    "labels": ["web", "hostile"],
                }))
                .expect("create issue");
            sim.edit_issue(
                &issue.key,
                json!({"fields": {"summary": "Renamed"}, "update": {"comment": [{"add": {"body": "A comment"}}]}}),
            )
            .expect("edit issue");
            sim.transition_issue(&issue.key, "In Progress")
                .expect("transition");
            sim.delete_issue(&issue.key).expect("delete");
            let base = sim.base_url();
            let bodies: Vec<Vec<u8>> = sim
                .fired_events()
                .into_iter()
                .map(|e| serde_json::to_vec(&e.body).expect("serialize"))
                .collect();
            sim.shutdown().await.expect("sim shutdown");
            assert!(bodies.len() >= 4, "only {} events fired", bodies.len());
            for b in &bodies {
                let text = String::from_utf8_lossy(b);
                assert!(text.contains(&base), "a seed without a self URL: {text}");
            }
            Seeds { base, bodies }
        })
    })
}

/// The workspace's connections: the simulator with a secret, and an unsigned instance
/// elsewhere that is trusted by its `self` URLs alone.
fn connections() -> Vec<WebhookConnection> {
    vec![
        WebhookConnection {
            name: "sim".into(),
            base_url: seeds().base.clone(),
            self_url: None,
            secret: Some(Secret::new(SECRET)),
        },
        WebhookConnection {
            name: "unsigned".into(),
            base_url: "https://unsigned.example".into(),
            self_url: None,
            secret: None,
        },
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(f64, u8),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    Delete(f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..6),
        proptest::sample::select(
            &[
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                "\"",
                "\\",
                "\\u0000",
                "\\ud800",
                "null",
                "1e999",
                "-0",
                "\"self\":\"https://unsigned.example/x\",",
                "\"self\":1,",
                "\u{feff}",
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        3 => (0.0..1.0f64, 1..=255u8).prop_map(|(at, m)| Mutation::Flip(at, m)),
        1 => (0.0..1.0f64).prop_map(Mutation::Truncate),
        3 => (0.0..1.0f64, snippet).prop_map(|(at, b)| Mutation::Insert(at, b)),
        1 => (0.0..1.0f64, 1..64usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
    ]
}

fn apply(body: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = body.to_vec();
    let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
    for m in mutations {
        match m {
            Mutation::Flip(f, mask) if !b.is_empty() => {
                let i = at(*f, b.len() - 1);
                b[i] ^= mask;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(f) => b.truncate(at(*f, b.len())),
            Mutation::Insert(f, bytes) => {
                let i = at(*f, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(f, n) => {
                let i = at(*f, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
        }
    }
    b
}

/// What the decoder must answer for `body` when it carries the simulator's valid signature.
fn expected_when_signed(body: &[u8]) -> Result<&'static str, WebhookError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Err(_) => Err(WebhookError::NotJson),
        Ok(v) if !v.is_object() => Err(WebhookError::NotAnObject),
        Ok(_) => Ok("sim"),
    }
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[ -~]{0,80}",
        "sha256=[0-9a-fA-F]{0,70}",
        Just("sha256=".to_string()),
        any::<String>(),
    ])
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes and any headers: a route or a typed error, never a panic; a route only for a
    /// JSON object, and only to a connection of this workspace.
    #[test]
    fn arbitrary_bodies_and_headers_route_or_fail_typed(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..1024),
            "[ -~]{0,256}".prop_map(String::into_bytes),
            proptest::collection::vec(proptest::sample::select(&b"{}[]\":,0123456789.eE+-tfnrul \\/x"[..]), 0..256),
        ],
        signature in header_value(),
        token in header_value(),
        identifier in header_value(),
    ) {
        let conns = connections();
        let result = route_webhook(&conns, &body, signature.as_deref(), token.as_deref(), identifier.as_deref());
        match result {
            Ok(RoutedWebhook { connection, identifier: id }) => {
                let v: serde_json::Value = serde_json::from_slice(&body).expect("routed bodies are JSON");
                prop_assert!(v.is_object());
                prop_assert!(conns.iter().any(|c| c.name == connection));
                prop_assert_eq!(id, identifier.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string));
            }
            Err(e) => {
                // The message is the one the listener sends, and it never echoes the input.
                prop_assert_eq!(e.message(), e.to_string());
            }
        }
    }

    /// Mutated real bodies, correctly signed after the mutation: the decoder answers exactly
    /// "not JSON", "not an object" or the simulator's connection.
    #[test]
    fn mutated_real_bodies_signed_correctly_get_exactly_the_right_answer(
        index in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 0..4),
        identifier in proptest::option::of("[ -~]{0,40}"),
    ) {
        let seeds = seeds();
        let seed: &Vec<u8> = index.get(seeds.bodies.as_slice());
        let body = apply(seed, &mutations);
        let signature = sign(&Secret::new(SECRET), &body);
        let got = route_webhook(&connections(), &body, Some(&signature), None, identifier.as_deref());
        let expected = expected_when_signed(&body);
        prop_assert_eq!(got.as_ref().map(|r| r.connection.as_str()).map_err(|e| *e), expected);
    }

    /// The same mutated bodies with the signature of the unmutated body (a tampered delivery),
    /// or without any signature: never routed to the simulator's connection.
    #[test]
    fn tampered_or_unsigned_real_bodies_are_refused(
        index in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        unsigned in any::<bool>(),
    ) {
        let seeds = seeds();
        let original: &Vec<u8> = index.get(seeds.bodies.as_slice());
        let body = apply(original, &mutations);
        prop_assume!(body != *original);
        let signature = (!unsigned).then(|| sign(&Secret::new(SECRET), original));
        let got = route_webhook(&connections(), &body, signature.as_deref(), None, None);
        match got {
            // Only the unsigned connection can take it, and only if its URL appears in the body.
            Ok(r) => {
                prop_assert_eq!(r.connection.as_str(), "unsigned");
                prop_assert!(String::from_utf8_lossy(&body).contains("https://unsigned.example"));
            }
            Err(e) => prop_assert!(matches!(e, WebhookError::Unauthorized | WebhookError::NotJson | WebhookError::NotAnObject)),
        }
    }

    /// The HMAC check accepts exactly the correct signature: changing one byte of the body
    /// or of the header is refused, unless the header still says the same thing (hex digits
    /// are case-insensitive and surrounding whitespace is ignored).
    #[test]
    fn the_signature_check_accepts_exactly_the_correct_hmac(
        secret in "[ -~]{1,64}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        body_at in any::<prop::sample::Index>(),
        body_mask in 1..=255u8,
        header_at in any::<prop::sample::Index>(),
        header_byte in any::<u8>(),
    ) {
        let secret = Secret::new(secret);
        let header = sign(&secret, &body);
        prop_assert!(signature_matches(&secret, &body, &header));
        let other = Secret::new(format!("{}x", secret.expose()));
        prop_assert!(!signature_matches(&other, &body, &header));

        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[body_at.index(body.len())] ^= body_mask;
            prop_assert!(!signature_matches(&secret, &tampered, &header));
        }

        let mut bytes = header.clone().into_bytes();
        let i = header_at.index(bytes.len());
        bytes[i] = header_byte;
        if let Ok(changed) = String::from_utf8(bytes) {
            let trimmed = changed.trim();
            let same = trimmed
                .strip_prefix("sha256=")
                .or_else(|| trimmed.strip_prefix("SHA256="))
                .is_some_and(|hex| hex.to_ascii_lowercase() == header["sha256=".len()..]);
            prop_assert_eq!(
                signature_matches(&secret, &body, &changed),
                same,
                "header {:?} (was {:?})", changed, header
            );
        }
    }

    /// A `self` URL on a look-alike host never routes to the unsigned connection.
    #[test]
    fn lookalike_hosts_do_not_claim_an_unsigned_connection(
        suffix in prop_oneof![Just(".evil".to_string()), Just("evil".to_string()), Just(":8443".to_string()), Just("@evil.example".to_string()), "[a-z.]{1,8}"],
        path in "(/[a-z0-9]{0,8}){0,3}",
    ) {
        let url = format!("https://unsigned.example{suffix}{path}");
        let body = json!({"webhookEvent": "jira:issue_updated", "issue": {"self": url}}).to_string();
        let got = route_webhook(&connections(), body.as_bytes(), None, None, None);
        prop_assert_eq!(got, Err(WebhookError::Unauthorized), "{}", url);
    }
}

#[test]
fn the_unsigned_connection_is_trusted_by_its_own_urls_only() {
    let body =
        json!({"issue": {"self": "https://unsigned.example/rest/api/2/issue/1"}}).to_string();
    let routed =
        route_webhook(&connections(), body.as_bytes(), None, None, Some("  d-1 ")).expect("routed");
    assert_eq!(
        routed,
        RoutedWebhook {
            connection: "unsigned".into(),
            identifier: Some("d-1".into()),
        }
    );
    // The simulator's URL without its signature: refused, even with the other's URL too.
    let seed = &seeds().bodies[0];
    assert_eq!(
        route_webhook(&connections(), seed, None, None, None),
        Err(WebhookError::Unauthorized)
    );
    // The `?secret=` token works instead of a signature, and only the right one.
    assert_eq!(
        route_webhook(&connections(), seed, None, Some(SECRET), None).map(|r| r.connection),
        Ok("sim".to_string())
    );
    assert_eq!(
        route_webhook(&connections(), seed, None, Some("wrong"), None),
        Err(WebhookError::Unauthorized)
    );
    // A `self` URL with a multi-byte character across the length of a connection's base URL
    // (found by the property above): refused, not a panic in the listener.
    let base = &seeds().base;
    let straddling = format!("{}\u{e9}/rest/api/2/issue/1", &base[..base.len() - 1]);
    let body = serde_json::json!({"issue": {"self": straddling}}).to_string();
    assert_eq!(
        route_webhook(&connections(), body.as_bytes(), None, None, None),
        Err(WebhookError::Unauthorized)
    );
    // Deeply nested JSON is refused as malformed by the parser's recursion limit, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        route_webhook(&connections(), deep.as_bytes(), None, None, None),
        Err(WebhookError::NotJson)
    );
}
