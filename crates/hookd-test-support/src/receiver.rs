//! `TestReceiver`: a real HTTP endpoint on 127.0.0.1 that records what it receives and
//! answers as the test tells it to.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::eventually;

/// How to answer one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new(), delay: Duration::ZERO, hang: false }
    }

    pub fn ok() -> Self {
        Self::status(200)
    }

    pub fn hang() -> Self {
        Self { hang: true, ..Self::ok() }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn body(mut self, b: impl Into<String>) -> Self {
        self.body = b.into();
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The status it was answered with (0 for a hang).
    pub reply_status: u16,
    /// When the answer was sent (`None` while it waits, or hangs).
    pub answered_at: Option<Instant>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Chooses the reply to a request from the request itself (`None`: the script or default).
type Responder = Arc<dyn Fn(&Received) -> Option<Reply> + Send + Sync>;

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    responder: Option<Responder>,
}

/// The endpoint. Every path is accepted; `url(path)` builds webhook URLs.
pub struct TestReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    _server: tokio::task::JoinHandle<()>,
}

impl TestReceiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, _server: server }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these replies, in order, then with the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers each request as `f` decides from it (its body, say); where `f` returns
    /// `None`, the script or the default answers.
    pub fn respond_with(&self, f: impl Fn(&Received) -> Option<Reply> + Send + Sync + 'static) {
        self.state.lock().unwrap().responder = Some(Arc::new(f));
    }

    /// Answers every request not scripted with `reply` (200 until set).
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Requests received on `path`.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits until at least `n` requests arrived on `path` (any path when `None`).
    pub async fn wait_for(&self, n: usize, path: Option<&str>, deadline: Duration) -> Vec<Received> {
        eventually(deadline, || async {
            let got = match path {
                Some(p) => self.received_on(p),
                None => self.received(),
            };
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} of {n} requests received", got.len()))
            }
        })
        .await
    }
}

async fn handle(State(state): State<Arc<Mutex<ReceiverState>>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let (reply, index) = {
        let mut s = state.lock().unwrap();
        let mut received = Received {
            path: uri.path().to_owned(),
            headers,
            body,
            at: Instant::now(),
            reply_status: 0,
            answered_at: None,
        };
        let chosen = s.responder.as_ref().and_then(|f| f(&received));
        let reply = chosen.or_else(|| s.script.pop_front()).or_else(|| s.default.clone()).unwrap_or_else(Reply::ok);
        received.reply_status = if reply.hang { 0 } else { reply.status };
        s.received.push(received);
        (reply, s.received.len() - 1)
    };
    if reply.hang {
        std::future::pending::<()>().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    state.lock().unwrap().received[index].answered_at = Some(Instant::now());
    let mut res = (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), reply.body).into_response();
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (axum::http::HeaderName::try_from(k), axum::http::HeaderValue::try_from(v)) {
            res.headers_mut().insert(k, v);
        }
    }
    res
}
