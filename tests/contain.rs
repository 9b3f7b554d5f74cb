//! A run that panics is contained: it becomes a `failed` run with the panic's message, and a
//! panic hook can tell it from a panic anywhere else. Its own test binary, since it installs a
//! process-wide panic hook.

use std::sync::{Arc, Mutex};

use moss_thinking::exec::{ExecConfig, ExecMode};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{Job, Pipeline, PromptVersion, RunEvent, RunStatus, panic_is_contained};
use moss_thinking::teacher::{ReplayTeacher, Teacher};
use moss_thinking::transcript::{Rules, RulesConfig};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_run_becomes_a_failed_run_and_the_hook_knows_it_was_contained() {
    // What the hook saw: (contained, message), for the panics of this test.
    let seen: Arc<Mutex<Vec<(bool, String)>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_default();
        if let Ok(mut seen) = hook_seen.lock() {
            seen.push((panic_is_contained(), message));
        }
    }));

    let rules = Rules::new(RulesConfig::default()).expect("default rules");
    let pipeline = Pipeline::new(
        Teacher::Replay(ReplayTeacher::builtin()),
        ExecConfig {
            mode: ExecMode::Off,
            ..ExecConfig::default()
        },
        Arc::new(rules),
    );
    let job = Job {
        sample_id: "q11".to_owned(),
        question: "天空为什么是蓝色的？".to_owned(),
        prompt: Arc::new(PromptVersion::new(
            "system".to_owned(),
            "system".to_owned(),
            ModelParams::default(),
        )),
        interruptions: Vec::new(),
        interrupter: None,
    };
    // A bug in the middle of a run: the observer panics at the first text.
    let mut observer = |event: RunEvent| {
        if matches!(event, RunEvent::Text { .. }) {
            panic!("observer exploded");
        }
    };
    let run = pipeline
        .run_contained(&job, &mut observer, &CancellationToken::new())
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(!run.is_complete());
    assert_eq!(run.sample_id, "q11");
    let error = run.error.expect("why");
    assert!(
        error.contains("internal error") && error.contains("observer exploded"),
        "{error}"
    );

    // The same pipeline goes on: the next run is whole.
    let run = pipeline
        .run_contained(&job, &mut |_| {}, &CancellationToken::new())
        .await;
    assert_eq!(run.status, RunStatus::Complete, "{:?}", run.error);

    // A panic outside a run is not contained.
    let outside = std::panic::catch_unwind(|| panic!("outside a run"));
    assert!(outside.is_err());
    let _ = std::panic::take_hook();
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(
        seen,
        [
            (true, "observer exploded".to_owned()),
            (false, "outside a run".to_owned())
        ]
    );
}
