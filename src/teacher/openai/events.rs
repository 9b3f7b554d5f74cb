//! Reading the answer: server-sent events (or, from a server that ignores `stream`, one JSON
//! completion) into the sink.

use std::ops::ControlFlow;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{DRAIN_WAIT, api_key, deadline, error_chain, far_future, wire};
use crate::teacher::provider::OpenAiSettings;
use crate::teacher::{StreamEnd, TeacherError, TeacherEvent, TeacherSink, TimeoutKind, Usage};

/// Reads the event stream into `sink`, then hands over the usage (unless stopped).
pub(super) async fn read(
    response: reqwest::Response,
    first_token: Instant,
    settings: &OpenAiSettings,
    sink: &mut dyn TeacherSink,
    cancel: &CancellationToken,
    delivered: &mut bool,
) -> Result<StreamEnd, TeacherError> {
    let mut deliver = |event: TeacherEvent| {
        *delivered = true;
        sink.on_event(event)
    };
    let mut usage = None;
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let result = if json {
        whole(
            response,
            first_token,
            settings,
            &mut deliver,
            &mut usage,
            cancel,
        )
        .await
    } else {
        pump(
            response,
            first_token,
            settings,
            &mut deliver,
            &mut usage,
            cancel,
        )
        .await
    };
    match (&result, usage) {
        (Err(TeacherError::Cancelled) | Ok(StreamEnd::Stopped), _) | (_, None) => result,
        (_, Some(usage)) => {
            if deliver(TeacherEvent::Usage(usage)).is_break() && result.is_ok() {
                Ok(StreamEnd::Stopped)
            } else {
                result
            }
        }
    }
}

/// Reads the one JSON completion (or error) of a server that ignored `stream: true`.
async fn whole(
    response: reqwest::Response,
    first_token: Instant,
    settings: &OpenAiSettings,
    deliver: &mut (dyn FnMut(TeacherEvent) -> ControlFlow<()> + Send),
    usage: &mut Option<Usage>,
    cancel: &CancellationToken,
) -> Result<StreamEnd, TeacherError> {
    let body = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(TeacherError::Cancelled),
        body = tokio::time::timeout_at(first_token, response.bytes()) => match body {
            Err(_) => return Err(TeacherError::Timeout(TimeoutKind::FirstToken)),
            Ok(Err(e)) => return Err(TeacherError::Dropped(error_chain(&e))),
            Ok(Ok(body)) => body,
        },
    };
    let text = String::from_utf8_lossy(&body);
    let malformed = |reason: String| TeacherError::Malformed {
        data: wire::excerpt(&text, 200, api_key(settings)),
        reason,
    };
    let parsed =
        wire::parse_chunk(&text, settings.reasoning_field).map_err(|e| malformed(e.to_string()))?;
    if let Some(message) = parsed.error {
        return Err(TeacherError::Provider { message });
    }
    if parsed.text.is_none() && parsed.reasoning.is_none() && parsed.finish_reason.is_none() {
        return Err(malformed(
            "a JSON body that is not a chat completion".to_owned(),
        ));
    }
    *usage = parsed.usage;
    if deliver_deltas(parsed.reasoning, parsed.text, deliver).is_break() {
        return Ok(StreamEnd::Stopped);
    }
    Ok(StreamEnd::Finished {
        reason: parsed.finish_reason,
    })
}

