//! Interrupted runs: the stream cut on a scripted word count or from an [`Interrupter`], the
//! teacher asked to go on after the interjection, with the conversation so far.

#[path = "support/openai_mock.rs"]
mod openai_mock;

use std::sync::Arc;
use std::time::Duration;

use moss_thinking::exec::{ExecConfig, ExecMode};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{
    Interrupter, Job, NoObserver, Pipeline, PromptVersion, RunEvent, RunStatus,
    ScriptedInterruption,
};
use moss_thinking::teacher::provider::OpenAiSettings;
use moss_thinking::teacher::{
    ContinuationStyle, OpenAiTeacher, ReasoningField, ReplayTeacher, RetryPolicy, Teacher,
    TeacherRequest, Timeouts,
};
use moss_thinking::transcript::{Rules, RulesConfig};
use openai_mock::{End, MockServer, Request, StreamReply};
use tokio_util::sync::CancellationToken;

const FIRST: &str = "The answer takes a few steps. First we list the prices of every item, then we add them up, then we compare the total with last year.";
const SECOND: &str = "Sure, with 2024 prices.\n<think>use the new list</think>\nThe total is 42.";
const INTERJECTION: &str = "wait, use 2024 prices";

fn pipeline(teacher: Teacher) -> Pipeline {
    moss_thinking::exec::use_helper(env!("CARGO_BIN_EXE_moss"));
    let exec = ExecConfig {
        mode: ExecMode::Off,
        ..ExecConfig::default()
    };
    Pipeline::new(
        teacher,
        exec,
        Arc::new(Rules::new(RulesConfig::default()).expect("rules")),
    )
}

fn openai(server: &MockServer) -> Teacher {
    Teacher::OpenAi(
        OpenAiTeacher::new(OpenAiSettings {
            provider: "mock".to_owned(),
            base_url: server.base_url.clone(),
            model: "mock-model".to_owned(),
            api_key: None,
            reasoning_field: ReasoningField::ReasoningContent,
            continuation: ContinuationStyle::None,
            continuation_base_url: None,
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
        .expect("client"),
    )
}

fn job(script: Vec<ScriptedInterruption>, interrupter: Option<Interrupter>) -> Job {
    Job {
        interruptions: script,
        interrupter,
        ..Job::new(
            "s".to_owned(),
            "What did the basket cost?".to_owned(),
            Arc::new(PromptVersion::new(
                "system prompt".to_owned(),
                "system prompt".to_owned(),
                ModelParams::default(),
            )),
        )
    }
}

/// The first request gets an answer that never ends by itself (only a cut ends it); the one
/// after the interjection gets the second turn.
fn server() -> impl Fn(&Request) -> openai_mock::Reply + Send + Sync + 'static {
    |req: &Request| {
        if req.messages().len() == 4 {
            StreamReply::text(SECOND, 5).into()
        } else {
            StreamReply::text(FIRST, 5).with_end(End::Hang).into()
        }
    }
}

/// The second request holds the conversation: system, question, the cut text as the
/// assistant turn, the interjection as the next user turn.
fn assert_conversation(server: &MockServer, cut: &str) {
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let roles: Vec<&str> = requests[1]
        .messages()
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let contents: Vec<&str> = requests[1]
        .messages()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        contents,
        [
            "system prompt",
            "What did the basket cost?",
            cut,
            INTERJECTION
        ]
    );
}

#[tokio::test]
async fn a_scripted_interruption_cuts_the_stream_and_asks_again_with_the_conversation() {
    let server = MockServer::start(server()).await;
    let script = vec![ScriptedInterruption {
        after_words: 8,
        text: INTERJECTION.to_owned(),
    }];
    let run = pipeline(openai(&server))
        .run(
            &job(script, None),
            &mut NoObserver,
            &CancellationToken::new(),
        )
        .await;
    assert!(
        server
            .wait_until(Duration::from_secs(5), |s| s.abandoned_streams() == 1)
            .await,
        "the first stream was abandoned"
    );
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.interruptions.len(), 1);
    let at = run.interruptions[0].at;
    assert_eq!(run.interruptions[0].text, INTERJECTION);
    let cut = &run.transcript[..at];
    // Cut at the chunk that reached eight words, well before the end.
    assert!(FIRST.starts_with(cut) && cut.len() < FIRST.len(), "{cut:?}");
    assert!(cut.split_whitespace().count() >= 8, "{cut:?}");
    assert!(cut.split_whitespace().count() < 8 + 3, "{cut:?}");
    assert_eq!(run.transcript, format!("{cut}{SECOND}"));
    assert_conversation(&server, cut);
    let turns = run.turns();
    assert_eq!(turns.len(), 2);
    assert_eq!(
        (turns[0].user, turns[0].assistant),
        ("What did the basket cost?", cut)
    );
    assert_eq!((turns[1].user, turns[1].assistant), (INTERJECTION, SECOND));
    // Each turn passes on its own: the first, cut, is not judged as a whole answer.
    assert!(run.rules_passed(), "{:?}", run.rules);
    // The script is part of the run's settings.
    assert_ne!(
        run.settings_id,
        pipeline(openai(&server))
            .settings(&job(vec![], None).prompt)
            .id()
    );
}

