//! The Job → Run pipeline with the offline replay teacher and real `python3`.

use std::fmt::Write as _;
use std::sync::Arc;

use moss_thinking::exec::{ExecConfig, ExecMode};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{
    ExecConsent, Job, NoObserver, Origin, Pipeline, PromptVersion, Run, RunEvent, RunStatus,
    rejudge,
};
use moss_thinking::teacher::{ReplayTeacher, Teacher};
use moss_thinking::transcript::{Outcome, RuleId, Rules, RulesConfig};
use tokio_util::sync::CancellationToken;

/// A pipeline whose sandbox helper is the `moss` binary built for these tests.
fn new_pipeline(teacher: Teacher, exec: ExecConfig, rules: Arc<Rules>) -> Pipeline {
    moss_thinking::exec::use_helper(env!("CARGO_BIN_EXE_moss"));
    Pipeline::new(teacher, exec, rules)
}

fn pipeline(mode: ExecMode) -> Pipeline {
    let exec = ExecConfig {
        mode,
        timeout_secs: 10.0,
        ..ExecConfig::default()
    };
    let rules = Rules::new(RulesConfig::default()).expect("default rules");
    new_pipeline(
        Teacher::Replay(ReplayTeacher::builtin().with_pacing(7, std::time::Duration::ZERO)),
        exec,
        Arc::new(rules),
    )
}

fn job(sample: &str) -> Job {
    Job {
        sample_id: sample.to_owned(),
        question: "问题".to_owned(),
        prompt: Arc::new(PromptVersion::new(
            "system prompt".to_owned(),
            "system prompt".to_owned(),
            ModelParams::default(),
        )),
        interruptions: Vec::new(),
        interrupter: None,
    }
}

async fn run(mode: ExecMode, sample: &str) -> (Run, Vec<RunEvent>) {
    let mut events = Vec::new();
    let run = pipeline(mode)
        .run(
            &job(sample),
            &mut |e| events.push(e),
            &CancellationToken::new(),
        )
        .await;
    (run, events)
}

fn recording(sample: &str) -> String {
    ReplayTeacher::builtin().answer(&moss_thinking::teacher::TeacherRequest {
        sample_id: sample.to_owned(),
        system: String::new(),
        question: String::new(),
        params: ModelParams::default(),
        history: Vec::new(),
        continue_from: None,
    })
}

/// The text without its layout (results sit after a blank line in one, a line break in another).
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn outcome(run: &Run, id: RuleId) -> Outcome {
    run.rules
        .iter()
        .find(|r| r.id == id)
        .map_or(Outcome::Skip, |r| r.outcome)
}

#[tokio::test]
async fn off_mode_keeps_the_recording_and_runs_nothing() {
    let (run, events) = run(ExecMode::Off, "q02").await;
    assert_eq!(run.status, RunStatus::Complete);
    assert_eq!(run.transcript, recording("q02"));
    assert!(run.executions.is_empty());
    assert!(run.teacher.replayed);
    assert_eq!(run.finish_reason.as_deref(), Some("stop"));
    // The streamed text events add up to the transcript.
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Text {
                text,
                system: false,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, run.transcript);
    assert!(run.rules_passed(), "{:?}", run.rules);
    assert_eq!(run.segments.executable_blocks, 1);
    assert!(run.timings.first_token_ms.is_some());
    // The recording opens with answer text: its first chunk is the first answer text.
    assert!(run.timings.first_answer_ms >= run.timings.first_token_ms);
    assert!(run.timings.first_answer_ms.is_some());
}

#[tokio::test]
async fn without_consent_a_block_stays_unexecuted_and_run_has_result_says_so() {
    let (run, _) = run(ExecMode::Off, "q03").await;
    assert_eq!(run.status, RunStatus::Complete);
    assert_eq!(outcome(&run, RuleId::RunHasResult), Outcome::Fail);
    let (run, _) = run_fill("q03").await;
    assert_eq!(outcome(&run, RuleId::RunHasResult), Outcome::Pass);
    assert_eq!(run.executions.len(), 1);
    assert!(run.transcript.contains("<execute_"), "{}", run.transcript);
}

