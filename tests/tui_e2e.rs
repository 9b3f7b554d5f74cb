//! The real `moss` binary in a real terminal (tmux): run a sample, accept it, export, and check
//! the exported file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

/// How long the screen may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

struct Tmux {
    /// A folder of this server's own for its socket: a name derived from the process id could
    /// meet a stale socket of an earlier process with the same id.
    socket_dir: tempfile::TempDir,
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
        command
            .arg("-S")
            .arg(self.socket_dir.path().join("tmux"))
            .args(["-f", "/dev/null"]);
        command
    }

    fn start(dir: &Path, shell_command: &str) -> Self {
        // A server per test: the tests of this file run in parallel.
        let tmux = Self {
            socket_dir: tempfile::tempdir().expect("a folder for the tmux socket"),
        };
        tmux.relaunch(dir, shell_command);
        tmux
    }

    /// Starts the session's command, replacing one that has ended or was killed. A live
    /// session gets the command in its pane (`respawn-pane -k`): killing the session would end
    /// the server, and a new session could meet the server on its way out.
    fn relaunch(&self, dir: &Path, shell_command: &str) {
        let mut attempts = 0;
        loop {
            let mut command = self.command();
            if self.alive() {
                command.args(["respawn-pane", "-k", "-t", "moss", "-c"]);
            } else {
                command.args([
                    "new-session",
                    "-d",
                    "-s",
                    "moss",
                    "-x",
                    "120",
                    "-y",
                    "40",
                    "-c",
                ]);
            }
            let out = command
                .arg(dir)
                .arg(shell_command)
                .output()
                .expect("tmux starts");
            if out.status.success() {
                return;
            }
            // A server that was ending as we called (its last session had closed): try again.
            attempts += 1;
            assert!(
                attempts < 50,
                "tmux could not start the session: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(POLL);
        }
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

    /// Whether the pane shows the alternate screen (moss's, until it restores the terminal).
    fn alternate_screen(&self) -> bool {
        let out = self
            .command()
            .args(["display-message", "-p", "-t", "moss", "#{alternate_on}"])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Closes the terminal under whatever runs in it, as closing a terminal window does.
    fn kill_session(&self) {
        let status = self
            .command()
            .args(["kill-session", "-t", "moss"])
            .status()
            .expect("tmux kill-session");
        assert!(status.success());
    }

    fn alive(&self) -> bool {
        self.command()
            .args(["has-session", "-t", "moss"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// [`Tmux::wait_for`] on the screen with wrapped lines joined.
    fn wait_for_joined(&self, text: &str) {
        let started = Instant::now();
        loop {
            let out = self
                .command()
                .args(["capture-pane", "-p", "-J", "-t", "moss"])
                .output()
                .expect("tmux capture-pane");
            let screen = String::from_utf8_lossy(&out.stdout).into_owned();
            if screen.contains(text) {
                return;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
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

/// Writes `moss.sh` in `dir`, which opens the workbench there with the offline replay teacher
/// (no key in the environment), the config file `config` and its log in `dir`, and returns the
/// shell command that runs it. The script writes its pid to `moss.pid` and `exec`s moss, which
/// keeps that pid, so the test can signal moss.
fn moss_script(dir: &Path, config: &Path) -> String {
    moss_script_with(dir, config, &repo("prompts/teacher.zh.md"))
}

/// [`moss_script`] with the teacher prompt `prompt` (a copy, when the test edits it).
fn moss_script_with(dir: &Path, config: &Path, prompt: &Path) -> String {
    let script = format!(
        "echo $$ > moss.pid\n\
         exec env -u SILICONFLOW_API_KEY -u DEEPSEEK_API_KEY -u OPENAI_API_KEY \
         -u OPENROUTER_API_KEY TERM=xterm-256color MOSS_CONFIG={config} MOSS_LOG_DIR={logs} \
         {moss} --samples {samples} --prompt {prompt}\n",
        config = shell_quote(config),
        logs = shell_quote(dir),
        moss = shell_quote(Path::new(env!("CARGO_BIN_EXE_moss"))),
        samples = shell_quote(&repo("samples/questions.jsonl")),
        prompt = shell_quote(prompt),
    );
    let path = dir.join("moss.sh");
    std::fs::write(&path, script).expect("moss.sh");
    format!("sh {}", shell_quote(&path))
}

fn moss_pid(dir: &Path) -> nix::unistd::Pid {
    let pid: i32 = std::fs::read_to_string(dir.join("moss.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    nix::unistd::Pid::from_raw(pid)
}

/// Whether tmux is here to drive a terminal; without it the tests pass vacuously, unless
/// `MOSS_REQUIRE_TMUX` is set.
fn tmux_available() -> bool {
    if Tmux::available() {
        return true;
    }
    assert!(
        std::env::var_os("MOSS_REQUIRE_TMUX").is_none(),
        "tmux is required here (MOSS_REQUIRE_TMUX is set) but not installed"
    );
    eprintln!("tmux is not installed: the end-to-end test cannot drive a terminal");
    false
}

#[test]
fn run_accept_export_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, BRISK_REPLAY).expect("config");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script(dir.path(), &config)
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
    // q01's recording skips the think before its code (on purpose): `a` refuses it, `A` accepts
    // it knowingly; the screen says so only once the decision is on disk.
    tmux.keys(&["a"]);
    tmux.wait_for("not accepted: it fails think-before-code");
    assert!(!dir.path().join(".moss/decisions.jsonl").exists());
    tmux.keys(&["A"]);
    tmux.wait_for("q01: accepted anyway");
    let decisions = std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl"))
        .expect("the decision is on disk when the screen shows it");
    assert!(decisions.contains("\"accepted\""), "{decisions}");

    // Export with the dialog's defaults, but for the replay teacher's runs, which it leaves out
    // unless asked.
    tmux.keys(&["o"]);
    tmux.wait_for("Export accepted outputs");
    tmux.keys(&["Tab", "Tab", "Tab", "Space"]);
    tmux.wait_for("[include]");
    // Enter shows what would be written; Enter again writes it.
    tmux.keys(&["Enter"]);
    tmux.wait_for("1 record as sharegpt (0 edited, 1 accepted anyway)");
    assert!(
        !dir.path().join("curated.jsonl").exists(),
        "nothing written yet"
    );
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
    tmux.wait_for("Why is q02 rejected?");
    tmux.keys(&["Enter"]);
    tmux.wait_for("q02: rejected");
    nix::sys::signal::kill(moss_pid(dir.path()), Signal::SIGKILL).expect("kill moss");
    // The shell writes where moss left the cursor, so its line may wrap.
    tmux.wait_for_joined("moss exited 137");

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

/// Replay at a second a chunk (three characters): a run stays in flight for minutes.
const SLOW_REPLAY: &str = "[teacher]\nreplay-pause-ms = 1000\n";
/// Replay four characters every 12 ms, ten times a model's pace (the default): a run ends
/// within a second or two and is still seen streaming.
const BRISK_REPLAY: &str = "[teacher]\nreplay-chunk-chars = 4\nreplay-pause-ms = 12\n";

/// The runs recorded in `dir`'s workspace.
fn runs(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join(".moss/runs.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a run record"))
        .collect()
}

/// Runs the sample that `moves` select and waits until `answer_text` (a piece of its answer, not
/// of its question) is on screen: the run is in flight and has text to keep.
fn start_a_run(tmux: &Tmux, moves: &[&str], answer_text: &str) {
    tmux.wait_for("REPLAY");
    if !moves.is_empty() {
        tmux.keys(moves);
    }
    tmux.keys(&["Enter"]);
    tmux.wait_for("running 1");
    tmux.wait_for(answer_text);
}

/// The one run of `sample` was cut short by the signal and kept: incomplete, cancelled, with
/// the text that had arrived.
fn assert_cut_short(dir: &Path, sample: &str, begins: &str) {
    let runs = runs(dir);
    let cut: Vec<&Value> = runs.iter().filter(|r| r["sample_id"] == sample).collect();
    assert_eq!(cut.len(), 1, "{runs:?}");
    assert_eq!(cut[0]["status"], "incomplete", "{}", cut[0]);
    assert_eq!(cut[0]["error"], "cancelled", "{}", cut[0]);
    let text = cut[0]["transcript"].as_str().expect("a transcript");
    assert!(text.starts_with(begins), "{text}");
}

/// The session file says `sample` is selected.
fn assert_session_selects(dir: &Path, sample: &str) {
    let session: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".moss/workbench.json")).expect("the session is saved"),
    )
    .expect("a session");
    assert_eq!(session["selected"], sample, "{session}");
}

#[test]
fn sigterm_and_sighup_quit_at_once_keeping_the_run_in_flight_and_the_session() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, SLOW_REPLAY).expect("config");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script(dir.path(), &config)
    );
    let tmux = Tmux::start(dir.path(), &command);
    start_a_run(&tmux, &[], "次方是");
    let session = dir.path().join(".moss/workbench.json");
    assert!(!session.exists(), "nothing has changed the session yet");
    assert!(runs(dir.path()).is_empty());

    // SIGTERM: no question asked, the run cut short and recorded, the session saved, the
    // terminal restored, and the exit status says why. (A shell reports 143 for a process the
    // signal killed outright, too: the records and the log tell the two apart.)
    nix::sys::signal::kill(moss_pid(dir.path()), Signal::SIGTERM).expect("SIGTERM");
    tmux.wait_for("moss exited 143");
    assert!(!tmux.alternate_screen(), "the terminal is restored");
    assert_cut_short(dir.path(), "q01", "2的1000次方是");
    assert_session_selects(dir.path(), "q01");
    let log = std::fs::read_to_string(dir.path().join("moss.log")).expect("the log");
    let signalled = log
        .find("quitting on a signal")
        .expect("the signal is logged");
    let recorded = log.find("run recorded").expect("the run is logged");
    assert!(
        signalled < recorded,
        "the run was cut by the signal:\n{log}"
    );

    // SIGHUP sent to moss while the terminal is still there: the same, with 129.
    tmux.relaunch(dir.path(), &command);
    start_a_run(&tmux, &["j"], "复利10年");
    nix::sys::signal::kill(moss_pid(dir.path()), Signal::SIGHUP).expect("SIGHUP");
    tmux.wait_for("moss exited 129");
    assert!(!tmux.alternate_screen(), "the terminal is restored");
    assert_cut_short(dir.path(), "q02", "按月复利10年");
    assert_session_selects(dir.path(), "q02");
}

#[test]
fn closing_the_terminal_mid_run_exits_129_and_keeps_the_run() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, SLOW_REPLAY).expect("config");
    // The terminal's own shell dies with it; the shell between it and moss ignores the hangup
    // (a trap is reset for the programs it starts) to write down how moss exited.
    let command = format!(
        "sh -c 'trap : HUP; {}; echo $? > moss.status'; sleep 30",
        moss_script(dir.path(), &config).replace('\'', r"'\''")
    );
    let tmux = Tmux::start(dir.path(), &command);
    start_a_run(&tmux, &[], "次方是");
    tmux.kill_session();

    let status_file = dir.path().join("moss.status");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = std::fs::read_to_string(&status_file)
            .ok()
            .filter(|s| s.ends_with('\n'))
        {
            break status;
        }
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "moss never exited after its terminal closed"
        );
        std::thread::sleep(POLL);
    };
    // Not 101 (a panic on the dead terminal), not 2 (an error restoring it); a moss that the
    // hangup killed outright would show 129 too, and record nothing.
    assert_eq!(status.trim(), "129");
    assert_cut_short(dir.path(), "q01", "2的1000次方是");
    assert_session_selects(dir.path(), "q01");
}