#[tokio::test]
async fn an_interrupter_cuts_the_run_where_it_stands() {
    let server = MockServer::start(server()).await;
    let interrupter = Interrupter::new();
    let handle = interrupter.clone();
    let mut events = Vec::new();
    let run = pipeline(openai(&server))
        .run(
            &job(Vec::new(), Some(interrupter)),
            &mut |event: RunEvent| {
                if events.is_empty() {
                    // The user presses the key as the first text shows.
                    handle.interrupt(INTERJECTION);
                }
                events.push(event);
            },
            &CancellationToken::new(),
        )
        .await;
    assert!(
        server
            .wait_until(Duration::from_secs(5), |s| s.abandoned_streams() == 1)
            .await
    );
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    let at = run.interruptions[0].at;
    assert!(at > 0 && FIRST.starts_with(&run.transcript[..at]));
    assert_eq!(&run.transcript[at..], SECOND);
    assert_conversation(&server, &run.transcript[..at]);
    assert!(events.contains(&RunEvent::Interrupted {
        at,
        text: INTERJECTION.to_owned()
    }));
}

#[tokio::test]
async fn an_interrupted_replay_goes_on_with_its_recording() {
    let replay = ReplayTeacher::builtin().with_pacing(3, Duration::ZERO);
    let recording = replay.answer(&TeacherRequest {
        sample_id: "q02".to_owned(),
        system: String::new(),
        question: String::new(),
        params: ModelParams::default(),
        history: Vec::new(),
        continue_from: None,
    });
    let mut job = job(
        vec![ScriptedInterruption {
            after_words: 5,
            text: "换个简单点的方法".to_owned(),
        }],
        None,
    );
    job.sample_id = "q02".to_owned();
    let run = pipeline(Teacher::Replay(replay))
        .run(&job, &mut NoObserver, &CancellationToken::new())
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert_eq!(run.transcript, recording);
    assert_eq!(run.interruptions.len(), 1);
    assert!(run.interruptions[0].at > 0 && run.interruptions[0].at < recording.len());
    // The timeline still covers the transcript.
    assert!(run.timeline().is_some());
}

#[tokio::test]
async fn a_held_run_reads_no_further_and_is_cut_where_it_was_held() {
    // The server sends two pieces, then waits until told before it sends the rest.
    let rest = Arc::new(tokio::sync::Notify::new());
    let release = Arc::clone(&rest);
    let server = MockServer::start(move |req: &Request| {
        if req.messages().len() == 4 {
            StreamReply::text(SECOND, 5).into()
        } else {
            StreamReply::text(FIRST, 5)
                .with_hold_at(2, Arc::clone(&release))
                .with_end(End::Hang)
                .into()
        }
    })
    .await;
    let interrupter = Interrupter::new();
    let handle = interrupter.clone();
    let (seen, mut texts) = tokio::sync::mpsc::unbounded_channel();
    let pipeline = pipeline(openai(&server));
    let held_job = job(Vec::new(), Some(interrupter));
    let task = tokio::spawn(async move {
        let mut observer = move |event: RunEvent| {
            if let RunEvent::Text { text, .. } = event {
                let _ = seen.send(text);
            }
        };
        pipeline
            .run(&held_job, &mut observer, &CancellationToken::new())
            .await
    });
    // The first text shows: the user presses the key, and the run holds the stream.
    let first = texts.recv().await.expect("the first text");
    handle.hold();
    // The server may go on now; a held run reads nothing of it.
    rest.notify_one();
    tokio::task::yield_now().await;
    handle.interrupt(INTERJECTION);
    let run = task.await.expect("the run");
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    let at = run.interruptions[0].at;
    let cut = &run.transcript[..at];
    // At most the two pieces sent before the server's wait.
    assert!(cut.starts_with(&first) && cut.len() <= 10, "{cut:?}");
    assert_eq!(&run.transcript[at..], SECOND);
    assert_conversation(&server, cut);

    // Held, then let go: the run goes on reading, as if never held.
    let server = MockServer::start(|_: &Request| StreamReply::text(SECOND, 5).into()).await;
    let interrupter = Interrupter::new();
    let handle = interrupter.clone();
    let mut held = false;
    let run = pipeline_for(&server)
        .run(
            &job(Vec::new(), Some(interrupter)),
            &mut |_: RunEvent| {
                if !held {
                    held = true;
                    handle.hold();
                    handle.release();
                }
            },
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
    assert!(run.interruptions.is_empty());
    assert_eq!(run.transcript, SECOND);
}

fn pipeline_for(server: &MockServer) -> Pipeline {
    pipeline(openai(server))
}