/// A consent that answers `allow` and counts how often it was asked.
#[derive(Debug)]
struct Consent {
    allow: bool,
    asked: std::sync::atomic::AtomicUsize,
}

impl ExecConsent for Consent {
    fn allow(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move { self.allow })
    }
}

async fn run_with_consent(mode: ExecMode, sample: &str, allow: bool) -> (Run, usize) {
    let consent = Arc::new(Consent {
        allow,
        asked: std::sync::atomic::AtomicUsize::new(0),
    });
    let run = pipeline(mode)
        .with_consent(Some(consent.clone()))
        .run(&job(sample), &mut NoObserver, &CancellationToken::new())
        .await;
    (run, consent.asked.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn consent_is_asked_once_per_run_and_only_when_code_would_run() {
    // q21 has two blocks: one question covers both.
    for mode in [ExecMode::Fill, ExecMode::Continue] {
        let (run, asked) = run_with_consent(mode, "q21", true).await;
        assert_eq!(asked, 1, "{mode:?}");
        assert_eq!(run.executions.len(), 2, "{mode:?}");
        assert_eq!(run.exec, mode);
    }
    // No executable block, no question.
    let (run, asked) = run_with_consent(ExecMode::Fill, "q11", true).await;
    assert_eq!(asked, 0);
    assert!(run.executions.is_empty());
}

#[tokio::test]
async fn a_refused_consent_runs_nothing_and_the_record_says_exec_off() {
    for mode in [ExecMode::Fill, ExecMode::Continue] {
        let (run, asked) = run_with_consent(mode, "q21", false).await;
        assert_eq!(asked, 1, "{mode:?}");
        assert_eq!(run.status, RunStatus::Complete, "{mode:?}: {:?}", run.error);
        assert!(run.executions.is_empty(), "{mode:?}");
        assert_eq!(run.exec, ExecMode::Off, "{mode:?}");
    }
    // In fill mode the teacher's turn is kept exactly as it wrote it.
    let (run, _) = run_with_consent(ExecMode::Fill, "q21", false).await;
    assert_eq!(run.transcript, recording("q21"));
}

async fn run_fill(sample: &str) -> (Run, Vec<RunEvent>) {
    run(ExecMode::Fill, sample).await
}

#[tokio::test]
async fn fill_mode_puts_real_output_where_the_recording_had_it() {
    // The recordings hold real python3 output, so filling them reproduces them exactly.
    for sample in ["q02", "q05", "q21"] {
        let (run, events) = run_fill(sample).await;
        assert_eq!(run.status, RunStatus::Complete, "{sample}: {:?}", run.error);
        assert_eq!(
            words(&run.transcript),
            words(&recording(sample)),
            "{sample}"
        );
        assert!(!run.executions.is_empty());
        assert!(
            run.executions
                .iter()
                .all(|e| e.outcome.protections.temp_dir)
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, RunEvent::Rewritten(t) if *t == run.transcript))
        );
        assert_eq!(outcome(&run, RuleId::NoModelResults), Outcome::Pass);
    }
    // q05's first block fails: its error is real.
    let (run, _) = run_fill("q05").await;
    assert!(!run.executions[0].outcome.is_success());
    assert!(run.executions[1].outcome.is_success());
}

#[tokio::test]
async fn continue_mode_runs_each_block_as_it_closes_and_resumes_the_turn() {
    let (run, events) = run(ExecMode::Continue, "q21").await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.exec, ExecMode::Continue);
    assert_eq!(run.executions.len(), 2);
    let continued = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Continuing))
        .count();
    assert_eq!(continued, 2);
    // Each result is streamed in as system text right after its block, before the rest.
    let system: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Text { text, system: true } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(system.len(), 2);
    assert!(system[0].contains("<execute_result>"));
    // Same real results as fill mode, with the same text around them.
    let (filled, _) = run_fill("q21").await;
    assert_eq!(words(&run.transcript), words(&filled.transcript));
    assert!(run.rules_passed(), "{:?}", run.rules);
}

