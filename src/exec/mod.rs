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
    /// CPU-time limit (RLIMIT_CPU).
    pub cpu_secs: u64,
    /// Address-space limit (RLIMIT_AS), in MiB.
    pub memory_mb: u64,
    /// Largest file the code may write (RLIMIT_FSIZE), in MiB.
    pub file_size_mb: u64,
    /// Process limit (RLIMIT_NPROC).
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
    #[must_use]
    pub fn to_block(&self) -> String {
        todo!("sandbox helper implements")
    }
}
