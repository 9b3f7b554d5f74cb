//! The wire format: the request body, the streamed chunks and the providers' error shapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::teacher::{ReasoningField, Usage};

/// The JSON body of one streaming `/chat/completions` request.
#[derive(Serialize)]
pub(super) struct Body<'a> {
    pub model: &'a str,
    pub messages: Vec<Message<'a>>,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub stream: bool,
    pub stream_options: StreamOptions,
    /// `SiliconFlow`'s continuation: the assistant text to continue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<&'a str>,
    /// vLLM's continuation switches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continue_final_message: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_generation_prompt: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Serialize)]
pub(super) struct Message<'a> {
    pub role: &'static str,
    pub content: &'a str,
    /// `DeepSeek`'s continuation marker on a trailing assistant message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<bool>,
}

impl<'a> Message<'a> {
    pub fn new(role: &'static str, content: &'a str) -> Self {
        Self {
            role,
            content,
            prefix: None,
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V(PhantomData))
    }
}

/// One `data:` chunk of the stream; every field is optional so that odd providers still parse.
#[derive(Deserialize)]
pub(super) struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default, borrow)]
    object: Option<Str<'a>>,
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// `choices[0]`, without collecting the rest.
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_seq(V(PhantomData))
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    /// A whole answer, from a server that does not stream.
    #[serde(default, borrow)]
    message: Option<Delta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Str<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Str<'a>>,
    #[serde(default, borrow)]
    reasoning: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens_details: Option<Details>,
    /// Some providers report it at the top level.
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// What one chunk says, in the order it is acted on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    pub error: Option<String>,
    pub reasoning: Option<String>,
    pub text: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

/// Parses one `data:` payload (not `[DONE]`).
pub(super) fn parse_chunk(data: &str, field: ReasoningField) -> Result<Parsed, serde_json::Error> {
    let chunk: Chunk<'_> = serde_json::from_str(data)?;
    let mut parsed = Parsed::default();
    if let Some(error) = chunk.error {
        parsed.error = Some(error_object_message(&error));
        return Ok(parsed);
    }
    if chunk.object.as_ref().is_some_and(|o| o.0 == "error") {
        let mut message = match chunk.message {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => "unknown error".to_owned(),
        };
        if let Some(code) = chunk.code.as_ref().and_then(scalar) {
            message = format!("{message} (code: {code})");
        }
        parsed.error = Some(message);
        return Ok(parsed);
    }
    if let Some(Choice {
        delta,
        message,
        finish_reason,
    }) = chunk.choices.and_then(|c| c.0)
    {
        if let Some(delta) = delta.or(message) {
            let (preferred, other) = match field {
                ReasoningField::ReasoningContent => (delta.reasoning_content, delta.reasoning),
                ReasoningField::Reasoning => (delta.reasoning, delta.reasoning_content),
            };
            parsed.reasoning = non_empty(preferred).or_else(|| non_empty(other));
            parsed.text = non_empty(delta.content);
        }
        parsed.finish_reason = non_empty(finish_reason);
    }
    parsed.usage = chunk.usage.map(|u| {
        let prompt_tokens = u.prompt_tokens.unwrap_or(0);
        let completion_tokens = u.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: u
                .total_tokens
                .unwrap_or(prompt_tokens.saturating_add(completion_tokens)),
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .or(u.reasoning_tokens),
        }
    });
    Ok(parsed)
}

fn non_empty(s: Option<Str<'_>>) -> Option<String> {
    s.filter(|s| !s.0.is_empty()).map(|s| s.0.into_owned())
}

/// A number or string, as text.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The text of an `"error"` value: `{"message", "type", "code"}` or a plain string.
fn error_object_message(error: &serde_json::Value) -> String {
    match error {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(map) => {
            let message = map
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            let details: Vec<String> = ["type", "code"]
                .iter()
                .filter_map(|k| map.get(*k).and_then(scalar).map(|v| format!("{k}: {v}")))
                .collect();
            if details.is_empty() {
                message
            } else {
                format!("{message} ({})", details.join(", "))
            }
        }
        other => other.to_string(),
    }
}

/// The provider's own message in an HTTP error body: `error.message`, `message`, `error` as a
/// string, else the body text (without `key`, then shortened); `None` for an empty body.
pub(super) fn http_error_message(body: &[u8], key: Option<&str>) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = redact(&text, key);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
        let found = match map.get("error") {
            Some(serde_json::Value::Object(e)) => e
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            _ => None,
        }
        .or_else(|| {
            ["message", "detail"]
                .iter()
                .find_map(|k| map.get(*k).and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        });
        if let Some(message) = found.filter(|m| !m.trim().is_empty()) {
            return Some(message);
        }
    }
    Some(truncate(text, 300))
}