/// The run's timeline as (text, system) pieces, checked to cover the transcript exactly.
fn pieces(run: &Run) -> Vec<(&str, bool)> {
    let chunks = run
        .timeline()
        .expect("a timeline that fits the transcript")
        .chunks(&run.transcript)
        .expect("fits");
    let joined: String = chunks.iter().map(|c| c.text).collect();
    assert_eq!(joined, run.transcript);
    assert!(
        chunks.windows(2).all(|w| w[0].at <= w[1].at),
        "times never go back"
    );
    chunks
        .iter()
        .map(|c| (c.text, c.origin == Origin::System))
        .collect()
}

#[tokio::test]
async fn every_run_keeps_when_each_piece_arrived_with_the_systems_pieces_marked() {
    // Off: the teacher's chunks as they came, nothing of the system's.
    let (off, events) = run(ExecMode::Off, "q21").await;
    let streamed: Vec<(&str, bool)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Text { text, system } => Some((text.as_str(), *system)),
            _ => None,
        })
        .collect();
    assert_eq!(pieces(&off), streamed, "the pieces are the chunks streamed");
    assert!(
        pieces(&off)
            .iter()
            .all(|(t, system)| !system && t.chars().count() <= 7)
    );

    // Continue: each result the system put in is one system piece.
    let (continued, events) = run(ExecMode::Continue, "q21").await;
    let system: Vec<&str> = pieces(&continued)
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(t, _)| t)
        .collect();
    let inserted: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Text { text, system: true } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(system, inserted);
    assert_eq!(system.len(), 2);

    // Fill: the results put in after the stream are system pieces, each holding its block.
    for sample in ["q02", "q05", "q21"] {
        let (run, _) = run_fill(sample).await;
        let system: Vec<&str> = pieces(&run)
            .into_iter()
            .filter(|(_, s)| *s)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(system.len(), run.executions.len(), "{sample}");
        for (piece, execution) in system.iter().zip(&run.executions) {
            assert!(
                piece.contains(&execution.outcome.to_block()),
                "{sample}: {piece}"
            );
        }
    }
}

/// A stored run judged again by the rules it ran under gets exactly the verdicts the pipeline
/// gave it, in every mode, also when its `no-model-results` verdict has to be counted from the
/// record.
#[tokio::test]
async fn a_run_judged_again_by_its_own_rules_gets_the_verdicts_it_was_given() {
    let rules = Rules::new(RulesConfig::default()).expect("default rules");
    let cases = [
        (
            ExecMode::Off,
            &["q02", "q03", "q12", "q15", "q29", "q19"][..],
        ),
        (ExecMode::Fill, &["q02", "q05", "q21"][..]),
        (ExecMode::Continue, &["q21"][..]),
    ];
    for (mode, samples) in cases {
        for &sample in samples {
            let (run, _) = run(mode, sample).await;
            assert_eq!(run.status, RunStatus::Complete, "{sample}: {:?}", run.error);
            assert_eq!(rejudge(&run, &rules), run.rules, "{mode:?} {sample}");
            let mut unrecorded = run.clone();
            unrecorded.rules.retain(|r| r.id != RuleId::NoModelResults);
            assert_eq!(rejudge(&unrecorded, &rules), run.rules, "{mode:?} {sample}");
        }
    }
}

#[tokio::test]
async fn code_that_cannot_run_makes_the_run_incomplete_not_an_error_block() {
    for mode in [ExecMode::Fill, ExecMode::Continue] {
        let exec = ExecConfig {
            mode,
            python: "no-such-python-for-moss".to_owned(),
            ..ExecConfig::default()
        };
        let pipeline = new_pipeline(
            Teacher::Replay(ReplayTeacher::builtin()),
            exec,
            Arc::new(Rules::new(RulesConfig::default()).expect("rules")),
        );
        let run = pipeline.run_quietly(&job("q02")).await;
        assert_eq!(run.status, RunStatus::Incomplete, "{mode:?}");
        let error = run.error.as_deref().unwrap_or_default();
        assert!(error.starts_with("could not run the code: "), "{error}");
        assert!(!run.transcript.contains("<execute_error>"), "{mode:?}");
        assert_eq!(run.executions.len(), 1);
    }
}