#[test]
fn editing_an_output_in_the_editor_hands_the_terminal_over_and_back() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, BRISK_REPLAY).expect("config");
    // A scripted editor: it adds a sentence to the file it is given, as a person would.
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf '\\n补充一句：编辑过。\\n' >> \"$1\"\n",
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let command = format!(
        "env -u VISUAL EDITOR={} {}; echo moss exited $?; sleep 30",
        shell_quote(&editor),
        moss_script(dir.path(), &config)
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("REPLAY");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Run model-written code?");
    tmux.keys(&["y"]);
    tmux.wait_for("q01 complete");

    // `E`: the editor gets the terminal, moss takes it back and saves the edit.
    tmux.keys(&["E"]);
    let screen = tmux.wait_for("edit saved and re-checked");
    assert!(screen.contains("q01 complete edited"), "{screen}");
    assert!(tmux.alternate_screen(), "moss has the screen again");
    let decisions = std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl"))
        .expect("the edit is on disk when the screen shows it");
    assert!(
        decisions.contains("\"edited\"") && decisions.contains("补充一句：编辑过。"),
        "{decisions}"
    );
    // The keyboard is moss's again: the edit (which still lacks a think before its code) is
    // accepted anyway, and moss quits normally.
    tmux.keys(&["A"]);
    tmux.wait_for("q01: accepted anyway");
    let decisions =
        std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl")).expect("decisions");
    assert!(decisions.contains("\"accepted\""), "{decisions}");
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");
}

