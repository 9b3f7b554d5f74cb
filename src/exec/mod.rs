//! Sandboxed execution of `python RUN` blocks.
//!
//! Model-written code runs under [`Sandbox`]: a helper process (this same program, started
//! again with [`helper::HELPER_ARG`]) sets up namespaces, a minimal read-only root with a
//! size-limited private folder, an unprivileged user, resource limits and a syscall filter
//! from Rust before it starts the interpreter; see `sandbox.rs` and `helper/` for how, and
//! the README's "Running the teacher's code" for the guarantees. [`Protections`] records which
//! protections were in force for each execution, [`Sandbox::check`] says what this machine
//! gives before anything runs, and `[exec] require` refuses to run code without the
//! protections it names. Secrets of our environment are redacted from the output
//! ([`redact_secrets`]), and [`kill_running`] stops every run in flight when the process must
//! exit at once.

mod capture;
pub mod helper;
mod interpreter;
mod protocol;
mod redact;
mod registry;
mod sandbox;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use interpreter::{Interpreter, resolve_interpreter};
pub use redact::{MIN_SECRET_LEN, REDACTED, redact_secrets};
pub use registry::kill_running;
pub use sandbox::{Missing, Sandbox, SandboxCheck, use_helper};

/// When model-written code runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecMode {
    /// Never: executable blocks stay without results.
    #[default]
    Off,
    /// After the stream ends, run every executable block in order and put each result after it.
    Fill,
    /// Stop the stream when an executable block closes, run it, and let the teacher continue.
    Continue,
}

impl ExecMode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Fill => "fill",
            Self::Continue => "continue",
        }
    }
}

impl std::str::FromStr for ExecMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "fill" => Ok(Self::Fill),
            "continue" => Ok(Self::Continue),
            other => Err(format!(
                "unknown exec mode {other:?} (expected off, fill or continue)"
            )),
        }
    }
}

/// The `[exec]` table.
///
/// Every number is range-checked when the table is read, so a mistake is reported with its
/// file, line and column: timeouts are positive and finite, limits are whole numbers of 0 (no
/// limit) or more, the output limit is at least one byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecConfig {
    /// Running model-written code is opt-in: `fill` or `continue` here (or `--exec`) consents.
    pub mode: ExecMode,
    /// The Python interpreter (a name looked up in PATH, or a path; pyenv shims and virtual
    /// environments are resolved to the interpreter they run).
    #[serde(deserialize_with = "non_empty")]
    pub python: String,
    /// Wall-clock limit per block; everything the block started is killed when it runs out.
    #[serde(deserialize_with = "positive_seconds")]
    pub timeout_secs: f64,
    /// CPU-time limit (`RLIMIT_CPU`); 0 = none.
    #[serde(deserialize_with = "limit")]
    pub cpu_secs: u64,
    /// Address-space limit (`RLIMIT_AS`), in MiB; 0 = none.
    #[serde(deserialize_with = "limit")]
    pub memory_mb: u64,
    /// Largest file the code may write (`RLIMIT_FSIZE`), in MiB; 0 = none.
    #[serde(deserialize_with = "limit")]
    pub file_size_mb: u64,
    /// Size of the code's writable folder (its working folder, `/tmp` and `/dev/shm` share
    /// it), in MiB; 0 = none.
    #[serde(deserialize_with = "limit")]
    pub disk_mb: u64,
    /// Processes and threads the code may have at once (`RLIMIT_NPROC` of the sandbox's own
    /// user); 0 = none.
    #[serde(deserialize_with = "limit")]
    pub max_processes: u64,
    /// Bytes kept of stdout and of stderr each; the rest is counted in a `[truncated N bytes]` marker.
    #[serde(deserialize_with = "at_least_one_byte")]
    pub output_limit: usize,
    /// Cut the network with a network namespace.
    pub isolate_network: bool,
    /// Protections without which no code runs: a run whose sandbox lacks one of them is not
    /// started (and is recorded as incomplete).
    pub require: Vec<Protection>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            mode: ExecMode::Off,
            python: "python3".to_owned(),
            timeout_secs: 20.0,
            cpu_secs: 30,
            memory_mb: 1024,
            file_size_mb: 16,
            disk_mb: 256,
            max_processes: 256,
            output_limit: 64 * 1024,
            isolate_network: true,
            require: Vec::new(),
        }
    }
}

