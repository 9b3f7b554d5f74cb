//! `moss check` as a user runs it: the real binary on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Every stdout line as JSON (`--json` output).
    fn records(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The one JSON record on stdout.
    fn record(&self) -> Value {
        let mut records = self.records();
        assert_eq!(records.len(), 1, "{}", self.stdout);
        records.remove(0)
    }
}

/// Runs `moss` in `dir` with no user configuration.
fn moss(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(args)
        .current_dir(dir)
        .env("MOSS_CONFIG", "")
        .output()
        .expect("moss runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// A compliant answer, an answer that opens with a think, and one with a think over budget.
fn sharegpt_lines() -> String {
    let record = |answer: &str| {
        json!({"conversations": [
            {"from": "human", "value": "1+1等于几？"},
            {"from": "gpt", "value": answer},
        ]})
        .to_string()
    };
    [
        record("1+1等于2。\n<think>在试探？</think>\n还需要别的帮助吗？"),
        record("<think>先想一想</think>等于2。"),
        record("等于2。<think>这个问题很简单但用户也许想继续问更难的问题</think>好的。"),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn human_summary_counts_rules_and_lists_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "data.jsonl", &sharegpt_lines());
    let run = moss(dir.path(), &["check", "data.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn json_mode_writes_one_object_per_record_and_the_summary_to_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let code_answer = "算一下。\n<think>需要运行代码</think>\n```python RUN\nprint(2**10)\n```\n<execute_result>\n1024\n</execute_result>\n结果是1024。";
    let lines = format!(
        "{}\n{}\n",
        json!({"messages": [{"role": "user", "content": "2的10次方？"}, {"role": "assistant", "content": code_answer}]}),
        json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello there."}]}),
    );
    write(dir.path(), "m.jsonl", &lines);
    let run = moss(dir.path(), &["check", "--json", "m.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = run.records();
    assert_eq!(records.len(), 2);
    // Rules come in report order.
    let first_line = run.stdout.lines().next().expect("a line");
    let order: Vec<usize> = ["starts-with-answer", "think-budget", "no-refusal"]
        .iter()
        .map(|id| first_line.find(id).expect("rule present"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{first_line}");
    assert_eq!(
        records[0],
        json!({
            "file": "m.jsonl",
            "line": 1,
            "segments": [
                {"kind": "answer", "words": 3},
                {"kind": "think", "words": 6},
                {"kind": "code", "words": 3, "run": true},
                {"kind": "exec_result", "words": 1},
                {"kind": "answer", "words": 4},
            ],
            "rules": {
                "starts-with-answer": "pass",
                "first-answer-concise": "pass",
                "think-budget": "fail",
                "interleaved": "pass",
                "balanced-tags": "pass",
                "think-before-code": "pass",
                "run-has-result": "pass",
                "no-model-results": "skip",
                "no-input": "pass",
                "no-refusal": "pass",
                "model-answer": "pass",
            }
        })
    );
    assert_eq!(records[1]["line"], 2);
    assert_eq!(records[1]["rules"]["interleaved"], "fail");
    assert!(
        run.stderr.contains("checked 2 records in 1 file"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_lines_are_reported_with_file_and_line_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = json!({"instruction": "q", "input": "", "output": "<think>x</think>answer"});
    let text = format!(
        "{good}\n{{\"instruction\": \"broken\n\n{good}\n{}\n",
        json!({"instruction": "q"})
    );
    write(dir.path(), "r1.jsonl", &text);
    let run = moss(dir.path(), &["check", "r1.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notes: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(notes.len(), 2, "{}", run.stderr);
    assert!(notes[0].starts_with("r1.jsonl:2: "), "{}", notes[0]);
    assert!(notes[1].starts_with("r1.jsonl:5: "), "{}", notes[1]);
    assert!(notes[1].contains("output"), "{}", notes[1]);
    assert!(
        run.stdout
            .starts_with("checked 2 records in 1 file, 2 bad records skipped"),
        "{}",
        run.stdout
    );

    let strict = moss(dir.path(), &["check", "--strict", "r1.jsonl"]);
    assert_eq!(strict.code, 2);
    assert!(strict.stderr.contains("r1.jsonl:2: "), "{}", strict.stderr);
    assert!(strict.stdout.is_empty(), "{}", strict.stdout);
}

#[test]
fn strict_exits_1_on_rule_failures_and_0_when_all_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "data.jsonl", &sharegpt_lines());
    assert_eq!(
        moss(dir.path(), &["check", "--strict", "data.jsonl"]).code,
        1
    );
    let good = json!({"text": "Yes.<think>fine</think>Done here."});
    write(dir.path(), "good.jsonl", &format!("{good}\n"));
    let run = moss(dir.path(), &["check", "--strict", "good.jsonl"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn json_arrays_are_read_like_jsonl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let array = json!([
        {"instruction": "a", "output": "Yes.<think>ok</think>Then."},
        {"instruction": "b", "output": "<think>x</think>"},
    ]);
    let pretty = serde_json::to_string_pretty(&array).expect("json");
    write(dir.path(), "data.json", &pretty);
    let run = moss(dir.path(), &["check", "--json", "data.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.records();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[1]["line"], 6);
    assert_eq!(lines[1]["rules"]["starts-with-answer"], "fail");
}

#[test]
fn r1_reasoning_variant_is_checked_as_think_then_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = json!({"input": "问题", "reasoning_content": "先想", "content": "答案"});
    write(dir.path(), "r1.jsonl", &format!("{line}\n"));
    let run = moss(dir.path(), &["check", "--json", "r1.jsonl"]);
    let record = run.record();
    assert_eq!(
        record["segments"],
        json!([{"kind": "think", "words": 2}, {"kind": "answer", "words": 2}])
    );
    assert_eq!(record["rules"]["starts-with-answer"], "fail");
}

#[test]
fn rules_file_and_workspace_config_change_the_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "data.jsonl", &sharegpt_lines());
    write(
        dir.path(),
        "strict.toml",
        "[rules.first-answer-concise]\nmax-words = 2\n[rules.no-refusal]\nenabled = false\n",
    );
    let run = moss(
        dir.path(),
        &["check", "--json", "--rules", "strict.toml", "data.jsonl"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = &run.records()[0];
    assert_eq!(first["rules"]["first-answer-concise"], "fail");
    assert!(first["rules"].get("no-refusal").is_none());

    // ./moss.toml is read too, and --rules layers over it.
    write(
        dir.path(),
        "moss.toml",
        "[rules.think-budget]\nenabled = false\n",
    );
    let run = moss(
        dir.path(),
        &["check", "--json", "--rules", "strict.toml", "data.jsonl"],
    );
    let first = &run.records()[0];
    assert!(first["rules"].get("think-budget").is_none());
    assert_eq!(first["rules"]["first-answer-concise"], "fail");
}

#[test]
fn errors_name_the_file_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = moss(dir.path(), &["check", "nope.jsonl"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.jsonl"), "{}", missing.stderr);

    write(dir.path(), "data.jsonl", &sharegpt_lines());
    write(
        dir.path(),
        "bad.toml",
        "[rules]\ncount-mode = \"syllables\"\n",
    );
    let bad_rules = moss(dir.path(), &["check", "--rules", "bad.toml", "data.jsonl"]);
    assert_eq!(bad_rules.code, 2);
    assert!(
        bad_rules.stderr.contains("bad.toml:2:14"),
        "{}",
        bad_rules.stderr
    );

    write(dir.path(), "odd.jsonl", "{\"foo\": 1}\n");
    let unknown = moss(dir.path(), &["check", "odd.jsonl"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("odd.jsonl") && unknown.stderr.contains("--format"),
        "{}",
        unknown.stderr
    );

    let usage = moss(dir.path(), &["check", "--format", "csv", "data.jsonl"]);
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("csv"), "{}", usage.stderr);

    let questions = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/questions.jsonl");
    let run = moss(
        dir.path(),
        &["check", questions.to_str().expect("utf-8 path")],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no answer to check"), "{}", run.stderr);
}

#[test]
fn a_missing_file_stops_the_check_before_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "data.jsonl", &sharegpt_lines());
    let run = moss(dir.path(), &["check", "data.jsonl", "missing.jsonl"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // One line, the cause said once.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("moss: missing.jsonl: "),
        "{}",
        run.stderr
    );
}

#[test]
fn a_check_that_stops_early_still_reports_what_it_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[\n{}\n]\ntrailing",
        json!({"text": "A.<think>b</think>C."})
    );
    write(dir.path(), "tail.json", &text);
    let run = moss(dir.path(), &["check", "tail.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("until the error below:\nchecked 1 record in 1 file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("moss: tail.json:4: "), "{}", run.stderr);
}

#[test]
fn max_failures_limits_the_examples_not_the_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "data.jsonl", &sharegpt_lines().repeat(3));
    let run = moss(dir.path(), &["check", "--max-failures", "2", "data.jsonl"]);
    assert!(
        run.stdout.contains("failures (first 2 of 9):"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("data.jsonl:").count(), 2);
}

#[test]
fn format_flag_overrides_detection() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Detected as alpaca (no `<think>` in the first output); named as text, only the `text`
    // field is read and these records are bad.
    let line = json!({"instruction": "q", "output": "Yes.", "text": "A.<think>b</think>C."});
    write(dir.path(), "d.jsonl", &format!("{line}\n"));
    let detected = moss(dir.path(), &["check", "--json", "d.jsonl"]);
    let record = detected.record();
    assert_eq!(record["rules"]["interleaved"], "fail");
    let named = moss(
        dir.path(),
        &["check", "--json", "--format", "text", "d.jsonl"],
    );
    let record = named.record();
    assert_eq!(record["rules"]["interleaved"], "pass");
}

#[test]
fn count_mode_from_config_reaches_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "d.jsonl",
        &format!("{}\n", json!({"text": "한국어 좋아요"})),
    );
    let mixed = moss(dir.path(), &["check", "--json", "d.jsonl"]);
    let record = mixed.record();
    assert_eq!(record["segments"][0]["words"], 6);
    write(dir.path(), "moss.toml", "[rules]\ncount-mode = \"words\"\n");
    let words = moss(dir.path(), &["check", "--json", "d.jsonl"]);
    let record = words.record();
    assert_eq!(record["segments"][0]["words"], 2);
}

#[test]
fn several_files_and_threads_keep_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Over 3 MiB, so several batches race through the workers and must be put back in order.
    let padding = "字".repeat(2000);
    let many: String = (0..600)
        .map(|i| {
            json!({"text": format!("Answer {i}.<think>t</think>More {padding}")}).to_string() + "\n"
        })
        .collect();
    assert!(many.len() > 3 << 20);
    write(dir.path(), "a.jsonl", &many);
    write(dir.path(), "b.jsonl", &sharegpt_lines());
    let run = moss(
        dir.path(),
        &["check", "--json", "--threads", "4", "a.jsonl", "b.jsonl"],
    );
    let order: Vec<(String, u64)> = run
        .records()
        .iter()
        .map(|v| {
            (
                v["file"].as_str().expect("file").to_owned(),
                v["line"].as_u64().expect("line"),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = (1..=600)
        .map(|l| ("a.jsonl".to_owned(), l))
        .chain((1..=3).map(|l| ("b.jsonl".to_owned(), l)))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn shipped_transcripts_check_as_documented() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/transcripts.jsonl");
    let run = moss(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["check", samples.to_str().expect("utf-8 path")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = std::fs::read_to_string(&samples)
        .expect("samples")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(
        run.stdout
            .contains(&format!("checked {records} records in 1 file\n")),
        "{}",
        run.stdout
    );
    // Every rule fails somewhere in the recordings, so every row has failures.
    for line in run.stdout.lines().skip(3).take_while(|l| !l.is_empty()) {
        let fail: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("fail count");
        let rule = line.split_whitespace().next().unwrap_or_default();
        // No recording is a placeholder, and result tags in a dataset may be anyone's.
        assert!(
            fail > 0 || rule == "no-model-results" || rule == "model-answer",
            "{line}"
        );
    }
}

#[test]
fn records_larger_than_a_batch_and_empty_files_are_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let huge = format!("开头。<think>想</think>{}", "很长的回答。".repeat(600_000));
    let lines = format!(
        "{}\n{}\n{}\n",
        json!({"text": "Short.<think>ok</think>Fine."}),
        json!({ "text": huge }),
        json!({"text": "After.<think>ok</think>Fine."}),
    );
    assert!(lines.len() > 8 << 20, "the record spans several batches");
    write(dir.path(), "big.jsonl", &lines);
    let run = moss(
        dir.path(),
        &["check", "--json", "--threads", "1", "big.jsonl"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = run.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["line"], 2);
    assert_eq!(records[1]["segments"][2]["words"], 5 * 600_000);

    write(dir.path(), "empty.jsonl", "");
    let run = moss(dir.path(), &["check", "empty.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("checked 0 records in 1 file\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn dash_reads_standard_input() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moss"))
        .args(["check", "--json", "-"])
        .current_dir(dir.path())
        .env("MOSS_CONFIG", "")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("moss starts");
    let lines = sharegpt_lines() + "not json\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("moss ends");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 3);
    assert!(stdout.contains("\"file\":\"<stdin>\""), "{stdout}");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(stderr.starts_with("<stdin>:4: "), "{stderr}");
}

#[test]
fn help_lists_the_subcommands_and_the_workbench_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = moss(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Usage: moss"), "{}", run.stdout);
    for word in [
        "check",
        "generate",
        "export",
        "replay",
        "--samples",
        "--prompt",
        "--theme",
    ] {
        assert!(run.stdout.contains(word), "{word}: {}", run.stdout);
    }
}

#[test]
fn no_subcommand_opens_the_workbench_and_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No prompt file here: the error names it and the flag.
    let run = moss(dir.path(), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("prompts/teacher.zh.md"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--prompt"), "{}", run.stderr);
    // With its files but no terminal, it says so and writes nothing to stdout.
    let root = env!("CARGO_MANIFEST_DIR");
    let run = moss(
        dir.path(),
        &[
            "--samples",
            &format!("{root}/samples/questions.jsonl"),
            "--prompt",
            &format!("{root}/prompts/teacher.zh.md"),
        ],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("terminal"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
