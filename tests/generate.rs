//! `moss generate` end to end: the real binary against the replay teacher and against an
//! OpenAI-style server on loopback.

#[path = "support/openai_mock.rs"]
mod openai_mock;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use openai_mock::{MockServer, Reply, Request, StreamReply};
use serde_json::Value;

const KEY: &str = "sk-moss-test-4f1c9e0b7a";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A workspace: a temporary folder with a `moss.toml` naming the mock provider.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(moss_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("moss.toml"), moss_toml).expect("moss.toml");
        Self { dir }
    }

    fn with_mock(server: &MockServer) -> Self {
        Self::new(&format!(
            "[teacher]\nmax-retries = 0\nreplay-pause-ms = 0\n\n[providers.mock]\nbase-url = \"{}\"\napi-key-env = \"MOSS_MOCK_KEY\"\nmodel = \"mock-model\"\ncontinuation = \"none\"\n",
            server.base_url
        ))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn samples(&self, n: usize) -> PathBuf {
        let path = self.path("samples.jsonl");
        let lines: Vec<String> = (0..n)
            .map(|i| {
                serde_json::json!({"id": format!("s{i:02}"), "question": format!("问题 {i}")})
                    .to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("samples");
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moss"));
        cmd.current_dir(self.dir.path()).arg("generate");
        if !args.contains(&"--prompt") {
            cmd.args([
                "--prompt",
                repo("prompts/teacher.zh.md").to_str().expect("utf-8"),
            ]);
        }
        cmd.args(args)
            .env("MOSS_CONFIG", "")
            .env("MOSS_MOCK_KEY", KEY)
            .env_remove("SILICONFLOW_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("moss runs")
    }

    /// Every line of `.moss/runs.jsonl`.
    fn runs(&self) -> Vec<Value> {
        read_jsonl(&self.path(".moss/runs.jsonl"))
    }
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What the mock teacher answers to `question`.
fn answer_to(question: &str) -> String {
    format!(
        "{question}的回答很简单。\n\n<think>先答后想，字数要少。</think>\n\n这就是完整的回答，谢谢提问。"
    )
}

fn complete_ids(runs: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = runs
        .iter()
        .filter(|r| r["status"] == "complete")
        .map(|r| r["sample_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn offline_generate_replays_recordings_resumes_and_writes_sharegpt() {
    let ws = Workspace::new("[teacher]\nreplay-pause-ms = 0\n");
    let samples = repo("samples/questions.jsonl");
    let args = [
        "--samples",
        samples.to_str().expect("utf-8"),
        "--limit",
        "6",
        "--out",
        "out.jsonl",
        "--include-replayed",
    ];
    let out = ws.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("SILICONFLOW_API_KEY is not set: using the offline replay teacher"),
        "{err}"
    );
    assert!(
        err.contains("6 run now (6 complete, 0 incomplete, 0 failed)"),
        "{err}"
    );
    // q04 has no recording: its placeholder is recorded (and fails model-answer), never written.
    assert!(
        err.contains("left out 1 placeholder of the offline replay teacher"),
        "{err}"
    );
    assert!(
        err.contains("wrote 5 records to out.jsonl (sharegpt)"),
        "{err}"
    );
    let runs = ws.runs();
    assert_eq!(runs.len(), 6);
    assert!(
        runs.iter()
            .all(|r| r["teacher"]["replayed"] == true && r["status"] == "complete")
    );
    let placeholders: Vec<&Value> = runs.iter().filter(|r| r["placeholder"] == true).collect();
    assert_eq!(placeholders.len(), 1);
    assert_eq!(placeholders[0]["sample_id"], "q04");
    assert!(
        placeholders[0]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["id"] == "model-answer" && r["outcome"] == "fail"),
        "{}",
        placeholders[0]
    );
    let prompt_id = runs[0]["prompt_id"].as_str().expect("prompt id");
    assert!(ws.path(&format!(".moss/prompts/{prompt_id}.md")).is_file());

    let exported = read_jsonl(&ws.path("out.jsonl"));
    assert_eq!(exported.len(), 5);
    // In sample order, each with its question and the run's transcript, marked as replayed.
    let questions: Vec<Value> = read_jsonl(&samples)
        .into_iter()
        .take(6)
        .filter(|q| q["id"] != "q04")
        .collect();
    for (record, sample) in exported.iter().zip(&questions) {
        assert_eq!(record["conversations"][0]["from"], "human");
        assert_eq!(record["conversations"][0]["value"], sample["question"]);
        assert_eq!(record["conversations"][1]["from"], "gpt");
        assert_eq!(record["replayed"], true);
        let run = runs
            .iter()
            .find(|r| r["sample_id"] == sample["id"])
            .expect("run of the sample");
        assert_eq!(record["conversations"][1]["value"], run["transcript"]);
    }

    // Without --include-replayed the replay teacher's runs are left out, and it says so.
    let out = ws.run(&args[..args.len() - 1]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "left out 5 runs of the offline replay teacher (--include-replayed writes them)"
        ),
        "{err}"
    );
    assert!(err.contains("wrote 0 records to out.jsonl"), "{err}");

    // A rerun has nothing left to do.
    let out = ws.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("6 already complete, 0 run now"), "{err}");
    assert_eq!(ws.runs().len(), 6);
    assert_eq!(read_jsonl(&ws.path("out.jsonl")).len(), 5);
}

#[test]
fn out_takes_a_layout_or_a_consumer_target_like_export() {
    let ws = Workspace::new("[teacher]\nreplay-pause-ms = 0\n");
    let samples = repo("samples/questions.jsonl");
    let samples = samples.to_str().expect("utf-8");
    let base = [
        "--samples",
        samples,
        "--limit",
        "2",
        "--include-replayed",
        "--out",
    ];

    // OpenAI's records carry nothing but messages: not even the replay marker.
    let out = ws.run(&[&base[..], &["openai.jsonl", "--target", "openai"]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("wrote 2 records to openai.jsonl (openai)"),
        "{err}"
    );
    assert!(
        err.contains("openai api files.create -f openai.jsonl -p fine-tune"),
        "{err}"
    );
    let records = read_jsonl(&ws.path("openai.jsonl"));
    assert_eq!(records.len(), 2);
    for record in &records {
        let keys: Vec<&String> = record.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["messages"], "{record}");
        assert_eq!(record["messages"][1]["role"], "assistant");
    }

    // LLaMA-Factory's records come with their dataset_info.json entry.
    let out = ws.run(&[&base[..], &["lf.jsonl", "--target", "llama-factory"]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("dataset_info.json: entry \"lf\", named after lf.jsonl"),
        "{err}"
    );
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("dataset_info.json")).expect("dataset_info.json"),
    )
    .expect("JSON");
    assert_eq!(info["lf"]["file_name"], "lf.jsonl");
    assert_eq!(
        read_jsonl(&ws.path("lf.jsonl"))[0]["conversations"][0]["from"],
        "human"
    );

    // A bare layout, and the replay marker where the layout allows it.
    let out = ws.run(&[&base[..], &["m.jsonl", "--out-format", "messages"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = read_jsonl(&ws.path("m.jsonl"));
    assert_eq!(records[0]["messages"][0]["role"], "user");
    assert_eq!(records[0]["replayed"], true);

    // Both at once, or either without --out, is a usage error.
    for args in [
        &[
            "--samples",
            samples,
            "--out",
            "x.jsonl",
            "--out-format",
            "messages",
            "--target",
            "trl",
        ][..],
        &["--samples", samples, "--target", "trl"][..],
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(!ws.path("x.jsonl").exists());
}

#[test]
fn fill_mode_from_the_command_line_puts_real_results_in() {
    let ws = Workspace::new("[teacher]\nreplay-pause-ms = 0\n");
    let samples = ws.path("one.jsonl");
    std::fs::write(&samples, "{\"id\":\"q02\",\"question\":\"复利\"}\n").expect("write");
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--exec",
        "fill",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = ws.runs();
    assert_eq!(runs[0]["exec"], "fill");
    let executions = runs[0]["executions"].as_array().expect("executions");
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0]["outcome"]["status"]["kind"], "success");
    assert_eq!(executions[0]["outcome"]["protections"]["env_cleared"], true);
    assert!(
        runs[0]["transcript"]
            .as_str()
            .expect("text")
            .contains("差额: 774.61")
    );
}

/// Twelve samples, three at a time: the first three answers stream in full, every later one
/// streams its text and then waits for its end until [`SlowBatch::release`], so a signal sent
/// once three runs are complete lands mid-batch however fast or slow the machine is.
struct SlowBatch {
    server: MockServer,
    ws: Workspace,
    samples: PathBuf,
    held: Arc<AtomicBool>,
}

impl SlowBatch {
    fn new() -> Self {
        let held = Arc::new(AtomicBool::new(true));
        let never = Arc::new(tokio::sync::Notify::new());
        let holding = Arc::clone(&held);
        let server = MockServer::start_background(move |req: &Request| {
            let answer = answer_to(req.question().unwrap_or_default());
            if req.index >= 3 && holding.load(Ordering::SeqCst) {
                // The text, and no finish reason: the answer is not over.
                let frames = openai_mock::chunks(&answer, 3)
                    .iter()
                    .map(|piece| openai_mock::content(piece))
                    .collect();
                StreamReply::new(frames)
                    .with_hold(Arc::clone(&never))
                    .into()
            } else {
                StreamReply::text(&answer, 3).into()
            }
        });
        let ws = Workspace::with_mock(&server);
        let samples = ws.samples(12);
        Self {
            server,
            ws,
            samples,
            held,
        }
    }

    /// Later requests are answered in full.
    fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
    }

    fn args(&self) -> [&str; 6] {
        [
            "--samples",
            self.samples.to_str().expect("utf-8"),
            "--provider",
            "mock",
            "--concurrency",
            "3",
        ]
    }

    /// Sends `signal` once three runs are complete, and checks what the stop leaves: exit status
    /// 128 + the signal, `message` on stderr and then the summary (with `None`, stderr is closed
    /// before the signal, as when the terminal it went to is gone), every run complete before
    /// the signal still there and whole, the runs cut short `incomplete` with the error
    /// `cancelled`, no sample recorded twice.
    fn stop_mid_batch(&self, signal: Signal, message: Option<&str>) {
        let mut child = self
            .ws
            .command(&self.args())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(60);
        let done_at_signal = loop {
            let done = complete_ids(&self.ws.runs());
            if done.len() >= 3 {
                break done;
            }
            assert!(Instant::now() < deadline, "no runs were recorded");
            std::thread::sleep(Duration::from_millis(20));
        };
        if message.is_none() {
            drop(child.stderr.take());
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal");
        let out = child.wait_with_output().expect("exits");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(128 + signal as i32), "{err}");
        if let Some(message) = message {
            let said = err
                .find(message)
                .unwrap_or_else(|| panic!("no {message:?}: {err}"));
            let summary = err.find("samples: ").expect("a summary");
            assert!(said < summary, "the stop is announced first: {err}");
            assert!(
                err[summary..].contains("run the same command again to resume"),
                "{err}"
            );
        }

        let runs = self.ws.runs();
        let done = complete_ids(&runs);
        assert!(
            done_at_signal.iter().all(|id| done.contains(id)),
            "{done_at_signal:?} were complete before the signal: {done:?}"
        );
        assert_eq!(
            done.len(),
            3,
            "the batch was stopped, with the held runs cut short: {done:?}"
        );
        for run in runs.iter().filter(|r| r["status"] == "complete") {
            assert_eq!(
                run["transcript"].as_str(),
                Some(answer_to(run["question"].as_str().expect("q")).as_str())
            );
        }
        // Anything cut short is kept, marked incomplete, never passed off as complete.
        for run in runs.iter().filter(|r| r["status"] != "complete") {
            assert_eq!(run["status"], "incomplete", "{run}");
            assert_eq!(run["error"], "cancelled");
        }
        let mut recorded: Vec<&str> = runs
            .iter()
            .map(|r| r["sample_id"].as_str().expect("id"))
            .collect();
        recorded.sort_unstable();
        recorded.dedup();
        assert_eq!(recorded.len(), runs.len(), "one run per sample at most");
    }
}

#[test]
fn an_interrupted_batch_resumes_losing_and_duplicating_nothing() {
    let batch = SlowBatch::new();
    batch.stop_mid_batch(
        Signal::SIGINT,
        Some("moss: interrupted: stopping; finished runs are kept (Ctrl-C again to quit at once)"),
    );
    batch.release();
    let SlowBatch { server, ws, .. } = &batch;
    let args = batch.args();
    let done_before = complete_ids(&ws.runs());
    let requests_before = server.request_count();

    let out = ws.run(&[&args[..], &["--out", "out.jsonl"]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Only the samples without a complete run were run again, once each (the summary counts
    // the runs this process made; the server's count could also hold a request the stopped
    // process sent just before it died and the server read after).
    assert!(
        err.contains(&format!(
            "{} already complete, {} run now",
            done_before.len(),
            12 - done_before.len()
        )),
        "{err}"
    );
    let asked_again: Vec<String> = server.requests()[requests_before..]
        .iter()
        .map(|r| r.question().expect("question").to_owned())
        .collect();
    for i in 0..12 {
        let id = format!("s{i:02}");
        let question = format!("问题 {i}");
        assert_eq!(
            asked_again.contains(&question),
            !done_before.contains(&id),
            "{id}: asked again only when it had no complete run: {asked_again:?}"
        );
    }

    let all = complete_ids(&ws.runs());
    let expected: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    assert_eq!(all, expected, "one complete run per sample, no duplicates");
    let exported = read_jsonl(&ws.path("out.jsonl"));
    assert_eq!(exported.len(), 12);
    for (i, record) in exported.iter().enumerate() {
        let question = format!("问题 {i}");
        assert_eq!(record["conversations"][0]["value"], question.as_str());
        assert_eq!(
            record["conversations"][1]["value"],
            answer_to(&question).as_str()
        );
        assert!(record.get("replayed").is_none());
    }
}

#[test]
fn sigterm_stops_a_batch_as_ctrl_c_does_and_exits_143() {
    SlowBatch::new().stop_mid_batch(
        Signal::SIGTERM,
        Some("moss: terminated (SIGTERM): stopping; finished runs are kept"),
    );
}

#[test]
fn sighup_stops_a_batch_as_ctrl_c_does_and_exits_129() {
    SlowBatch::new().stop_mid_batch(
        Signal::SIGHUP,
        Some("moss: hung up (SIGHUP): stopping; finished runs are kept"),
    );
}

#[test]
fn a_hangup_that_took_stderr_with_it_still_stops_the_batch_cleanly() {
    SlowBatch::new().stop_mid_batch(Signal::SIGHUP, None);
}

#[test]
fn failures_are_reported_with_reasons_and_never_become_data() {
    let server = MockServer::start_background(|req: &Request| {
        let question = req.question().unwrap_or_default();
        if question.ends_with('1') {
            Reply::error(401, "Invalid token for this account")
        } else if question.ends_with('2') {
            // Cut off before the end: partial text, no [DONE], no finish reason.
            StreamReply::new(vec![openai_mock::content("只说了一半")])
                .with_end(openai_mock::End::Close)
                .into()
        } else if question.ends_with('4') {
            // Cut off as llama.cpp cuts a stream: `[DONE]`, but no finish reason.
            StreamReply::new(vec![openai_mock::content("半句话")]).into()
        } else {
            Reply::text(&answer_to(question))
        }
    });
    let ws = Workspace::with_mock(&server);
    let samples = ws.samples(5);
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
        "--out",
        "out.jsonl",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 complete, 2 incomplete, 1 failed"), "{err}");
    assert!(
        err.contains("s04") && err.contains("the stream ended without a finish reason"),
        "{err}"
    );
    assert!(err.contains("s01"), "{err}");
    assert!(
        err.contains("HTTP 401: Invalid token for this account"),
        "{err}"
    );
    assert!(
        err.contains("s02") && err.contains("without [DONE] or a finish reason"),
        "{err}"
    );

    let runs = ws.runs();
    let s02 = runs
        .iter()
        .find(|r| r["sample_id"] == "s02")
        .expect("s02 recorded");
    assert_eq!(s02["status"], "incomplete");
    assert_eq!(s02["transcript"], "只说了一半");
    let s01 = runs
        .iter()
        .find(|r| r["sample_id"] == "s01")
        .expect("s01 recorded");
    assert_eq!(s01["status"], "failed");
    assert_eq!(s01["transcript"], "");
    let s04 = runs
        .iter()
        .find(|r| r["sample_id"] == "s04")
        .expect("s04 recorded");
    assert_eq!(s04["status"], "incomplete");
    assert_eq!(s04["transcript"], "半句话");

    let exported = read_jsonl(&ws.path("out.jsonl"));
    let questions: Vec<&str> = exported
        .iter()
        .map(|r| r["conversations"][0]["value"].as_str().expect("q"))
        .collect();
    assert_eq!(questions, ["问题 0", "问题 3"]);

    // The key went to the server, and nowhere else.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {KEY}")))
    );
    for text in [
        err,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(ws.path(".moss/runs.jsonl")).expect("runs"),
        std::fs::read_to_string(ws.path("out.jsonl")).expect("out"),
    ] {
        assert!(!text.contains(KEY));
    }
}

#[test]
fn requests_per_minute_space_the_requests() {
    let server = MockServer::start_background(|req: &Request| {
        Reply::text(&answer_to(req.question().unwrap_or_default()))
    });
    let ws = Workspace::with_mock(&server);
    let samples = ws.samples(4);
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
        "--concurrency",
        "4",
        "--rpm",
        "120",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let times: Vec<Instant> = server.requests().iter().map(|r| r.received_at).collect();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        // 120 per minute is one every 500 ms, sent; the server sees them arrive, and one may
        // take longer on its way than the next (a new connection on a busy machine), so only
        // half the spacing is asserted: without the limit all four arrive at once.
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(250),
            "{:?}",
            pair[1].duration_since(pair[0])
        );
    }
}

#[test]
fn a_named_provider_without_its_key_is_a_clear_error() {
    let ws = Workspace::new("");
    let samples = ws.samples(1);
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "deepseek",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "provider deepseek needs an API key: set the environment variable DEEPSEEK_API_KEY"
        ),
        "{err}"
    );
    assert!(!ws.path(".moss/runs.jsonl").exists());

    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown provider \"nope\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_sample_lines_are_reported_with_file_and_line_and_skipped() {
    let ws = Workspace::new("[teacher]\nreplay-pause-ms = 0\n");
    let samples = ws.path("mixed.jsonl");
    std::fs::write(
        &samples,
        "{\"id\":\"a\",\"question\":\"一\"}\n{broken\n{\"id\":\"a\",\"question\":\"重复\"}\n{\"id\":\"b\",\"question\":\"二\"}\n",
    )
    .expect("write");
    let out = ws.run(&["--samples", samples.to_str().expect("utf-8")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("mixed.jsonl:2: "), "{err}");
    assert!(
        err.contains("mixed.jsonl:3: sample id \"a\" repeats an earlier one; skipped"),
        "{err}"
    );
    assert_eq!(complete_ids(&ws.runs()), ["a", "b"]);
}

#[test]
fn a_new_prompt_model_exec_mode_or_question_is_run_again() {
    let server = MockServer::start_background(|req: &Request| {
        Reply::text(&answer_to(req.question().unwrap_or_default()))
    });
    let ws = Workspace::with_mock(&server);
    let samples = ws.samples(2);
    let samples_arg = samples.to_str().expect("utf-8");
    let base = ["--samples", samples_arg, "--provider", "mock"];
    let run = |extra: &[&str]| {
        let out = ws.run(&[&base[..], extra].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stderr(&out)
    };
    run(&[]);
    assert_eq!(server.request_count(), 2);
    assert!(run(&[]).contains("2 already complete, 0 run now"));
    assert_eq!(server.request_count(), 2);

    // Each of these changes the settings: both samples run again.
    run(&["--model", "other-model"]);
    assert_eq!(server.request_count(), 4);
    run(&["--exec", "fill"]);
    assert_eq!(server.request_count(), 6);
    let other_prompt = ws.path("other.md");
    std::fs::write(&other_prompt, "Answer briefly.\n").expect("prompt");
    run(&["--prompt", other_prompt.to_str().expect("utf-8")]);
    assert_eq!(server.request_count(), 8);

    // An edited question under the same id is a new sample.
    std::fs::write(
        &samples,
        "{\"id\":\"s00\",\"question\":\"问题 0\"}\n{\"id\":\"s01\",\"question\":\"改过的问题\"}\n",
    )
    .expect("edit");
    let err = run(&["--out", "out.jsonl"]);
    assert!(err.contains("1 already complete, 1 run now"), "{err}");
    assert_eq!(server.request_count(), 9);
    let exported = read_jsonl(&ws.path("out.jsonl"));
    assert_eq!(exported[1]["conversations"][0]["value"], "改过的问题");
    assert_eq!(
        exported[1]["conversations"][1]["value"],
        answer_to("改过的问题").as_str()
    );
}

#[test]
fn a_rules_change_in_moss_toml_runs_again_and_is_never_counted_with_the_old() {
    let server = MockServer::start_background(|req: &Request| {
        Reply::text(&answer_to(req.question().unwrap_or_default()))
    });
    let ws = Workspace::with_mock(&server);
    let samples = ws.samples(2);
    let args = [
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
    ];
    let out = ws.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let concise = |err: &str| {
        let line = err
            .lines()
            .find(|l| l.trim_start().starts_with("think-budget"))
            .unwrap_or_else(|| panic!("no pass rate: {err}"));
        line.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(concise(&err), "2/2", "{err}");

    // Stricter rules: a think may hold a tenth of the answer words before it, and each
    // answer's think is about as long as its first answer.
    let toml = std::fs::read_to_string(ws.path("moss.toml")).expect("moss.toml");
    std::fs::write(
        ws.path("moss.toml"),
        format!("{toml}\n[rules.think-budget]\nratio = 0.1\n"),
    )
    .expect("moss.toml");
    let out = ws.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("2 samples: 2 run now") && !err.contains("already complete"),
        "{err}"
    );
    assert_eq!(server.request_count(), 4);
    // Only the runs judged by the new rules are counted.
    assert_eq!(concise(&err), "0/2", "{err}");
    let runs = ws.runs();
    let ids: std::collections::BTreeSet<&str> = runs
        .iter()
        .map(|r| r["rules_id"].as_str().expect("rules id"))
        .collect();
    assert_eq!(ids.len(), 2, "each run records the rules that judged it");
    assert!(ids.iter().all(|id| id.len() == 16));
}

#[test]
fn repeat_runs_each_sample_n_times_and_a_larger_n_runs_only_the_difference() {
    let ws = Workspace::new("[teacher]\nreplay-pause-ms = 0\n");
    let samples = repo("samples/questions.jsonl");
    let samples = samples.to_str().expect("utf-8");
    let run = |repeat: &str| {
        let out = ws.run(&["--samples", samples, "--limit", "2", "--repeat", repeat]);
        (out.status.code(), stderr(&out))
    };
    let (code, err) = run("3");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("6 run now (6 complete"), "{err}");
    assert!(
        err.contains("2/2 samples have 3 complete runs for this prompt and settings"),
        "{err}"
    );
    let per_sample = |ws: &Workspace| {
        let mut counts = std::collections::BTreeMap::new();
        for r in ws.runs() {
            *counts
                .entry(r["sample_id"].as_str().expect("id").to_owned())
                .or_insert(0) += 1;
        }
        counts.into_values().collect::<Vec<usize>>()
    };
    assert_eq!(per_sample(&ws), [3, 3]);
    // Resumed: nothing left to run.
    let (code, err) = run("3");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("2 already have 3 complete runs, 0 run now"),
        "{err}"
    );
    // A larger N runs only what is missing.
    let (code, err) = run("4");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("2 run now"), "{err}");
    assert_eq!(per_sample(&ws), [4, 4]);
    // Zero runs is not a number of runs.
    let (code, err) = run("0");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("of 1 or more"), "{err}");
}

