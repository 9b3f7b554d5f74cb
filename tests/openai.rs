//! The OpenAI-compatible teacher against a scripted loopback server: every fault it must survive.

#[path = "support/openai_mock.rs"]
mod openai_mock;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use moss_thinking::prompt::ModelParams;
use moss_thinking::teacher::provider::{ApiKey, OpenAiSettings};
use moss_thinking::teacher::{
    ContinuationStyle, OpenAiTeacher, ReasoningField, RetryPolicy, StreamEnd, TeacherError,
    TeacherEvent, TeacherRequest, TimeoutKind, Timeouts, Usage,
};
use openai_mock::{
    End, MockServer, Reply, Request, StreamReply, always, comment, content, error_flat,
    error_object, finish, raw, reasoning, reasoning_in, sequence, usage, usage_with_reasoning,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-moss-test-DO-NOT-LEAK-5e1f0c9a";

fn settings(base_url: &str) -> OpenAiSettings {
    OpenAiSettings {
        provider: "mock".to_owned(),
        base_url: base_url.to_owned(),
        model: "mock-model".to_owned(),
        api_key: Some(ApiKey::new(KEY.to_owned())),
        reasoning_field: ReasoningField::ReasoningContent,
        continuation: ContinuationStyle::None,
        continuation_base_url: None,
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            first_token: Duration::from_secs(3),
            idle: Duration::from_secs(3),
        },
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(500),
        },
    }
}

fn teacher(settings: OpenAiSettings) -> OpenAiTeacher {
    OpenAiTeacher::new(settings).expect("teacher")
}

fn request() -> TeacherRequest {
    TeacherRequest {
        sample_id: "s1".to_owned(),
        system: "Think while you speak.".to_owned(),
        question: "What is 6 × 7?".to_owned(),
        params: ModelParams::default(),
        history: Vec::new(),
        continue_from: None,
    }
}

fn continuing(prefix: &str) -> TeacherRequest {
    TeacherRequest {
        history: Vec::new(),
        continue_from: Some(prefix.to_owned()),
        ..request()
    }
}

type Outcome = (Result<StreamEnd, TeacherError>, Vec<TeacherEvent>);

async fn run_with(teacher: &OpenAiTeacher, request: &TeacherRequest) -> Outcome {
    let mut events = Vec::new();
    let mut sink = |event| {
        events.push(event);
        ControlFlow::Continue(())
    };
    let result = teacher
        .stream(request, &mut sink, &CancellationToken::new())
        .await;
    (result, events)
}

async fn run(settings: OpenAiSettings) -> Outcome {
    run_with(&teacher(settings), &request()).await
}

