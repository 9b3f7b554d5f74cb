//! Logs go to a file in the data folder: stdout is the screen.
//!
//! Never log an API key, a request's headers or the environment: the log is a plain file that
//! users attach to bug reports.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// The log file's name in the log folder.
pub const LOG_FILE: &str = "moss.log";

/// Names the log folder instead of the platform's data folder.
pub const LOG_DIR_ENV: &str = "MOSS_LOG_DIR";

/// A `tracing` filter (`info`, `moss_thinking=debug`, …).
pub const LOG_FILTER_ENV: &str = "MOSS_LOG";

/// The filter when `MOSS_LOG` is unset or empty.
pub const DEFAULT_FILTER: &str = "info";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("this system has no data folder for moss's log; set {LOG_DIR_ENV} to a folder")]
    NoDataDir,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{LOG_FILTER_ENV}={value:?} is not a log filter: {source}")]
    Filter {
        value: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a logger is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Keeps the log writer's thread; dropping it writes out what is still queued, so hold it until
/// the workbench exits.
#[must_use = "dropping the guard stops the logging"]
pub struct LogGuard {
    path: PathBuf,
    _worker: WorkerGuard,
}

impl LogGuard {
    /// The log file, to tell the user where to look.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Sends `tracing` events to [`LOG_FILE`] in [`log_dir`], filtered by `$MOSS_LOG`, for the rest
/// of the process.
///
/// # Errors
/// When there is no log folder, the file cannot be opened, `$MOSS_LOG` is not a filter, or a
/// logger is already installed.
pub fn init() -> Result<LogGuard, LogError> {
    let filter = std::env::var(LOG_FILTER_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
    let (subscriber, guard) = subscriber(&log_dir()?, &filter)?;
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(guard)
}

/// `$MOSS_LOG_DIR` when set and not empty, else the platform's data folder for moss.
///
/// # Errors
/// When neither exists.
pub fn log_dir() -> Result<PathBuf, LogError> {
    match std::env::var_os(LOG_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => directories::ProjectDirs::from("", "", "moss")
            .map(|dirs| dirs.data_dir().to_owned())
            .ok_or(LogError::NoDataDir),
    }
}

/// A subscriber appending to [`LOG_FILE`] in `dir` (created if missing) through a background
/// writer, so that logging never waits on the disk while the screen is drawn. Not installed:
/// [`init`] installs it for the process, tests for a scope.
///
/// # Errors
/// When `dir` or the file cannot be created, or `filter` is not a filter.
pub fn subscriber(
    dir: &Path,
    filter: &str,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogGuard), LogError> {
    let filter = EnvFilter::try_new(filter).map_err(|source| LogError::Filter {
        value: filter.to_owned(),
        source,
    })?;
    std::fs::create_dir_all(dir).map_err(|source| LogError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(LOG_FILE);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| LogError::Io {
            path: path.clone(),
            source,
        })?;
    let (writer, worker) = tracing_appender::non_blocking(file);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .finish();
    Ok((
        subscriber,
        LogGuard {
            path,
            _worker: worker,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_into(dir: &Path, filter: &str, log: impl FnOnce()) -> PathBuf {
        let (subscriber, guard) = subscriber(dir, filter).expect("subscriber");
        tracing::subscriber::with_default(subscriber, log);
        let path = guard.path().to_owned();
        drop(guard);
        path
    }

    #[test]
    fn events_at_or_above_the_filter_reach_the_file_and_runs_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("nested").join("logs");
        let path = log_into(&folder, DEFAULT_FILTER, || {
            tracing::info!(samples = 3, "workbench started: 思考");
            tracing::debug!("too detailed for info");
        });
        assert_eq!(path, folder.join(LOG_FILE));
        log_into(&folder, "debug", || tracing::debug!("second run"));

        let text = std::fs::read_to_string(&path).expect("log file");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("INFO"), "{text}");
        assert!(
            lines[0].contains("workbench started: 思考 samples=3"),
            "{text}"
        );
        assert!(lines[1].contains("DEBUG"), "{text}");
        assert!(lines[1].ends_with("second run"), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes in a file: {text:?}"
        );
    }

    #[test]
    fn a_bad_filter_or_folder_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = subscriber(dir.path(), "info,=[")
            .err()
            .expect("bad filter")
            .to_string();
        assert!(
            err.starts_with("MOSS_LOG=\"info,=[\" is not a log filter"),
            "{err}"
        );

        let file = dir.path().join("a-file");
        std::fs::write(&file, "").expect("write");
        let err = subscriber(&file.join("logs"), "info")
            .err()
            .expect("not a folder")
            .to_string();
        assert!(
            err.starts_with(&file.join("logs").display().to_string()),
            "{err}"
        );
    }
}
