//! The real `moss` binary in a real terminal (tmux): run a sample, accept it, export, and check
//! the exported file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the screen may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    fn start(dir: &Path, shell_command: &str) -> Self {
        let tmux = Self {
            socket: format!("moss-e2e-{}", std::process::id()),
        };
        tmux.relaunch(dir, shell_command);
        tmux
    }

    /// Starts the session's command, replacing one that has ended or was killed.
    fn relaunch(&self, dir: &Path, shell_command: &str) {
        let _ = self.command().args(["kill-session", "-t", "moss"]).output();
        let status = self
            .command()
            .args([
                "new-session",
                "-d",
                "-s",
                "moss",
                "-x",
                "120",
                "-y",
                "40",
                "-c",
            ])
            .arg(dir)
            .arg(shell_command)
            .status()
            .expect("tmux starts");
        assert!(status.success(), "tmux new-session failed");
    }

    fn keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "moss"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .command()
            .args(["capture-pane", "-p", "-t", "moss"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.command()
            .args(["has-session", "-t", "moss"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Waits until the screen contains `text`; panics with the screen when it does not.
    fn wait_for(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn run_accept_export_in_a_real_terminal() {
    if !Tmux::available() {
        assert!(
            std::env::var_os("MOSS_REQUIRE_TMUX").is_none(),
            "tmux is required here (MOSS_REQUIRE_TMUX is set) but not installed"
        );
        eprintln!("tmux is not installed: the end-to-end test cannot drive a terminal");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    // No key in the environment: the offline replay teacher answers.
    // `exec` keeps the shell's pid for moss, so the test can kill it.
    let command = format!(
        "sh -c 'echo $$ > moss.pid; exec env -u SILICONFLOW_API_KEY -u DEEPSEEK_API_KEY \
         -u OPENAI_API_KEY -u OPENROUTER_API_KEY TERM=xterm-256color MOSS_CONFIG=\"$0\" \
         MOSS_LOG_DIR=\"$1\" \"$2\" --samples \"$3\" --prompt \"$4\"' {config} {logs} {moss} \
         {samples} {prompt}; echo moss exited $?; sleep 30",
        config = shell_quote(&config),
        logs = shell_quote(dir.path()),
        moss = shell_quote(Path::new(env!("CARGO_BIN_EXE_moss"))),
        samples = shell_quote(&repo("samples/questions.jsonl")),
        prompt = shell_quote(&repo("prompts/teacher.zh.md")),
    );
    let tmux = Tmux::start(dir.path(), &command);
    let first = tmux.wait_for("REPLAY");
    assert!(first.contains("q01"), "{first}");

    // Run the first sample; it wants to run code, which the workspace is asked about once.
    tmux.keys(&["Enter"]);
    tmux.wait_for("Run model-written code?");
    tmux.keys(&["y"]);
    let finished = tmux.wait_for("complete");
    assert!(
        finished.contains("result"),
        "the result is boxed:\n{finished}"
    );
    let session = std::fs::read_to_string(dir.path().join(".moss/workbench.json"))
        .expect("the answer is remembered");
    assert!(session.contains("\"exec_consent\": true"), "{session}");
    // Accept it: the screen says so only once the decision is on disk.
    tmux.keys(&["a"]);
    tmux.wait_for("accepted");
    let decisions = std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl"))
        .expect("the decision is on disk when the screen shows it");
    assert!(decisions.contains("\"accepted\""), "{decisions}");

    // Export with the dialog's defaults.
    tmux.keys(&["o"]);
    tmux.wait_for("Export accepted outputs");
    tmux.keys(&["Enter"]);
    tmux.wait_for("exported 1 accepted");
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");

    check_export(dir.path(), &config);
    assert!(!tmux.alive() || tmux.screen().contains("moss exited 0"));

    // Reopen: the accept is restored. Reject a second sample, then kill moss outright.
    tmux.relaunch(dir.path(), &command);
    tmux.wait_for("A1");
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("q02 complete");
    let screen = tmux.screen();
    assert!(
        !screen.contains("Run model-written code?"),
        "asked once: {screen}"
    );
    tmux.keys(&["x"]);
    tmux.wait_for("rejected");
    let pid: i32 = std::fs::read_to_string(dir.path().join("moss.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill moss");
    tmux.wait_for("moss exited 137");

    // Nothing the screen showed is lost: both decisions, and the selection, come back.
    tmux.relaunch(dir.path(), &command);
    let screen = tmux.wait_for("R1");
    assert!(screen.contains("A1"), "{screen}");
    assert!(
        screen.contains("q02 complete rejected"),
        "q02 is selected again:\n{screen}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");
}

/// The export holds exactly the accepted run, as recorded, and passes `moss check`.
fn check_export(dir: &Path, config: &Path) {
    let runs = std::fs::read_to_string(dir.join(".moss/runs.jsonl")).expect("runs");
    let run: serde_json::Value =
        serde_json::from_str(runs.lines().next().expect("one run")).expect("a run record");
    let exported = std::fs::read_to_string(dir.join("curated.jsonl")).expect("export");
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 1, "{exported}");
    let example: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(example["conversations"][0]["from"], "human");
    assert_eq!(example["conversations"][0]["value"], run["question"]);
    assert_eq!(example["conversations"][1]["value"], run["transcript"]);
    // The exported file passes `moss check` as a dataset.
    let check = Command::new(env!("CARGO_BIN_EXE_moss"))
        .arg("check")
        .arg(dir.join("curated.jsonl"))
        .env("MOSS_CONFIG", config)
        .output()
        .expect("moss check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("checked 1 record"));
}