/// The workbench in `dir` on a copy of the shipped prompt (`teacher.md`) with code off (the
/// question is never the sandbox: the recordings' own results stay as they are), shown;
/// returns its config file and the terminal.
fn workbench_on_a_prompt_copy(dir: &Path) -> (PathBuf, Tmux) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("{BRISK_REPLAY}\n[workbench]\nexec = \"off\"\n"),
    )
    .expect("config");
    let prompt = dir.join("teacher.md");
    std::fs::copy(repo("prompts/teacher.zh.md"), &prompt).expect("a copy of the prompt");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script_with(dir, &config, &prompt)
    );
    let tmux = Tmux::start(dir, &command);
    tmux.wait_for("REPLAY");
    (config, tmux)
}

#[test]
fn a_prompt_saved_with_new_rules_judges_the_next_run_by_them() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, tmux) = workbench_on_a_prompt_copy(dir.path());
    let prompt = dir.path().join("teacher.md");
    // The recorded answer keeps every think within its budget.
    tmux.keys(&["Enter"]);
    tmux.wait_for("q01 complete");
    tmux.wait_for("✓ think-budget");

    // In the editor: a stricter think budget, just before the front matter's closing `+++`.
    let front_lines = std::fs::read_to_string(&prompt)
        .expect("prompt")
        .lines()
        .skip(1)
        .take_while(|l| *l != "+++")
        .count();
    tmux.keys(&["p"]);
    tmux.wait_for("Ctrl-S");
    for _ in 0..=front_lines {
        tmux.keys(&["Down"]);
    }
    tmux.keys(&["-l", "[rules.think-budget]"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["-l", "ratio = 0.1"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["C-s"]);
    tmux.wait_for("Save prompt version");
    tmux.keys(&["Enter"]);
    tmux.wait_for("prompt saved: version");
    let saved = std::fs::read_to_string(&prompt).expect("prompt");
    assert!(
        saved.contains("[rules.think-budget]\nratio = 0.1\n+++"),
        "{saved}"
    );
    tmux.keys(&["Escape"]);
    // The main screen's keys again: a key sent right after Escape would read as Alt and a key.
    tmux.wait_for("Enter run");

    // Run again: the same answer now fails the new version's budget.
    tmux.keys(&["r"]);
    tmux.wait_for("runs 2");
    tmux.wait_for("✗ think-budget");
    let runs = runs(dir.path());
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_ne!(runs[0]["prompt_id"], runs[1]["prompt_id"]);
    assert_ne!(runs[0]["rules_id"], runs[1]["rules_id"]);
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");
}

/// `moss ARGS` beside the workbench, on its workspace.
fn moss_beside(dir: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(args)
        .arg("--workspace")
        .arg(dir)
        .env("MOSS_CONFIG", config)
        .env_remove("SILICONFLOW_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("moss runs")
}

#[test]
fn the_workbench_holds_its_workspace_and_saves_a_linked_prompt_through_the_link() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, BRISK_REPLAY).expect("config");
    // The prompt is a link into a folder of prompts, with a mode of its own.
    std::fs::create_dir(dir.path().join("prompts")).expect("mkdir");
    let real = dir.path().join("prompts/real.md");
    std::fs::write(&real, "You are a teacher.\n").expect("prompt");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let link = dir.path().join("teacher.md");
    std::os::unix::fs::symlink("prompts/real.md", &link).expect("link");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script_with(dir.path(), &config, Path::new("teacher.md"))
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("REPLAY");

    // Another writer is refused, naming the workbench; a reader is not.
    let pid = moss_pid(dir.path());
    let samples = repo("samples/questions.jsonl");
    let prompt = repo("prompts/teacher.zh.md");
    let generate = moss_beside(
        dir.path(),
        &config,
        &[
            "generate",
            "--samples",
            samples.to_str().expect("utf-8"),
            "--prompt",
            prompt.to_str().expect("utf-8"),
            "--limit",
            "0",
        ],
    );
    let err = String::from_utf8_lossy(&generate.stderr);
    assert_eq!(generate.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "is in use by the moss workbench (pid {pid}, since "
        )),
        "{err}"
    );
    let export = moss_beside(dir.path(), &config, &["export", "--out", "x.jsonl"]);
    let err = String::from_utf8_lossy(&export.stderr);
    assert!(err.contains("no exportable outputs"), "{err}");

    tmux.keys(&["p"]);
    tmux.wait_for("Prompt teacher.md");
    tmux.keys(&["-l", "Always "]);
    tmux.keys(&["C-s"]);
    tmux.wait_for("Save prompt version");
    tmux.keys(&["Enter"]);
    tmux.wait_for("prompt saved");
    let meta = std::fs::symlink_metadata(&link).expect("lstat");
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    assert_eq!(
        std::fs::read_to_string(&real).expect("read"),
        "Always You are a teacher.\n"
    );
    assert_eq!(
        std::fs::metadata(&real).expect("stat").permissions().mode() & 0o7777,
        0o640
    );
    // Back on the main screen before `q`: an Escape followed at once by a key reads as Alt.
    tmux.keys(&["Escape"]);
    tmux.wait_for("Enter run");
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");
    let _free = moss_thinking::store::WorkspaceLock::acquire(dir.path(), "test")
        .expect("the workbench let go of its workspace");
}