#[tokio::test]
async fn code_that_reads_input_gets_eof_and_an_error_block() {
    let (run, _) = run_fill("q26").await;
    assert_eq!(run.executions.len(), 1);
    assert!(!run.executions[0].outcome.is_success());
    assert!(run.transcript.contains("EOFError"), "{}", run.transcript);
    assert_eq!(outcome(&run, RuleId::NoInput), Outcome::Fail);
}

#[tokio::test]
async fn a_cancelled_run_keeps_its_partial_text_as_incomplete() {
    let pipeline = new_pipeline(
        Teacher::Replay(
            ReplayTeacher::builtin().with_pacing(2, std::time::Duration::from_millis(5)),
        ),
        ExecConfig::default(),
        Arc::new(Rules::new(RulesConfig::default()).expect("rules")),
    );
    let cancel = CancellationToken::new();
    let mut seen = 0;
    let trigger = cancel.clone();
    let run = pipeline
        .run(
            &job("q11"),
            &mut |e| {
                if matches!(e, RunEvent::Text { .. }) {
                    seen += 1;
                    if seen == 5 {
                        trigger.cancel();
                    }
                }
            },
            &cancel,
        )
        .await;
    assert_eq!(run.status, RunStatus::Incomplete);
    assert_eq!(run.error.as_deref(), Some("cancelled"));
    assert_eq!(run.transcript.chars().count(), 10);
    assert!(recording("q11").starts_with(&run.transcript));
}

// ---- Against an OpenAI-style server on loopback ----------------------------------------------

#[path = "support/openai_mock.rs"]
mod openai_mock;

use moss_thinking::teacher::provider::OpenAiSettings;
use moss_thinking::teacher::{
    ContinuationStyle, OpenAiTeacher, ReasoningField, RetryPolicy, Timeouts,
};
use openai_mock::{End, MockServer, Reply, Request, StreamReply};
use std::time::Duration;

/// Runs without watching the events.
trait RunQuietly {
    async fn run_quietly(&self, job: &Job) -> Run;
}

impl RunQuietly for Pipeline {
    async fn run_quietly(&self, job: &Job) -> Run {
        self.run(
            job,
            &mut moss_thinking::run::NoObserver,
            &CancellationToken::new(),
        )
        .await
    }
}

fn openai_pipeline(server: &MockServer, style: ContinuationStyle, mode: ExecMode) -> Pipeline {
    openai_pipeline_with(server, style, mode, RulesConfig::default())
}

fn openai_pipeline_with(
    server: &MockServer,
    style: ContinuationStyle,
    mode: ExecMode,
    rules: RulesConfig,
) -> Pipeline {
    let teacher = OpenAiTeacher::new(OpenAiSettings {
        provider: "mock".to_owned(),
        base_url: server.base_url.clone(),
        model: "mock-model".to_owned(),
        api_key: None,
        reasoning_field: ReasoningField::ReasoningContent,
        continuation: style,
        continuation_base_url: (style == ContinuationStyle::AssistantPrefix)
            .then(|| server.url("/beta")),
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(5),
            idle: Duration::from_secs(5),
        },
        retry: RetryPolicy {
            max_retries: 0,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    })
    .expect("client");
    let exec = ExecConfig {
        mode,
        timeout_secs: 10.0,
        ..ExecConfig::default()
    };
    new_pipeline(
        Teacher::OpenAi(teacher),
        exec,
        Arc::new(Rules::new(rules).expect("rules")),
    )
}

