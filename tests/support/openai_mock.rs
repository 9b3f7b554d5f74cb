//! A scriptable OpenAI-style streaming server on loopback, for tests and benchmarks.
//!
//! Include it with `#[path = "support/openai_mock.rs"] mod openai_mock;` (from `tests/`) or
//! `#[path = "../tests/support/openai_mock.rs"] mod openai_mock;` (from `benches/`).
//!
//! Every request (any method, any path) is recorded and handed to a *responder*, a closure
//! `Fn(&Request) -> Reply`, which decides the answer. `Request::index` is the arrival order, so a
//! responder can script sequences ("429 first, then a stream"); `sequence` and `always` build the
//! common ones.
//!
//! ```ignore
//! // Inside a tokio runtime (`#[tokio::test]`):
//! let server = MockServer::start(|req: &Request| {
//!     Reply::text(&format!("You asked: {}", req.question().unwrap_or("")))
//! })
//! .await;
//! // `server.base_url` is "http://127.0.0.1:PORT/v1": requests go to {base_url}/chat/completions.
//!
//! // From a blocking test that runs the `moss` binary: the server gets its own thread.
//! let server = MockServer::start_background(sequence(vec![
//!     Reply::error(429, "slow down").with_header("retry-after-ms", "10"),
//!     StreamReply::text("Hello there.", 4).with_gap(Duration::from_millis(5)).into(),
//! ]));
//! ```
//!
//! A stream is a list of [`Frame`]s (`content`, `reasoning`, `finish`, `usage`, `error_object`,
//! `comment`, `raw`, …) sent as server-sent events, with optional delays before the headers
//! (`head_delay`), before the first frame (`first_delay`) and between frames (`gap`), optional
//! re-splitting of the raw bytes into tiny pieces (`split`), and an [`End`]: `[DONE]`, a plain
//! close, a dropped connection, or hanging forever.
//!
//! For benchmarks, [`StreamReply::prepare`] renders a reply once into shared bytes; cloning the
//! [`Prepared`] reply per request costs a reference count per piece. With no delays, frames are
//! sent back to back without timers.
//!
//! The server also counts streaming bodies: [`MockServer::open_streams`] (being sent) and
//! [`MockServer::abandoned_streams`] (dropped before their end because the client hung up),
//! which lets a test check that cancelling really closed the connection, and
//! [`MockServer::connections`] counts accepted TCP connections (to check pooling).
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use serde_json::{Value, json};

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    /// Arrival order, from 0.
    pub index: usize,
    pub method: String,
    /// The URL path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// All headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when the body was not JSON).
    pub body: Value,
    pub received_at: Instant,
}

impl Request {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `messages` array (empty when missing).
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The content of the last `user` message.
    pub fn question(&self) -> Option<&str> {
        self.message_of("user")
    }

    /// The content of the `system` message.
    pub fn system(&self) -> Option<&str> {
        self.message_of("system")
    }

    /// The assistant text to continue, in any continuation style: a top-level `prefix` string
    /// (`SiliconFlow`), else a trailing assistant message (`DeepSeek`, vLLM, llama.cpp).
    pub fn prefix(&self) -> Option<&str> {
        if let Some(prefix) = self.body["prefix"].as_str() {
            return Some(prefix);
        }
        let last = self.messages().last()?;
        (last["role"] == "assistant")
            .then(|| last["content"].as_str())
            .flatten()
    }

    fn message_of(&self, role: &str) -> Option<&str> {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
    }
}

/// The server's answer to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `200 text/event-stream`, scripted.
    Stream(StreamReply),
    /// A stream rendered beforehand (see [`StreamReply::prepare`]).
    Prepared(Prepared),
    /// Any status with a body (for errors).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Reply {
    /// A complete text answer in 4-character chunks.
    pub fn text(text: &str) -> Self {
        Self::Stream(StreamReply::text(text, 4))
    }

    /// A status with a plain body.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A status with an OpenAI-style JSON error body:
    /// `{"error":{"message":…,"type":"mock_error","code":status}}`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::Status {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: json!({"error": {"message": message, "type": "mock_error", "code": status}})
                .to_string(),
        }
    }

    /// Adds a response header (to a `Status` reply; streams ignore it).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Status { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

