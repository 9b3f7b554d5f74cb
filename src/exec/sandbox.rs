//! The sandbox that runs one block.
//!
//! Each run gets a fresh temporary directory holding `main.py`, which is also the working
//! directory, `HOME` and `TMPDIR`. Before the first run this process makes itself
//! non-dumpable (see [`protect_host`]). The interpreter is resolved against our own `PATH` and
//! then started with a cleared environment, no stdin, in its own process group, running a small
//! bootstrap (`python -c BOOTSTRAP CONFIG`) that
//!
//! 1. enters a new user namespace via `unshare(2)` through `ctypes`, with a new network
//!    namespace when `isolate_network` is set (no network, not even loopback) and a new PID
//!    namespace; it asks for all of them at once and, when the OS refuses, for less (user +
//!    network without PID), down to none;
//! 2. with a PID namespace, forks: the child is PID 1 of the namespace and runs the code, dying
//!    with the bootstrap (`PR_SET_PDEATHSIG`); the bootstrap waits for it silently and ends the
//!    same way (its exit code, or the same signal);
//! 3. sets `RLIMIT_CPU`, `RLIMIT_AS` and `RLIMIT_FSIZE`, and `RLIMIT_NPROC` inside a user
//!    namespace only, with soft = hard, so the code cannot raise them again (a limit of 0 in the
//!    configuration means "not limited");
//! 4. reports which of those took effect on the first line of stderr, behind [`REPORT_MARKER`];
//!    the reader strips that line;
//! 5. resets `os.environ` to the allow-list (wrappers such as pyenv shims add variables);
//! 6. runs `main.py` as `__main__`, so tracebacks read `File "main.py", line N` as with
//!    `python3 main.py`, without bootstrap frames.
//!
//! The wall timeout and cancellation kill the whole process group; so does the end of the run.
//! With a PID namespace nothing the code started outlives the run: when PID 1 exits the kernel
//! kills every other process in the namespace, those that left the process group with
//! `setsid` included. Without one, a process that calls `setsid` escapes the group and
//! survives. Each run is registered until it ends, so [`kill_running`](super::kill_running)
//! can stop it when this process exits early.
//!
//! The code runs as PID 1 of its namespace, which the kernel shields from signals it has no
//! handler for when they come from inside the namespace: a signal the code sends itself
//! without a handler does nothing (`SIGKILL` from outside, resource limits and faults work as
//! usual).
//!
//! Output is read concurrently and capped per stream, the rest drained and counted; secrets of
//! our environment are redacted from it (see [`super::redact_secrets`]).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::redact::{REDACTED, Redactor, env_secrets};
use super::registry::{Registration, make_writable};
use super::{ExecConfig, ExecOutcome, ExecStatus, Protections};

/// The `PATH` the code sees.
const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The bootstrap's report line starts with this; the rest of the line is compact JSON.
const REPORT_MARKER: &[u8] = b"\0moss-sandbox ";

/// The report line is looked for in at most this many leading bytes of stderr.
const REPORT_MAX: usize = 4096;

/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 16 * 1024;

