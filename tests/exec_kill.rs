//! `kill_running` stops every sandboxed run of the process, so it has a test binary of its own:
//! other runs at the same time would be stopped too.

#[path = "support/procs.rs"]
mod procs;

use std::time::Duration;

use moss_thinking::exec::{ExecConfig, ExecStatus, Sandbox};
use procs::processes_with_arg;
use tokio_util::sync::CancellationToken;

/// Whether a live process has `arg` among its arguments (seen from the host).
fn running(arg: &str) -> bool {
    !processes_with_arg(arg).is_empty()
}

/// Polls `condition` until it holds, up to a generous bound.
async fn eventually(condition: impl Fn() -> bool) -> bool {
    for _ in 0..800 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_running_stops_runs_in_flight_and_everything_they_started() {
    moss_thinking::exec::use_helper(env!("CARGO_BIN_EXE_moss"));
    let arg = format!("60.{}", fastrand::u64(1_000_000_000..));
    let code =
        format!("import subprocess, time\nsubprocess.Popen(['sleep', '{arg}'])\ntime.sleep(60)\n");
    let sandbox = Sandbox::new(ExecConfig {
        timeout_secs: 60.0,
        ..ExecConfig::default()
    });
    let run = tokio::spawn(async move { sandbox.run(&code, &CancellationToken::new()).await });
    assert!(
        eventually(|| running(&arg)).await,
        "the block never started its child"
    );
    moss_thinking::exec::kill_running();
    let outcome = run.await.expect("the run does not panic");
    assert_eq!(outcome.status, ExecStatus::Cancelled, "{outcome:?}");
    assert!(
        eventually(|| !running(&arg)).await,
        "the sleeping child survived"
    );
    // Nothing left to kill: harmless.
    moss_thinking::exec::kill_running();
}