impl From<StreamReply> for Reply {
    fn from(s: StreamReply) -> Self {
        Self::Stream(s)
    }
}

impl From<Prepared> for Reply {
    fn from(p: Prepared) -> Self {
        Self::Prepared(p)
    }
}

/// A scripted event stream.
#[derive(Clone, Debug)]
pub struct StreamReply {
    pub frames: Vec<Frame>,
    /// Before the response headers are sent.
    pub head_delay: Duration,
    /// After the headers, before the first piece.
    pub first_delay: Duration,
    /// Before every later piece (and before the end).
    pub gap: Duration,
    /// Re-split the raw SSE bytes into pieces of this many bytes (cutting lines and UTF-8
    /// characters anywhere); `None` sends one piece per frame.
    pub split: Option<usize>,
    pub end: End,
    /// After the frames, before the end (`[DONE]` or the close), wait for this to be notified:
    /// a server that holds a stream until something else happens (another request arrives).
    pub hold: Option<Arc<tokio::sync::Notify>>,
    /// The piece the hold comes before; `None`: after the frames.
    pub hold_at: Option<usize>,
}

/// How a stream ends after its frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `data: [DONE]`, then the body ends.
    Done,
    /// The body ends without `[DONE]`.
    Close,
    /// The connection breaks (the body fails mid-stream).
    Drop,
    /// Nothing more is sent and the body never ends.
    Hang,
}

/// One piece of a stream.
#[derive(Clone, Debug)]
pub enum Frame {
    /// `data: {json}` and a blank line.
    Data(String),
    /// `: {text}` and a blank line (a keep-alive).
    Comment(String),
    /// Sent as is (e.g. a multi-line `data:` event, or a broken line).
    Raw(String),
}

impl Frame {
    fn render(&self) -> String {
        match self {
            Self::Data(json) => format!("data: {json}\n\n"),
            Self::Comment(text) => format!(": {text}\n\n"),
            Self::Raw(raw) => raw.clone(),
        }
    }
}

/// A chunk with `delta` as `choices[0].delta`.
pub fn delta(delta: &Value) -> Frame {
    data(&json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "mock",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}],
    }))
}

/// A content delta.
pub fn content(text: &str) -> Frame {
    delta(&json!({ "content": text }))
}

/// A reasoning delta in `reasoning_content`.
pub fn reasoning(text: &str) -> Frame {
    reasoning_in("reasoning_content", text)
}

/// A reasoning delta in the given field (`reasoning_content` or `reasoning`).
pub fn reasoning_in(field: &str, text: &str) -> Frame {
    delta(&json!({ field: text, "content": null }))
}

/// An empty delta with a finish reason.
pub fn finish(reason: &str) -> Frame {
    data(&json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
    }))
}

/// The usage chunk, with `choices: []` as `OpenAI` sends it.
pub fn usage(prompt: u64, completion: u64) -> Frame {
    data(&json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }))
}

/// The usage chunk with `completion_tokens_details.reasoning_tokens`.
pub fn usage_with_reasoning(prompt: u64, completion: u64, reasoning: u64) -> Frame {
    data(&json!({
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }))
}

/// A mid-stream error, `OpenAI`'s shape: `{"error":{"message","type","code"}}`.
pub fn error_object(message: &str) -> Frame {
    data(&json!({"error": {"message": message, "type": "server_error", "code": "overloaded"}}))
}

/// A mid-stream error, vLLM's shape: `{"object":"error","message","code"}`.
pub fn error_flat(message: &str) -> Frame {
    data(&json!({"object": "error", "message": message, "type": "BadRequestError", "code": 400}))
}

/// Any JSON as a `data:` frame.
pub fn data(json: &Value) -> Frame {
    Frame::Data(json.to_string())
}

/// An SSE comment (keep-alive).
pub fn comment(text: &str) -> Frame {
    Frame::Comment(text.to_owned())
}

/// Raw bytes.
pub fn raw(text: &str) -> Frame {
    Frame::Raw(text.to_owned())
}

