//! The offline teacher: streams recorded transcripts.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{StreamEnd, TeacherError, TeacherInfo, TeacherRequest, TeacherSink};

#[derive(Clone, Debug)]
pub struct ReplayTeacher {
    chunk_chars: usize,
    pause: Duration,
}

impl ReplayTeacher {
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            chunk_chars: 4,
            pause: Duration::ZERO,
        }
    }

    #[must_use]
    pub fn with_pacing(mut self, chunk_chars: usize, pause: Duration) -> Self {
        self.chunk_chars = chunk_chars.max(1);
        self.pause = pause;
        self
    }

    #[must_use]
    pub fn info(&self) -> TeacherInfo {
        TeacherInfo {
            provider: "replay".to_owned(),
            model: "recorded".to_owned(),
            replayed: true,
        }
    }

    /// # Errors
    /// Only [`TeacherError::Cancelled`].
    pub async fn stream(
        &self,
        request: &TeacherRequest,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
    ) -> Result<StreamEnd, TeacherError> {
        let _ = (request, sink, cancel);
        todo!()
    }
}
