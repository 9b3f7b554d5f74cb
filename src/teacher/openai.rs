//! OpenAI-compatible streaming chat completions.
//!
//! One request is a `POST {base-url}/chat/completions` with `stream: true`; the answer is read as
//! server-sent events. Content deltas become [`super::TeacherEvent::Text`], reasoning deltas
//! [`super::TeacherEvent::Reasoning`], and the last usage the provider reported one
//! [`super::TeacherEvent::Usage`] when the stream ends (some providers repeat a running total in every
//! chunk, so it is sent once, not per chunk).
//!
//! Retries happen only before anything reached the sink: afterwards a retry would repeat text.
//! They are made here, so they do not wait for the caller's rate limiter
//! ([`crate::run::RateLimiter`]): one call to [`OpenAiTeacher::stream`] takes one slot however
//! many attempts it makes.
//!
//! The idle timer is not reset per chunk (that would touch the timer wheel for every token):
//! arriving bytes only record their time, and when the timer fires it is re-armed from the last
//! arrival if that was recent enough.
//!
//! Error messages never hold the API key: text quoted from the provider has the key removed
//! before it is shortened (shortened first, a key across the cut would leave a prefix that no
//! longer matches), and every error is scrubbed once more before it is returned.

mod events;
mod retry;
mod wire;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::provider::OpenAiSettings;
use super::{
    ContinuationStyle, StreamEnd, TeacherError, TeacherInfo, TeacherRequest, TeacherSink,
    TimeoutKind,
};

/// The most of an HTTP error body that is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// How long to wait after `[DONE]` for the body's end, which lets the connection be reused.
const DRAIN_WAIT: Duration = Duration::from_millis(100);

/// A teacher behind an OpenAI-compatible `/chat/completions` endpoint. Clones share one HTTP
/// client (and so its connection pool).
#[derive(Clone)]
pub struct OpenAiTeacher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OpenAiSettings,
    client: reqwest::Client,
    url: Url,
    /// Where continuation requests go (`continuation-base-url`, else the same as `url`).
    continue_url: Url,
    /// `Bearer <key>`, marked sensitive; `None` when no key is set.
    auth: Option<HeaderValue>,
}

impl fmt::Debug for OpenAiTeacher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings print the key as `***`; the client and header are left out.
        f.debug_struct("OpenAiTeacher")
            .field("settings", &self.inner.settings)
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

/// A failed attempt, with the wait the server asked for.
struct Failure {
    error: TeacherError,
    retry_after: Option<Duration>,
}

