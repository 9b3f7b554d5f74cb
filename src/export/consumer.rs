//! What each consumer needs beside the records, and the command that trains on them.
//!
//! A [`Plan`] is made before anything is written: it reads and merges whatever it must update
//! (LLaMA-Factory's `dataset_info.json`), so a file that cannot be merged stops the export
//! before the data is touched. [`Plan::write`] then writes the records and the side files, each
//! atomically, and says what it wrote and how to train on it.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{ExportError, ExportFormat, write_atomically};

/// The file LLaMA-Factory reads its dataset list from, in its `dataset_dir`.
pub const DATASET_INFO: &str = "dataset_info.json";
/// The student the printed commands train; replace it with yours.
const STUDENT: &str = "Qwen/Qwen3-8B";
/// Where the printed commands put the trained model.
const OUTPUT_NAME: &str = "qwen3-moss-sft";
/// Where the printed preference-training commands put the trained model.
const DPO_OUTPUT_NAME: &str = "qwen3-moss-dpo";

/// What the records teach: answers to imitate, or pairs of a preferred and a worse answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataKind {
    #[default]
    Sft,
    /// Preference pairs (`chosen` / `rejected`), for DPO.
    Preference,
}

/// What an export wrote besides the count of records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Every file written, the records first.
    pub files: Vec<PathBuf>,
    /// How to train on them, for a consumer target: a shell command, a few commands, or a
    /// short script.
    pub training: Option<String>,
    /// What the user should know about the side files (e.g. the `dataset_info.json` entry).
    pub notes: Vec<String>,
}

/// An export about to be written: the records' file and, for LLaMA-Factory, the merged
/// `dataset_info.json`.
#[derive(Clone, Debug)]
pub struct Plan {
    format: ExportFormat,
    kind: DataKind,
    path: PathBuf,
    dataset_info: Option<DatasetInfo>,
}

#[derive(Clone, Debug)]
struct DatasetInfo {
    path: PathBuf,
    entry: String,
    text: String,
    note: String,
}

impl Plan {
    /// Prepares an export of `format` to `path`; `with_system` says whether the records carry
    /// a system prompt (LLaMA-Factory is told about the column only then: a column it is told
    /// about must be there).
    ///
    /// # Errors
    /// When an existing `dataset_info.json` cannot be read or is not a JSON object, or the
    /// records would be written over it.
    pub fn new(format: ExportFormat, path: &Path, with_system: bool) -> Result<Self, ExportError> {
        Self::of_kind(format, DataKind::Sft, path, with_system)
    }

    /// [`Plan::new`] for records of `kind`: preference pairs get a `"ranking": true` entry
    /// and a DPO command.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub fn of_kind(
        format: ExportFormat,
        kind: DataKind,
        path: &Path,
        with_system: bool,
    ) -> Result<Self, ExportError> {
        let dataset_info = if format == ExportFormat::LlamaFactory {
            Some(DatasetInfo::merged(path, with_system, kind)?)
        } else {
            None
        };
        Ok(Self {
            format,
            kind,
            path: path.to_owned(),
            dataset_info,
        })
    }

    /// The records' file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every file [`Plan::write`] writes: the records, then the side files.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        files.extend(self.dataset_info.as_ref().map(|info| info.path.clone()));
        files
    }

    /// Writes the records with `write` (atomically), then the side files, and returns what
    /// `write` returned and what was written.
    ///
    /// # Errors
    /// When a file cannot be written; a side file is written only after the records were.
    pub fn write<T>(
        self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
    ) -> Result<(T, Written), ExportError> {
        let value = write_atomically(&self.path, write)?;
        let mut written = Written {
            files: vec![self.path.clone()],
            training: match self.kind {
                DataKind::Sft => training_command(
                    self.format,
                    &self.path,
                    self.dataset_info.as_ref().map(|info| info.entry.as_str()),
                ),
                DataKind::Preference => preference_training_command(
                    self.format,
                    &self.path,
                    self.dataset_info.as_ref().map(|info| info.entry.as_str()),
                ),
            },
            notes: Vec::new(),
        };
        if let Some(info) = self.dataset_info {
            write_atomically(&info.path, |out| out.write_all(info.text.as_bytes()))?;
            written.files.push(info.path);
            written.notes.push(info.note);
        }
        Ok((value, written))
    }
}