#[test]
fn the_summary_measures_the_interleaving_of_the_runs_made_now() {
    let server = MockServer::start_background(|req: &Request| {
        Reply::text(&answer_to(req.question().unwrap_or_default()))
    });
    let ws = Workspace::with_mock(&server);
    let samples = ws.samples(3);
    let args = [
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
    ];
    let out = ws.run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // "问题 0的回答很简单。": 问题, 0 and 的回答很简单 are nine words before the think; the
    // think 先答后想，字数要少。 is eight; after it 这就是完整的回答，谢谢提问。 is twelve.
    assert!(
        err.contains(
            "interleaving of the 3 complete runs made now: "
        ) && err.contains(
            " s to the first answer text · 9.0 answer words before the first think · longest think 8.0 words on average, 8 at most · 0.38 think words per answer word · 4.76 thinks per 100 answer words"
        ),
        "{err}"
    );
    let runs = ws.runs();
    assert!(
        runs.iter()
            .all(|r| r["timings"]["first_answer_ms"].is_u64())
    );
    // Nothing made now, nothing measured.
    let again = stderr(&ws.run(&args));
    assert!(!again.contains("interleaving of"), "{again}");
}

#[test]
fn a_run_stopped_by_a_rule_is_incomplete_with_the_rule_as_its_reason() {
    let server = MockServer::start_background(|req: &Request| {
        Reply::text(&answer_to(req.question().unwrap_or_default()))
    });
    let ws = Workspace::with_mock(&server);
    // Each answer's think is as long as its first answer: a tenth of that is over budget.
    let toml = std::fs::read_to_string(ws.path("moss.toml")).expect("moss.toml");
    std::fs::write(
        ws.path("moss.toml"),
        format!("{toml}\n[rules.think-budget]\nratio = 0.1\nstop = true\n"),
    )
    .expect("moss.toml");
    let samples = ws.samples(1);
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "not all complete: {err}");
    assert!(err.contains("0 complete, 1 incomplete"), "{err}");
    let listed = err
        .lines()
        .skip_while(|l| !l.starts_with("runs that did not complete:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no list: {err}"));
    assert!(
        listed.contains("s00")
            && listed.contains("incomplete")
            && listed.contains("stopped: think-budget failed: think #1 has "),
        "{listed}"
    );
    let runs = ws.runs();
    assert_eq!(runs[0]["status"], "incomplete");
    let transcript = runs[0]["transcript"].as_str().expect("text");
    assert!(
        transcript.contains("<think>") && !transcript.contains("这就是完整的回答"),
        "kept up to the stop: {transcript}"
    );
}

