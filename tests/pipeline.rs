//! The Job → Run pipeline with the offline replay teacher and real `python3`.

use std::sync::Arc;

use moss_thinking::exec::{ExecConfig, ExecMode};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{Job, Pipeline, PromptVersion, Run, RunEvent, RunStatus};
use moss_thinking::teacher::{ReplayTeacher, Teacher};
use moss_thinking::transcript::{Outcome, RuleId, Rules, RulesConfig};
use tokio_util::sync::CancellationToken;

fn pipeline(mode: ExecMode) -> Pipeline {
    let exec = ExecConfig {
        mode,
        timeout_secs: 10.0,
        ..ExecConfig::default()
    };
    let rules = Rules::new(RulesConfig::default()).expect("default rules");
    Pipeline::new(
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
    let pipeline = Pipeline::new(
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