impl From<TeacherError> for Failure {
    fn from(error: TeacherError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl OpenAiTeacher {
    /// # Errors
    /// [`TeacherError::Misconfigured`] when a base URL is invalid, the key cannot be sent in a
    /// header, or the HTTP client cannot be built.
    pub fn new(settings: OpenAiSettings) -> Result<Self, TeacherError> {
        let misconfigured = |message: String| TeacherError::Misconfigured {
            provider: settings.provider.clone(),
            message,
        };
        let url = endpoint(&settings.base_url)
            .map_err(|m| misconfigured(format!("invalid base-url: {m}")))?;
        let continue_url = match settings.continuation_base_url.as_deref() {
            Some(base) if !base.trim().is_empty() => endpoint(base)
                .map_err(|m| misconfigured(format!("invalid continuation-base-url: {m}")))?,
            _ => url.clone(),
        };
        let auth = match settings
            .api_key
            .as_ref()
            .map(super::provider::ApiKey::expose)
        {
            Some(key) if !key.is_empty() => {
                let mut value = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
                    misconfigured(
                        "the API key contains characters that cannot be sent in a header".into(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            _ => None,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.timeouts.connect)
            .tcp_nodelay(true);
        if is_loopback(&url) && is_loopback(&continue_url) {
            // A local server (Ollama, vLLM, a test) is never reached through a proxy.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| {
            misconfigured(format!("cannot build the HTTP client: {}", error_chain(&e)))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                client,
                url,
                continue_url,
                auth,
            }),
        })
    }

    #[must_use]
    pub fn info(&self) -> TeacherInfo {
        TeacherInfo {
            provider: self.inner.settings.provider.clone(),
            model: self.inner.settings.model.clone(),
            replayed: false,
        }
    }

    #[must_use]
    pub fn can_continue(&self) -> bool {
        self.inner.settings.continuation != ContinuationStyle::None
    }

    /// Whether the server runs on this machine (llama.cpp, Ollama, vLLM…): such servers often
    /// serve fewer requests at once than moss sends.
    #[must_use]
    pub fn is_local(&self) -> bool {
        is_loopback(&self.inner.url)
    }

    /// The URL `request` is sent to.
    #[must_use]
    pub fn request_url(&self, request: &TeacherRequest) -> &str {
        if request.continue_from.is_some() {
            self.inner.continue_url.as_str()
        } else {
            self.inner.url.as_str()
        }
    }

    /// The JSON body sent for `request`.
    ///
    /// # Errors
    /// [`TeacherError::Misconfigured`] when `request` continues a turn and this provider cannot.
    pub fn request_body(
        &self,
        request: &TeacherRequest,
    ) -> Result<serde_json::Value, TeacherError> {
        let (_, body) = self.prepare(request)?;
        serde_json::to_value(&body).map_err(|e| self.misconfigured(format!("cannot encode: {e}")))
    }

    /// Streams the answer to `request` into `sink`, retrying failures that happen before the
    /// first event.
    ///
    /// The retries are made here, after the backoff or the server's `retry-after`, and do not
    /// pass through the caller's rate limiter ([`crate::run::RateLimiter`]): a caller that
    /// waits for a slot before calling this takes one slot for all the attempts it makes.
    ///
    /// # Errors
    /// See [`TeacherError`]; events delivered before an error stay delivered. A continuation
    /// request (`request.continue_from`) that the provider rejects with a client error (HTTP 4xx
    /// other than 401, 403, 408, 409 and 429, e.g. a reasoning model that takes no `prefix`)
    /// fails with [`TeacherError::ContinuationRefused`], so that the caller can fall back to
    /// asking afresh.
    pub async fn stream(
        &self,
        request: &TeacherRequest,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
    ) -> Result<StreamEnd, TeacherError> {
        let (url, body) = self.prepare(request)?;
        let body = serde_json::to_vec(&body)
            .map_err(|e| self.misconfigured(format!("cannot encode: {e}")))?;
        let policy = self.inner.settings.retry;
        let mut attempt = 0;
        // Retries do not pass through the caller's rate limiter (see above): only the backoff
        // or the server's `retry-after` spaces the attempts.
        loop {
            let mut delivered = false;
            match self
                .attempt(url, body.clone(), sink, cancel, &mut delivered)
                .await
            {
                Ok(end) => return Ok(end),
                Err(failure)
                    if !delivered
                        && failure.error.is_retryable()
                        && attempt < policy.max_retries =>
                {
                    let wait = retry::delay(&policy, attempt, failure.retry_after);
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Err(TeacherError::Cancelled),
                        () = tokio::time::sleep(wait) => {}
                    }
                    attempt += 1;
                }
                Err(failure) => {
                    let error = if request.continue_from.is_some() {
                        continuation_refused(failure.error)
                    } else {
                        failure.error
                    };
                    return Err(self.redact(error));
                }
            }
        }
    }

    fn misconfigured(&self, message: String) -> TeacherError {
        TeacherError::Misconfigured {
            provider: self.inner.settings.provider.clone(),
            message,
        }
    }

    /// The endpoint and body for `request`, in the provider's continuation style.
    fn prepare<'a>(
        &'a self,
        request: &'a TeacherRequest,
    ) -> Result<(&'a Url, wire::Body<'a>), TeacherError> {
        let settings = &self.inner.settings;
        let mut messages = Vec::with_capacity(3 + 2 * request.history.len());
        if !request.system.is_empty() {
            messages.push(wire::Message::new("system", &request.system));
        }
        messages.push(wire::Message::new("user", &request.question));
        for turn in &request.history {
            messages.push(wire::Message::new("assistant", &turn.assistant));
            messages.push(wire::Message::new("user", &turn.interjection));
        }
        let mut body = wire::Body {
            model: &settings.model,
            messages,
            temperature: request.params.temperature,
            top_p: request.params.top_p,
            max_tokens: request.params.max_tokens,
            stream: true,
            stream_options: wire::StreamOptions {
                include_usage: true,
            },
            prefix: None,
            continue_final_message: None,
            add_generation_prompt: None,
        };
        let Some(prefix) = request.continue_from.as_deref() else {
            return Ok((&self.inner.url, body));
        };
        let assistant = wire::Message::new("assistant", prefix);
        match settings.continuation {
            ContinuationStyle::AssistantPrefix => body.messages.push(wire::Message {
                prefix: Some(true),
                ..assistant
            }),
            ContinuationStyle::PrefixField => body.prefix = Some(prefix),
            ContinuationStyle::ContinueFinalMessage => {
                body.messages.push(assistant);
                body.continue_final_message = Some(true);
                body.add_generation_prompt = Some(false);
            }
            ContinuationStyle::TrailingAssistant => body.messages.push(assistant),
            ContinuationStyle::None => {
                return Err(self.misconfigured(
                    "this provider cannot continue an assistant turn (continuation = \"none\")"
                        .to_owned(),
                ));
            }
        }
        Ok((&self.inner.continue_url, body))
    }