/// The longest wall timeout honoured (a year): longer ones are taken as this.
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl ExecConfig {
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.timeout_secs).map_or(MAX_TIMEOUT, |d| d.min(MAX_TIMEOUT))
    }
}

fn positive_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a positive, finite number of seconds, found {value}"
        )))
    }
}

fn limit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = i64::deserialize(deserializer)?;
    u64::try_from(value).map_err(|_| {
        serde::de::Error::custom(format!(
            "expected 0 (no limit) or a positive whole number, found {value}"
        ))
    })
}

fn at_least_one_byte<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = i64::deserialize(deserializer)?;
    usize::try_from(value)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a number of bytes of 1 or more, found {value}"
            ))
        })
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.trim().is_empty() {
        Err(serde::de::Error::custom(
            "expected the name or path of a Python interpreter, found an empty string",
        ))
    } else {
        Ok(value)
    }
}

/// One protection of the sandbox, by the name `[exec] require` and the run records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    /// The code sees a minimal root: the interpreter and the OS's program and library folders
    /// read-only, a few devices, its own `/proc` and its private folder; nothing of the host's
    /// home folders, workspace, `/tmp`, `/run` or socket files.
    FilesystemIsolated,
    /// The private folder is a size-limited tmpfs (`[exec] disk-mb`).
    DiskLimit,
    /// A network namespace of its own: no network, not even loopback or abstract sockets.
    NetworkIsolated,
    /// A PID namespace of its own: everything the code starts dies with the run.
    PidNamespace,
    /// `[exec] max-processes` binds (an unprivileged user whose processes are counted).
    ProcessLimit,
    /// The code runs as a user other than root, inside and outside its namespaces, with no
    /// capabilities and no way to gain any.
    Unprivileged,
    /// A seccomp filter: no new namespaces, mounts, ptrace, keyrings, BPF or kernel modules.
    SyscallFilter,
    /// The CPU time, memory and file size limits.
    Rlimits,
    /// A fresh private working folder, removed afterwards.
    TempDir,
    /// Standard input is `/dev/null`.
    NoStdin,
    /// The environment is a short allow-list.
    EnvCleared,
    /// The code runs in a session and process group of its own, killed at the end.
    ProcessGroup,
}

impl Protection {
    /// Every protection, the most important first.
    pub const ALL: [Self; 12] = [
        Self::FilesystemIsolated,
        Self::DiskLimit,
        Self::NetworkIsolated,
        Self::PidNamespace,
        Self::ProcessLimit,
        Self::Unprivileged,
        Self::SyscallFilter,
        Self::Rlimits,
        Self::TempDir,
        Self::NoStdin,
        Self::EnvCleared,
        Self::ProcessGroup,
    ];

