//! Running one block: moss's side of the sandbox.
//!
//! The configured interpreter is resolved on the host (`interpreter.rs`), then the sandbox
//! helper (this program, see [`super::helper`]) is started with a cleared environment, in a
//! process group of its own, its standard input a pipe carrying the plan and the code and then
//! kept open as the lifeline: whenever this process ends, however it ends, the helper sees the
//! pipe close and ends the sandbox with everything in it. The wall timeout and cancellation
//! close the lifeline and kill the helper's group at once; so does dropping a run midway.
//! Each run is registered until it ends, so [`kill_running`](super::kill_running) can stop it
//! when this process exits early.
//!
//! The helper's report (the first line of stderr) says which protections were in force and
//! why others were not; an error in it means the code never started, which becomes
//! [`ExecStatus::NotStarted`], never a result. Output is read concurrently and capped per
//! stream; secrets of our environment are redacted from it.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::capture::{StreamCapture, join_capture, push_line, read_stream};
use super::helper::{HELPER_ARG, SETUP_FAILED};
use super::interpreter::resolve_interpreter;
pub use super::protocol::Missing;
use super::protocol::{Limits, Plan, Report, frames};
use super::redact::{REDACTED, Redactor, env_secrets};
use super::registry::Registration;
use super::{ExecConfig, ExecOutcome, ExecStatus, Protection, Protections};

/// The `PATH` the code sees, after the interpreter's own folder.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How long output may keep flowing after the sandbox was ended (a process that left the
/// group, where there is no PID namespace, may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the killed helper to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Runs `main.py` from the working folder as `__main__`, so tracebacks read
/// `File "main.py", line N` as with `python3 main.py` in that folder, without frames of ours.
const RUNNER: &str = r#"import sys
def _moss_main():
    import linecache, os, tokenize, traceback, types
    with open("main.py", "rb") as f:
        source = f.read()
    try:
        with tokenize.open("main.py") as f:
            linecache.cache["main.py"] = (len(source), None, f.readlines(), "main.py")
    except Exception:
        pass
    main = types.ModuleType("__main__")
    main.__file__ = "main.py"
    sys.modules["__main__"] = main
    sys.argv[:] = ["main.py"]
    sys.path[0] = os.getcwd()
    try:
        code = compile(source, "main.py", "exec")
    except SyntaxError as e:
        traceback.print_exception(type(e), e, None)
        sys.exit(1)
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        sys.exit(1)
_moss_main()
"#;

/// Code that says which interpreter runs, for [`Sandbox::check`].
const PROBE: &str = "import sys\nprint(sys.version.split()[0])\nprint(sys.executable)\n";

static HELPER_CAPABLE: AtomicBool = AtomicBool::new(false);
static HELPER_OVERRIDE: OnceLock<PathBuf> = OnceLock::new();

/// This program answers [`HELPER_ARG`] (its `main` calls
/// [`run_if_requested`](super::helper::run_if_requested)): it is its own sandbox helper.
pub(crate) fn mark_helper_capable() {
    HELPER_CAPABLE.store(true, Ordering::Relaxed);
}

/// Uses `program` (a build of `moss`) as the sandbox helper: for programs other than `moss`
/// that run code, such as tests. The first call wins.
pub fn use_helper(program: impl Into<PathBuf>) {
    let _ = HELPER_OVERRIDE.set(program.into());
}

fn helper_program() -> Result<PathBuf, String> {
    if let Some(program) = HELPER_OVERRIDE.get() {
        return Ok(program.clone());
    }
    if HELPER_CAPABLE.load(Ordering::Relaxed) {
        // The running program itself, even if its file was replaced since it started.
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    Err("this program has no sandbox helper (exec::use_helper names one)".to_owned())
}

/// Makes this process non-dumpable, once, before the first run: where the sandbox has no
/// PID namespace, code running as our user could otherwise read `/proc/<our pid>/environ`
/// (API keys) or attach to us. The price: no core dumps, and debuggers need root to attach.
fn protect_host() {
    static NON_DUMPABLE: Once = Once::new();
    NON_DUMPABLE.call_once(|| {
        // Best effort: the other protections do not depend on it.
        let _ = nix::sys::prctl::set_dumpable(false);
    });
}

/// Runs code under an [`ExecConfig`].
///
/// Its `Debug` output shows how many secrets it redacts, never the secrets.
#[derive(Clone, Debug)]
pub struct Sandbox {
    config: ExecConfig,
    redactor: Redactor,
    /// Secrets given with [`Sandbox::with_secrets`], kept to rebuild `redactor`.
    extra_secrets: Vec<Secret>,
}

/// A secret that does not show in `Debug` output.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// What the sandbox gives on this machine, found by running a tiny probe in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxCheck {
    /// The protections that were in force for the probe.
    pub protections: Protections,
    /// The protections not in force, and why.
    pub missing: Vec<Missing>,
    /// "Python 3.11.7 (/usr/bin/python3.11)", or why the interpreter did not run.
    pub interpreter: Result<String, String>,
}