impl DatasetInfo {
    /// `dataset_info.json` beside `data` with our entry put in (or replaced in place), every
    /// other entry kept as it was written.
    fn merged(data: &Path, with_system: bool, kind: DataKind) -> Result<Self, ExportError> {
        let file_name = data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = data.with_file_name(DATASET_INFO);
        if file_name == DATASET_INFO {
            return Err(ExportError::DatasetInfo {
                path,
                reason:
                    "LLaMA-Factory lists its datasets in this file: give the records another name"
                        .to_owned(),
            });
        }
        let entry = entry_name(data);
        let mut entries = read_entries(&path)?;
        let others = entries.len() - usize::from(entries.contains_key(&entry));
        let replaced = entries.contains_key(&entry);
        entries.insert(entry.clone(), raw_entry(&file_name, with_system, kind)?);
        let mut text =
            serde_json::to_string_pretty(&entries).map_err(|e| ExportError::DatasetInfo {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        text.push('\n');
        let mut note = format!(
            "{}: entry {entry:?}, named after {file_name}",
            path.display()
        );
        if replaced {
            note.push_str(" (replacing the entry of that name)");
        }
        if others > 0 {
            let _ = write!(
                note,
                "; {others} other entr{} kept",
                if others == 1 { "y" } else { "ies" }
            );
        }
        Ok(Self {
            path,
            entry,
            text,
            note,
        })
    }
}

/// The entry's name: the file's stem, with the characters that would split or break a
/// `--dataset a,b` list replaced.
fn entry_name(data: &Path) -> String {
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.is_empty() {
        "moss".to_owned()
    } else {
        name
    }
}

/// The entries of an existing `dataset_info.json`, each kept as its text; none when there is
/// no such file (or it is empty).
fn read_entries(path: &Path) -> Result<IndexMap<String, Box<RawValue>>, ExportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(IndexMap::new()),
        Err(source) => {
            return Err(ExportError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(IndexMap::new());
    }
    serde_json::from_str(&text).map_err(|e| ExportError::DatasetInfo {
        path: path.to_owned(),
        reason: if e.is_data() {
            format!("not a JSON object of datasets ({e})")
        } else {
            format!("not valid JSON ({e})")
        },
    })
}

/// A `dataset_info.json` entry for sharegpt records with `from`/`value` turns, its keys in the
/// order LLaMA-Factory documents them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetEntry {
    pub file_name: String,
    pub formatting: &'static str,
    /// Preference pairs: `chosen` and `rejected` columns.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ranking: bool,
    pub columns: Columns,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Columns {
    pub messages: &'static str,
    /// Named only when the records carry a system prompt: LLaMA-Factory reads every column it
    /// is told about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<&'static str>,
    /// Preference pairs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tags {
    pub role_tag: &'static str,
    pub content_tag: &'static str,
    pub user_tag: &'static str,
    pub assistant_tag: &'static str,
}

impl DatasetEntry {
    /// The entry of the records in `file_name` (beside `dataset_info.json`).
    #[must_use]
    pub fn sharegpt(file_name: &str, with_system: bool) -> Self {
        Self {
            file_name: file_name.to_owned(),
            formatting: "sharegpt",
            ranking: false,
            columns: Columns {
                messages: "conversations",
                system: with_system.then_some("system"),
                chosen: None,
                rejected: None,
            },
            tags: Tags {
                role_tag: "from",
                content_tag: "value",
                user_tag: "human",
                assistant_tag: "gpt",
            },
        }
    }
}

impl DatasetEntry {
    /// The entry of sharegpt preference records (`"ranking": true`, with `chosen` and
    /// `rejected` columns) in `file_name`.
    #[must_use]
    pub fn sharegpt_ranking(file_name: &str, with_system: bool) -> Self {
        let mut entry = Self::sharegpt(file_name, with_system);
        entry.ranking = true;
        entry.columns.chosen = Some("chosen");
        entry.columns.rejected = Some("rejected");
        entry
    }
}

/// Our entry as text indented to sit one level into the file.
fn raw_entry(
    file_name: &str,
    with_system: bool,
    kind: DataKind,
) -> Result<Box<RawValue>, ExportError> {
    let invalid = |e: serde_json::Error| ExportError::DatasetInfo {
        path: PathBuf::from(DATASET_INFO),
        reason: e.to_string(),
    };
    let entry = match kind {
        DataKind::Sft => DatasetEntry::sharegpt(file_name, with_system),
        DataKind::Preference => DatasetEntry::sharegpt_ranking(file_name, with_system),
    };
    let pretty = serde_json::to_string_pretty(&entry).map_err(invalid)?;
    RawValue::from_string(pretty.replace('\n', "\n  ")).map_err(invalid)
}

/// How to train on `path` with the consumer `format` names; `None` for a bare layout.
/// `dataset` is LLaMA-Factory's entry name.
#[must_use]
pub fn training_command(
    format: ExportFormat,
    path: &Path,
    dataset: Option<&str>,
) -> Option<String> {
    let file = path.to_string_lossy();
    match format {
        ExportFormat::Sharegpt | ExportFormat::Messages | ExportFormat::Alpaca => None,
        ExportFormat::Trl => Some(trl_script(
            &file,
            "SFTConfig, SFTTrainer",
            "SFTTrainer",
            &format!("SFTConfig(output_dir=\"{OUTPUT_NAME}\", assistant_only_loss=True)"),
        )),
        ExportFormat::LlamaFactory => Some(llama_factory_command(
            path,
            dataset,
            "sft",
            &format!("--output_dir saves/{OUTPUT_NAME}"),
        )),
        ExportFormat::MsSwift => Some(format!(
            "swift sft --model {STUDENT} --template qwen3 --dataset {} \
             --add_non_thinking_prefix false --output_dir output/{OUTPUT_NAME}",
            shell_word(&file)
        )),
        ExportFormat::Openai => Some(format!(
            "openai api files.create -f {} -p fine-tune\n\
             openai api fine_tuning.jobs.create -F FILE_ID -m MODEL\n\
             # FILE_ID: the \"id\" the upload printed; MODEL: a model your account can fine-tune",
            shell_word(&file)
        )),
    }
}

/// How to train with DPO on the preference pairs in `path` for the consumer `format` (TRL or
/// LLaMA-Factory); `None` for others. `dataset` is LLaMA-Factory's entry name.
#[must_use]
pub fn preference_training_command(
    format: ExportFormat,
    path: &Path,
    dataset: Option<&str>,
) -> Option<String> {
    match format {
        ExportFormat::Trl => Some(trl_script(
            &path.to_string_lossy(),
            "DPOConfig, DPOTrainer",
            "DPOTrainer",
            &format!("DPOConfig(output_dir=\"{DPO_OUTPUT_NAME}\")"),
        )),
        ExportFormat::LlamaFactory => Some(llama_factory_command(
            path,
            dataset,
            "dpo",
            &format!("--pref_beta 0.1 --pref_loss sigmoid --output_dir saves/{DPO_OUTPUT_NAME}"),
        )),
        _ => None,
    }
}

/// A Python script training the student on `file` with TRL's `trainer`, configured by `args`.
fn trl_script(file: &str, imports: &str, trainer: &str, args: &str) -> String {
    format!(
        "python - <<'PY'\n\
         from datasets import load_dataset\n\
         from trl import {imports}\n\
         \n\
         dataset = load_dataset(\"json\", data_files={file}, split=\"train\")\n\
         trainer = {trainer}(\n\
         \x20   model=\"{STUDENT}\",\n\
         \x20   train_dataset=dataset,\n\
         \x20   args={args},\n\
         )\n\
         trainer.train()\n\
         PY",
        file = python_string(file),
    )
}

/// `llamafactory-cli train` at `stage` on the dataset entry `dataset` beside `path`, with
/// `rest` (the stage's own options and the output folder).
fn llama_factory_command(path: &Path, dataset: Option<&str>, stage: &str, rest: &str) -> String {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_string_lossy(),
        _ => ".".into(),
    };
    format!(
        "llamafactory-cli train --stage {stage} --do_train true --model_name_or_path {STUDENT} \
         --dataset {} --dataset_dir {} --template qwen3_nothink --finetuning_type lora {rest}",
        shell_word(dataset.unwrap_or("moss")),
        shell_word(&dir),
    )
}

/// `s` as one shell word: as is when it has only characters no shell treats specially, else
/// single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | '=' | ',')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `s` as a Python string literal (JSON's escapes are Python's).
fn python_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_they_must_be() {
        assert_eq!(shell_word("data/sft.jsonl"), "data/sft.jsonl");
        assert_eq!(shell_word("数据.jsonl"), "数据.jsonl");
        assert_eq!(shell_word("my data.jsonl"), "'my data.jsonl'");
        assert_eq!(shell_word("it's.jsonl"), r"'it'\''s.jsonl'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(python_string("a\"b\\c"), r#""a\"b\\c""#);
    }