/// The model's first turn: it writes a block, then invents a result and goes on.
const FIRST_TURN: &str = "六乘七等于四十二，我用代码确认。\n\n<think>跑一下确认。</think>\n\n```python RUN\nprint(6 * 7)\n```\n<execute_result>\n99\n</execute_result>\n编造的结果是 99。";
const REAL_RESULT: &str = "<execute_result>\n42\n</execute_result>\n";
const CONTINUATION: &str = "\n结果是 42，和心算一致。";

fn continuing_server() -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    |req: &Request| match req.prefix() {
        None => StreamReply::text(FIRST_TURN, 3).into(),
        Some(prefix) if prefix.ends_with(REAL_RESULT) => StreamReply::text(CONTINUATION, 3).into(),
        Some(prefix) => Reply::error(400, &format!("unexpected prefix: {prefix:?}")),
    }
}

#[tokio::test]
async fn continue_mode_stops_at_the_block_runs_it_and_continues_in_every_style() {
    for style in [
        ContinuationStyle::AssistantPrefix,
        ContinuationStyle::PrefixField,
        ContinuationStyle::ContinueFinalMessage,
        ContinuationStyle::TrailingAssistant,
    ] {
        let server = MockServer::start(continuing_server()).await;
        let pipeline = openai_pipeline(&server, style, ExecMode::Continue);
        assert_eq!(pipeline.exec_mode(), ExecMode::Continue);
        let run = pipeline.run_quietly(&job("s")).await;
        assert_eq!(
            run.status,
            RunStatus::Complete,
            "{style:?}: {:?}",
            run.error
        );
        assert_eq!(
            run.transcript,
            format!(
                "六乘七等于四十二，我用代码确认。\n\n<think>跑一下确认。</think>\n\n```python RUN\nprint(6 * 7)\n```\n\n{REAL_RESULT}{CONTINUATION}"
            ),
            "{style:?}"
        );
        // The invented result never entered the transcript.
        assert_eq!(
            outcome(&run, RuleId::NoModelResults),
            Outcome::Pass,
            "{style:?}"
        );
        assert!(run.rules_passed(), "{style:?}: {:?}", run.rules);
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{style:?}");
        assert_eq!(requests[0].path, "/v1/chat/completions");
        let expected_path = if style == ContinuationStyle::AssistantPrefix {
            "/beta/chat/completions"
        } else {
            "/v1/chat/completions"
        };
        assert_eq!(requests[1].path, expected_path, "{style:?}");
    }
}

#[tokio::test]
async fn without_continuation_fill_replaces_the_invented_result_and_the_rule_flags_it() {
    let server = MockServer::start(continuing_server()).await;
    let pipeline = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Continue);
    assert_eq!(pipeline.exec_mode(), ExecMode::Fill);
    let run = pipeline.run_quietly(&job("s")).await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.exec, ExecMode::Fill);
    assert_eq!(server.request_count(), 1);
    assert!(
        run.transcript
            .contains(&format!("```\n\n{REAL_RESULT}\n编造的结果是 99。")),
        "{}",
        run.transcript
    );
    assert!(!run.transcript.contains("<execute_result>\n99\n"));
    // The timeline follows the text: the invented result left it, the real one is the system's.
    let system: Vec<&str> = pieces(&run)
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(system.len(), 1);
    assert!(system[0].contains(REAL_RESULT), "{system:?}");
    assert_eq!(outcome(&run, RuleId::NoModelResults), Outcome::Fail);
    // The invented result is gone from the text: judged again, the verdict the stream gave stays.
    assert_eq!(rejudge(&run, pipeline.rules()), run.rules);
}