    /// One request: sends it and reads the answer until it ends.
    async fn attempt(
        &self,
        url: &Url,
        body: Vec<u8>,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
        delivered: &mut bool,
    ) -> Result<StreamEnd, Failure> {
        let inner = &*self.inner;
        let first_token = deadline(inner.settings.timeouts.first_token);
        let mut builder = inner
            .client
            .post(url.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(auth) = &inner.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        let response = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(TeacherError::Cancelled.into()),
            sent = tokio::time::timeout_at(first_token, builder.send()) => match sent {
                Err(_) => return Err(TeacherError::Timeout(TimeoutKind::FirstToken).into()),
                Ok(Err(e)) => return Err(send_error(&e).into()),
                Ok(Ok(response)) => response,
            },
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(response.headers());
            let body = read_error_body(response, cancel, inner.settings.timeouts.idle).await?;
            let message = wire::http_error_message(&body, api_key(&inner.settings))
                .or_else(|| status.canonical_reason().map(str::to_owned))
                .unwrap_or_else(|| "no message".to_owned());
            return Err(Failure {
                error: TeacherError::Http {
                    status: status.as_u16(),
                    message,
                },
                retry_after,
            });
        }
        events::read(
            response,
            first_token,
            &inner.settings,
            sink,
            cancel,
            delivered,
        )
        .await
        .map_err(Failure::from)
    }

    /// Removes the API key from messages that quote the provider (some echo what they got).
    /// Text that was shortened had the key removed before (see [`wire::excerpt`]); this catches
    /// the rest, e.g. a key in a JSON error message, which is kept whole.
    fn redact(&self, error: TeacherError) -> TeacherError {
        let Some(key) = api_key(&self.inner.settings) else {
            return error;
        };
        let clean = |s: String| wire::redact(&s, Some(key)).into_owned();
        match error {
            TeacherError::Http { status, message } => TeacherError::Http {
                status,
                message: clean(message),
            },
            TeacherError::ContinuationRefused { status, message } => {
                TeacherError::ContinuationRefused {
                    status,
                    message: clean(message),
                }
            }
            TeacherError::Provider { message } => TeacherError::Provider {
                message: clean(message),
            },
            TeacherError::Malformed { data, reason } => TeacherError::Malformed {
                data: clean(data),
                reason: clean(reason),
            },
            TeacherError::Connect(m) => TeacherError::Connect(clean(m)),
            TeacherError::Dropped(m) => TeacherError::Dropped(clean(m)),
            other => other,
        }
    }
}