    #[test]
    fn entry_names_come_from_the_file_stem() {
        assert_eq!(entry_name(Path::new("out/sft.jsonl")), "sft");
        assert_eq!(entry_name(Path::new("a,b c.jsonl")), "a_b_c");
        assert_eq!(entry_name(Path::new("数据.json")), "数据");
    }

    #[test]
    fn only_consumers_have_a_training_command() {
        for format in ExportFormat::ALL {
            let command = training_command(format, Path::new("d/sft.jsonl"), Some("sft"));
            assert_eq!(command.is_some(), format.is_target(), "{format}");
        }
        let lf = training_command(
            ExportFormat::LlamaFactory,
            Path::new("d/sft.jsonl"),
            Some("sft"),
        )
        .expect("command");
        assert!(lf.contains("--dataset sft --dataset_dir d "), "{lf}");
        assert!(lf.contains("--template qwen3_nothink"), "{lf}");
        let lf = training_command(
            ExportFormat::LlamaFactory,
            Path::new("sft.jsonl"),
            Some("sft"),
        )
        .expect("command");
        assert!(lf.contains("--dataset_dir . "), "{lf}");
        let trl =
            training_command(ExportFormat::Trl, Path::new("sft.jsonl"), None).expect("command");
        assert!(trl.contains("data_files=\"sft.jsonl\""), "{trl}");
        assert!(trl.contains("assistant_only_loss=True"), "{trl}");
        let swift =
            training_command(ExportFormat::MsSwift, Path::new("sft.jsonl"), None).expect("command");
        assert!(swift.contains("--add_non_thinking_prefix false"), "{swift}");
    }
}