#[tokio::test]
async fn reasoning_usage_and_timings_are_recorded_apart_from_the_transcript() {
    let server = MockServer::start(|_: &Request| {
        StreamReply::new(vec![
            openai_mock::reasoning("先想一想"),
            openai_mock::reasoning("，再回答。"),
            openai_mock::content("答案。\n<think>想</think>\n好的，就是这样。"),
            openai_mock::finish("stop"),
            openai_mock::usage_with_reasoning(12, 30, 8),
        ])
        .with_gap(Duration::from_millis(2))
        .into()
    })
    .await;
    let run = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Off)
        .run_quietly(&job("s"))
        .await;
    assert_eq!(run.status, RunStatus::Complete);
    assert_eq!(run.reasoning.as_deref(), Some("先想一想，再回答。"));
    assert_eq!(
        run.transcript,
        "答案。\n<think>想</think>\n好的，就是这样。"
    );
    let usage = run.usage.expect("usage");
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.reasoning_tokens
        ),
        (12, 30, Some(8))
    );
    assert!(run.timings.first_token_ms.is_some());
    assert!(run.timings.tokens_per_sec.is_some_and(|t| t > 0.0));
    assert_eq!(run.teacher.model, "mock-model");
    assert!(!run.teacher.replayed);
}

#[tokio::test]
async fn cut_off_streams_are_incomplete_and_errors_before_text_are_failures() {
    let cases: Vec<(Reply, RunStatus, &str, &str)> = vec![
        (
            StreamReply::new(vec![
                openai_mock::content("半截"),
                openai_mock::finish("length"),
            ])
            .into(),
            RunStatus::Incomplete,
            "半截",
            "max_tokens",
        ),
        (
            StreamReply::new(vec![openai_mock::content("断在")])
                .with_end(End::Drop)
                .into(),
            RunStatus::Incomplete,
            "断在",
            "broke mid-stream",
        ),
        (
            StreamReply::new(vec![
                openai_mock::content("被过滤"),
                openai_mock::finish("content_filter"),
            ])
            .into(),
            RunStatus::Incomplete,
            "被过滤",
            "finish reason: content_filter",
        ),
        (
            StreamReply::new(vec![
                openai_mock::reasoning("想了"),
                openai_mock::finish("stop"),
            ])
            .into(),
            RunStatus::Failed,
            "",
            "the server sent no answer (only hidden reasoning) (the stream ended, finish reason: stop); the request may exceed the model's context window, or the server was busy",
        ),
        (
            // llama.cpp's way of ending a stream it interrupts: `[DONE]` and no reason.
            StreamReply::new(vec![openai_mock::content("说到一半")]).into(),
            RunStatus::Incomplete,
            "说到一半",
            "the stream ended without a finish reason, so the answer may be cut short",
        ),
        (
            StreamReply::new(vec![openai_mock::content("没说完")])
                .with_end(End::Close)
                .into(),
            RunStatus::Incomplete,
            "没说完",
            "the stream ended without [DONE] or a finish reason",
        ),
        (
            StreamReply::new(Vec::new()).into(),
            RunStatus::Failed,
            "",
            "the server sent no answer (the stream ended); the request may exceed the model's context window, or the server was busy",
        ),
        (
            Reply::error(500, "the model is overloaded"),
            RunStatus::Failed,
            "",
            "HTTP 500: the model is overloaded",
        ),
    ];
    for (reply, status, text, error) in cases {
        let server = MockServer::start(openai_mock::always(reply)).await;
        let run = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Fill)
            .run_quietly(&job("s"))
            .await;
        assert_eq!(run.status, status, "{error}");
        assert_eq!(run.transcript, text);
        assert!(
            run.error.as_deref().is_some_and(|e| e.contains(error)),
            "{:?}",
            run.error
        );
        assert!(run.executions.is_empty());
    }
}

#[tokio::test]
async fn a_run_executes_at_most_max_executions_blocks() {
    let mut blocks = String::new();
    for i in 0..moss_thinking::run::MAX_EXECUTIONS + 2 {
        write!(
            blocks,
            "第{i}步。\n<think>跑</think>\n```python RUN\nprint({i})\n```\n"
        )
        .expect("write to a String");
    }
    let answer = format!("先答。\n{blocks}完。");
    let server = MockServer::start(move |_: &Request| StreamReply::text(&answer, 50).into()).await;
    let run = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Fill)
        .run_quietly(&job("s"))
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.executions.len(), moss_thinking::run::MAX_EXECUTIONS);
    assert_eq!(run.segments.results, moss_thinking::run::MAX_EXECUTIONS);
    assert_eq!(outcome(&run, RuleId::RunHasResult), Outcome::Fail);
}

