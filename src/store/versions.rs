//! Prompt version labels: `.moss/versions.jsonl`, append-only; the latest line per prompt id
//! wins.
//!
//! A label names a prompt version for people (`v3`, `短答版`) where its id is a hash; a note
//! says in one line what changed. Commands that take a version (`moss compare --variant`)
//! resolve a label or a unique id prefix through [`Versions::find`].

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StoreError, Workspace, append_synced, open_for_append, scan_jsonl};

const VERSIONS_FILE: &str = "versions.jsonl";
/// The shortest id prefix [`Versions::find`] resolves: shorter ones match too much by chance.
pub const MIN_ID_PREFIX: usize = 4;

/// One line of `versions.jsonl`: the label and note of a prompt version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLabel {
    pub prompt_id: String,
    pub label: String,
    /// One line; empty when none was given.
    #[serde(default)]
    pub note: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub at_ms: u64,
}

/// Why a name does not resolve to one prompt version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("no prompt version is labelled {0:?}, and no snapshot id starts with it")]
    Unknown(String),
    #[error("{name:?} is too short for an id prefix (at least {MIN_ID_PREFIX} characters)")]
    TooShort { name: String },
    #[error("{name:?} starts the ids of {} prompt versions ({}): give more of it", ids.len(), ids.join(", "))]
    Ambiguous { name: String, ids: Vec<String> },
}

/// The labels in force, by prompt id, and the prompt snapshots known (for id prefixes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    by_id: HashMap<String, VersionLabel>,
    /// Ids of the snapshots in `.moss/prompts/`, sorted.
    snapshots: Vec<String>,
    /// `file:line: reason` for every line that could not be read.
    pub warnings: Vec<String>,
}

impl Versions {
    /// The labels of `lines` (in the order written: the latest per prompt id wins) and the
    /// snapshot ids an id prefix may resolve to.
    #[must_use]
    pub fn new(lines: impl IntoIterator<Item = VersionLabel>, snapshots: Vec<String>) -> Self {
        let mut versions = Self {
            snapshots,
            ..Self::default()
        };
        versions.snapshots.sort_unstable();
        versions.snapshots.dedup();
        for line in lines {
            versions.insert(line);
        }
        versions
    }

    /// Takes one more line (it replaces the prompt id's label).
    pub fn insert(&mut self, line: VersionLabel) {
        self.by_id.insert(line.prompt_id.clone(), line);
    }

    /// Knows of a snapshot with this id (a version saved meanwhile).
    pub fn add_snapshot(&mut self, id: &str) {
        if let Err(at) = self.snapshots.binary_search_by(|s| s.as_str().cmp(id)) {
            self.snapshots.insert(at, id.to_owned());
        }
    }

    #[must_use]
    pub fn label(&self, prompt_id: &str) -> Option<&str> {
        self.by_id.get(prompt_id).map(|l| l.label.as_str())
    }

    /// The version's note; `None` when it has none.
    #[must_use]
    pub fn note(&self, prompt_id: &str) -> Option<&str> {
        self.by_id
            .get(prompt_id)
            .map(|l| l.note.as_str())
            .filter(|n| !n.is_empty())
    }

    /// The ids of the versions that have a label.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    /// When the version was labelled (milliseconds since the Unix epoch).
    #[must_use]
    pub fn labelled_at(&self, prompt_id: &str) -> Option<u64> {
        self.by_id.get(prompt_id).map(|l| l.at_ms)
    }

    /// How many versions have a label.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The prompt id `label` names now, if any (the latest line to give it, should two).
    #[must_use]
    pub fn labelled(&self, label: &str) -> Option<&str> {
        self.by_id
            .values()
            .filter(|l| l.label == label)
            .max_by_key(|l| l.at_ms)
            .map(|l| l.prompt_id.as_str())
    }

    /// The prompt id `name` stands for: a label, else a unique prefix (at least
    /// [`MIN_ID_PREFIX`] characters) of a snapshot's or a labelled version's id.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<String> {
        self.resolve(name).ok()
    }

    /// [`Versions::find`], saying why a name does not resolve.
    ///
    /// # Errors
    /// When nothing matches, the prefix is too short, or it starts several ids.
    pub fn resolve(&self, name: &str) -> Result<String, FindError> {
        let name = name.trim();
        if let Some(id) = self.labelled(name) {
            return Ok(id.to_owned());
        }
        if name.chars().count() < MIN_ID_PREFIX {
            return if self.snapshots.iter().any(|s| s == name) {
                Ok(name.to_owned())
            } else if self.snapshots.iter().any(|s| s.starts_with(name)) {
                Err(FindError::TooShort {
                    name: name.to_owned(),
                })
            } else {
                Err(FindError::Unknown(name.to_owned()))
            };
        }
        let mut ids: Vec<&str> = self
            .snapshots
            .iter()
            .map(String::as_str)
            .chain(self.by_id.keys().map(String::as_str))
            .filter(|id| id.starts_with(name))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        match ids.as_slice() {
            [] => Err(FindError::Unknown(name.to_owned())),
            [id] => Ok((*id).to_owned()),
            _ if ids.contains(&name) => Ok(name.to_owned()),
            _ => Err(FindError::Ambiguous {
                name: name.to_owned(),
                ids: ids.into_iter().map(str::to_owned).collect(),
            }),
        }
    }
}

