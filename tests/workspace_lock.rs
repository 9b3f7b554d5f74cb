//! One writer per workspace: the real `moss` binary against a workspace whose lock is held by
//! this test process (through the library) or by another `moss`.

#[path = "support/moss_cli.rs"]
mod moss_cli;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};

use moss_cli::{Bench, FAST_REPLAY, STALLED_REPLAY, jsonl_lines, run, stderr};
use moss_thinking::store::{LockError, WorkspaceLock, lock_holder};
use nix::sys::signal::Signal;

/// The message a refused process prints about a workspace held by `holder`, up to its time.
fn refusal(bench: &Bench, holder: &str, pid: u32) -> String {
    format!(
        "moss: the workspace {} is in use by {holder} (pid {pid}, since ",
        bench.dir.path().display()
    )
}

const HINT: &str = "; wait for it to finish or use another --workspace\n";

#[test]
fn generate_on_a_held_workspace_stops_at_once_naming_the_holder() {
    let bench = Bench::new(FAST_REPLAY);
    let _held = WorkspaceLock::acquire(bench.dir.path(), "moss generate").expect("free");
    let args = Bench::generate_args("2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(bench.moss(&args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&refusal(&bench, "moss generate", std::process::id())),
        "{err}"
    );
    assert!(err.ends_with(HINT), "{err}");
    // Stopped before touching the workspace: no prompt snapshot, no runs, the holder's name.
    assert!(!bench.path(".moss/prompts").exists());
    assert!(!bench.path(".moss/runs.jsonl").exists());
    let holder = lock_holder(bench.dir.path()).expect("a holder");
    assert_eq!(
        (holder.pid, holder.command.as_str()),
        (std::process::id(), "moss generate")
    );
}

#[test]
fn the_workbench_on_a_held_workspace_stops_before_anything_else() {
    let bench = Bench::new(FAST_REPLAY);
    let _held = WorkspaceLock::acquire(bench.dir.path(), "the moss workbench").expect("free");
    let out = run(bench.moss(&[
        "--samples",
        &moss_cli::repo("samples/questions.jsonl")
            .display()
            .to_string(),
        "--prompt",
        &moss_cli::repo("prompts/teacher.zh.md")
            .display()
            .to_string(),
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // Refused for the lock, not for the missing terminal that comes later.
    assert!(
        err.starts_with(&refusal(&bench, "the moss workbench", std::process::id())),
        "{err}"
    );
    assert!(err.ends_with(HINT), "{err}");
    assert!(!bench.path(".moss/prompts").exists());
}

#[test]
fn export_reads_a_workspace_while_its_writer_holds_it() {
    let bench = Bench::new(FAST_REPLAY);
    let args = Bench::generate_args("2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(bench.moss(&args));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    bench.accept_all();

    let _held = WorkspaceLock::acquire(bench.dir.path(), "the moss workbench").expect("free");
    let out = run(bench.moss(&["export", "--out", "curated.jsonl", "--include-replayed"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("exported 2 accepted outputs"), "{err}");
    assert_eq!(jsonl_lines(&bench.path("curated.jsonl")), 2);
}

/// A child process killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_holder_killed_with_sigkill_frees_the_workspace() {
    let bench = Bench::new(STALLED_REPLAY);
    let args = Bench::generate_args("1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut holder = Reaped(
        bench
            .moss(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moss starts"),
    );
    let pid = holder.0.id();
    // Its first line comes after the lock is taken and named: the readiness signal. The pipe
    // stays open until the end, so that moss is not stopped by writing to a closed one.
    let mut notes = BufReader::new(holder.0.stderr.take().expect("stderr"));
    let mut first = String::new();
    notes.read_line(&mut first).expect("moss writes to stderr");
    assert!(first.contains("offline replay teacher"), "{first}");
    let named = lock_holder(bench.dir.path()).expect("the holder is named");
    assert_eq!((named.pid, named.command.as_str()), (pid, "moss generate"));

    // While it runs, the workspace is refused, to this process and to another moss.
    let err = WorkspaceLock::acquire(bench.dir.path(), "test").expect_err("held");
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    // (With nothing to run, so that it could not hang here were it let in.)
    let nothing = Bench::generate_args("0");
    let nothing: Vec<&str> = nothing.iter().map(String::as_str).collect();
    let out = run(bench.moss(&nothing));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&refusal(&bench, "moss generate", pid)),
        "{}",
        stderr(&out)
    );

    // No chance to clean up: the kernel releases the lock with the process.
    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
    nix::sys::signal::kill(target, Signal::SIGKILL).expect("SIGKILL");
    let status = holder.0.wait().expect("reaped");
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status}");
    drop(notes);
    let _mine = WorkspaceLock::acquire(bench.dir.path(), "test").expect("freed by the kernel");
}

#[test]
fn a_finished_writer_leaves_the_workspace_free() {
    let bench = Bench::new(FAST_REPLAY);
    let args = Bench::generate_args("1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..2 {
        let out = run(bench.moss(&args));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let _mine = WorkspaceLock::acquire(bench.dir.path(), "test").expect("free");
}