    /// The name used in `[exec] require`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::FilesystemIsolated => "filesystem-isolated",
            Self::DiskLimit => "disk-limit",
            Self::NetworkIsolated => "network-isolated",
            Self::PidNamespace => "pid-namespace",
            Self::ProcessLimit => "process-limit",
            Self::Unprivileged => "unprivileged",
            Self::SyscallFilter => "syscall-filter",
            Self::Rlimits => "rlimits",
            Self::TempDir => "temp-dir",
            Self::NoStdin => "no-stdin",
            Self::EnvCleared => "env-cleared",
            Self::ProcessGroup => "process-group",
        }
    }

    /// A few words for people: "filesystem isolation".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::FilesystemIsolated => "filesystem isolation",
            Self::DiskLimit => "disk limit",
            Self::NetworkIsolated => "no network",
            Self::PidNamespace => "own PID namespace",
            Self::ProcessLimit => "process limit",
            Self::Unprivileged => "unprivileged user",
            Self::SyscallFilter => "syscall filter",
            Self::Rlimits => "CPU, memory and file size limits",
            Self::TempDir => "private folder",
            Self::NoStdin => "no stdin",
            Self::EnvCleared => "cleared environment",
            Self::ProcessGroup => "own process group",
        }
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which protections were in force for one execution.
#[allow(clippy::struct_excessive_bools)] // one flag per protection reads best in JSON
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Protections {
    /// A fresh private folder, removed afterwards.
    pub temp_dir: bool,
    /// Stdin was `/dev/null`.
    pub no_stdin: bool,
    /// The environment was cleared to an allow-list.
    pub env_cleared: bool,
    /// The code ran in its own session and process group, killed at the end.
    pub process_group: bool,
    /// The configured CPU time, memory and file size limits were set.
    pub rlimits: bool,
    /// The process limit was set where it binds.
    #[serde(default)]
    pub process_limit: bool,
    /// No network: a network namespace.
    pub network_isolated: bool,
    /// A PID namespace of its own: nothing the code started outlived the run.
    #[serde(default)]
    pub pid_namespace: bool,
    /// A minimal root of its own (see [`Protection::FilesystemIsolated`]).
    #[serde(default)]
    pub filesystem_isolated: bool,
    /// The private folder was size-limited.
    #[serde(default)]
    pub disk_limit: bool,
    /// An unprivileged user without capabilities.
    #[serde(default)]
    pub unprivileged: bool,
    /// The seccomp filter was installed.
    #[serde(default)]
    pub syscall_filter: bool,
}

impl Protections {
    /// Whether `protection` was in force.
    #[must_use]
    pub fn has(&self, protection: Protection) -> bool {
        match protection {
            Protection::FilesystemIsolated => self.filesystem_isolated,
            Protection::DiskLimit => self.disk_limit,
            Protection::NetworkIsolated => self.network_isolated,
            Protection::PidNamespace => self.pid_namespace,
            Protection::ProcessLimit => self.process_limit,
            Protection::Unprivileged => self.unprivileged,
            Protection::SyscallFilter => self.syscall_filter,
            Protection::Rlimits => self.rlimits,
            Protection::TempDir => self.temp_dir,
            Protection::NoStdin => self.no_stdin,
            Protection::EnvCleared => self.env_cleared,
            Protection::ProcessGroup => self.process_group,
        }
    }

    /// Sets whether `protection` was in force.
    pub fn set(&mut self, protection: Protection, on: bool) {
        let flag = match protection {
            Protection::FilesystemIsolated => &mut self.filesystem_isolated,
            Protection::DiskLimit => &mut self.disk_limit,
            Protection::NetworkIsolated => &mut self.network_isolated,
            Protection::PidNamespace => &mut self.pid_namespace,
            Protection::ProcessLimit => &mut self.process_limit,
            Protection::Unprivileged => &mut self.unprivileged,
            Protection::SyscallFilter => &mut self.syscall_filter,
            Protection::Rlimits => &mut self.rlimits,
            Protection::TempDir => &mut self.temp_dir,
            Protection::NoStdin => &mut self.no_stdin,
            Protection::EnvCleared => &mut self.env_cleared,
            Protection::ProcessGroup => &mut self.process_group,
        };
        *flag = on;
    }

    /// The protections not in force, the most important first.
    #[must_use]
    pub fn missing(&self) -> Vec<Protection> {
        Protection::ALL
            .into_iter()
            .filter(|p| !self.has(*p))
            .collect()
    }
}

/// How an execution ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExecStatus {
    /// Exit code 0.
    Success,
    /// A non-zero exit code.
    Failed { code: i32 },
    /// Killed by a signal (a resource limit, usually).
    Killed { signal: i32 },
    /// The wall timeout ran out; the process group was killed.
    TimedOut,
    /// Cancelled by the user; the process group was killed.
    Cancelled,
    /// The interpreter could not be started.
    NotStarted { message: String },
}

/// The result of running one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutcome {
    pub status: ExecStatus,
    /// Captured output, each capped at `output_limit` with a truncation marker.
    pub stdout: String,
    pub stderr: String,
    #[serde(with = "crate::serde_duration_ms")]
    pub duration: Duration,
    pub protections: Protections,
}