/// The append end of `versions.jsonl`.
#[derive(Debug)]
pub struct VersionLog {
    path: PathBuf,
    file: File,
}

impl VersionLog {
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_owned(),
            file: open_for_append(path)?,
        })
    }

    /// Appends one line and syncs it.
    ///
    /// # Errors
    /// When it cannot be written and synced.
    pub fn append(&mut self, line: &VersionLabel) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        append_synced(&mut self.file, &self.path, &bytes)
    }
}

impl Workspace {
    #[must_use]
    pub fn versions_path(&self) -> PathBuf {
        self.root.join(VERSIONS_FILE)
    }

    /// # Errors
    /// When the file cannot be opened.
    pub fn version_log(&self) -> Result<VersionLog, StoreError> {
        VersionLog::open(&self.versions_path())
    }

    /// The labels on disk and the prompt snapshots; unreadable lines are skipped with a
    /// `file:line` warning (in [`Versions::warnings`]).
    ///
    /// # Errors
    /// Only when a file exists and cannot be read.
    pub fn load_versions(&self) -> Result<Versions, StoreError> {
        let mut lines = Vec::new();
        let warnings = scan_jsonl(&self.versions_path(), "version label", |_, line| {
            lines.push(line);
        })?;
        let dir = self.root.join(super::PROMPTS_DIR);
        let snapshots = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".md").map(str::to_owned)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(super::io(&dir)(e)),
        };
        let mut versions = Versions::new(lines, snapshots);
        versions.warnings = warnings;
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn line(id: &str, label: &str, note: &str, at_ms: u64) -> VersionLabel {
        VersionLabel {
            prompt_id: id.to_owned(),
            label: label.to_owned(),
            note: note.to_owned(),
            at_ms,
        }
    }

    #[test]
    fn labels_round_trip_and_the_latest_line_per_version_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        let mut log = ws.version_log().expect("log");
        log.append(&line("aaaa1111", "v1", "", 1)).expect("append");
        log.append(&line("bbbb2222", "v2", "更短的回答", 2))
            .expect("append");
        log.append(&line("aaaa1111", "基线", "改名", 3))
            .expect("append");
        drop(log);
        let versions = ws.load_versions().expect("load");
        assert!(versions.warnings.is_empty(), "{:?}", versions.warnings);
        assert_eq!(versions.label("aaaa1111"), Some("基线"));
        assert_eq!(versions.note("aaaa1111"), Some("改名"));
        assert_eq!(versions.label("bbbb2222"), Some("v2"));
        assert_eq!(versions.note("bbbb2222"), Some("更短的回答"));
        assert_eq!(versions.label("cccc"), None);
        // The old label is free again.
        assert_eq!(versions.find("v1"), None);
        assert_eq!(versions.find("基线").as_deref(), Some("aaaa1111"));
        assert_eq!(versions.len(), 2);
    }

    #[test]
    fn a_malformed_line_is_skipped_with_its_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        ws.version_log()
            .expect("log")
            .append(&line("aaaa1111", "v1", "", 1))
            .expect("append");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ws.versions_path())
            .expect("open");
        f.write_all(b"{\"prompt_id\": 5}\n").expect("write");
        drop(f);
        ws.version_log()
            .expect("log")
            .append(&line("bbbb2222", "v2", "", 2))
            .expect("append");
        let versions = ws.load_versions().expect("load");
        assert_eq!(versions.warnings.len(), 1, "{:?}", versions.warnings);
        assert!(
            versions.warnings[0].contains("versions.jsonl:2: skipped an unreadable version label"),
            "{:?}",
            versions.warnings
        );
        assert_eq!(versions.label("aaaa1111"), Some("v1"));
        assert_eq!(versions.label("bbbb2222"), Some("v2"));
    }

    #[test]
    fn find_takes_a_label_or_a_unique_prefix_of_a_snapshot_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        for id in ["abcd1234ef", "abcd9999ef", "f00d0000aa"] {
            std::fs::write(ws.prompt_path(id), "提示").expect("snapshot");
        }
        ws.version_log()
            .expect("log")
            .append(&line("f00d0000aa", "v1", "", 1))
            .expect("append");
        let versions = ws.load_versions().expect("load");
        assert_eq!(versions.find("v1").as_deref(), Some("f00d0000aa"));
        assert_eq!(versions.find("abcd1").as_deref(), Some("abcd1234ef"));
        assert_eq!(versions.find("f00d").as_deref(), Some("f00d0000aa"));
        assert_eq!(versions.find("abcd9999ef").as_deref(), Some("abcd9999ef"));
        // Ambiguous, too short, unknown: refused, with why.
        assert_eq!(versions.find("abcd"), None);
        assert!(matches!(
            versions.resolve("abcd"),
            Err(FindError::Ambiguous { ids, .. }) if ids == ["abcd1234ef", "abcd9999ef"]
        ));
        assert!(matches!(
            versions.resolve("abc"),
            Err(FindError::TooShort { .. })
        ));
        assert!(matches!(
            versions.resolve("zzzz"),
            Err(FindError::Unknown(_))
        ));
    }
}