/// The first answer, long enough to be cut; what the teacher says after an interjection.
const LONG_ANSWER: &str =
    "第一段回答有很多很多的字，足够被打断了。<think>先想一想</think>后面还有很多内容不会被看到。";
const AFTER_INTERJECTION: &str = "好的，换个简单的方法：直接看结果就行。";

/// Answers the question with `LONG_ANSWER` in 3-character pieces, and a conversation that
/// holds an interjection with `AFTER_INTERJECTION`.
fn interruptible(req: &Request) -> Reply {
    if req.messages().len() > 2 {
        Reply::text(AFTER_INTERJECTION)
    } else {
        StreamReply::text(LONG_ANSWER, 3).into()
    }
}

#[test]
fn scripted_interruptions_make_two_turn_runs_and_two_turn_records() {
    let server = MockServer::start_background(interruptible);
    let ws = Workspace::with_mock(&server);
    // s00 and s01 from the flags; s02 with its own script in the samples file.
    let samples = ws.path("samples.jsonl");
    std::fs::write(
        &samples,
        [
            r#"{"id": "s00", "question": "问题 0"}"#,
            r#"{"id": "s01", "question": "问题 1"}"#,
            r#"{"id": "s02", "question": "问题 2", "interruptions": [{"after_words": 3, "text": "等等"}]}"#,
        ]
        .join("\n"),
    )
    .expect("samples");
    let out = ws.run(&[
        "--samples",
        samples.to_str().expect("utf-8"),
        "--provider",
        "mock",
        "--interrupt-after",
        "8",
        "--interjection",
        "换个简单点的方法",
        "--out",
        "out.jsonl",
        "--concurrency",
        "1",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Each sample: the cut stream and the conversation after the interjection.
    assert_eq!(server.request_count(), 6, "{err}");
    let second = server
        .requests()
        .into_iter()
        .find(|r| r.messages().len() > 2 && r.messages()[1]["content"] == "问题 0")
        .expect("the conversation after s00's interjection");
    let roles: Vec<&str> = second
        .messages()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(second.question(), Some("换个简单点的方法"));
    let cut = second.messages()[2]["content"]
        .as_str()
        .expect("the cut turn");
    assert!(LONG_ANSWER.starts_with(cut) && cut.chars().count() < LONG_ANSWER.chars().count());

    let runs = ws.runs();
    let records = read_jsonl(&ws.path("out.jsonl"));
    assert_eq!(records.len(), 3);
    for (run, record) in runs.iter().zip(&records) {
        let at = usize::try_from(run["interruptions"][0]["at"].as_u64().expect("cut at"))
            .expect("offset");
        let transcript = run["transcript"].as_str().expect("transcript");
        let cut = &transcript[..at];
        assert!(LONG_ANSWER.starts_with(cut) && !cut.is_empty(), "{cut}");
        assert_eq!(&transcript[at..], AFTER_INTERJECTION);
        let interjection = if run["sample_id"] == "s02" {
            "等等"
        } else {
            "换个简单点的方法"
        };
        assert_eq!(run["interruptions"][0]["text"], interjection);
        // The record: the question, the cut first turn, the interjection, the answer to it.
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
                ("gpt", cut),
                ("human", interjection),
                ("gpt", AFTER_INTERJECTION),
            ]
        );
    }
    // s02's own script cut it sooner than the flags cut the others.
    let at = |id: &str| {
        runs.iter()
            .find(|r| r["sample_id"] == id)
            .and_then(|r| r["interruptions"][0]["at"].as_u64())
            .expect("cut")
    };
    assert!(at("s02") < at("s00"), "{} {}", at("s02"), at("s00"));
}
