//! A scripted fake Jira for the client tests: answers exchanges from a script, records every
//! request with its arrival time, and can speak TLS with a throwaway self-signed certificate.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: None,
        }
    }

    pub fn value(status: u16, body: serde_json::Value) -> Reply {
        Reply::json(status, body.to_string())
    }

    /// A body from `tests/fixtures/jira/NAME`.
    pub fn fixture(status: u16, name: &str) -> Reply {
        Reply::json(status, fixture(name))
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jira")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// One scripted exchange: a request it matches and the reply it gives.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// Query pairs that must be present (others are ignored).
    pub query: Vec<(String, String)>,
    pub reply: Reply,
    /// How many requests it answers; `None` = any number.
    pub times: Option<usize>,
}

impl Exchange {
    /// Matches any number of requests.
    pub fn on(method: &str, path: &str, reply: Reply) -> Exchange {
        Exchange {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            reply,
            times: None,
        }
    }

    /// Matches exactly one request, in script order before later exchanges on the same path.
    pub fn once(method: &str, path: &str, reply: Reply) -> Exchange {
        Exchange {
            times: Some(1),
            ..Exchange::on(method, path, reply)
        }
    }

    pub fn with_query(mut self, key: &str, value: &str) -> Exchange {
        self.query.push((key.into(), value.into()));
        self
    }
}

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    pub at_wall: SystemTime,
    pub matched: bool,
}

impl Recorded {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn authorization(&self) -> Option<String> {
        self.headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Default)]
struct State {
    script: Vec<Exchange>,
    requests: Vec<Recorded>,
}

pub struct FakeJira {
    pub addr: SocketAddr,
    pub tls: bool,
    state: Arc<Mutex<State>>,
    _shutdown: oneshot::Sender<()>,
}

/// A certificate the fake's TLS mode presents, and its PEM for `caFile`.
pub struct TestCert {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestCert {
    pub fn generate() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("generate a test certificate");
        TestCert {
            cert_pem: certified.cert.pem(),
            cert_der: certified.cert.der().to_vec(),
            key_der: certified.signing_key.serialize_der(),
        }
    }
}

impl FakeJira {
    pub async fn start(script: Vec<Exchange>) -> FakeJira {
        FakeJira::serve(script, None).await
    }

    pub async fn start_tls(script: Vec<Exchange>, cert: &TestCert) -> FakeJira {
        FakeJira::serve(script, Some(cert)).await
    }

    async fn serve(script: Vec<Exchange>, cert: Option<&TestCert>) -> FakeJira {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script,
            requests: Vec::new(),
        }));
        let acceptor = cert.map(|cert| {
            use tokio_rustls::rustls;
            let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_der.clone().into());
            let chain = vec![rustls::pki_types::CertificateDer::from(
                cert.cert_der.clone(),
            )];
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let tls = acceptor.is_some();
        let (tx, mut rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(s) => s,
                        Err(_) => continue,
                    },
                    _ = &mut rx => return,
                };
                let state = served.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    match acceptor {
                        Some(acceptor) => {
                            // A client that refuses our certificate aborts the handshake here.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        FakeJira {
            addr,
            tls,
            state,
            _shutdown: tx,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests to one path, in arrival order.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Fails the test when a request hit no script or a `once` exchange was never used.
    pub fn assert_script_done(&self) {
        let state = self.state.lock().unwrap();
        let unmatched: Vec<String> = state
            .requests
            .iter()
            .filter(|r| !r.matched)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            unmatched.is_empty(),
            "requests without a script: {unmatched:?}"
        );
        let left: Vec<String> = state
            .script
            .iter()
            .filter(|e| e.times.is_some_and(|t| t > 0))
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert!(
            left.is_empty(),
            "scripted exchanges never requested: {left:?}"
        );
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let at_wall = SystemTime::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://fake/?{q}"))
                .map(|u| u.query_pairs().into_owned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reply = {
        let mut state = state.lock().unwrap();
        let found = state.script.iter_mut().find(|e| {
            e.method == method
                && e.path == path
                && e.times != Some(0)
                && e.query.iter().all(|q| query.contains(q))
        });
        let reply = found.map(|e| {
            if let Some(t) = e.times.as_mut() {
                *t -= 1;
            }
            e.reply.clone()
        });
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query,
            headers,
            body,
            at,
            at_wall,
            matched: reply.is_some(),
        });
        reply.unwrap_or_else(|| {
            Reply::value(
                404,
                serde_json::json!({"errorMessages": [format!("fake: no script for {method} {path}")], "errors": {}}),
            )
        })
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        response = response.header(k, v);
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("valid scripted response"))
}