/// How long output may keep flowing after the process group was killed (a process that left
/// the group may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the killed interpreter to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Runs `main.py` from the working directory under the protections described in the module
/// documentation. `sys.argv[1]` is the JSON built by [`bootstrap_config`].
const BOOTSTRAP: &str = r#"import os, sys, json
def _moss_wait(child):
    # Outside the PID namespace: wait for the code, then end as it ended, without a word.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = os.waitpid(child, 0)[1]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(sig, signal.SIG_DFL)
        except Exception:
            pass
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
def _moss_nproc_is_per_namespace():
    # Since Linux 5.14 RLIMIT_NPROC counts the processes of a user namespace's own user.
    import re
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return bool(m) and (int(m[1]), int(m[2])) >= (5, 14)
def _moss_boot():
    cfg = json.loads(sys.argv[1])
    userns = network = pidns = False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        # CLONE_NEWUSER, CLONE_NEWNET (only a down loopback), CLONE_NEWPID: as many as allowed.
        user, net, pid = 0x10000000, 0x40000000, 0x20000000
        for flags in ((user | net | pid, user | net) if cfg["net"] else (user | pid,)):
            if libc.unshare(flags) == 0:
                userns, network, pidns = True, bool(flags & net), bool(flags & pid)
                for path, text in (("/proc/self/setgroups", "deny"),
                                   ("/proc/self/uid_map", f"{uid} {uid} 1"),
                                   ("/proc/self/gid_map", f"{gid} {gid} 1")):
                    try:
                        with open(path, "w") as f:
                            f.write(text)
                    except OSError:
                        pass
                break
    except Exception:
        pass
    if pidns:
        try:
            child = os.fork()
        except OSError:
            child, pidns = -1, False
        if child > 0:
            _moss_wait(child)
        if child == 0:
            # PID 1 of the namespace: when it exits, the kernel kills everything else in it.
            libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGKILL when the bootstrap dies
    rlimits, nproc = True, False
    for name, value in cfg["limits"]:
        if not value:
            continue
        # Outside a user namespace RLIMIT_NPROC counts every process of the user, ours or not.
        if name == "RLIMIT_NPROC" and not (userns and _moss_nproc_is_per_namespace()):
            continue
        try:
            import resource
            which = getattr(resource, name)
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except Exception:
            if name != "RLIMIT_NPROC":
                rlimits = False
            continue
        if name == "RLIMIT_NPROC":
            nproc = True
    report = json.dumps({"rlimits": rlimits, "nproc": nproc, "network": network, "pid": pidns},
                        separators=(",", ":"))
    os.write(2, b"\0moss-sandbox " + report.encode() + b"\n")
    os.environ.clear()
    os.environ.update(cfg["env"])
    import linecache, tokenize, traceback, types
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
        exec(compile(source, "main.py", "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        sys.exit(1)
_moss_boot()
"#;

/// Makes this process non-dumpable, once, before the first run.
///
/// The code runs as our user. Without a user namespace it could otherwise read
/// `/proc/<our pid>/environ` (API keys) or attach to us with `ptrace`; the kernel allows
/// neither for a non-dumpable process unless the reader has `CAP_SYS_PTRACE` (root). The
/// interpreter is not affected: `execve` makes it dumpable again. The price: no core dumps,
/// and debuggers and profilers need root to attach to us.
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
        let start = Instant::now();
        let program = match resolve_program(&self.config.python, std::env::var_os("PATH")) {
            Ok(program) => program,
            Err(message) => return not_started(message, start),
        };
        let dir = match tempfile::Builder::new().prefix("moss-exec-").tempdir() {
            Ok(dir) => dir,
            Err(e) => {
                return not_started(format!("cannot create a temporary directory: {e}"), start);
            }
        };
        // Registered until the directory is gone, so `kill_running` can clean up after us.
        let registration = Registration::new(dir.path());
        if let Err(e) = tokio::fs::write(dir.path().join("main.py"), code).await {
            remove_dir(dir).await;
            return not_started(format!("cannot write main.py: {e}"), start);
        }
        protect_host();
        let child = match self.command(&program, dir.path()).spawn() {
            Ok(child) => child,
            Err(e) => {
                remove_dir(dir).await;
                return not_started(format!("cannot run {}: {e}", program.display()), start);
            }
        };
        let outcome = self.supervise(child, cancel, &registration, start).await;
        remove_dir(dir).await;
        drop(registration);
        outcome
    }

    fn command(&self, program: &Path, dir: &Path) -> Command {
        let env = sandbox_env(dir);
        let mut command = Command::new(program);
        command
            .arg("-c")
            .arg(BOOTSTRAP)
            .arg(bootstrap_config(&self.config, &env).to_string())
            .current_dir(dir)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Waits for the child (or the timeout, or cancellation, or [`super::kill_running`]),
    /// kills its process group, and collects its output.
    async fn supervise(
        &self,
        mut child: Child,
        cancel: &CancellationToken,
        registration: &Registration,
        start: Instant,
    ) -> ExecOutcome {
        let mut group = GroupGuard::new(child.id());
        let killed = registration.killed();
        if let Some(pgid) = group.pgid
            && !registration.set_group(pgid)
        {
            // `kill_running` ran while we were starting: it could not see this group.
            group.kill();
        }
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
        // Kill whatever is left of the group: everything on timeout or cancellation, and
        // processes the code left behind when it exited by itself.
        group.kill();
        let end = match end {
            // Killed by `kill_running` (it may have won the race against our own kill).
            End::Exited(_) if killed.is_cancelled() => End::Cancelled,
            End::Exited(status) => End::Exited(status),
            other => {
                // Reap the killed interpreter; `kill_on_drop` covers the (unlikely) case that
                // it does not die in time.
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
        let mut stderr = join_capture(stderr, capture(true)).await;
        stopper.abort();

        let report = stderr.report.take().unwrap_or_default();
        let mut stderr_text = stderr.finish(&self.redactor);
        let status = match end {
            End::Exited(Ok(status)) => exit_status(status),
            End::Exited(Err(e)) => {
                push_line(
                    &mut stderr_text,
                    &format!("[waiting for the process failed: {e}]"),
                );
                ExecStatus::Failed { code: -1 }
            }
            End::TimedOut => ExecStatus::TimedOut,
            End::Cancelled => ExecStatus::Cancelled,
        };
        ExecOutcome {
            status,
            stdout: stdout.finish(&self.redactor),
            stderr: stderr_text,
            duration,
            protections: Protections {
                temp_dir: true,
                no_stdin: true,
                env_cleared: true,
                process_group: true,
                rlimits: report.rlimits,
                process_limit: report.nproc,
                network_isolated: report.network,
                pid_namespace: report.pid,
            },
        }
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

/// Kills the child's process group when asked, and when dropped while armed (the run's
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

/// The environment the code starts with (the bootstrap restores exactly this).
fn sandbox_env(dir: &Path) -> Vec<(&'static str, String)> {
    let dir = dir.to_string_lossy().into_owned();
    vec![
        ("PATH", SANDBOX_PATH.to_owned()),
        ("HOME", dir.clone()),
        ("LANG", "C.UTF-8".to_owned()),
        ("LC_ALL", "C.UTF-8".to_owned()),
        ("PYTHONIOENCODING", "utf-8".to_owned()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
        ("PYTHONUNBUFFERED", "1".to_owned()),
        ("TMPDIR", dir),
    ]
}

/// The bootstrap's `sys.argv[1]`.
fn bootstrap_config(config: &ExecConfig, env: &[(&'static str, String)]) -> serde_json::Value {
    let mib = |n: u64| n.saturating_mul(1024 * 1024);
    let env: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "net": config.isolate_network,
        "limits": [
            ["RLIMIT_CPU", config.cpu_secs],
            ["RLIMIT_AS", mib(config.memory_mb)],
            ["RLIMIT_FSIZE", mib(config.file_size_mb)],
            ["RLIMIT_NPROC", config.max_processes],
        ],
        "env": env,
    })
}

/// Resolves the configured interpreter to an absolute path: a name is looked up in `path_var`
/// (our `PATH`, before the child's environment is cleared), a path is made absolute.
fn resolve_program(name: &str, path_var: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("no Python interpreter is configured".to_owned());
    }
    let absolute = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            std::env::current_dir().map_or_else(|_| p.to_owned(), |cwd| cwd.join(p))
        }
    };
    if name.contains('/') {
        let path = absolute(Path::new(name));
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "the Python interpreter {name:?} is not an executable file"
            ))
        };
    }
    let path_var = path_var.unwrap_or_default();
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| absolute(&dir).join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("the Python interpreter {name:?} was not found in PATH"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Removes the run's directory, making read-only directories writable if the first try fails.
async fn remove_dir(dir: TempDir) {
    let _ = tokio::task::spawn_blocking(move || {
        let path = dir.path().to_owned();
        if dir.close().is_err() {
            make_writable(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
    })
    .await;
}

/// The bootstrap's report; all false when it sent none.
#[allow(clippy::struct_excessive_bools)] // the bootstrap's JSON, one flag per protection
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
struct Report {
    /// `RLIMIT_CPU`, `RLIMIT_AS` and `RLIMIT_FSIZE` are set.
    rlimits: bool,
    /// `RLIMIT_NPROC` is set.
    #[serde(default)]
    nproc: bool,
    /// In a new network namespace.
    network: bool,
    /// In a new PID namespace.
    #[serde(default)]
    pid: bool,
}

/// Reads `pipe` to its end (or until `stop`), feeding `capture`.
async fn read_stream<R: AsyncRead + Unpin>(
    mut pipe: R,
    mut capture: StreamCapture,
    stop: CancellationToken,
) -> StreamCapture {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = pipe.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => capture.push(&buf[..n]),
            },
        }
    }
    capture.end();
    capture
}

/// The capture of a reading task, or `empty` when there was none or it failed.
async fn join_capture(
    task: Option<tokio::task::JoinHandle<StreamCapture>>,
    empty: StreamCapture,
) -> StreamCapture {
    match task {
        Some(task) => task.await.unwrap_or(empty),
        None => empty,
    }
}

/// One output stream: the bootstrap's report line (on stderr), then the capped output.
#[derive(Debug)]
struct StreamCapture {
    /// Leading bytes held back while they may still be the report line.
    head: Option<Vec<u8>>,
    report: Option<Report>,
    output: CappedOutput,
}

impl StreamCapture {
    /// See [`CappedOutput::new`] for `limit` and `slack`; `report` looks for the report line.
    fn new(limit: usize, slack: usize, report: bool) -> Self {
        Self {
            head: report.then(Vec::new),
            report: None,
            output: CappedOutput::new(limit, slack),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let Some(head) = self.head.as_mut() else {
            self.output.push(bytes);
            return;
        };
        head.extend_from_slice(bytes);
        let common = head.len().min(REPORT_MARKER.len());
        if head[..common] != REPORT_MARKER[..common] {
            // Not a report (the interpreter failed before the bootstrap ran): plain output.
            self.flush_head();
        } else if let Some(newline) = head.iter().position(|&b| b == b'\n') {
            self.report = serde_json::from_slice(&head[REPORT_MARKER.len()..newline]).ok();
            let rest = head.split_off(newline + 1);
            self.head = None;
            self.output.push(&rest);
        } else if head.len() > REPORT_MAX {
            self.flush_head();
        }
    }

    /// The stream ended: held-back bytes that are not a partial report are output.
    fn end(&mut self) {
        if self
            .head
            .as_ref()
            .is_some_and(|head| !head.starts_with(REPORT_MARKER))
        {
            self.flush_head();
        }
        self.head = None;
    }

    fn flush_head(&mut self) {
        if let Some(head) = self.head.take() {
            self.output.push(&head);
        }
    }

    fn finish(self, redactor: &Redactor) -> String {
        self.output.finish(redactor)
    }
}

/// Keeps the first `limit` bytes of a stream, with secrets redacted, and counts the rest.
///
/// Secrets are redacted when the stream has ended, so a secret split across reads is found;
/// `slack` more bytes are kept so that a secret starting before the limit is seen whole
/// (`slack` = the longest secret's length - 1). Memory stays bounded by `limit + slack`.
#[derive(Debug)]
struct CappedOutput {
    limit: usize,
    slack: usize,
    kept: Vec<u8>,
    dropped: u64,
}

impl CappedOutput {
    fn new(limit: usize, slack: usize) -> Self {
        Self {
            limit,
            slack,
            kept: Vec::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self
            .limit
            .saturating_add(self.slack)
            .saturating_sub(self.kept.len());
        let (keep, drop) = bytes.split_at(room.min(bytes.len()));
        self.kept.extend_from_slice(keep);
        self.dropped = self
            .dropped
            .saturating_add(u64::try_from(drop.len()).unwrap_or(u64::MAX));
    }

    /// The kept text with secrets redacted (invalid UTF-8 replaced): what the first `limit`
    /// bytes of the stream show, a redacted secret that starts among them whole, cut on a
    /// character boundary and followed by a `[truncated N bytes]` line, N counting the bytes
    /// of the stream not shown, when anything was left out.
    fn finish(self, redactor: &Redactor) -> String {
        let limit = self.limit.min(self.kept.len());
        let mut shown = Vec::with_capacity(limit);
        let mut pos = 0;
        for (start, end) in redactor.covered(&self.kept) {
            if start >= limit {
                break;
            }
            shown.extend_from_slice(&self.kept[pos..start]);
            shown.extend_from_slice(REDACTED.as_bytes());
            pos = end;
        }
        if pos < limit {
            shown.extend_from_slice(&self.kept[pos..limit]);
            pos = limit;
        }
        let unshown = u64::try_from(self.kept.len() - pos)
            .unwrap_or(u64::MAX)
            .saturating_add(self.dropped);
        if unshown == 0 {
            return String::from_utf8_lossy(&shown).into_owned();
        }
        let cut = utf8_boundary(&shown);
        let cut_off = u64::try_from(shown.len() - cut).unwrap_or(u64::MAX);
        let mut text = String::from_utf8_lossy(&shown[..cut]).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&truncation_marker(unshown.saturating_add(cut_off)));
        text
    }
}

/// The line that stands for dropped output.
fn truncation_marker(dropped: u64) -> String {
    format!("[truncated {dropped} bytes]")
}

/// The length of `bytes` without a UTF-8 sequence cut off at its end.
fn utf8_boundary(bytes: &[u8]) -> usize {
    // A sequence is at most 4 bytes: look for the last lead byte among the last 4.
    for back in 1..=bytes.len().min(4) {
        let at = bytes.len() - back;
        let byte = bytes[at];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte
        }
        let needed = match byte {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return bytes.len(), // not a lead byte: invalid anyway, keep it
        };
        return if back < needed { at } else { bytes.len() };
    }
    bytes.len()
}

/// Appends `line` on a line of its own.
fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Redactor {
        Redactor::default()
    }

    #[test]
    fn output_under_the_limit_is_kept_whole() {
        let mut out = CappedOutput::new(10, 0);
        out.push(b"hello\n");
        assert_eq!(out.finish(&none()), "hello\n");
    }

    #[test]
    fn output_over_the_limit_is_cut_and_counted() {
        let mut out = CappedOutput::new(4, 0);
        out.push(b"abc");
        out.push(b"defgh");
        assert_eq!(out.finish(&none()), "abcd\n[truncated 4 bytes]");
    }

    #[test]
    fn truncation_never_splits_a_character() {
        let mut out = CappedOutput::new(5, 0);
        out.push("a中文b".as_bytes()); // 1 + 3 + 3 + 1 = 8 bytes
        // Kept: "a中" + first byte of "文": the partial byte is counted as dropped.
        assert_eq!(out.finish(&none()), "a中\n[truncated 4 bytes]");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_lost() {
        let mut out = CappedOutput::new(100, 0);
        out.push(b"ok \xff end");
        assert_eq!(out.finish(&none()), "ok \u{fffd} end");
    }

    #[test]
    fn utf8_boundary_finds_cut_sequences() {
        let s = "é中😀".as_bytes(); // 2 + 3 + 4 bytes
        assert_eq!(utf8_boundary(s), s.len());
        assert_eq!(utf8_boundary(&s[..8]), 5);
        assert_eq!(utf8_boundary(&s[..6]), 5);
        assert_eq!(utf8_boundary(&s[..4]), 2);
        assert_eq!(utf8_boundary(&s[..1]), 0);
        assert_eq!(utf8_boundary(b""), 0);
        assert_eq!(utf8_boundary(b"abc"), 3);
    }

    #[test]
    fn truncation_marker_text() {
        assert_eq!(truncation_marker(1234), "[truncated 1234 bytes]");
    }

    #[test]
    fn report_line_is_stripped_from_stderr() {
        let mut capture = StreamCapture::new(100, 0, true);
        // Split across reads on purpose.
        capture.push(b"\0moss-sand");
        capture
            .push(b"box {\"rlimits\":true,\"nproc\":true,\"network\":false,\"pid\":true}\nTrace");
        capture.push(b"back\n");
        capture.end();
        assert_eq!(
            capture.report,
            Some(Report {
                rlimits: true,
                nproc: true,
                network: false,
                pid: true,
            })
        );
        assert_eq!(capture.finish(&none()), "Traceback\n");
    }

    #[test]
    fn stderr_without_a_report_is_plain_output() {
        let mut capture = StreamCapture::new(100, 0, true);
        capture.push(b"pyenv: python3: command not found\n");
        capture.end();
        assert_eq!(capture.report, None);
        assert_eq!(
            capture.finish(&none()),
            "pyenv: python3: command not found\n"
        );

        let mut short = StreamCapture::new(100, 0, true);
        short.push(b"x");
        short.end();
        assert_eq!(short.finish(&none()), "x");
    }

    #[test]
    fn the_report_does_not_count_against_the_limit() {
        let mut capture = StreamCapture::new(3, 0, true);
        capture.push(b"\0moss-sandbox {\"rlimits\":false,\"network\":true}\nabcdef");
        capture.end();
        assert_eq!(capture.finish(&none()), "abc\n[truncated 3 bytes]");
    }

    #[test]
    fn stdout_is_never_parsed_for_a_report() {
        let mut capture = StreamCapture::new(100, 0, false);
        capture.push(b"\0moss-sandbox {\"rlimits\":true,\"network\":true}\n");
        capture.end();
        assert_eq!(capture.report, None);
        assert!(capture.finish(&none()).contains("moss-sandbox"));
    }

    #[test]
    fn interpreter_names_are_resolved_against_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("fakepy");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let plain = dir.path().join("notexec");
        std::fs::write(&plain, "").expect("write");

        let path_var = std::env::join_paths(["/nonexistent", dir.path().to_str().expect("utf-8")])
            .expect("join");
        assert_eq!(
            resolve_program("fakepy", Some(path_var.clone())),
            Ok(exe.clone())
        );
        assert!(resolve_program("notexec", Some(path_var.clone())).is_err());
        assert!(resolve_program("nope", Some(path_var)).is_err());
        assert!(resolve_program("fakepy", None).is_err());
        assert_eq!(
            resolve_program(exe.to_str().expect("utf-8"), None),
            Ok(exe.clone())
        );
        assert!(resolve_program("", None).is_err());
    }

    #[test]
    fn the_sandbox_env_is_the_allow_list() {
        let env = sandbox_env(Path::new("/tmp/x"));
        let names: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HOME",
                "LANG",
                "LC_ALL",
                "PYTHONIOENCODING",
                "PYTHONDONTWRITEBYTECODE",
                "PYTHONUNBUFFERED",
                "TMPDIR"
            ]
        );
        let config = bootstrap_config(&ExecConfig::default(), &env);
        assert_eq!(config["env"]["HOME"], "/tmp/x");
        assert_eq!(config["limits"][1][1], 1024 * 1024 * 1024);
        assert_eq!(config["net"], true);
    }

    fn secret_redactor() -> Redactor {
        Redactor::new(["SECRET-12345"])
    }

    #[test]
    fn a_secret_split_across_reads_is_redacted() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(100, redactor.longest() - 1);
        out.push(b"xx SECR");
        out.push(b"ET-12");
        out.push(b"345 yy\n");
        assert_eq!(out.finish(&redactor), "xx *** yy\n");
    }

    #[test]
    fn a_secret_across_the_limit_is_redacted_whole() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(10, redactor.longest() - 1);
        out.push(b"abcdefgSECRET-12345xyz");
        assert_eq!(out.finish(&redactor), "abcdefg***\n[truncated 3 bytes]");
    }

    #[test]
    fn no_part_of_a_secret_after_the_limit_is_shown() {
        let redactor = secret_redactor();
        // Starts after the limit and is cut off by the capture: not matched, not shown.
        let mut out = CappedOutput::new(10, redactor.longest() - 1);
        out.push(b"0123456789xxxxSECRET-12345");
        assert_eq!(out.finish(&redactor), "0123456789\n[truncated 16 bytes]");

        // Redacting a secret shortens the text, but the limit still counts the stream's
        // bytes: the start of the second secret, cut off by the capture, stays hidden.
        let mut out = CappedOutput::new(14, redactor.longest() - 1);
        out.push(b"SECRET-12345abSECRET-12345");
        assert_eq!(out.finish(&redactor), "***ab\n[truncated 12 bytes]");
    }

    #[test]
    fn redaction_keeps_the_whole_output_when_it_fits() {
        let redactor = secret_redactor();
        let mut out = CappedOutput::new(12, redactor.longest() - 1);
        out.push(b"SECRET-12345");
        assert_eq!(out.finish(&redactor), "***");
        let mut capture = StreamCapture::new(100, redactor.longest() - 1, true);
        capture.push(b"\0moss-sandbox {\"rlimits\":true,\"network\":true}\nSECRET-");
        capture.push(b"12345\n");
        capture.end();
        assert_eq!(capture.finish(&redactor), "***\n");
    }

    #[test]
    fn the_host_becomes_non_dumpable() {
        protect_host();
        assert_eq!(nix::sys::prctl::get_dumpable(), Ok(false));
    }

    /// Live (not zombie) processes whose process group is `group`.
    fn group_members(group: Pid) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                let Some((_, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                // state, ppid, pgrp
                fields.len() > 2
                    && !matches!(fields[0], "Z" | "X")
                    && fields[2] == group.as_raw().to_string()
            })
            .collect()
    }

    /// Processes with `arg` among their arguments.
    fn processes_with_arg(arg: &str) -> usize {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .flatten()
            .filter(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
            })
            .count()
    }

    // The only test of the library that runs code: `kill_running` stops every run in the
    // process, so another one running at the same time would be stopped too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_running_stops_runs_and_removes_their_dirs() {
        let mark = format!("60.{}", fastrand::u32(1_000_000..));
        let code = format!(
            "import subprocess, time\nsubprocess.Popen(['sleep', '{mark}'])\ntime.sleep(60)\n"
        );
        let sandbox = Sandbox::new(ExecConfig {
            timeout_secs: 30.0,
            ..ExecConfig::default()
        });
        let run = tokio::spawn(async move { sandbox.run(&code, &CancellationToken::new()).await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_with_arg(&mark) == 0 {
            assert!(
                Instant::now() < deadline,
                "the sleeping child never started"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let live = super::super::registry::snapshot();
        assert_eq!(live.len(), 1, "{live:?}");
        let (dir, group) = live[0].clone();
        let group = group.expect("the process group is registered");
        assert!(dir.join("main.py").exists());
        assert!(!group_members(group).is_empty());

        let start = Instant::now();
        super::super::kill_running();
        assert!(!dir.exists(), "{} was not removed", dir.display());
        let outcome = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("the run ends promptly")
            .expect("the run does not panic");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(outcome.status, ExecStatus::Cancelled, "{outcome:?}");
        for _ in 0..100 {
            if group_members(group).is_empty() && processes_with_arg(&mark) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            group_members(group),
            Vec::<i32>::new(),
            "the group survived"
        );
        assert_eq!(processes_with_arg(&mark), 0, "the sleeping child survived");
        assert!(super::super::registry::snapshot().is_empty());
        assert!(!dir.exists());
        // Nothing left to kill: harmless.
        super::super::kill_running();
    }
}
