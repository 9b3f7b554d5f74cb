//! The sandbox that runs one block.

use tokio_util::sync::CancellationToken;

use super::{ExecConfig, ExecOutcome};

/// Runs code under an [`ExecConfig`].
#[derive(Clone, Debug)]
pub struct Sandbox {
    config: ExecConfig,
}

impl Sandbox {
    #[must_use]
    pub fn new(config: ExecConfig) -> Self {
        Self { config }
    }

    #[must_use]
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// Runs `code` and returns what happened; never fails (a failure is an outcome).
    pub async fn run(&self, code: &str, cancel: &CancellationToken) -> ExecOutcome {
        let _ = (code, cancel);
        todo!("sandbox helper implements")
    }
}
