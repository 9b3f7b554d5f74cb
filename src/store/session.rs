//! The workbench's per-workspace state: `.moss/workbench.json`, written atomically.
//!
//! Losing it costs a selection and a question asked again, so a damaged file never stops the
//! workbench: it starts from the defaults and says why.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{StoreError, Workspace, replace_file};

const SESSION_FILE: &str = "workbench.json";

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
    #[must_use]
    pub fn session_path(&self) -> PathBuf {
        self.root.join(SESSION_FILE)
    }

    /// The saved session; a missing file is the default session, an unreadable or damaged one
    /// is the default with a warning (`file: reason`).
    ///
    /// # Errors
    /// None so far: every failure to read is a warning.
    pub fn load_session(&self) -> Result<(Session, Option<String>), StoreError> {
        let path = self.session_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Session::default(), None));
            }
            Err(e) => {
                let warning = format!(
                    "{}: cannot read the saved workbench state, starting afresh: {e}",
                    path.display()
                );
                return Ok((Session::default(), Some(warning)));
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(session) => Ok((session, None)),
            Err(e) => {
                let warning = format!(
                    "{}: the saved workbench state is damaged, starting afresh: {e}",
                    path.display()
                );
                Ok((Session::default(), Some(warning)))
            }
        }
    }

    /// Writes the session to a temporary file, syncs it and renames it into place.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn save_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec_pretty(session)?;
        bytes.push(b'\n');
        replace_file(&self.session_path(), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_and_a_missing_file_is_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        assert_eq!(
            ws.load_session().expect("loads"),
            (Session::default(), None)
        );
        let session = Session {
            selected: Some("问题-07".to_owned()),
            exec_consent: Some(false),
        };
        ws.save_session(&session).expect("saves");
        assert_eq!(ws.load_session().expect("loads"), (session, None));
        let files: Vec<_> = std::fs::read_dir(ws.root())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files.len(), 2, "prompts/ and the session only: {files:?}");
    }

    #[test]
    fn a_damaged_session_is_the_default_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        std::fs::write(ws.session_path(), "{\"selected\": \"q1\",").expect("write");
        let (session, warning) = ws.load_session().expect("never fatal");
        assert_eq!(session, Session::default());
        let warning = warning.expect("a warning");
        assert!(
            warning.starts_with(&format!("{}: ", ws.session_path().display())),
            "{warning}"
        );
        assert!(warning.contains("line 1"), "{warning}");

        std::fs::write(ws.session_path(), "{\"exec_consent\": \"yes\"}").expect("write");
        let (session, warning) = ws.load_session().expect("never fatal");
        assert_eq!(session, Session::default());
        assert!(warning.is_some_and(|w| w.contains("workbench.json")));

        // A state saved by a newer workbench still gives what this one knows.
        std::fs::write(ws.session_path(), "{\"selected\": \"q1\", \"layout\": 3}").expect("write");
        let (session, warning) = ws.load_session().expect("loads");
        assert_eq!(session.selected.as_deref(), Some("q1"));
        assert_eq!(warning, None);
    }
}