impl SandboxCheck {
    /// The protections `require` names that are missing.
    #[must_use]
    pub fn lacking(&self, require: &[Protection]) -> Vec<&Missing> {
        self.missing
            .iter()
            .filter(|m| require.contains(&m.protection))
            .collect()
    }

    /// Whether code can run at all.
    #[must_use]
    pub fn works(&self) -> bool {
        self.interpreter.is_ok()
    }

    /// The missing protections that matter (the basic ones are always there when code runs),
    /// as "filesystem isolation (why)" phrases.
    #[must_use]
    pub fn missing_phrases(&self) -> Vec<String> {
        self.missing
            .iter()
            .map(|m| format!("{} ({})", m.protection.describe(), m.reason))
            .collect()
    }
}

impl Sandbox {
    /// A sandbox that redacts the secrets of our environment (see
    /// [`redact_secrets`](super::redact_secrets)) from the output.
    #[must_use]
    pub fn new(config: ExecConfig) -> Self {
        Self {
            config,
            redactor: Redactor::new(env_secrets().iter().map(String::as_str)),
            extra_secrets: Vec::new(),
        }
    }

    /// Also redacts `secrets` (each as given, however short; empty ones are ignored).
    #[must_use]
    pub fn with_secrets(mut self, secrets: Vec<String>) -> Self {
        self.extra_secrets.extend(secrets.into_iter().map(Secret));
        self.redactor = Redactor::new(
            env_secrets()
                .iter()
                .map(String::as_str)
                .chain(self.extra_secrets.iter().map(|s| s.0.as_str())),
        );
        self
    }

    #[must_use]
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// Runs `code` and returns what happened; never fails (a failure is an outcome).
    pub async fn run(&self, code: &str, cancel: &CancellationToken) -> ExecOutcome {
        self.run_reporting(code, cancel).await.0
    }

    /// Runs a tiny probe to find out what the sandbox gives here, and why it lacks what it
    /// lacks. `[exec] require` is not applied: the check says what is missing instead.
    pub async fn check(&self) -> SandboxCheck {
        let mut probe = self.clone();
        probe.config.require.clear();
        let (outcome, report) = probe.run_reporting(PROBE, &CancellationToken::new()).await;
        let interpreter = if outcome.is_success() {
            let mut lines = outcome.stdout.lines();
            let version = lines.next().unwrap_or_default();
            let path = lines.next().unwrap_or_default();
            Ok(format!("Python {version} ({path})"))
        } else {
            Err(match &outcome.status {
                ExecStatus::NotStarted { message } => message.clone(),
                _ => outcome.to_block(),
            })
        };
        let (protections, missing) = match report {
            Some(report) if report.error.is_none() => (report.protections, report.missing),
            Some(Report {
                protections,
                missing,
                error: Some(_),
            }) if !missing.is_empty() => (protections, missing),
            _ => {
                let why = interpreter
                    .clone()
                    .err()
                    .unwrap_or_else(|| "the sandbox did not report".to_owned());
                (
                    Protections::default(),
                    Protection::ALL
                        .iter()
                        .map(|&protection| Missing {
                            protection,
                            reason: why.clone(),
                        })
                        .collect(),
                )
            }
        };
        SandboxCheck {
            protections,
            missing,
            interpreter,
        }
    }