/// The API key, when one is set.
fn api_key(settings: &OpenAiSettings) -> Option<&str> {
    settings
        .api_key
        .as_ref()
        .map(super::provider::ApiKey::expose)
        .filter(|k| !k.is_empty())
}

/// Whether an HTTP status answering a continuation request means the provider will not
/// continue the turn this way: a client error that is not about the key, permissions, a
/// timeout, a conflict or the rate (those would fail, or succeed, the same without
/// continuing).
fn refuses_continuation(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 408 | 409 | 429)
}

/// `error`, as [`TeacherError::ContinuationRefused`] when it is an HTTP error that refuses a
/// continuation request.
fn continuation_refused(error: TeacherError) -> TeacherError {
    match error {
        TeacherError::Http { status, message } if refuses_continuation(status) => {
            TeacherError::ContinuationRefused { status, message }
        }
        other => other,
    }
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of an error response, giving up quietly after
/// `wait` (the status alone is still worth reporting).
async fn read_error_body(
    mut response: reqwest::Response,
    cancel: &CancellationToken,
    wait: Duration,
) -> Result<Vec<u8>, TeacherError> {
    let until = deadline(wait);
    let mut body = Vec::new();
    loop {
        let chunk = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(TeacherError::Cancelled),
            chunk = tokio::time::timeout_at(until, response.chunk()) => chunk,
        };
        match chunk {
            Ok(Ok(Some(bytes))) => {
                body.extend_from_slice(&bytes);
                if body.len() >= ERROR_BODY_LIMIT {
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(body)
}

/// `{base}/chat/completions`, without doubling a trailing slash.
fn endpoint(base: &str) -> Result<Url, String> {
    let base = base.trim();
    let base = base.strip_suffix('/').unwrap_or(base);
    let url = Url::parse(&format!("{base}/chat/completions")).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// A failure before any response arrived.
fn send_error(e: &reqwest::Error) -> TeacherError {
    if e.is_timeout() {
        TeacherError::Timeout(TimeoutKind::Connect)
    } else {
        TeacherError::Connect(error_chain(e))
    }
}

/// An error with its causes, each once: `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

fn deadline(after: Duration) -> Instant {
    Instant::now().checked_add(after).unwrap_or_else(far_future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("https://api.deepseek.com/").map(String::from),
            Ok("https://api.deepseek.com/chat/completions".to_owned())
        );
        assert_eq!(
            endpoint("http://localhost:8000/v1").map(String::from),
            Ok("http://localhost:8000/v1/chat/completions".to_owned())
        );
        assert!(endpoint("ftp://x").is_err());
        assert!(endpoint("not a url").is_err());
    }

    #[test]
    fn which_statuses_refuse_a_continuation() {
        for status in [400, 404, 413, 415, 422] {
            assert!(refuses_continuation(status), "{status}");
        }
        for status in [200, 302, 401, 403, 408, 409, 429, 500, 503] {
            assert!(!refuses_continuation(status), "{status}");
        }
        let refused = continuation_refused(TeacherError::Http {
            status: 400,
            message: "prefix is not supported".to_owned(),
        });
        assert_eq!(
            refused,
            TeacherError::ContinuationRefused {
                status: 400,
                message: "prefix is not supported".to_owned()
            }
        );
        assert!(!refused.is_retryable());
        let limited = TeacherError::Http {
            status: 429,
            message: "slow down".to_owned(),
        };
        assert_eq!(continuation_refused(limited.clone()), limited);
        assert_eq!(
            continuation_refused(TeacherError::Incomplete),
            TeacherError::Incomplete
        );
    }

    #[test]
    fn loopback_hosts() {
        for (url, local) in [
            ("http://localhost:1/v1", true),
            ("http://127.0.0.1:1/v1", true),
            ("http://[::1]:1/v1", true),
            ("https://api.openai.com/v1", false),
        ] {
            assert_eq!(
                is_loopback(&Url::parse(url).expect("valid")),
                local,
                "{url}"
            );
        }
    }
}