/// `text` cut into pieces of `chunk_chars` characters (at least 1).
pub fn chunks(text: &str, chunk_chars: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(chunk_chars.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

impl StreamReply {
    /// `frames`, then `[DONE]`, with no delays.
    pub fn new(frames: Vec<Frame>) -> Self {
        Self {
            frames,
            head_delay: Duration::ZERO,
            first_delay: Duration::ZERO,
            gap: Duration::ZERO,
            split: None,
            end: End::Done,
            hold: None,
            hold_at: None,
        }
    }

    /// A complete answer: `text` as content deltas of `chunk_chars` characters, a `stop` finish,
    /// a usage chunk (10 prompt tokens, one completion token per delta) and `[DONE]`.
    pub fn text(text: &str, chunk_chars: usize) -> Self {
        let pieces = chunks(text, chunk_chars);
        let n = pieces.len() as u64;
        let mut frames: Vec<Frame> = pieces.iter().map(|p| content(p)).collect();
        frames.push(finish("stop"));
        frames.push(usage(10, n));
        Self::new(frames)
    }

    #[must_use]
    pub fn with_head_delay(mut self, delay: Duration) -> Self {
        self.head_delay = delay;
        self
    }

    #[must_use]
    pub fn with_first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    #[must_use]
    pub fn with_gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    #[must_use]
    pub fn with_split(mut self, bytes: usize) -> Self {
        self.split = Some(bytes.max(1));
        self
    }

    #[must_use]
    pub fn with_end(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    /// Holds the end of the stream until `hold` is notified (`notify_one` before the stream
    /// gets there counts too).
    #[must_use]
    pub fn with_hold(mut self, hold: Arc<tokio::sync::Notify>) -> Self {
        self.hold = Some(hold);
        self
    }

    /// Holds the stream before its piece `piece` (a frame, unless split) until `hold` is
    /// notified: the rest of an answer a client may never ask for.
    #[must_use]
    pub fn with_hold_at(mut self, piece: usize, hold: Arc<tokio::sync::Notify>) -> Self {
        self.hold = Some(hold);
        self.hold_at = Some(piece);
        self
    }

    /// Appends a frame.
    #[must_use]
    pub fn then(mut self, frame: Frame) -> Self {
        self.frames.push(frame);
        self
    }

    /// Renders the reply once, for cheap reuse across requests.
    pub fn prepare(&self) -> Prepared {
        let mut rendered: Vec<String> = self.frames.iter().map(Frame::render).collect();
        let done = "data: [DONE]\n\n".to_owned();
        // A held stream keeps its end marker apart, to send it after the hold.
        let held_done = self.end == End::Done && self.hold.is_some() && self.hold_at.is_none();
        if self.end == End::Done && !held_done {
            rendered.push(done.clone());
        }
        let mut pieces: Vec<Bytes> = match self.split {
            Some(n) => rendered
                .concat()
                .into_bytes()
                .chunks(n.max(1))
                .map(Bytes::copy_from_slice)
                .collect(),
            None => rendered.into_iter().map(Bytes::from).collect(),
        };
        let hold_before = self.hold_at.unwrap_or(pieces.len()).min(pieces.len());
        if held_done {
            pieces.push(Bytes::from(done));
        }
        Prepared {
            pieces: pieces.into(),
            head_delay: self.head_delay,
            first_delay: self.first_delay,
            gap: self.gap,
            end: self.end,
            hold: self.hold.clone(),
            hold_before,
        }
    }
}

/// A rendered stream; clones share the bytes.
#[derive(Clone, Debug)]
pub struct Prepared {
    pieces: Arc<[Bytes]>,
    head_delay: Duration,
    first_delay: Duration,
    gap: Duration,
    end: End,
    hold: Option<Arc<tokio::sync::Notify>>,
    /// The piece the hold comes before (the end marker, or the end).
    hold_before: usize,
}

/// Replies with `reply` to every request.
pub fn always(reply: Reply) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    move |_| reply.clone()
}

/// Replies with `replies[i]` to the i-th request, and with the last one after that.
pub fn sequence(replies: Vec<Reply>) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    assert!(!replies.is_empty(), "sequence needs at least one reply");
    move |req| replies[req.index.min(replies.len() - 1)].clone()
}

type Responder = Box<dyn Fn(&Request) -> Reply + Send + Sync>;

struct Shared {
    responder: Responder,
    requests: Mutex<Vec<Request>>,
    open: AtomicUsize,
    abandoned: AtomicUsize,
    connections: AtomicUsize,
}

/// A running mock server; it stops when dropped.
pub struct MockServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockServer {
    /// Starts the server on the current tokio runtime.
    pub async fn start(responder: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = Shared::new(Box::new(responder));
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Self::new(addr, shared, Some(task), None, None)
    }

    /// Starts the server on its own thread and runtime (for blocking tests, e.g. ones that run
    /// the `moss` binary). The port accepts connections as soon as this returns.
    pub fn start_background(responder: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local address");
        let shared = Shared::new(Box::new(responder));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("openai-mock".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("mock server runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let server = tokio::spawn(serve(listener, server_shared));
                    let _ = rx.await;
                    server.abort();
                });
                // Dropping the runtime cancels the connections still open.
            })
            .expect("spawn the mock server thread");
        Self::new(addr, shared, None, Some(tx), Some(thread))
    }

    fn new(
        addr: SocketAddr,
        shared: Arc<Shared>,
        task: Option<tokio::task::JoinHandle<()>>,
        shutdown: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    ) -> Self {
        Self {
            base_url: format!("http://{addr}/v1"),
            addr,
            shared,
            task,
            shutdown,
            thread,
        }
    }

    /// `http://127.0.0.1:PORT{path}`, e.g. `url("/beta")` for a continuation base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().expect("requests lock").len()
    }

    /// Streaming bodies currently being sent.
    pub fn open_streams(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Streaming bodies dropped before their end: the client closed the connection.
    pub fn abandoned_streams(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far (a client that pools connections opens few).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Polls `condition` every 5 ms until it holds (true) or `timeout` passes (false).
    pub async fn wait_until(&self, timeout: Duration, condition: impl Fn(&Self) -> bool) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn new(responder: Responder) -> Arc<Self> {
        Arc::new(Self {
            responder,
            requests: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        })
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let counter = Arc::clone(&shared);
    let listener = listener.tap_io(move |stream| {
        counter.connections.fetch_add(1, Ordering::SeqCst);
        // Small frames go out at once, as from a real streaming server.
        let _ = stream.set_nodelay(true);
    });
    let app = Router::new().fallback(handle).with_state(shared);
    let _ = axum::serve(listener, app).await;
}

async fn handle(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let received_at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let request = {
        let mut log = shared.requests.lock().expect("requests lock");
        let request = Request {
            index: log.len(),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            received_at,
        };
        log.push(request.clone());
        request
    };
    match (shared.responder)(&request) {
        Reply::Stream(s) => stream_response(s.prepare(), shared).await,
        Reply::Prepared(p) => stream_response(p, shared).await,
        Reply::Status {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
    }
}

async fn stream_response(prepared: Prepared, shared: Arc<Shared>) -> Response {
    if !prepared.head_delay.is_zero() {
        tokio::time::sleep(prepared.head_delay).await;
    }
    shared.open.fetch_add(1, Ordering::SeqCst);
    let feed = Feed {
        next: 0,
        prepared,
        ended: false,
        guard: Guard {
            shared,
            finished: false,
        },
    };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        if feed.ended {
            return None;
        }
        let p = &feed.prepared;
        let pause = if feed.next == 0 { p.first_delay } else { p.gap };
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        if feed.next == feed.prepared.hold_before
            && let Some(hold) = feed.prepared.hold.take()
        {
            hold.notified().await;
        }
        if let Some(piece) = feed.prepared.pieces.get(feed.next) {
            feed.next += 1;
            return Some((Ok::<Bytes, std::io::Error>(piece.clone()), feed));
        }
        feed.ended = true;
        match feed.prepared.end {
            End::Done | End::Close => {
                feed.guard.finished = true;
                drop(feed);
                None
            }
            End::Drop => {
                // Let hyper flush what was sent (it does when the body is pending), so that
                // the client sees the frames and then the break, not a failed request.
                tokio::time::sleep(Duration::from_millis(5)).await;
                feed.guard.finished = true;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "mock: connection dropped",
                    )),
                    feed,
                ))
            }
            End::Hang => {
                let never: Infallible = std::future::pending().await;
                match never {}
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

struct Feed {
    next: usize,
    prepared: Prepared,
    ended: bool,
    guard: Guard,
}

/// Counts a streaming body out when hyper drops it (after its end, or when the client left).
struct Guard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}