fn text(events: &[TeacherEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TeacherEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn reasoning_text(events: &[TeacherEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TeacherEvent::Reasoning(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn usages(events: &[TeacherEvent]) -> Vec<Usage> {
    events
        .iter()
        .filter_map(|e| match e {
            TeacherEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .collect()
}

#[allow(clippy::unnecessary_wraps)] // compared with results
fn finished(reason: &str) -> Result<StreamEnd, TeacherError> {
    Ok(StreamEnd::Finished {
        reason: Some(reason.to_owned()),
    })
}

const ANSWER: &str = "Six times seven: 6 × 7 = 42. Let me check — 42 ✓ 🎉\nDone.";

// --- the request ------------------------------------------------------------------------------

#[tokio::test]
async fn streams_text_and_sends_the_documented_request() {
    let server = MockServer::start(always(StreamReply::text(ANSWER, 3).into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), ANSWER);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, TeacherEvent::Text(t) if t.is_empty()))
    );
    let n = ANSWER.chars().count().div_ceil(3) as u64;
    assert_eq!(
        usages(&events),
        vec![Usage {
            prompt_tokens: 10,
            completion_tokens: n,
            total_tokens: 10 + n,
            reasoning_tokens: None
        }]
    );
    assert!(matches!(events.last(), Some(TeacherEvent::Usage(_))));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(req.header("accept"), Some("text/event-stream"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let params = ModelParams::default();
    assert_eq!(
        req.body,
        json!({
            "model": "mock-model",
            "messages": [
                {"role": "system", "content": "Think while you speak."},
                {"role": "user", "content": "What is 6 × 7?"},
            ],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
    assert_eq!(req.question(), Some("What is 6 × 7?"));
    assert_eq!(req.prefix(), None);
    let t = teacher(settings(&server.base_url));
    assert_eq!(t.request_body(&request()).expect("body"), req.body);
    assert_eq!(
        t.request_url(&request()),
        format!("{}/chat/completions", server.base_url)
    );
}

#[tokio::test]
async fn authorization_only_with_a_key_and_empty_system_is_omitted() {
    let server = MockServer::start(always(Reply::text("ok"))).await;
    let mut s = settings(&format!("{}/", server.base_url));
    s.api_key = None;
    let t = teacher(s);
    let req = TeacherRequest {
        system: String::new(),
        ..request()
    };
    let (result, events) = run_with(&t, &req).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "ok");
    let got = &server.requests()[0];
    assert_eq!(got.path, "/v1/chat/completions", "trailing slash trimmed");
    assert_eq!(got.authorization, None);
    assert_eq!(
        got.body["messages"],
        json!([{"role": "user", "content": "What is 6 × 7?"}])
    );

    let (result, _) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(
        server.requests()[1].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
}

// --- stream parsing ---------------------------------------------------------------------------

fn mixed_reply() -> StreamReply {
    let mut frames = vec![comment("keep-alive")];
    frames.extend(
        openai_mock::chunks("Let me think… 思考中 🤔", 2)
            .iter()
            .map(|c| reasoning(c)),
    );
    frames.extend(openai_mock::chunks(ANSWER, 5).iter().map(|c| content(c)));
    frames.push(finish("stop"));
    frames.push(usage(12, 34));
    StreamReply::new(frames)
}

#[tokio::test]
async fn tiny_splits_give_the_same_stream() {
    let server = MockServer::start(|req: &Request| {
        let split = req.index % 8;
        let reply = mixed_reply();
        if split == 0 {
            reply.into()
        } else {
            reply.with_split(split).into()
        }
    })
    .await;
    let t = teacher(settings(&server.base_url));
    let (result, whole) = run_with(&t, &request()).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&whole), ANSWER);
    assert_eq!(reasoning_text(&whole), "Let me think… 思考中 🤔");
    for split in 1..=7 {
        let (result, events) = run_with(&t, &request()).await;
        assert_eq!(result, finished("stop"), "split {split}");
        assert_eq!(text(&events), ANSWER, "split {split}");
        assert_eq!(
            reasoning_text(&events),
            reasoning_text(&whole),
            "split {split}"
        );
        assert_eq!(usages(&events), usages(&whole), "split {split}");
    }
    assert_eq!(server.request_count(), 8);
}

#[tokio::test]
async fn keep_alive_comments_are_ignored() {
    let reply = StreamReply::new(vec![
        comment("keep-alive"),
        comment(""),
        raw(":no space comment\n\n"),
        content("a"),
        comment("OPENROUTER PROCESSING"),
        content("b"),
        raw(": two\n: comments\n\n"),
        finish("stop"),
    ]);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(
        events,
        vec![
            TeacherEvent::Text("a".into()),
            TeacherEvent::Text("b".into())
        ]
    );
}

#[tokio::test]
async fn reasoning_is_kept_apart_from_text_in_either_field() {
    let reply = StreamReply::new(vec![
        reasoning("first "),
        reasoning_in("reasoning", "second"),
        openai_mock::delta(&json!({"content": null, "reasoning_content": ""})),
        content("Answer."),
        finish("stop"),
    ]);
    let server = MockServer::start(always(reply.into())).await;
    for field in [ReasoningField::ReasoningContent, ReasoningField::Reasoning] {
        let mut s = settings(&server.base_url);
        s.reasoning_field = field;
        let (result, events) = run(s).await;
        assert_eq!(result, finished("stop"));
        assert_eq!(
            events,
            vec![
                TeacherEvent::Reasoning("first ".into()),
                TeacherEvent::Reasoning("second".into()),
                TeacherEvent::Text("Answer.".into()),
            ]
        );
    }
}

#[tokio::test]
async fn the_usage_chunk_with_empty_choices_is_reported_once() {
    let reply = StreamReply::new(vec![
        content("x"),
        usage(1, 1),
        finish("stop"),
        usage_with_reasoning(7, 20, 5),
    ]);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(
        usages(&events),
        vec![Usage {
            prompt_tokens: 7,
            completion_tokens: 20,
            total_tokens: 27,
            reasoning_tokens: Some(5)
        }]
    );
}

#[tokio::test]
async fn multi_line_data_is_joined() {
    let reply = StreamReply::new(vec![
        raw("data: {\"choices\":[{\"index\":0,\n"),
        raw("data: \"delta\":{\"content\":\"multi\"}}]}\n\n"),
        raw("data: {\"choices\":[{\"delta\":{\"content\":\"-line\"}}]}\r\n\r\n"),
        finish("stop"),
    ]);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "multi-line");
}

#[tokio::test]
async fn done_without_a_finish_reason_is_finished() {
    let server = MockServer::start(always(StreamReply::new(vec![content("hi")]).into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, Ok(StreamEnd::Finished { reason: None }));
    assert_eq!(text(&events), "hi");
}

#[tokio::test]
async fn a_finish_reason_without_done_is_finished() {
    for end in [End::Close, End::Drop] {
        let reply = StreamReply::new(vec![content("cut "), content("short"), finish("length")])
            .with_end(end);
        let server = MockServer::start(always(reply.into())).await;
        let (result, events) = run(settings(&server.base_url)).await;
        assert_eq!(result, finished("length"), "{end:?}");
        assert_eq!(text(&events), "cut short");
    }
}

// --- failures mid-stream ----------------------------------------------------------------------

#[tokio::test]
async fn no_done_and_no_finish_reason_is_incomplete() {
    let reply = StreamReply::new(vec![content("half "), content("an answer")]).with_end(End::Close);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, Err(TeacherError::Incomplete));
    assert_eq!(text(&events), "half an answer");
    assert_eq!(server.request_count(), 1, "never retried after text");
}

#[tokio::test]
async fn a_dropped_connection_keeps_the_partial_text() {
    let reply = StreamReply::new(vec![content("partial "), content("text")])
        .with_gap(Duration::from_millis(5))
        .with_end(End::Drop);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert!(
        matches!(result, Err(TeacherError::Dropped(_))),
        "{result:?}"
    );
    assert_eq!(text(&events), "partial text");
    assert_eq!(server.request_count(), 1, "never retried after text");
}

#[tokio::test]
async fn error_objects_mid_stream_in_both_shapes() {
    for (frame, needle) in [
        (error_object("model overloaded"), "model overloaded"),
        (error_flat("context too long"), "context too long"),
    ] {
        let reply = StreamReply::new(vec![content("partial "), frame, content("never")]);
        let server = MockServer::start(always(reply.into())).await;
        let (result, events) = run(settings(&server.base_url)).await;
        match result {
            Err(TeacherError::Provider { message }) => {
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("expected a provider error, got {other:?}"),
        }
        assert_eq!(text(&events), "partial ");
        assert_eq!(server.request_count(), 1);
    }
}

#[tokio::test]
async fn an_sse_error_event_is_a_provider_error() {
    for data in ["upstream timed out", r#"{"message":"upstream timed out"}"#] {
        let reply = StreamReply::new(vec![
            content("so far"),
            raw(&format!("event: error\ndata: {data}\n\n")),
        ]);
        let server = MockServer::start(always(reply.into())).await;
        let (result, events) = run(settings(&server.base_url)).await;
        match result {
            Err(TeacherError::Provider { message }) => {
                assert!(message.contains("upstream timed out"), "{message}");
            }
            other => panic!("expected a provider error, got {other:?}"),
        }
        assert_eq!(text(&events), "so far");
    }
}

#[tokio::test]
async fn a_server_that_ignores_stream_sends_one_completion() {
    let completion = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Whole answer.", "reasoning_content": "hmm"},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    });
    let json_reply = |body: String| {
        always(Reply::status(200, body).with_header("content-type", "application/json"))
    };
    let server = MockServer::start(json_reply(completion.to_string())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(
        events,
        vec![
            TeacherEvent::Reasoning("hmm".into()),
            TeacherEvent::Text("Whole answer.".into()),
            TeacherEvent::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                total_tokens: 7,
                reasoning_tokens: None
            }),
        ]
    );

    let server = MockServer::start(json_reply(
        json!({"error": {"message": "stream not supported"}}).to_string(),
    ))
    .await;
    let (result, _) = run(settings(&server.base_url)).await;
    assert_eq!(
        result,
        Err(TeacherError::Provider {
            message: "stream not supported".to_owned()
        })
    );

    let server = MockServer::start(json_reply("{}".to_owned())).await;
    let (result, _) = run(settings(&server.base_url)).await;
    assert!(
        matches!(result, Err(TeacherError::Malformed { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_malformed_line_is_reported() {
    let reply = StreamReply::new(vec![content("ok"), raw("data: {not json at all\n\n")]);
    let server = MockServer::start(always(reply.into())).await;
    let (result, events) = run(settings(&server.base_url)).await;
    match result {
        Err(TeacherError::Malformed { data, reason }) => {
            assert_eq!(data, "{not json at all");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(text(&events), "ok");
}

// --- HTTP errors and retries ------------------------------------------------------------------

#[tokio::test]
async fn retry_after_ms_is_honoured() {
    let server = MockServer::start(sequence(vec![
        Reply::error(429, "rate limited").with_header("retry-after-ms", "60"),
        Reply::text("after the wait"),
    ]))
    .await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "after the wait");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at - requests[0].received_at;
    // The base delay is 1 ms: only the header explains the wait (no upper bound: a busy
    // machine only adds to it).
    assert!(waited >= Duration::from_millis(60), "{waited:?}");
}

#[tokio::test]
async fn retry_after_seconds_is_honoured_up_to_max_delay() {
    // (header, max-delay, least wait); the base delay is 1 ms, so only the header explains the
    // wait. The second server asks for an hour: that the test ends at all shows the cap.
    let cases = [
        ("1", Duration::from_secs(5), Duration::from_secs(1)),
        (
            "3600",
            Duration::from_millis(120),
            Duration::from_millis(120),
        ),
    ];
    for (header, max_delay, least) in cases {
        let server = MockServer::start(sequence(vec![
            Reply::error(429, "rate limited").with_header("retry-after", header),
            Reply::text("ok"),
        ]))
        .await;
        let mut s = settings(&server.base_url);
        s.retry.max_delay = max_delay;
        let (result, _) = run(s).await;
        assert_eq!(result, finished("stop"));
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        let waited = requests[1].received_at - requests[0].received_at;
        assert!(waited >= least, "retry-after {header}: {waited:?}");
    }
}

#[tokio::test]
async fn a_server_error_then_success() {
    let server = MockServer::start(sequence(vec![
        Reply::error(500, "internal hiccup"),
        Reply::error(503, "warming up"),
        Reply::text("fine now"),
    ]))
    .await;
    let (result, events) = run(settings(&server.base_url)).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "fine now");
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_provider_message() {
    let server = MockServer::start(always(Reply::error(502, "upstream exploded"))).await;
    let mut s = settings(&server.base_url);
    s.retry.max_retries = 3;
    s.retry.base_delay = Duration::from_millis(5);
    let started = Instant::now();
    let (result, events) = run(s).await;
    assert_eq!(
        result,
        Err(TeacherError::Http {
            status: 502,
            message: "upstream exploded".to_owned()
        })
    );
    assert!(events.is_empty());
    assert_eq!(server.request_count(), 4);
    // Backoff 5, 10, 20 ms with ±25 % jitter.
    assert!(started.elapsed() >= Duration::from_millis(26));
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let server = MockServer::start(always(Reply::Status {
        status: 401,
        headers: vec![],
        body: r#"{"error":{"message":"Invalid API key.","type":"invalid_request_error","code":"invalid_api_key"}}"#
            .to_owned(),
    }))
    .await;
    let (result, _) = run(settings(&server.base_url)).await;
    assert_eq!(
        result,
        Err(TeacherError::Http {
            status: 401,
            message: "Invalid API key.".to_owned()
        })
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn http_error_messages_fall_back_sensibly() {
    let cases = [
        (
            Reply::status(
                400,
                r#"{"object":"error","message":"bad prompt","code":400}"#,
            ),
            400,
            "bad prompt",
        ),
        (
            Reply::status(404, r#"{"error":"no such model"}"#),
            404,
            "no such model",
        ),
        (
            Reply::status(403, "<html>Forbidden by proxy</html>"),
            403,
            "<html>Forbidden by proxy</html>",
        ),
        (Reply::status(503, ""), 503, "Service Unavailable"),
    ];
    for (reply, status, message) in cases {
        let server = MockServer::start(always(reply)).await;
        let mut s = settings(&server.base_url);
        s.retry.max_retries = 0;
        let (result, _) = run(s).await;
        assert_eq!(
            result,
            Err(TeacherError::Http {
                status,
                message: message.to_owned()
            })
        );
    }
    let long = "x".repeat(5000);
    let server = MockServer::start(always(Reply::status(400, long))).await;
    let (result, _) = run(settings(&server.base_url)).await;
    match result {
        Err(TeacherError::Http {
            status: 400,
            message,
        }) => {
            assert!(message.chars().count() <= 301, "{}", message.len());
        }
        other => panic!("{other:?}"),
    }
}

/// A port with nothing listening.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn connect_failures_are_retried_then_reported() {
    let base = closed_port().await;
    let mut s = settings(&base);
    s.retry.max_retries = 2;
    s.retry.base_delay = Duration::from_millis(50);
    let t = teacher(s.clone());
    let started = Instant::now();
    let (result, events) = run_with(&t, &request()).await;
    assert!(
        matches!(&result, Err(TeacherError::Connect(m)) if m.contains("127.0.0.1")),
        "{result:?}"
    );
    assert!(events.is_empty());
    // Two backoffs: 50 and 100 ms, less 25 % jitter.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(112), "{took:?}");

    // Without retries it gives up at once: with an hour's backoff, a retry would never end.
    s.retry.max_retries = 0;
    s.retry.base_delay = Duration::from_secs(3600);
    s.retry.max_delay = Duration::from_secs(3600);
    let t = teacher(s);
    let (result, _) = run_with(&t, &request()).await;
    assert!(
        matches!(result, Err(TeacherError::Connect(_))),
        "{result:?}"
    );
}

// --- timeouts ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_connect_timeout_is_reported_and_retried() {
    // A listener whose accept queue is full: further handshakes get no answer.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    let full = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
            Ok(stream) if held.len() < 64 => held.push(stream),
            Ok(_) => break false,
            Err(_) => break true,
        }
    };
    if !full {
        eprintln!("cannot fill the accept queue here; skipping");
        return;
    }
    let mut s = settings(&format!("http://{addr}/v1"));
    s.timeouts.connect = Duration::from_millis(100);
    s.retry.max_retries = 1;
    let t = teacher(s);
    let started = Instant::now();
    let (result, events) = run_with(&t, &request()).await;
    assert_eq!(result, Err(TeacherError::Timeout(TimeoutKind::Connect)));
    assert!(events.is_empty());
    // Two attempts, each waited out (a timeout never fires early).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "two attempts: {took:?}");
    drop(listener);
}

#[tokio::test]
async fn a_slow_first_token_times_out_even_with_headers_and_keep_alives() {
    // Headers at once, then only keep-alive comments.
    let keep_alives = StreamReply::new(vec![comment("keep-alive"); 40])
        .with_gap(Duration::from_millis(20))
        .then(content("too late"));
    // No headers at all for an hour.
    let late_headers = StreamReply::text("too late", 4).with_head_delay(Duration::from_secs(3600));
    for reply in [keep_alives, late_headers] {
        let server = MockServer::start(always(reply.into())).await;
        let mut s = settings(&server.base_url);
        s.timeouts.first_token = Duration::from_millis(150);
        let started = Instant::now();
        let (result, events) = run(s).await;
        assert_eq!(result, Err(TeacherError::Timeout(TimeoutKind::FirstToken)));
        assert!(events.is_empty());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert_eq!(
            server.request_count(),
            1,
            "a first-token timeout is not retried"
        );
    }
}

#[tokio::test]
async fn an_idle_stream_times_out_and_keeps_the_text() {
    // "b" would come an hour later.
    let reply =
        StreamReply::new(vec![content("a"), content("b")]).with_gap(Duration::from_secs(3600));
    let server = MockServer::start(always(reply.into())).await;
    let mut s = settings(&server.base_url);
    s.timeouts.idle = Duration::from_millis(120);
    let started = Instant::now();
    let (result, events) = run(s).await;
    assert_eq!(result, Err(TeacherError::Timeout(TimeoutKind::Idle)));
    assert_eq!(text(&events), "a");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(120), "{took:?}");
}

#[tokio::test]
async fn keep_alives_and_slow_chunks_within_the_idle_limit_do_not_time_out() {
    // Each gap is shorter than the idle limit; the whole stream is much longer.
    let reply = StreamReply::new(vec![
        content("a"),
        comment("keep-alive"),
        comment("keep-alive"),
        comment("keep-alive"),
        content("b"),
        comment("keep-alive"),
        comment("keep-alive"),
        content("c"),
        finish("stop"),
    ])
    .with_gap(Duration::from_millis(50));
    let server = MockServer::start(always(reply.into())).await;
    let mut s = settings(&server.base_url);
    s.timeouts.idle = Duration::from_millis(140);
    s.timeouts.first_token = Duration::from_millis(140);
    let (result, events) = run(s).await;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "abc");
}

// --- stopping ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_hanging_stream_closes_the_connection_at_once() {
    let reply = StreamReply::new(vec![content("started")]).with_end(End::Hang);
    let server = MockServer::start(always(reply.into())).await;
    let t = teacher(settings(&server.base_url));
    let cancel = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut sink = move |event| {
                let _ = tx.send(event);
                ControlFlow::Continue(())
            };
            t.stream(&request(), &mut sink, &cancel).await
        })
    };
    assert_eq!(rx.recv().await, Some(TeacherEvent::Text("started".into())));
    assert_eq!(server.open_streams(), 1);
    // The stream never ends by itself: only the cancellation can end the task.
    cancel.cancel();
    let result = task.await.expect("join");
    assert_eq!(result, Err(TeacherError::Cancelled));
    assert!(
        server
            .wait_until(Duration::from_secs(2), |s| s.abandoned_streams() == 1)
            .await,
        "the server saw the connection close"
    );
    assert_eq!(server.open_streams(), 0);
}

#[tokio::test]
async fn cancelling_while_waiting_for_headers_or_a_retry() {
    // Headers an hour away, or a retry an hour away: only the cancellation can end these.
    let slow_headers =
        Reply::from(StreamReply::text("x", 1).with_head_delay(Duration::from_secs(3600)));
    let rate_limited = Reply::error(429, "busy").with_header("retry-after", "3600");
    for reply in [slow_headers, rate_limited] {
        let server = MockServer::start(always(reply)).await;
        let mut s = settings(&server.base_url);
        s.retry.max_delay = Duration::from_secs(7200);
        let t = teacher(s);
        let cancel = CancellationToken::new();
        let task = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let mut sink = |_| ControlFlow::Continue(());
                t.stream(&request(), &mut sink, &cancel).await
            })
        };
        // Cancelled once the server has the request (the client is then waiting).
        assert!(
            server
                .wait_until(Duration::from_secs(60), |s| s.request_count() == 1)
                .await
        );
        cancel.cancel();
        assert_eq!(task.await.expect("join"), Err(TeacherError::Cancelled));
        assert_eq!(server.request_count(), 1);
    }
    let t = teacher(settings(&closed_port().await));
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut sink = |_| ControlFlow::Continue(());
    assert_eq!(
        t.stream(&request(), &mut sink, &cancel).await,
        Err(TeacherError::Cancelled)
    );
}

#[tokio::test]
async fn a_sink_break_stops_the_stream() {
    let reply = StreamReply::text(&"word ".repeat(200), 5).with_gap(Duration::from_millis(2));
    let server = MockServer::start(always(reply.into())).await;
    let t = teacher(settings(&server.base_url));
    let mut events = Vec::new();
    let mut sink = |event| {
        events.push(event);
        if events.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let result = t
        .stream(&request(), &mut sink, &CancellationToken::new())
        .await;
    assert_eq!(result, Ok(StreamEnd::Stopped));
    assert_eq!(events.len(), 3, "no event after the break");
    assert_eq!(text(&events), "word word word ");
    assert!(
        server
            .wait_until(Duration::from_secs(2), |s| s.abandoned_streams() == 1)
            .await,
        "the connection was closed"
    );
}

// --- continuation -----------------------------------------------------------------------------

const PREFIX: &str = "Let me compute: 6 × 7 = ";

async fn continue_with(
    style: ContinuationStyle,
    beta: bool,
) -> (MockServer, OpenAiTeacher, Outcome) {
    let server = MockServer::start(always(
        StreamReply::new(vec![content("42."), finish("stop")]).into(),
    ))
    .await;
    let mut s = settings(&server.base_url);
    s.continuation = style;
    if beta {
        s.continuation_base_url = Some(server.url("/beta/"));
    }
    let t = teacher(s);
    let outcome = run_with(&t, &continuing(PREFIX)).await;
    (server, t, outcome)
}

fn base_messages() -> Vec<serde_json::Value> {
    vec![
        json!({"role": "system", "content": "Think while you speak."}),
        json!({"role": "user", "content": "What is 6 × 7?"}),
    ]
}

fn base_body(messages: &[serde_json::Value]) -> serde_json::Value {
    let params = ModelParams::default();
    json!({
        "model": "mock-model",
        "messages": messages,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

fn check_continuation(
    server: &MockServer,
    t: &OpenAiTeacher,
    outcome: Outcome,
    path: &str,
    expected: &serde_json::Value,
) {
    let (result, events) = outcome;
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "42.", "only the new text is streamed");
    let got = &server.requests()[0];
    assert_eq!(got.path, path);
    assert_eq!(&got.body, expected);
    assert_eq!(got.prefix(), Some(PREFIX));
    assert_eq!(
        &t.request_body(&continuing(PREFIX)).expect("body"),
        expected
    );
    assert!(t.can_continue());
}

#[tokio::test]
async fn continuation_with_an_assistant_prefix_goes_to_the_beta_endpoint() {
    let (server, t, outcome) = continue_with(ContinuationStyle::AssistantPrefix, true).await;
    let mut messages = base_messages();
    messages.push(json!({"role": "assistant", "content": PREFIX, "prefix": true}));
    check_continuation(
        &server,
        &t,
        outcome,
        "/beta/chat/completions",
        &base_body(&messages),
    );
    assert_eq!(
        t.request_url(&continuing(PREFIX)),
        server.url("/beta/chat/completions")
    );
    assert_eq!(
        t.request_url(&request()),
        server.url("/v1/chat/completions")
    );
    // Without a continuation base URL, the usual one.
    let (server, t, outcome) = continue_with(ContinuationStyle::AssistantPrefix, false).await;
    let mut messages = base_messages();
    messages.push(json!({"role": "assistant", "content": PREFIX, "prefix": true}));
    check_continuation(
        &server,
        &t,
        outcome,
        "/v1/chat/completions",
        &base_body(&messages),
    );
}

#[tokio::test]
async fn continuation_with_a_prefix_field() {
    let (server, t, outcome) = continue_with(ContinuationStyle::PrefixField, false).await;
    let mut expected = base_body(&base_messages());
    expected["prefix"] = json!(PREFIX);
    check_continuation(&server, &t, outcome, "/v1/chat/completions", &expected);
}

#[tokio::test]
async fn continuation_with_continue_final_message() {
    let (server, t, outcome) = continue_with(ContinuationStyle::ContinueFinalMessage, false).await;
    let mut messages = base_messages();
    messages.push(json!({"role": "assistant", "content": PREFIX}));
    let mut expected = base_body(&messages);
    expected["continue_final_message"] = json!(true);
    expected["add_generation_prompt"] = json!(false);
    check_continuation(&server, &t, outcome, "/v1/chat/completions", &expected);
}

#[tokio::test]
async fn continuation_with_a_trailing_assistant_message() {
    let (server, t, outcome) = continue_with(ContinuationStyle::TrailingAssistant, false).await;
    let mut messages = base_messages();
    messages.push(json!({"role": "assistant", "content": PREFIX}));
    check_continuation(
        &server,
        &t,
        outcome,
        "/v1/chat/completions",
        &base_body(&messages),
    );
}

#[tokio::test]
async fn a_provider_without_continuation_refuses() {
    let (server, t, (result, events)) = continue_with(ContinuationStyle::None, false).await;
    assert!(!t.can_continue());
    assert!(
        matches!(result, Err(TeacherError::Misconfigured { .. })),
        "{result:?}"
    );
    assert!(events.is_empty());
    assert_eq!(server.request_count(), 0);
    assert!(t.request_body(&continuing(PREFIX)).is_err());
}

async fn refused_continuation(
    reply: Reply,
    style: ContinuationStyle,
    request: &TeacherRequest,
) -> (MockServer, Result<StreamEnd, TeacherError>) {
    let server = MockServer::start(always(reply)).await;
    let mut s = settings(&server.base_url);
    s.continuation = style;
    s.retry.max_retries = 1;
    let (result, events) = run_with(&teacher(s), request).await;
    assert!(events.is_empty());
    (server, result)
}

#[tokio::test]
async fn a_continuation_the_provider_rejects_is_refused_not_retried() {
    // SiliconFlow rejects `prefix` for a reasoning model with a 400.
    let message = "prefix is not supported for reasoning models";
    let (server, result) = refused_continuation(
        Reply::error(400, message),
        ContinuationStyle::PrefixField,
        &continuing(PREFIX),
    )
    .await;
    let error = result.expect_err("refused");
    assert_eq!(
        error,
        TeacherError::ContinuationRefused {
            status: 400,
            message: message.to_owned()
        }
    );
    assert_eq!(
        error.to_string(),
        format!("the provider refused to continue the turn (HTTP 400: {message})")
    );
    assert!(!error.is_retryable());
    assert_eq!(server.request_count(), 1, "a refusal is not retried");
    assert_eq!(server.requests()[0].prefix(), Some(PREFIX));

    for (status, style) in [
        (404, ContinuationStyle::AssistantPrefix),
        (422, ContinuationStyle::ContinueFinalMessage),
        (413, ContinuationStyle::TrailingAssistant),
    ] {
        let (server, result) = refused_continuation(
            Reply::error(status, "no such thing"),
            style,
            &continuing(PREFIX),
        )
        .await;
        assert_eq!(
            result,
            Err(TeacherError::ContinuationRefused {
                status,
                message: "no such thing".to_owned()
            }),
            "{status}"
        );
        assert_eq!(server.request_count(), 1, "{status}");
    }
}

#[tokio::test]
async fn only_client_errors_about_the_continuation_are_refusals() {
    // The same 400 for a fresh request is a plain HTTP error.
    let (_, result) = refused_continuation(
        Reply::error(400, "bad request"),
        ContinuationStyle::PrefixField,
        &request(),
    )
    .await;
    assert_eq!(
        result,
        Err(TeacherError::Http {
            status: 400,
            message: "bad request".to_owned()
        })
    );
    // Key, permission, timeout, conflict, rate and server errors stay HTTP errors (retried
    // where they were before: one retry here).
    for (status, attempts) in [(401, 1), (403, 1), (408, 2), (409, 2), (429, 2), (500, 2)] {
        let (server, result) = refused_continuation(
            Reply::error(status, "not about the prefix"),
            ContinuationStyle::PrefixField,
            &continuing(PREFIX),
        )
        .await;
        assert_eq!(
            result,
            Err(TeacherError::Http {
                status,
                message: "not about the prefix".to_owned()
            }),
            "{status}"
        );
        assert_eq!(server.request_count(), attempts, "{status}");
    }
    // A retried failure that ends in a refusal is a refusal.
    let server = MockServer::start(sequence(vec![
        Reply::error(503, "warming up"),
        Reply::error(422, "continue_final_message is not supported"),
    ]))
    .await;
    let mut s = settings(&server.base_url);
    s.continuation = ContinuationStyle::ContinueFinalMessage;
    let (result, _) = run_with(&teacher(s), &continuing(PREFIX)).await;
    assert_eq!(
        result,
        Err(TeacherError::ContinuationRefused {
            status: 422,
            message: "continue_final_message is not supported".to_owned()
        })
    );
    assert_eq!(server.request_count(), 2);
}

// --- secrets and sharing ----------------------------------------------------------------------

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    // A server that quotes the Authorization header back in every kind of answer.
    let server = MockServer::start(|req: &Request| {
        let auth = req.authorization.clone().unwrap_or_default();
        match req.body["messages"][1]["content"].as_str().unwrap_or("") {
            "http" => Reply::error(401, &format!("Incorrect API key provided: {auth}")),
            "provider" => StreamReply::new(vec![error_object(&format!("bad key {auth}"))]).into(),
            "flat" => StreamReply::new(vec![error_flat(&format!("bad key {auth}"))]).into(),
            "malformed" => StreamReply::new(vec![raw(&format!("data: {auth}\n\n"))]).into(),
            "dropped" => StreamReply::new(vec![content(".")])
                .with_end(End::Drop)
                .into(),
            "incomplete" => StreamReply::new(vec![content(".")])
                .with_end(End::Close)
                .into(),
            "idle" => StreamReply::new(vec![content("."), content(".")])
                .with_gap(Duration::from_secs(1))
                .into(),
            _ => StreamReply::text("x", 1)
                .with_first_delay(Duration::from_secs(1))
                .into(),
        }
    })
    .await;
    let mut s = settings(&server.base_url);
    s.retry.max_retries = 0;
    s.timeouts.first_token = Duration::from_millis(100);
    s.timeouts.idle = Duration::from_millis(100);
    let t = teacher(s.clone());
    let mut errors = Vec::new();
    for question in [
        "http",
        "provider",
        "flat",
        "malformed",
        "dropped",
        "incomplete",
        "idle",
        "first",
    ] {
        let req = TeacherRequest {
            question: question.to_owned(),
            ..request()
        };
        let (result, _) = run_with(&t, &req).await;
        errors.push(result.expect_err(question));
    }
    let mut none = s.clone();
    none.continuation = ContinuationStyle::None;
    errors.push(
        run_with(&teacher(none), &continuing("p"))
            .await
            .0
            .expect_err("refused"),
    );
    errors.push(
        run(settings(&closed_port().await))
            .await
            .0
            .expect_err("connect"),
    );
    let mut bad = s.clone();
    bad.base_url = "not a url".to_owned();
    errors.push(OpenAiTeacher::new(bad).expect_err("bad url"));

    assert!(
        matches!(&errors[0], TeacherError::Http { message, .. } if message.contains("Bearer ***"))
    );
    for error in &errors {
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(KEY), "{shown}");
    }
    for shown in [
        format!("{t:?}"),
        format!("{s:?}"),
        format!("{:?}", t.clone()),
    ] {
        assert!(!shown.contains(KEY), "{shown}");
    }
}

/// A 120-character key, none of whose 8-character windows occurs in ordinary text.
fn long_key() -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut key = "sk-".to_owned();
    key.extend((0..117).map(|i| char::from(DIGITS[(i * 17 + 5) % DIGITS.len()])));
    key
}

/// Whether any 8 consecutive characters of `key` appear in `shown`.
fn leaks(shown: &str, key: &str) -> Option<String> {
    key.as_bytes()
        .windows(8)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .find(|w| shown.contains(w.as_str()))
}

#[tokio::test]
async fn a_long_key_across_the_cut_of_a_quoted_message_is_removed() {
    let key = long_key();
    assert_eq!(key.len(), 120);
    // Every reply quotes `Bearer <key>` so that the key starts before the point where the quoted
    // text is cut (300 characters of an HTTP body or an error event, 200 of a malformed chunk)
    // and ends after it. The filler has multi-byte characters, so cutting on a byte count would
    // also show.
    let server = MockServer::start(|req: &Request| {
        let auth = req.authorization.clone().unwrap_or_default();
        match req.question().unwrap_or("") {
            "http" => Reply::status(400, format!("{}{auth} trailing", "é".repeat(250))),
            "http-json" => Reply::error(400, &format!("{}{auth}", "é".repeat(250))),
            "malformed" => StreamReply::new(vec![
                content("ok"),
                raw(&format!("data: {{{}{auth} tail\n\n", "ü".repeat(150))),
            ])
            .into(),
            "error-event" => StreamReply::new(vec![raw(&format!(
                "event: error\ndata: {}{auth} tail\n\n",
                "ß".repeat(250)
            ))])
            .into(),
            _ => Reply::status(200, format!("{{{}{auth} tail", "ø".repeat(150)))
                .with_header("content-type", "application/json"),
        }
    })
    .await;
    let mut s = settings(&server.base_url);
    s.api_key = Some(ApiKey::new(key.clone()));
    s.retry.max_retries = 0;
    let t = teacher(s.clone());
    let mut refusing = s;
    refusing.continuation = ContinuationStyle::PrefixField;
    let refusing = teacher(refusing);
    for (question, continuation) in [
        ("http", false),
        ("http", true),
        ("http-json", false),
        ("http-json", true),
        ("malformed", false),
        ("error-event", false),
        ("whole", false),
    ] {
        let req = TeacherRequest {
            question: question.to_owned(),
            ..if continuation {
                continuing(PREFIX)
            } else {
                request()
            }
        };
        let t = if continuation { &refusing } else { &t };
        let error = run_with(t, &req).await.0.expect_err(question);
        let case = format!("{question} (continuation: {continuation})");
        for shown in [error.to_string(), format!("{error:?}")] {
            assert_eq!(leaks(&shown, &key), None, "{case}: {shown}");
        }
        match (question, continuation, &error) {
            (
                "http" | "http-json",
                false,
                TeacherError::Http {
                    status: 400,
                    message,
                },
            )
            | (
                "http" | "http-json",
                true,
                TeacherError::ContinuationRefused {
                    status: 400,
                    message,
                },
            )
            | ("error-event", _, TeacherError::Provider { message })
            | ("malformed" | "whole", _, TeacherError::Malformed { data: message, .. }) => {
                assert!(message.contains("Bearer ***"), "{case}: {message}");
            }
            _ => panic!("{case}: unexpected {error:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams_share_one_client() {
    let prepared = StreamReply::text(ANSWER, 2).prepare();
    let server = MockServer::start(move |_: &Request| prepared.clone().into()).await;
    let t = teacher(settings(&server.base_url));
    let tasks: Vec<_> = (0..48)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { run_with(&t, &request()).await })
        })
        .collect();
    for task in tasks {
        let (result, events) = task.await.expect("join");
        assert_eq!(result, finished("stop"));
        assert_eq!(text(&events), ANSWER);
    }
    assert_eq!(server.request_count(), 48);
    assert_eq!(server.abandoned_streams(), 0);
}

#[tokio::test]
async fn finished_streams_leave_the_connection_for_reuse() {
    let server = MockServer::start(always(StreamReply::text(ANSWER, 4).into())).await;
    let t = teacher(settings(&server.base_url));
    for _ in 0..5 {
        let (result, events) = run_with(&t, &request()).await;
        assert_eq!(result, finished("stop"));
        assert_eq!(text(&events), ANSWER);
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_background_server_serves_blocking_callers() {
    let server = MockServer::start_background(always(Reply::text("from a thread")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (result, events) = runtime.block_on(run(settings(&server.base_url)));
    assert_eq!(result, finished("stop"));
    assert_eq!(text(&events), "from a thread");
    assert_eq!(server.request_count(), 1);
    drop(server);
}
