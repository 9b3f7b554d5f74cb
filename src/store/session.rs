//! The workbench's per-workspace state: `.moss/workbench.json`, written atomically.
//! (Stub: the types are final, the bodies are being written.)

use serde::{Deserialize, Serialize};

use super::{StoreError, Workspace};

/// What the workbench remembers about a workspace between sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The selected sample's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<String>,
    /// The answer to "may runs execute model-written code here?"; `None` until asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_consent: Option<bool>,
}

impl Workspace {
    /// The saved session; a missing file is the default session, an unreadable one is the
    /// default with a warning (`file: reason`).
    ///
    /// # Errors
    /// When the file exists and cannot be read.
    pub fn load_session(&self) -> Result<(Session, Option<String>), StoreError> {
        unimplemented!("stub")
    }

    /// Writes the session to a temporary file, syncs it and renames it into place.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn save_session(&self, session: &Session) -> Result<(), StoreError> {
        let _ = session;
        unimplemented!("stub")
    }
}