/// The curator's round in a real terminal: three samples run; one accepted (the list moves on
/// by itself); one edited over its budget, whose accept is refused; one rejected with a reason;
/// then an export for TRL, checked on disk.
#[test]
fn review_three_samples_and_export_for_trl() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    // Code is not run here: the recordings' own results stay as they are.
    std::fs::write(
        &config,
        format!("{BRISK_REPLAY}\n[workbench]\nexec = \"off\"\n"),
    )
    .expect("config");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script(dir.path(), &config)
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("REPLAY");
    // q02, q11 and q13 have compliant recordings: run all three.
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("q02 complete");
    tmux.keys(&["j", "j", "j", "j", "j", "j", "j", "j", "j", "Enter"]);
    tmux.wait_for("q11 complete");
    tmux.keys(&["j", "j", "Enter"]);
    tmux.wait_for("q13 complete");
    tmux.wait_for("?3");

    // Accept q02: saved, and the list moves on to the next output to review, q11.
    tmux.keys(&["g", "j"]);
    tmux.wait_for("q02 complete");
    tmux.keys(&["a"]);
    tmux.wait_for("q02: accepted");
    tmux.wait_for("q11 complete");

    // Edit q11: a long think before its answer; the editor judges it while it is typed.
    tmux.keys(&["e"]);
    tmux.wait_for("Edit output q11");
    tmux.keys(&[
        "-l",
        "<think>这一段思考写得很长很长，远远超过了它前面那段回答所给的预算，而且还放在了回答前面。</think>",
    ]);
    tmux.wait_for("✗ think-budget");
    tmux.keys(&["C-s"]);
    tmux.wait_for("q11: edit saved and re-checked");
    // Accepting it is refused, and nothing about it reaches the journal but the edit.
    tmux.keys(&["a"]);
    tmux.wait_for("not accepted: it fails");
    let decisions =
        std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl")).expect("decisions");
    let q11: Vec<Value> = decisions
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a decision"))
        .filter(|d| d["sample_id"] == "q11")
        .collect();
    assert_eq!(q11.len(), 1, "{decisions}");
    assert_eq!(q11[0]["verdict"], "edited");

    // Reject q13 with a reason of one's own.
    tmux.keys(&["j", "j"]);
    tmux.wait_for("q13 complete");
    tmux.keys(&["x"]);
    tmux.wait_for("Why is q13 rejected?");
    tmux.keys(&["-l", "回答太啰嗦"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("q13: rejected (回答太啰嗦)");

    // Export for TRL, the replay teacher's runs included; the summary comes first.
    tmux.keys(&["o"]);
    tmux.wait_for("Export accepted outputs");
    tmux.keys(&["Right", "Right", "Right"]);
    tmux.wait_for("◂ trl ▸");
    tmux.keys(&["Tab", "Tab", "Tab", "Space"]);
    tmux.wait_for("[include]");
    tmux.keys(&["Enter"]);
    tmux.wait_for("1 record as trl");
    tmux.keys(&["Enter"]);
    tmux.wait_for("exported 1 accepted output");
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");

    let runs = runs(dir.path());
    let q02 = runs
        .iter()
        .find(|r| r["sample_id"] == "q02")
        .expect("q02 ran");
    let exported = std::fs::read_to_string(dir.path().join("curated.jsonl")).expect("export");
    let records: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(records.len(), 1, "{exported}");
    let messages = records[0]["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], q02["question"]);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], q02["transcript"]);
    assert_eq!(
        messages[1]["reasoning_content"], "",
        "kept whole by Qwen3's template"
    );
    let decisions =
        std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl")).expect("decisions");
    assert!(
        decisions.contains("\"reason\":\"回答太啰嗦\""),
        "{decisions}"
    );
}

#[test]
fn a_second_version_rerun_and_compared_side_by_side_becomes_a_preference_pair() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, tmux) = workbench_on_a_prompt_copy(dir.path());
    // q02 and q05 under the first version.
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("q02 complete");
    tmux.keys(&["j", "j", "j", "Enter"]);
    tmux.wait_for("q05 complete");

    // A second version, labelled and noted as it is saved.
    tmux.keys(&["p"]);
    tmux.wait_for("Ctrl-S");
    tmux.keys(&["-l", "补充：思考要更短。"]);
    tmux.keys(&["C-s"]);
    tmux.wait_for("Save prompt version");
    tmux.wait_for("Label v2");
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", "思考更短"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("prompt saved: version");
    tmux.keys(&["Escape"]);
    tmux.wait_for("prompt v2");
    tmux.wait_for("Enter run");

    // Both samples again under it: the filtered set, whatever runs it already has.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "is:passed"]);
    tmux.keys(&["Enter"]);
    tmux.keys(&["R"]);
    tmux.wait_for("Run 2 filtered samples");
    tmux.keys(&["Right"]);
    tmux.wait_for("[all]");
    tmux.wait_for("2 runs will be queued");
    tmux.keys(&["Enter"]);
    tmux.wait_for("runs 4");
    let runs = runs(dir.path());
    assert_eq!(runs.len(), 4, "{runs:?}");
    let first = runs[0]["prompt_id"].clone();
    let second = runs[3]["prompt_id"].clone();
    assert_ne!(first, second);
    let versions =
        std::fs::read_to_string(dir.path().join(".moss/versions.jsonl")).expect("versions");
    assert!(
        versions.contains(&format!(
            "\"prompt_id\":{second},\"label\":\"v2\",\"note\":\"思考更短\""
        )),
        "{versions}"
    );

    // q05 side by side: its run under the first version on the left, under v2 on the right.
    tmux.keys(&["j"]);
    tmux.wait_for("q05 complete");
    tmux.keys(&["v"]);
    tmux.wait_for("Side by side q05");
    let screen = tmux.wait_for("▶ v2");
    assert!(screen.contains("think 18/32"), "{screen}");
    // The first version's answer is the one kept: chosen over v2's.
    tmux.keys(&["1"]);
    tmux.wait_for("q05: chosen over the other run");
    tmux.wait_for("· chosen");
    let q05: Vec<&Value> = runs.iter().filter(|r| r["sample_id"] == "q05").collect();
    let (old, new) = if q05[0]["prompt_id"] == first {
        (q05[0], q05[1])
    } else {
        (q05[1], q05[0])
    };
    let decisions =
        std::fs::read_to_string(dir.path().join(".moss/decisions.jsonl")).expect("decisions");
    let decision: Value =
        serde_json::from_str(decisions.lines().last().expect("a decision")).expect("json");
    assert_eq!(decision["verdict"], "accepted");
    assert_eq!(decision["run_id"], old["run_id"]);
    assert_eq!(decision["over"], new["run_id"]);
    tmux.keys(&["Escape"]);
    tmux.wait_for("q05 complete accepted");

    // The choice is a preference pair.
    let out = moss_beside(
        dir.path(),
        &config,
        &[
            "export",
            "--pairs",
            "--include-replayed",
            "--out",
            dir.path().join("pairs.jsonl").to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pairs = std::fs::read_to_string(dir.path().join("pairs.jsonl")).expect("pairs");
    let pair: Value = serde_json::from_str(pairs.trim()).expect("one pair");
    assert_eq!(pair["prompt"][0]["content"], old["question"]);
    assert_eq!(pair["chosen"][0]["content"], old["transcript"]);
    assert_eq!(pair["rejected"][0]["content"], new["transcript"]);
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");
}

#[test]
fn an_interruption_typed_mid_stream_is_exported_as_two_turns() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    // A pace that leaves time to break in; no code runs.
    std::fs::write(
        &config,
        "[teacher]\nreplay-chunk-chars = 2\nreplay-pause-ms = 40\n\n[workbench]\nexec = \"off\"\n",
    )
    .expect("config");
    let command = format!(
        "{}; echo moss exited $?; sleep 30",
        moss_script(dir.path(), &config)
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("REPLAY");
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("q02 ▶ streaming");
    tmux.keys(&["I"]);
    tmux.wait_for("Interrupt q02");
    tmux.keys(&["-l", "换个简单点的方法"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("q02: interrupted: 换个简单点的方法");
    // The turns apart: what the user said stands between them.
    tmux.wait_for("› 换个简单点的方法");
    tmux.wait_for("q02 complete");
    // The second turn goes on from where the first was cut (the replay teacher continues its
    // recording), so it may fail a rule the cut left it: accepted knowingly.
    tmux.keys(&["A"]);
    tmux.wait_for("q02: accepted");
    tmux.keys(&["q"]);
    tmux.wait_for("moss exited 0");

    let runs = runs(dir.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    let at =
        usize::try_from(run["interruptions"][0]["at"].as_u64().expect("the cut")).expect("offset");
    let transcript = run["transcript"].as_str().expect("transcript");
    assert!(at > 0 && at < transcript.len(), "cut at {at}");
    let out = moss_beside(
        dir.path(),
        &config,
        &[
            "export",
            "--include-replayed",
            "--out",
            dir.path().join("two.jsonl").to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = std::fs::read_to_string(dir.path().join("two.jsonl")).expect("export");
    let record: Value = serde_json::from_str(exported.trim()).expect("one record");
    let turns: Vec<(&str, &str)> = record["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap_or(""),
                t["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        turns,
        [
            ("human", run["question"].as_str().expect("question")),
            ("gpt", &transcript[..at]),
            ("human", "换个简单点的方法"),
            ("gpt", &transcript[at..]),
        ]
    );
}
