//! A workspace in a temporary folder driven through the real `moss` binary with the offline
//! replay teacher, and curated with the library's own decision journal.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use moss_thinking::store::{Decision, Verdict, Workspace};
use serde_json::Value;

/// Replay without pauses: a run finishes at once.
pub const FAST_REPLAY: &str = "[teacher]\nreplay-pause-ms = 0\n";
/// Replay at a minute a chunk: a run stays in flight for as long as a test needs.
pub const STALLED_REPLAY: &str = "[teacher]\nreplay-pause-ms = 60000\n";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub struct Bench {
    pub dir: tempfile::TempDir,
}

impl Bench {
    /// A folder whose `moss.toml` is `moss_toml`.
    pub fn new(moss_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("moss.toml"), moss_toml).expect("moss.toml");
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `moss ARGS` in the folder, with no user config and no API key (the replay teacher).
    pub fn moss(&self, args: &[&str]) -> Command {
        self.moss_with_umask(None, args)
    }

    /// `moss ARGS` started by `sh` under `umask` (octal), so this process's umask (shared by
    /// the tests running beside it) is never changed.
    pub fn moss_with_umask(&self, umask: Option<&str>, args: &[&str]) -> Command {
        let moss = env!("CARGO_BIN_EXE_moss");
        let mut cmd = match umask {
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {mask} && exec \"$0\" \"$@\""))
                    .arg(moss);
                sh
            }
            None => Command::new(moss),
        };
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("MOSS_CONFIG", "")
            .env_remove("SILICONFLOW_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .stdin(Stdio::null());
        cmd
    }

    /// The arguments of `moss generate` over the first `limit` shipped sample questions.
    pub fn generate_args(limit: &str) -> Vec<String> {
        vec![
            "generate".to_owned(),
            "--samples".to_owned(),
            repo("samples/questions.jsonl").display().to_string(),
            "--prompt".to_owned(),
            repo("prompts/teacher.zh.md").display().to_string(),
            "--limit".to_owned(),
            limit.to_owned(),
        ]
    }

    /// Every line of `.moss/runs.jsonl`.
    pub fn runs(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path(".moss/runs.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a run record"))
            .collect()
    }

    /// Accepts every recorded run, as the workbench would with "accept anyway" (some
    /// recordings fail a rule on purpose).
    pub fn accept_all(&self) {
        let workspace = Workspace::open(self.dir.path()).expect("workspace");
        let mut log = workspace.decision_log().expect("decision log");
        for run in self.runs() {
            log.append(&Decision {
                run_id: run["run_id"].as_str().expect("run id").to_owned(),
                sample_id: run["sample_id"].as_str().expect("sample id").to_owned(),
                verdict: Verdict::Accepted,
                text: None,
                rules: Vec::new(),
                override_rules: true,
                reason: None,
                prompt_id: None,
                over: None,
                at_ms: 1_760_000_000_000,
            })
            .expect("accept");
        }
    }
}

pub fn run(mut cmd: Command) -> Output {
    cmd.output().expect("moss runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Lines of a JSONL file.
pub fn jsonl_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .expect("written")
        .lines()
        .count()
}
