//! The run service, which `moss generate` and the workbench both run through: bounded
//! scheduling in order (a run asked for now goes first), per-run cancellation, runs saved
//! before they are reported, panics contained, consent asked once, and decisions written
//! through the same journal. Against the in-process OpenAI-style server over loopback.

#[path = "support/openai_mock.rs"]
mod openai_mock;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moss_thinking::exec::{ExecConfig, ExecMode};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{
    Consent, EventSink, Job, Pipeline, PromptVersion, RunEvent, RunKey, RunStatus, Service,
    ServiceEvent, ServiceOptions,
};
use moss_thinking::store::{Decision, Entry, Verdict, Workspace};
use moss_thinking::teacher::provider::OpenAiSettings;
use moss_thinking::teacher::{
    ContinuationStyle, OpenAiTeacher, ReasoningField, RetryPolicy, Teacher, Timeouts,
};
use moss_thinking::transcript::{Rules, RulesConfig};
use openai_mock::{End, MockServer, Reply, Request, StreamReply};
use tokio::sync::{Notify, mpsc};

/// Only a safety net against a hang: nothing here waits for time to pass.
const NEVER: Duration = Duration::from_secs(600);

fn pipeline(server: &MockServer, mode: ExecMode) -> Pipeline {
    let teacher = OpenAiTeacher::new(OpenAiSettings {
        provider: "mock".to_owned(),
        base_url: server.base_url.clone(),
        model: "mock-model".to_owned(),
        api_key: None,
        reasoning_field: ReasoningField::ReasoningContent,
        continuation: ContinuationStyle::None,
        continuation_base_url: None,
        timeouts: Timeouts {
            connect: NEVER,
            first_token: NEVER,
            idle: NEVER,
        },
        retry: RetryPolicy {
            max_retries: 0,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    })
    .expect("client");
    moss_thinking::exec::use_helper(env!("CARGO_BIN_EXE_moss"));
    Pipeline::new(
        Teacher::OpenAi(teacher),
        ExecConfig {
            mode,
            ..ExecConfig::default()
        },
        Arc::new(Rules::new(RulesConfig::default()).expect("rules")),
    )
}

fn job(sample: &str) -> Job {
    Job {
        sample_id: sample.to_owned(),
        question: format!("question {sample}"),
        prompt: Arc::new(PromptVersion::new(
            "system".to_owned(),
            "system".to_owned(),
            ModelParams::default(),
        )),
        interruptions: Vec::new(),
        interrupter: None,
    }
}

/// The sample a request asks about (its question is `question SAMPLE`).
fn sample_of(req: &Request) -> &str {
    req.question()
        .unwrap_or_default()
        .trim_start_matches("question ")
}

/// The answer the server streams for `sample`.
fn answer(sample: &str) -> String {
    format!("{sample} 的回答。\n<think>想一想。</think>\n说完了。")
}

/// A server whose streams each wait, after their text, until their sample's release.
struct Held {
    releases: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Held {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            releases: Mutex::new(HashMap::new()),
        })
    }

    fn release_of(&self, sample: &str) -> Arc<Notify> {
        let mut releases = self.releases.lock().expect("releases");
        Arc::clone(releases.entry(sample.to_owned()).or_default())
    }

    fn release(&self, sample: &str) {
        self.release_of(sample).notify_one();
    }

    fn responder(self: &Arc<Self>) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
        let held = Arc::clone(self);
        move |req: &Request| {
            let sample = sample_of(req);
            StreamReply::text(&answer(sample), 4)
                .with_hold(held.release_of(sample))
                .into()
        }
    }
}

struct Harness {
    service: Service,
    events: mpsc::UnboundedReceiver<ServiceEvent>,
    workspace: Workspace,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn start(pipeline: Pipeline, concurrency: usize, consent: Consent) -> Self {
        Self::start_with(pipeline, concurrency, consent, |_| {})
    }