#[tokio::test]
async fn a_refused_continuation_starts_the_turn_over_in_fill_mode() {
    let server = MockServer::start(|req: &Request| match req.prefix() {
        None => StreamReply::text(FIRST_TURN, 3).into(),
        Some(_) => Reply::error(400, "prefix is not supported for this model"),
    })
    .await;
    let pipeline = openai_pipeline(&server, ContinuationStyle::PrefixField, ExecMode::Continue);
    let mut events = Vec::new();
    let run = pipeline
        .run(
            &job("s"),
            &mut |e| events.push(e),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.exec, ExecMode::Fill);
    // First turn, refused continuation, the turn again.
    assert_eq!(server.request_count(), 3);
    assert!(events.contains(&RunEvent::Rewritten(String::new())));
    assert!(
        run.transcript
            .contains(&format!("```\n\n{REAL_RESULT}\n编造的结果是 99。")),
        "{}",
        run.transcript
    );
    // Only the fresh turn's execution is recorded.
    assert_eq!(run.executions.len(), 1);
}

#[tokio::test]
async fn a_local_server_that_cuts_a_stream_for_another_request_is_named() {
    // A llama.cpp-style server with one slot: the first stream is held until a second request
    // arrives, then ended with `[DONE]` and no finish reason; the second is answered in full.
    let cut = Arc::new(tokio::sync::Notify::new());
    let hold = Arc::clone(&cut);
    let server = MockServer::start(move |req: &Request| {
        if req.index == 0 {
            StreamReply::new(vec![openai_mock::content("第一个回答说到")])
                .with_hold(Arc::clone(&hold))
                .into()
        } else {
            hold.notify_one();
            StreamReply::text("第二个回答。", 3).into()
        }
    })
    .await;
    let pipeline = Arc::new(openai_pipeline(
        &server,
        ContinuationStyle::None,
        ExecMode::Off,
    ));
    let first = {
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move { pipeline.run_quietly(&job("a")).await })
    };
    // The second run starts once the first stream is open.
    assert!(
        server
            .wait_until(Duration::from_secs(30), |s| s.open_streams() == 1)
            .await
    );
    let second = pipeline.run_quietly(&job("b")).await;
    let first = first.await.expect("the first run");
    assert_eq!(second.status, RunStatus::Complete, "{:?}", second.error);
    assert_eq!(first.status, RunStatus::Incomplete);
    assert_eq!(first.transcript, "第一个回答说到");
    let error = first.error.expect("why");
    assert!(
        error.contains("without a finish reason") && error.contains("try --concurrency 1"),
        "{error}"
    );

    // Alone, the same cut says nothing of concurrency.
    let server = MockServer::start(|_: &Request| {
        StreamReply::new(vec![openai_mock::content("说到")]).into()
    })
    .await;
    let alone = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Off)
        .run_quietly(&job("c"))
        .await;
    assert_eq!(alone.status, RunStatus::Incomplete);
    assert!(
        alone
            .error
            .as_deref()
            .is_some_and(|e| !e.contains("concurrency")),
        "{:?}",
        alone.error
    );
}

/// An answer whose second chunk puts its think over budget (2 answer words, a think of 6),
/// then the rest, held until `hold` is notified.
fn over_budget_reply(hold: &Arc<tokio::sync::Notify>) -> Reply {
    StreamReply::new(vec![
        openai_mock::content("Two words. <think>a"),
        openai_mock::content(" b c d e f "),
        openai_mock::content("g</think> And the rest of the answer."),
        openai_mock::finish("stop"),
    ])
    .with_hold_at(2, Arc::clone(hold))
    .into()
}