    /// Runs `code`; also returns the helper's report, when it sent one.
    async fn run_reporting(
        &self,
        code: &str,
        cancel: &CancellationToken,
    ) -> (ExecOutcome, Option<Report>) {
        let start = Instant::now();
        let helper = match helper_program() {
            Ok(helper) => helper,
            Err(message) => return (not_started(message, start), None),
        };
        let plan = match self.plan() {
            Ok(plan) => plan,
            Err(message) => return (not_started(message, start), None),
        };
        protect_host();
        let mut command = Command::new(&helper);
        command
            .arg(HELPER_ARG)
            .arg("outer")
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return (
                    not_started(
                        format!("cannot start the sandbox helper {}: {e}", helper.display()),
                        start,
                    ),
                    None,
                );
            }
        };
        let registration = Registration::new();
        self.supervise(child, frames(&plan, code), cancel, &registration, start)
            .await
    }

    /// The plan for the helper: the interpreter, its folders, limits and environment.
    fn plan(&self) -> Result<Plan, String> {
        let interpreter = resolve_interpreter(&self.config.python)?;
        let mib = |n: u64| n.saturating_mul(1024 * 1024);
        let path = format!("{}:{SYSTEM_PATH}", interpreter.bin_dir.display());
        Ok(Plan {
            program: interpreter.program,
            args: vec!["-c".to_owned(), RUNNER.to_owned()],
            binds: interpreter.binds,
            env: sandbox_env(&path),
            limits: Limits {
                cpu_secs: self.config.cpu_secs,
                memory_bytes: mib(self.config.memory_mb),
                file_size_bytes: mib(self.config.file_size_mb),
                max_processes: self.config.max_processes,
            },
            disk_mb: self.config.disk_mb,
            isolate_network: self.config.isolate_network,
            require: self.config.require.clone(),
            temp_root: std::env::temp_dir(),
        })
    }

    /// Feeds the helper, waits for it (or the timeout, or cancellation, or
    /// [`super::kill_running`]), ends the sandbox, and collects the output.
    async fn supervise(
        &self,
        mut child: Child,
        frames: Vec<u8>,
        cancel: &CancellationToken,
        registration: &Registration,
        start: Instant,
    ) -> (ExecOutcome, Option<Report>) {
        let mut group = GroupGuard::new(child.id());
        let killed = registration.killed();
        if let Some(pgid) = group.pgid
            && !registration.set_group(pgid)
        {
            // `kill_running` ran while we were starting: it could not see this group.
            group.kill();
        }
        // The lifeline: the frames, then open until the sandbox is to end.
        let lifeline = child.stdin.take().map(|mut stdin| {
            AbortOnDrop(tokio::spawn(async move {
                if stdin.write_all(&frames).await.is_ok() {
                    let _ = stdin.flush().await;
                    std::future::pending::<()>().await;
                }
            }))
        });
        let stop = CancellationToken::new();
        let limit = self.config.output_limit;
        // A secret that starts before the limit must be seen whole to be redacted.
        let slack = self.redactor.longest().saturating_sub(1);
        let capture = |report| StreamCapture::new(limit, slack, report);
        let stdout = child
            .stdout
            .take()
            .map(|pipe| tokio::spawn(read_stream(pipe, capture(false), stop.clone())));
        let stderr = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(read_stream(pipe, capture(true), stop.clone())));

        let end = tokio::select! {
            biased;
            status = child.wait() => End::Exited(status),
            () = cancel.cancelled() => End::Cancelled,
            () = killed.cancelled() => End::Cancelled,
            () = tokio::time::sleep(self.config.timeout()) => End::TimedOut,
        };
        // End the sandbox: the lifeline's end stops everything inside it, killing the group
        // stops the helper at once.
        if let Some(mut lifeline) = lifeline {
            lifeline.0.abort();
            let _ = (&mut lifeline.0).await;
        }
        group.kill();
        let end = match end {
            // Killed by `kill_running` (it may have won the race against our own kill).
            End::Exited(_) if killed.is_cancelled() => End::Cancelled,
            End::Exited(status) => End::Exited(status),
            other => {
                // Reap the killed helper; `kill_on_drop` covers the (unlikely) case that it
                // does not die in time.
                let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
                other
            }
        };
        group.disarm();
        let duration = start.elapsed();

        let stopper = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DRAIN_GRACE).await;
                stop.cancel();
            })
        };
        let stdout = join_capture(stdout, capture(false)).await;
        let stderr = join_capture(stderr, capture(true)).await;
        stopper.abort();

        self.outcome(end, stdout, stderr, duration)
    }

    /// The outcome from how the helper ended and what it wrote.
    fn outcome(
        &self,
        end: End,
        stdout: StreamCapture,
        mut stderr: StreamCapture,
        duration: Duration,
    ) -> (ExecOutcome, Option<Report>) {
        let reports = std::mem::take(&mut stderr.reports);
        let mut stderr_text = stderr.finish(&self.redactor);
        let first = reports.first().cloned();
        let refusal = reports.iter().find_map(|r| r.error.clone());
        let status = match (end, refusal) {
            (End::TimedOut, _) => ExecStatus::TimedOut,
            (End::Cancelled, _) => ExecStatus::Cancelled,
            (End::Exited(_), Some(message)) => ExecStatus::NotStarted { message },
            (End::Exited(Ok(status)), None) if first.is_none() => ExecStatus::NotStarted {
                message: helper_failure(status, &stderr_text),
            },
            (End::Exited(Ok(status)), None) => exit_status(status),
            (End::Exited(Err(e)), None) => {
                push_line(
                    &mut stderr_text,
                    &format!("[waiting for the process failed: {e}]"),
                );
                ExecStatus::Failed { code: -1 }
            }
        };
        let outcome = if matches!(status, ExecStatus::NotStarted { .. }) {
            // Nothing ran: no output, no protections.
            ExecOutcome {
                status,
                stdout: String::new(),
                stderr: String::new(),
                duration,
                protections: Protections::default(),
            }
        } else {
            ExecOutcome {
                status,
                stdout: stdout.finish(&self.redactor),
                stderr: stderr_text,
                duration,
                protections: first.as_ref().map(|r| r.protections).unwrap_or_default(),
            }
        };
        (outcome, first)
    }
}