/// Reads events until the stream ends; returning drops (and so closes) the connection.
async fn pump(
    response: reqwest::Response,
    first_token: Instant,
    settings: &OpenAiSettings,
    deliver: &mut (dyn FnMut(TeacherEvent) -> ControlFlow<()> + Send),
    usage: &mut Option<Usage>,
    cancel: &CancellationToken,
) -> Result<StreamEnd, TeacherError> {
    let idle = settings.timeouts.idle;
    let start = Instant::now();
    // When bytes last arrived, in nanoseconds after `start`; keep-alive comments count.
    let last_bytes = AtomicU64::new(0);
    let mut events = pin!(
        response
            .bytes_stream()
            .map(|chunk| {
                last_bytes.store(nanos_since(start), Ordering::Relaxed);
                chunk
            })
            .eventsource()
    );
    let mut timer = pin!(tokio::time::sleep_until(first_token));
    // Made once: a fresh `cancelled()` per chunk would register a waiter per chunk.
    let mut cancelled = pin!(cancel.cancelled());
    let mut seen_token = false;
    let mut finish: Option<String> = None;
    loop {
        let item = tokio::select! {
            biased;
            () = cancelled.as_mut() => return Err(TeacherError::Cancelled),
            item = events.next() => item,
            () = timer.as_mut() => {
                if !seen_token {
                    return Err(TeacherError::Timeout(TimeoutKind::FirstToken));
                }
                let since = Duration::from_nanos(last_bytes.load(Ordering::Relaxed));
                let due = start
                    .checked_add(since)
                    .and_then(|t| t.checked_add(idle))
                    .unwrap_or_else(far_future);
                if due > Instant::now() {
                    timer.as_mut().reset(due);
                    continue;
                }
                // A finished turn whose server keeps the connection open is still finished.
                return finished_or(finish, TeacherError::Timeout(TimeoutKind::Idle));
            }
        };
        let event = match item {
            Some(Ok(event)) => event,
            None => return finished_or(finish, TeacherError::Incomplete),
            Some(Err(e)) => return stream_error(e, finish, api_key(settings)),
        };
        let data = event.data.trim();
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            // Read the end of the body when it is already on its way, so that the
            // connection goes back to the pool instead of being closed.
            tokio::select! {
                biased;
                () = cancelled.as_mut() => {}
                _ = tokio::time::timeout(DRAIN_WAIT, events.next()) => {}
            }
            return Ok(StreamEnd::Finished { reason: finish });
        }
        let parsed = parse(data, event.event == "error", settings)?;
        if parsed.reasoning.is_some() || parsed.text.is_some() {
            if !seen_token {
                seen_token = true;
                timer.as_mut().reset(deadline(idle));
            }
            if deliver_deltas(parsed.reasoning, parsed.text, deliver).is_break() {
                return Ok(StreamEnd::Stopped);
            }
        }
        if parsed.finish_reason.is_some() {
            finish = parsed.finish_reason;
        }
        if parsed.usage.is_some() {
            *usage = parsed.usage;
        }
    }
}

/// Parses one event's data; `event: error` marks an error whatever its data looks like.
fn parse(
    data: &str,
    error_event: bool,
    settings: &OpenAiSettings,
) -> Result<wire::Parsed, TeacherError> {
    let key = api_key(settings);
    let as_error = || TeacherError::Provider {
        message: wire::excerpt(data, 300, key),
    };
    let parsed = match wire::parse_chunk(data, settings.reasoning_field) {
        Ok(parsed) => parsed,
        Err(_) if error_event => return Err(as_error()),
        Err(e) => {
            return Err(TeacherError::Malformed {
                data: wire::excerpt(data, 200, key),
                reason: e.to_string(),
            });
        }
    };
    match parsed.error {
        Some(message) => Err(TeacherError::Provider { message }),
        None if error_event => Err(as_error()),
        None => Ok(parsed),
    }
}

/// Hands reasoning, then text, to the sink; `Break` when it stopped.
fn deliver_deltas(
    reasoning: Option<String>,
    text: Option<String>,
    deliver: &mut (dyn FnMut(TeacherEvent) -> ControlFlow<()> + Send),
) -> ControlFlow<()> {
    if let Some(reasoning) = reasoning {
        deliver(TeacherEvent::Reasoning(reasoning))?;
    }
    if let Some(text) = text {
        deliver(TeacherEvent::Text(text))?;
    }
    ControlFlow::Continue(())
}

/// A failure reading the event stream; quoted input is shortened after `key` is removed.
fn stream_error(
    e: EventStreamError<reqwest::Error>,
    finish: Option<String>,
    key: Option<&str>,
) -> Result<StreamEnd, TeacherError> {
    match e {
        EventStreamError::Transport(e) => {
            finished_or(finish, TeacherError::Dropped(error_chain(&e)))
        }
        EventStreamError::Utf8(e) => Err(TeacherError::Malformed {
            data: wire::excerpt(&String::from_utf8_lossy(e.as_bytes()), 200, key),
            reason: format!("invalid UTF-8: {}", e.utf8_error()),
        }),
        EventStreamError::Parser(e) => Err(TeacherError::Malformed {
            data: wire::excerpt(&e.input, 200, key),
            reason: "not a server-sent event line".to_owned(),
        }),
    }
}

/// The turn's end when a finish reason was seen, else `error`.
fn finished_or(finish: Option<String>, error: TeacherError) -> Result<StreamEnd, TeacherError> {
    match finish {
        Some(reason) => Ok(StreamEnd::Finished {
            reason: Some(reason),
        }),
        None => Err(error),
    }
}

fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