    /// `spy` sees each event as the service reports it (before the test does).
    fn start_with(
        pipeline: Pipeline,
        concurrency: usize,
        consent: Consent,
        spy: impl Fn(&ServiceEvent) + Send + Sync + 'static,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("workspace");
        let (tx, events) = mpsc::unbounded_channel();
        let sink: EventSink = Arc::new(move |event| {
            spy(&event);
            let _ = tx.send(event);
        });
        let service = Service::start(
            pipeline,
            workspace.clone(),
            ServiceOptions {
                concurrency,
                consent,
                stream: true,
            },
            sink,
        )
        .expect("service");
        Self {
            service,
            events,
            workspace,
            _dir: dir,
        }
    }

    async fn next(&mut self) -> ServiceEvent {
        tokio::time::timeout(NEVER, self.events.recv())
            .await
            .expect("an event")
            .expect("the service is running")
    }

    /// Events until `stop` matches one (included).
    async fn until(&mut self, stop: impl Fn(&ServiceEvent) -> bool) -> Vec<ServiceEvent> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = stop(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    fn recorded_run_ids(&self) -> Vec<String> {
        self.workspace
            .load_runs()
            .expect("runs")
            .runs
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    }
}

fn key_of(event: &ServiceEvent) -> Option<RunKey> {
    match event {
        ServiceEvent::Queued { key }
        | ServiceEvent::Started { key }
        | ServiceEvent::Run { key, .. }
        | ServiceEvent::Finished { key, .. }
        | ServiceEvent::Saved { key, .. }
        | ServiceEvent::Dropped { key, .. } => Some(*key),
        ServiceEvent::ConsentNeeded | ServiceEvent::Recorded { .. } => None,
    }
}

fn is_text(event: &ServiceEvent) -> bool {
    matches!(
        event,
        ServiceEvent::Run {
            event: RunEvent::Text { .. },
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_start_in_order_at_most_concurrency_at_once_and_are_saved_before_reported() {
    let held = Held::new();
    let server = MockServer::start(held.responder()).await;
    // Each saved run must already be in the journal when it is reported.
    let workspace_check: Arc<Mutex<Option<Workspace>>> = Arc::default();
    let check = Arc::clone(&workspace_check);
    let on_disk_when_saved: Arc<Mutex<Vec<bool>>> = Arc::default();
    let seen = Arc::clone(&on_disk_when_saved);
    let mut h = Harness::start_with(
        pipeline(&server, ExecMode::Off),
        2,
        Consent::ByMode,
        move |event| {
            if let ServiceEvent::Saved { run, .. } = event
                && let Some(workspace) = check.lock().expect("workspace").as_ref()
            {
                let runs = workspace.load_runs().expect("runs").runs;
                seen.lock()
                    .expect("seen")
                    .push(runs.iter().any(|r| r.run_id == run.run_id));
            }
        },
    );
    *workspace_check.lock().expect("workspace") = Some(h.workspace.clone());
    let names = ["s0", "s1", "s2", "s3"];
    for (key, name) in (0..).zip(names) {
        h.service.submit(key, job(name));
    }
    // Both slots stream and hold; nothing else can start until one is saved.
    let mut events = Vec::new();
    let mut streaming = std::collections::HashSet::new();
    while streaming.len() < 2 {
        let event = h.next().await;
        if is_text(&event) {
            streaming.insert(key_of(&event));
        }
        events.push(event);
    }
    // One run asked for now goes before the batch still waiting.
    h.service.submit_next(9, job("urgent"));
    for name in ["s0", "s1", "urgent", "s2", "s3"] {
        held.release(name);
    }
    let mut saved = 0;
    while saved < 5 {
        let event = h.next().await;
        if matches!(event, ServiceEvent::Saved { .. }) {
            saved += 1;
        }
        events.push(event);
    }

    let started: Vec<RunKey> = events
        .iter()
        .filter_map(|e| match e {
            ServiceEvent::Started { key } => Some(*key),
            _ => None,
        })
        .collect();
    assert_eq!(started, [0, 1, 9, 2, 3]);
    // In flight (started, not yet saved) never exceeds the concurrency.
    let mut in_flight = 0_i32;
    for event in &events {
        match event {
            ServiceEvent::Started { .. } => in_flight += 1,
            ServiceEvent::Saved { .. } => in_flight -= 1,
            _ => {}
        }
        assert!(in_flight <= 2, "{events:?}");
    }
    // Per run: queued, started, text, finished, saved; complete and on disk when reported.
    for key in [0, 1, 9, 2, 3] {
        let order: Vec<&str> = events
            .iter()
            .filter(|e| key_of(e) == Some(key))
            .map(|e| match e {
                ServiceEvent::Queued { .. } => "queued",
                ServiceEvent::Started { .. } => "started",
                ServiceEvent::Run { .. } => "run",
                ServiceEvent::Finished { .. } => "finished",
                ServiceEvent::Saved { .. } => "saved",
                _ => "other",
            })
            .collect();
        let mut deduped = order.clone();
        deduped.dedup();
        assert_eq!(
            deduped,
            ["queued", "started", "run", "finished", "saved"],
            "run {key}: {order:?}"
        );
    }
    for event in &events {
        if let ServiceEvent::Saved { run, stored, .. } = event {
            assert_eq!(stored, &Ok(()));
            assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);
            assert!(run.transcript.starts_with(&run.sample_id));
        }
    }
    assert_eq!(*on_disk_when_saved.lock().expect("seen"), [true; 5]);
    h.service.finish().await;
    assert_eq!(server.request_count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_keeps_what_arrived_and_one_cancelled_before_anything_is_dropped() {
    let held = Held::new();
    let holding = held.responder();
    // "silent" sends its headers and nothing else, ever.
    let server = MockServer::start(move |req: &Request| {
        if req.question() == Some("question silent") {
            StreamReply::new(Vec::new()).with_end(End::Hang).into()
        } else {
            holding(req)
        }
    })
    .await;
    let mut h = Harness::start(pipeline(&server, ExecMode::Off), 2, Consent::ByMode);
    h.service.submit(0, job("partial"));
    h.service.submit(1, job("silent"));
    h.service.submit(2, job("waiting"));
    // "partial" has text; "silent" has been asked; "waiting" has no slot.
    h.until(is_text).await;
    assert!(server.wait_until(NEVER, |s| s.request_count() == 2).await);
    h.service.cancel(2);
    let dropped = h
        .until(|e| matches!(e, ServiceEvent::Dropped { key: 2, .. }))
        .await;
    assert!(matches!(
        dropped.last(),
        Some(ServiceEvent::Dropped { started: false, .. })
    ));
    h.service.cancel(1);
    let events = h
        .until(|e| matches!(e, ServiceEvent::Dropped { key: 1, .. }))
        .await;
    assert!(matches!(
        events.last(),
        Some(ServiceEvent::Dropped { started: true, .. })
    ));
    h.service.cancel(0);
    let events = h
        .until(|e| matches!(e, ServiceEvent::Saved { key: 0, .. }))
        .await;
    let Some(ServiceEvent::Saved { run, stored, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(stored, &Ok(()));
    assert_eq!(run.status, RunStatus::Incomplete);
    // What arrived before the cancel, however much of it that was: never nothing, never more.
    assert!(
        !run.transcript.is_empty() && answer("partial").starts_with(&run.transcript),
        "{:?}",
        run.transcript
    );
    // Only the run with text is recorded; the one never started was never asked for.
    assert_eq!(h.recorded_run_ids(), std::slice::from_ref(&run.run_id));
    h.service.finish().await;
    assert_eq!(server.request_count(), 2);
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.question() == Some("question waiting"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_panics_is_saved_as_failed_and_frees_its_slot() {
    let server =
        MockServer::start(|req: &Request| StreamReply::text(&answer(sample_of(req)), 4).into())
            .await;
    // A bug while the first run reports its text.
    let mut h = Harness::start_with(
        pipeline(&server, ExecMode::Off),
        1,
        Consent::ByMode,
        |event| {
            if let ServiceEvent::Run { key: 0, .. } = event {
                panic!("the screen exploded");
            }
        },
    );
    h.service.submit(0, job("boom"));
    h.service.submit(1, job("after"));
    let events = h
        .until(|e| matches!(e, ServiceEvent::Saved { key: 1, .. }))
        .await;
    let saved: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ServiceEvent::Saved { key, run, .. } => Some((*key, run)),
            _ => None,
        })
        .collect();
    assert_eq!(saved.len(), 2);
    let (key, failed) = &saved[0];
    assert_eq!(*key, 0);
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_deref().unwrap_or_default();
    assert!(error.contains("the screen exploded"), "{error}");
    // The slot went to the next run, which is whole.
    assert_eq!(saved[1].1.status, RunStatus::Complete);
    assert_eq!(h.recorded_run_ids().len(), 2);
    h.service.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_asked_once_for_every_waiting_run_and_a_refusal_runs_no_code() {
    let server = MockServer::start(|_: &Request| {
        StreamReply::text(
            "算一下。\n<think>用代码确认结果。</think>\n```python RUN\nprint(6 * 7)\n```\n好了。",
            5,
        )
        .into()
    })
    .await;
    let mut h = Harness::start(pipeline(&server, ExecMode::Fill), 2, Consent::Ask(None));
    h.service.submit(0, job("a"));
    h.service.submit(1, job("b"));
    h.until(|e| matches!(e, ServiceEvent::ConsentNeeded)).await;
    h.service.answer_consent(false);
    let mut saved = Vec::new();
    let mut asked = 0;
    while saved.len() < 2 {
        match h.next().await {
            ServiceEvent::Saved { run, .. } => saved.push(run),
            ServiceEvent::ConsentNeeded => asked += 1,
            _ => {}
        }
    }
    assert_eq!(asked, 0, "asked once for both runs");
    for run in saved {
        assert!(
            run.executions.is_empty(),
            "no code ran: {:?}",
            run.executions
        );
        assert_eq!(run.exec, ExecMode::Off, "the record says code did not run");
    }
    h.service.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_go_through_the_same_journal_and_are_reported_once_on_disk() {
    let server = MockServer::start(|_: &Request| StreamReply::text("好的。", 2).into()).await;
    let mut h = Harness::start(pipeline(&server, ExecMode::Off), 1, Consent::ByMode);
    h.service.submit(0, job("d"));
    let events = h.until(|e| matches!(e, ServiceEvent::Saved { .. })).await;
    let Some(ServiceEvent::Saved { run, .. }) = events.last() else {
        unreachable!()
    };
    let decision = Decision {
        run_id: run.run_id.clone(),
        sample_id: "d".to_owned(),
        verdict: Verdict::Accepted,
        text: None,
        rules: Vec::new(),
        override_rules: false,
        reason: None,
        prompt_id: None,
        over: None,
        at_ms: 1,
    };
    h.service.record(Entry::Decision(decision.clone()));
    let ServiceEvent::Recorded { entry, result } = h.next().await else {
        panic!("the decision's acknowledgement");
    };
    assert_eq!(result, Ok(()));
    assert!(matches!(entry, Entry::Decision(d) if d == decision));
    let loaded = h.workspace.load_decisions().expect("decisions");
    assert_eq!(loaded.decisions, [decision]);
    // Once finished, nothing of the service is left running to report anything.
    let Harness {
        service,
        mut events,
        ..
    } = h;
    service.finish().await;
    assert!(events.recv().await.is_none());
}