/// Shown as the result of code that succeeded without printing anything.
pub const NO_OUTPUT: &str = "(no output)";

impl ExecOutcome {
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.status == ExecStatus::Success
    }

    /// The block inserted after the code: `<execute_result>` on success, else `<execute_error>`.
    ///
    /// A result holds stdout, then stderr (warnings, say), without trailing newlines, or
    /// [`NO_OUTPUT`]. An error holds stdout, then stderr (the traceback), then a line saying
    /// why the run failed when stderr does not already tell: a timeout, a signal, an exit code
    /// with nothing on stderr, cancellation, or why the interpreter did not start.
    ///
    /// Closing tags of execution blocks in the body (in any case) become `<\/execute_result`
    /// and `<\/execute_error`, so output cannot end the block early.
    #[must_use]
    pub fn to_block(&self) -> String {
        let mut body = String::new();
        for part in [&self.stdout, &self.stderr] {
            let part = part.trim_end_matches(['\n', '\r']);
            if !part.is_empty() {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(part);
            }
        }
        if self.is_success() {
            if body.is_empty() {
                body.push_str(NO_OUTPUT);
            }
            let body = escape_closing_tags(&body);
            return format!("<execute_result>\n{body}\n</execute_result>");
        }
        if let Some(note) = self.failure_note() {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&note);
        }
        let body = escape_closing_tags(&body);
        format!("<execute_error>\n{body}\n</execute_error>")
    }

    /// The line that says why a failed run failed, when its output may not tell.
    fn failure_note(&self) -> Option<String> {
        match &self.status {
            ExecStatus::Success => None,
            ExecStatus::Failed { code } => self
                .stderr
                .trim()
                .is_empty()
                .then(|| format!("Exited with code {code}")),
            ExecStatus::Killed { signal } => Some(killed_note(*signal)),
            ExecStatus::TimedOut => Some(format!(
                "Timed out after {} s: the process group was killed",
                whole_tenths(self.duration)
            )),
            ExecStatus::Cancelled => Some("Cancelled: the process group was killed".to_owned()),
            ExecStatus::NotStarted { message } => {
                Some(format!("Could not start Python: {message}"))
            }
        }
    }
}