fn stop_on(set: impl FnOnce(&mut RulesConfig)) -> RulesConfig {
    let mut rules = RulesConfig::default();
    set(&mut rules);
    rules
}

#[tokio::test]
async fn a_think_over_budget_stops_the_stream_and_closes_the_connection() {
    let hold = Arc::new(tokio::sync::Notify::new());
    let reply = over_budget_reply(&hold);
    let server = MockServer::start(move |_: &Request| reply.clone()).await;
    let rules = stop_on(|r| r.think_budget.stop = true);
    let run = openai_pipeline_with(&server, ContinuationStyle::None, ExecMode::Off, rules)
        .run_quietly(&job("s"))
        .await;
    assert_eq!(run.status, RunStatus::Incomplete);
    assert_eq!(
        run.error.as_deref(),
        Some("stopped: think-budget failed: think #1 has 6 words, budget 2 (segment #2)")
    );
    assert_eq!(run.transcript, "Two words. <think>a b c d e f ");
    assert_eq!(outcome(&run, RuleId::ThinkBudget), Outcome::Fail);
    // The rest was never sent: the server saw the client go while it held the stream.
    assert!(
        server
            .wait_until(Duration::from_secs(30), |s| s.abandoned_streams() == 1)
            .await,
        "the server saw the connection close"
    );
    assert_eq!(server.open_streams(), 0);

    // Without `stop` the same answer streams to its end and fails the rule.
    let hold = Arc::new(tokio::sync::Notify::new());
    hold.notify_one();
    let reply = over_budget_reply(&hold);
    let server = MockServer::start(move |_: &Request| reply.clone()).await;
    let run = openai_pipeline(&server, ContinuationStyle::None, ExecMode::Off)
        .run_quietly(&job("s"))
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert!(run.transcript.ends_with("And the rest of the answer."));
    assert_eq!(outcome(&run, RuleId::ThinkBudget), Outcome::Fail);
    assert_eq!(server.abandoned_streams(), 0);
}

#[tokio::test]
async fn a_rule_that_may_still_pass_does_not_stop_the_stream() {
    // Mid-stream the answer has no answer after its think yet: `interleaved` fails then, but
    // more text can satisfy it, so it never stops a run.
    let server = MockServer::start(|_: &Request| {
        StreamReply::text("Yes. <think>why</think> Because it is so.", 3).into()
    })
    .await;
    let rules = stop_on(|r| {
        r.interleaved.stop = true;
        r.run_has_result.stop = true;
    });
    let run = openai_pipeline_with(&server, ContinuationStyle::None, ExecMode::Off, rules)
        .run_quietly(&job("s"))
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(outcome(&run, RuleId::Interleaved), Outcome::Pass);
}

#[tokio::test]
async fn a_block_that_reads_input_stops_the_run_before_it_runs() {
    const READS_INPUT: &str = "读一个数。\n\n<think>读入再算。</think>\n\n```python RUN\nx = input()\nprint(x)\n```\n<execute_result>\n5\n</execute_result>\n编造的结果。";
    let server = MockServer::start(|req: &Request| match req.prefix() {
        None => StreamReply::text(READS_INPUT, 3).into(),
        Some(prefix) => Reply::error(400, &format!("unexpected continuation: {prefix:?}")),
    })
    .await;
    let rules = stop_on(|r| r.no_input.stop = true);
    let run = openai_pipeline_with(
        &server,
        ContinuationStyle::PrefixField,
        ExecMode::Continue,
        rules,
    )
    .run_quietly(&job("s"))
    .await;
    assert_eq!(run.status, RunStatus::Incomplete);
    let error = run.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("stopped: no-input failed: "), "{error}");
    assert!(run.executions.is_empty(), "no code runs after the stop");
    // Cut at the block, as continue mode cuts: the invented result is not kept.
    assert!(
        run.transcript.ends_with("print(x)\n```\n"),
        "{}",
        run.transcript
    );
    assert_eq!(server.request_count(), 1);
}
