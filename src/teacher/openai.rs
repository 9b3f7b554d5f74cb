//! OpenAI-compatible streaming chat completions.

use tokio_util::sync::CancellationToken;

use super::provider::OpenAiSettings;
use super::{StreamEnd, TeacherError, TeacherInfo, TeacherRequest, TeacherSink};

/// A teacher behind an OpenAI-compatible `/chat/completions` endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiTeacher {
    settings: OpenAiSettings,
}

impl OpenAiTeacher {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: OpenAiSettings) -> Result<Self, TeacherError> {
        Ok(Self { settings })
    }

    #[must_use]
    pub fn info(&self) -> TeacherInfo {
        TeacherInfo {
            provider: self.settings.provider.clone(),
            model: self.settings.model.clone(),
            replayed: false,
        }
    }

    #[must_use]
    pub fn can_continue(&self) -> bool {
        self.settings.continuation != super::ContinuationStyle::None
    }

    /// # Errors
    /// See [`TeacherError`].
    pub async fn stream(
        &self,
        request: &TeacherRequest,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
    ) -> Result<StreamEnd, TeacherError> {
        let _ = (request, sink, cancel);
        todo!("openai helper implements")
    }
}