/// `text` with a backslash after the `<` of every `</execute_result` and `</execute_error`,
/// in any case: the transcript parser ends a block only at its exact closing tag.
fn escape_closing_tags(text: &str) -> String {
    const NAMES: [&[u8]; 2] = [b"execute_result", b"execute_error"];
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices("</") {
        let name = &text.as_bytes()[at + 2..];
        if NAMES
            .iter()
            .any(|n| name.len() >= n.len() && name[..n.len()].eq_ignore_ascii_case(n))
        {
            // `at + 1` follows the ASCII `<`: a character boundary.
            out.push_str(&text[copied..=at]);
            out.push('\\');
            copied = at + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// "Killed by signal 9 (SIGKILL)", with the likely cause.
fn killed_note(signal: i32) -> String {
    use nix::sys::signal::Signal;
    let name = Signal::try_from(signal).ok();
    let cause = match name {
        Some(Signal::SIGKILL) => {
            ": probably a resource limit (CPU time, memory or processes) was exceeded"
        }
        Some(Signal::SIGXCPU) => ": the CPU time limit was exceeded",
        Some(Signal::SIGXFSZ) => ": the file size limit was exceeded",
        _ => "",
    };
    match name {
        Some(name) => format!("Killed by signal {signal} ({}){cause}", name.as_str()),
        None => format!("Killed by signal {signal}"),
    }
}

/// `d` in seconds, rounded down to a tenth, without a trailing `.0`: the wall time of a
/// timed-out run is the timeout plus the moment it took to kill it.
fn whole_tenths(d: Duration) -> String {
    let tenths = d.as_millis() / 100;
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: ExecStatus, stdout: &str, stderr: &str) -> ExecOutcome {
        ExecOutcome {
            status,
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
            duration: Duration::from_millis(20_030),
            protections: Protections::default(),
        }
    }

    #[test]
    fn success_shows_stdout_without_trailing_newlines() {
        let o = outcome(ExecStatus::Success, "1024\n\n", "");
        assert_eq!(o.to_block(), "<execute_result>\n1024\n</execute_result>");
    }

    #[test]
    fn success_puts_stderr_after_stdout() {
        let o = outcome(ExecStatus::Success, "out\n", "main.py:1: UserWarning: w\n");
        assert_eq!(
            o.to_block(),
            "<execute_result>\nout\nmain.py:1: UserWarning: w\n</execute_result>"
        );
    }

    #[test]
    fn success_without_output_says_so() {
        for (stdout, stderr) in [("", ""), ("\n\n", ""), ("", "\n")] {
            let o = outcome(ExecStatus::Success, stdout, stderr);
            assert_eq!(
                o.to_block(),
                "<execute_result>\n(no output)\n</execute_result>"
            );
        }
    }

    #[test]
    fn a_traceback_follows_stdout_in_an_error() {
        let o = outcome(
            ExecStatus::Failed { code: 1 },
            "partial\n",
            "Traceback (most recent call last):\n  File \"main.py\", line 2, in <module>\nZeroDivisionError: division by zero\n",
        );
        assert_eq!(
            o.to_block(),
            "<execute_error>\npartial\nTraceback (most recent call last):\n  File \"main.py\", line 2, in <module>\nZeroDivisionError: division by zero\n</execute_error>"
        );
    }

    #[test]
    fn a_silent_failure_names_its_exit_code() {
        let o = outcome(ExecStatus::Failed { code: 3 }, "", "");
        assert_eq!(
            o.to_block(),
            "<execute_error>\nExited with code 3\n</execute_error>"
        );
    }

    #[test]
    fn a_timeout_says_so() {
        let o = outcome(ExecStatus::TimedOut, "tick\n", "");
        assert_eq!(
            o.to_block(),
            "<execute_error>\ntick\nTimed out after 20 s: the process group was killed\n</execute_error>"
        );
        let mut short = outcome(ExecStatus::TimedOut, "", "");
        short.duration = Duration::from_millis(1_540);
        assert!(short.to_block().contains("Timed out after 1.5 s"));
    }

    #[test]
    fn a_signal_is_named_with_its_likely_cause() {
        let o = outcome(ExecStatus::Killed { signal: 9 }, "", "");
        let block = o.to_block();
        assert!(
            block.starts_with("<execute_error>\nKilled by signal 9 (SIGKILL)"),
            "{block}"
        );
        assert!(block.contains("resource limit"), "{block}");
        let o = outcome(ExecStatus::Killed { signal: 1000 }, "", "");
        assert_eq!(
            o.to_block(),
            "<execute_error>\nKilled by signal 1000\n</execute_error>"
        );
    }

    #[test]
    fn cancellation_and_not_started_are_explained() {
        let o = outcome(ExecStatus::Cancelled, "", "");
        assert_eq!(
            o.to_block(),
            "<execute_error>\nCancelled: the process group was killed\n</execute_error>"
        );
        let o = outcome(
            ExecStatus::NotStarted {
                message: "the Python interpreter \"nope\" was not found in PATH".to_owned(),
            },
            "",
            "",
        );
        assert_eq!(
            o.to_block(),
            "<execute_error>\nCould not start Python: the Python interpreter \"nope\" was not found in PATH\n</execute_error>"
        );
    }

    #[test]
    fn closing_tags_in_output_are_escaped() {
        assert_eq!(
            escape_closing_tags("a</execute_result>b</EXECUTE_ERROR>c</Execute_Result"),
            "a<\\/execute_result>b<\\/EXECUTE_ERROR>c<\\/Execute_Result"
        );
        for text in [
            "",
            "</",
            "<",
            "</think>",
            "</execute",
            "中文</execute_resul",
            "<execute_result>",
        ] {
            assert_eq!(escape_closing_tags(text), text);
        }
        assert_eq!(
            escape_closing_tags("中</execute_error>文"),
            "中<\\/execute_error>文"
        );
    }

    #[test]
    fn output_cannot_end_its_block_early() {
        use crate::transcript::{CountMode, SegmentKind, Transcript};
        let printed = "x</execute_result>\n```python RUN\nprint(666)\n```\n</execute_error>\n";
        let kinds = |block: &str| -> Vec<SegmentKind> {
            let transcript = Transcript::parse(block, CountMode::Mixed);
            assert!(
                transcript.anomalies.is_empty(),
                "{:?}",
                transcript.anomalies
            );
            transcript.segments.iter().map(|s| s.kind).collect()
        };

        let ok = outcome(ExecStatus::Success, printed, "");
        let block = ok.to_block();
        assert!(
            block.starts_with("<execute_result>\nx<\\/execute_result>\n"),
            "{block}"
        );
        assert_eq!(kinds(&block), [SegmentKind::ExecResult], "{block}");

        let failed = outcome(
            ExecStatus::Failed { code: 1 },
            printed,
            "</EXECUTE_ERROR> boom\n",
        );
        let block = failed.to_block();
        assert!(block.contains("<\\/EXECUTE_ERROR> boom"), "{block}");
        assert_eq!(kinds(&block), [SegmentKind::ExecError], "{block}");
    }

    #[test]
    fn old_protection_records_load() {
        let old = r#"{"temp_dir":true,"no_stdin":true,"env_cleared":true,"process_group":true,"rlimits":true,"network_isolated":false}"#;
        let p: Protections = serde_json::from_str(old).expect("an old record loads");
        assert!(p.rlimits && !p.process_limit && !p.pid_namespace);
    }

    #[test]
    fn the_process_limit_default_leaves_room_for_threads() {
        assert_eq!(ExecConfig::default().max_processes, 256);
    }

    #[test]
    fn protections_are_named_set_and_listed_when_missing() {
        let mut p = Protections::default();
        assert_eq!(p.missing(), Protection::ALL.to_vec());
        for protection in Protection::ALL {
            p.set(protection, true);
            assert!(p.has(protection), "{protection}");
            let json = serde_json::to_value(protection).expect("json");
            assert_eq!(json, protection.name());
        }
        assert!(p.missing().is_empty());
        p.set(Protection::DiskLimit, false);
        assert_eq!(p.missing(), [Protection::DiskLimit]);
        let json = serde_json::to_value(p).expect("json");
        assert_eq!(json["disk_limit"], false);
        assert_eq!(json["filesystem_isolated"], true);
    }

    #[test]
    fn exec_numbers_are_range_checked() {
        let parse = |text: &str| toml::from_str::<ExecConfig>(text).map_err(|e| e.to_string());
        for bad in [
            "timeout-secs = -1.0",
            "timeout-secs = nan",
            "timeout-secs = inf",
            "timeout-secs = 0.0",
            "timeout-secs = 0",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.contains("positive, finite number of seconds"),
                "{bad}: {err}"
            );
        }
        for key in [
            "cpu-secs",
            "memory-mb",
            "file-size-mb",
            "disk-mb",
            "max-processes",
        ] {
            let err = parse(&format!("{key} = -1")).expect_err(key);
            assert!(
                err.contains("0 (no limit) or a positive whole number, found -1"),
                "{err}"
            );
            assert_eq!(parse(&format!("{key} = 0")).map(|_| ()), Ok(()));
        }
        assert!(
            parse("output-limit = 0")
                .expect_err("0")
                .contains("1 or more")
        );
        assert!(
            parse("python = \"\"")
                .expect_err("empty")
                .contains("empty string")
        );
        let ok =
            parse("timeout-secs = 0.5\nrequire = [\"filesystem-isolated\", \"process-limit\"]")
                .expect("valid");
        assert_eq!(ok.timeout(), Duration::from_millis(500));
        assert_eq!(
            ok.require,
            [Protection::FilesystemIsolated, Protection::ProcessLimit]
        );
        let err = parse("require = [\"filesystem\"]").expect_err("unknown name");
        assert!(err.contains("filesystem-isolated"), "{err}");
        let huge = parse("timeout-secs = 1e300").expect("valid");
        assert_eq!(huge.timeout(), MAX_TIMEOUT);
    }
}
