//! Sandboxed execution of `python RUN` blocks.
//!
//! Model-written code runs in a fresh temporary directory with no stdin, a cleared
//! environment, resource limits, a wall timeout that kills the whole process group, and (where
//! the OS allows) no network. The [`ExecOutcome`] says which of those protections were active.

mod sandbox;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use sandbox::Sandbox;

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecConfig {
    /// Running model-written code is opt-in: `fill` or `continue` here (or `--exec`) consents.
    pub mode: ExecMode,
    /// The Python interpreter (a name looked up in PATH, or a path).
    pub python: String,
    /// Wall-clock limit per block; the whole process group is killed when it runs out.
    pub timeout_secs: f64,
    /// CPU-time limit (`RLIMIT_CPU`).
    pub cpu_secs: u64,
    /// Address-space limit (`RLIMIT_AS`), in MiB.
    pub memory_mb: u64,
    /// Largest file the code may write (`RLIMIT_FSIZE`), in MiB.
    pub file_size_mb: u64,
    /// Process limit (`RLIMIT_NPROC`).
    pub max_processes: u64,
    /// Bytes kept of stdout and of stderr each; the rest is counted in a `[truncated N bytes]` marker.
    pub output_limit: usize,
    /// Cut the network with a user + network namespace where the OS allows it.
    pub isolate_network: bool,
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
            max_processes: 64,
            output_limit: 64 * 1024,
            isolate_network: true,
        }
    }
}

impl ExecConfig {
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.timeout_secs).unwrap_or(Duration::MAX)
    }
}

/// Which protections were in force for one execution.
#[allow(clippy::struct_excessive_bools)] // one flag per protection reads best in JSON
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protections {
    pub temp_dir: bool,
    pub no_stdin: bool,
    pub env_cleared: bool,
    pub process_group: bool,
    pub rlimits: bool,
    pub network_isolated: bool,
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
            return format!("<execute_result>\n{body}\n</execute_result>");
        }
        if let Some(note) = self.failure_note() {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&note);
        }
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
}