/// `s` with every occurrence of `key` replaced by `***` (borrowed when there is none).
pub(super) fn redact<'a>(s: &'a str, key: Option<&str>) -> Cow<'a, str> {
    match key {
        Some(key) if !key.is_empty() && s.contains(key) => Cow::Owned(s.replace(key, "***")),
        _ => Cow::Borrowed(s),
    }
}

/// At most `max` characters of `s` without `key`, for an error message. The key is removed
/// from the whole text first: cut first, a key straddling the cut would leave a prefix that
/// no longer matches.
pub(super) fn excerpt(s: &str, max: usize, key: Option<&str>) -> String {
    truncate(&redact(s, key), max)
}

/// At most `max` characters of `s`, with an ellipsis when cut (on a character boundary).
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> Parsed {
        parse_chunk(data, ReasoningField::ReasoningContent).expect("parses")
    }

    #[test]
    fn content_and_finish() {
        let p = parse(
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a\nb"},"finish_reason":null}],"usage":null}"#,
        );
        assert_eq!(p.text.as_deref(), Some("a\nb"));
        assert_eq!(p.finish_reason, None);
        let p = parse(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#);
        assert_eq!(p.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn a_whole_completion_reads_like_a_delta() {
        let p = parse(
            r#"{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":"all","reasoning_content":"why"},"finish_reason":"stop"}]}"#,
        );
        assert_eq!(p.text.as_deref(), Some("all"));
        assert_eq!(p.reasoning.as_deref(), Some("why"));
        assert_eq!(p.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn empty_and_null_content_is_ignored() {
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":null,"role":"assistant"}}]}"#),
            Parsed::default()
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":""}}]}"#),
            Parsed::default()
        );
    }

    #[test]
    fn reasoning_prefers_the_configured_field() {
        let data = r#"{"choices":[{"delta":{"reasoning":"r","reasoning_content":"rc"}}]}"#;
        assert_eq!(
            parse_chunk(data, ReasoningField::Reasoning)
                .expect("parses")
                .reasoning
                .as_deref(),
            Some("r")
        );
        assert_eq!(parse(data).reasoning.as_deref(), Some("rc"));
        let other = r#"{"choices":[{"delta":{"reasoning":"only"}}]}"#;
        assert_eq!(parse(other).reasoning.as_deref(), Some("only"));
    }

    #[test]
    fn usage_with_reasoning_tokens() {
        let p = parse(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"completion_tokens_details":{"reasoning_tokens":2}}}"#,
        );
        assert_eq!(
            p.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                total_tokens: 8,
                reasoning_tokens: Some(2)
            })
        );
    }

    #[test]
    fn error_shapes() {
        let p = parse(r#"{"error":{"message":"overloaded","type":"server_error","code":503}}"#);
        assert_eq!(
            p.error.as_deref(),
            Some("overloaded (type: server_error, code: 503)")
        );
        let p = parse(r#"{"object":"error","message":"bad","code":400}"#);
        assert_eq!(p.error.as_deref(), Some("bad (code: 400)"));
        let p = parse(r#"{"error":"plain"}"#);
        assert_eq!(p.error.as_deref(), Some("plain"));
    }

    #[test]
    fn http_messages() {
        assert_eq!(
            http_error_message(br#"{"error":{"message":"Invalid key"}}"#, None).as_deref(),
            Some("Invalid key")
        );
        assert_eq!(
            http_error_message(br#"{"object":"error","message":"m"}"#, None).as_deref(),
            Some("m")
        );
        assert_eq!(
            http_error_message(br#"{"error":"s"}"#, None).as_deref(),
            Some("s")
        );
        assert_eq!(
            http_error_message(b"<html>oops</html>", None).as_deref(),
            Some("<html>oops</html>")
        );
        assert_eq!(http_error_message(b"  ", None), None);
        let long = "x".repeat(1000);
        assert_eq!(
            http_error_message(long.as_bytes(), None).map(|m| m.chars().count()),
            Some(301)
        );
    }

    #[test]
    fn the_key_is_removed_before_the_text_is_cut() {
        let key = "sk-0123456789abcdefghijklmnopqrstuvwxyz";
        // The key starts 10 characters before the cut.
        let text = format!("{}{key} and more", "é".repeat(290));
        let message = http_error_message(text.as_bytes(), Some(key)).expect("message");
        assert_eq!(message, format!("{}*** and mo…", "é".repeat(290)));
        assert_eq!(
            excerpt(&text, 295, Some(key)),
            format!("{}*** a…", "é".repeat(290))
        );
        assert_eq!(excerpt(&text, 295, None), truncate(&text, 295));
        assert_eq!(redact("no secret", Some(key)), Cow::Borrowed("no secret"));
        assert_eq!(redact("empty key", Some("")), "empty key");
        assert_eq!(
            redact(&format!("a {key} b {key}"), Some(key)),
            "a *** b ***"
        );
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hé", 2), "hé");
    }
}
