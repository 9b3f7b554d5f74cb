//! Prompt versions as people name them: labels and notes, the save dialog that asks for them.

use crate::store::Versions;

use super::App;

/// Hex digits of a prompt id shown where a version has no label.
pub const SHORT_ID: usize = 8;

/// Which field of the save dialog takes typing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VersionField {
    #[default]
    Label,
    Note,
}

/// Saving the prompt: its label (prefilled with the next free `vN`) and a one-line note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionDialog {
    /// The id of the text being saved.
    pub prompt_id: String,
    pub label: String,
    pub note: String,
    pub field: VersionField,
}

impl App {
    /// How the screen names prompt version `prompt_id`: its label, else its short id.
    #[must_use]
    pub fn version_name(&self, prompt_id: &str) -> String {
        version_name(&self.versions, prompt_id)
    }

    /// The label the save dialog offers for `prompt_id`: its own label when it has one, else
    /// `vN` with N one more than the versions known, counting up past labels taken.
    #[must_use]
    pub fn next_label(&self, prompt_id: &str) -> String {
        if let Some(label) = self.versions.label(prompt_id) {
            return label.to_owned();
        }
        let mut known: std::collections::HashSet<&str> = self
            .prompt
            .texts
            .keys()
            .map(String::as_str)
            .chain(self.versions.ids())
            .collect();
        known.remove(prompt_id);
        let mut n = known.len() + 1;
        while self.versions.labelled(&format!("v{n}")).is_some() {
            n += 1;
        }
        format!("v{n}")
    }
}

/// [`App::version_name`] for code that holds only the labels.
#[must_use]
pub fn version_name(versions: &Versions, prompt_id: &str) -> String {
    versions.label(prompt_id).map_or_else(
        || prompt_id.get(..SHORT_ID).unwrap_or(prompt_id).to_owned(),
        str::to_owned,
    )
}