/// Why the helper ended without a report (it crashed, or could not run at all).
fn helper_failure(status: ExitStatus, stderr: &str) -> String {
    let said = stderr.lines().next().unwrap_or_default().trim();
    let how = match (status.code(), status.signal()) {
        (Some(code), _) if code == i32::from(SETUP_FAILED) => "could not set up".to_owned(),
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    };
    if said.is_empty() {
        format!("the sandbox helper {how} before the code started")
    } else {
        format!("the sandbox helper {how} before the code started: {said}")
    }
}

/// Aborts a task when dropped: the lifeline closes even when a run is dropped midway.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How the wait for the child ended.
enum End {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

fn exit_status(status: ExitStatus) -> ExecStatus {
    match (status.code(), status.signal()) {
        (Some(0), _) => ExecStatus::Success,
        (Some(code), _) => ExecStatus::Failed { code },
        (None, Some(signal)) => ExecStatus::Killed { signal },
        (None, None) => ExecStatus::Failed { code: -1 },
    }
}

fn not_started(message: String, start: Instant) -> ExecOutcome {
    ExecOutcome {
        status: ExecStatus::NotStarted { message },
        stdout: String::new(),
        stderr: String::new(),
        duration: start.elapsed(),
        protections: Protections::default(),
    }
}

/// Kills the helper's process group when asked, and when dropped while armed (the run's
/// future was dropped mid-way).
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        Self {
            pgid: pid
                .and_then(|pid| i32::try_from(pid).ok())
                .map(Pid::from_raw),
        }
    }

    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // ESRCH (nothing left in the group) is the usual, harmless error.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment the code starts with (the helper adds `HOME` and `TMPDIR`: its folder).
fn sandbox_env(path: &str) -> Vec<(String, String)> {
    [
        ("PATH", path),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("PYTHONIOENCODING", "utf-8"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_env_is_the_allow_list() {
        let env = sandbox_env("/opt/py/bin:/usr/bin");
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "LANG",
                "LC_ALL",
                "PYTHONIOENCODING",
                "PYTHONDONTWRITEBYTECODE",
                "PYTHONUNBUFFERED",
            ]
        );
        assert_eq!(env[0].1, "/opt/py/bin:/usr/bin");
    }

    #[test]
    fn the_plan_carries_the_configuration() {
        let sandbox = Sandbox::new(ExecConfig {
            memory_mb: 512,
            disk_mb: 64,
            require: vec![Protection::DiskLimit],
            ..ExecConfig::default()
        });
        let plan = sandbox.plan().expect("python3 resolves here");
        assert_eq!(plan.limits.memory_bytes, 512 * 1024 * 1024);
        assert_eq!(plan.disk_mb, 64);
        assert_eq!(plan.require, [Protection::DiskLimit]);
        assert!(plan.isolate_network);
        assert!(plan.program.is_absolute());
        assert_eq!(plan.args[0], "-c");
    }

    #[test]
    fn a_helper_failure_says_what_it_printed() {
        let status = ExitStatus::from_raw(i32::from(SETUP_FAILED) << 8);
        assert_eq!(
            helper_failure(status, "boom\nmore"),
            "the sandbox helper could not set up before the code started: boom"
        );
        let killed = ExitStatus::from_raw(9);
        assert_eq!(
            helper_failure(killed, ""),
            "the sandbox helper was killed by signal 9 before the code started"
        );
    }

    #[test]
    fn the_host_becomes_non_dumpable() {
        protect_host();
        assert_eq!(nix::sys::prctl::get_dumpable(), Ok(false));
    }
}
