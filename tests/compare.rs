//! `moss compare` end to end: the real binary against an OpenAI-style server on loopback whose
//! answers depend on the system prompt, so each variant's verdicts are known in advance.

#[path = "support/openai_mock.rs"]
mod openai_mock;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use openai_mock::{MockServer, Reply, Request};
use serde_json::Value;

const KEY: &str = "sk-moss-compare-7d2e91";

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn with_mock(server: &MockServer) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("moss.toml"),
            format!(
                "[teacher]\nmax-retries = 0\n\n[providers.mock]\nbase-url = \"{}\"\napi-key-env = \"MOSS_MOCK_KEY\"\nmodel = \"mock-model\"\ncontinuation = \"none\"\n",
                server.base_url
            ),
        )
        .expect("moss.toml");
        // Two prompt versions: the second asks for longer thinks.
        std::fs::write(dir.path().join("v1.md"), "先回答，再简短地思考。").expect("v1");
        std::fs::write(dir.path().join("v2.md"), "LONG 先回答，再详细地思考。").expect("v2");
        let samples: Vec<String> = (0..12)
            .map(|i| {
                serde_json::json!({"id": format!("s{i:02}"), "question": format!("问题 {i}")})
                    .to_string()
            })
            .collect();
        std::fs::write(dir.path().join("samples.jsonl"), samples.join("\n") + "\n")
            .expect("samples");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn compare(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_moss"))
            .current_dir(self.dir.path())
            .args(["compare", "--samples", "samples.jsonl"])
            .args(args)
            .env("MOSS_CONFIG", "")
            .env("MOSS_MOCK_KEY", KEY)
            .env_remove("SILICONFLOW_API_KEY")
            .env_remove("DEEPSEEK_API_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("moss runs")
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

const GOOD: &str =
    "这个问题的回答很简单。\n\n<think>先答后想，字数要少。</think>\n\n这就是完整的回答，谢谢提问。";
const LONG_THINK: &str = "这个问题的回答很简单。\n\n<think>我要把每一个细节都想清楚，从头到尾仔细推敲一遍，再决定怎么往下说才最好。</think>\n\n这就是完整的回答。";

/// v1 always answers well. v2 (its system prompt starts with LONG) thinks too long: always on
/// s00–s07, on the first of each sample's requests for s08–s09, never for s10–s11.
fn teacher() -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let seen: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    move |req: &Request| {
        let question = req.question().unwrap_or_default().to_owned();
        if !req.system().is_some_and(|s| s.starts_with("LONG")) {
            return Reply::text(GOOD);
        }
        let sample: usize = question
            .trim_start_matches("问题 ")
            .parse()
            .unwrap_or(usize::MAX);
        let nth = {
            let mut seen = seen.lock().expect("lock");
            let n = seen.entry(question).or_default();
            *n += 1;
            *n
        };
        let long = sample < 8 || (sample < 10 && nth == 1);
        Reply::text(if long { LONG_THINK } else { GOOD })
    }
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn compare_scores_samples_over_repeats_finds_the_flips_and_fails_on_the_regression() {
    let server = MockServer::start_background(teacher());
    let ws = Workspace::with_mock(&server);
    let args = [
        "--variant",
        "v1.md@mock",
        "--variant",
        "v2.md@mock",
        "--repeat",
        "2",
        "--concurrency",
        "4",
        "--json",
        "--fail-on-regression",
    ];
    let out = ws.compare(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(server.request_count(), 12 * 2 * 2, "{err}");
    assert!(
        err.contains("v1.md@mock → v2.md@mock: think-budget is significantly worse"),
        "{err}"
    );
    let report = json(&out);

    let v1 = &report["variants"][0];
    assert_eq!(
        (v1["samples"].as_u64(), v1["runs"].as_u64()),
        (Some(12), Some(24))
    );
    assert!(close(&v1["all_rules"]["compliance"], 1.0), "{v1}");
    let v2 = &report["variants"][1];
    let budget = &v2["rules"]["think-budget"];
    // Per sample: eight score 0/2, two 1/2, two 2/2: (8 × 0 + 2 × 0.5 + 2 × 1) / 12.
    assert!(close(&budget["compliance"], 0.25), "{budget}");
    assert_eq!(
        budget["scores"]["s08"],
        serde_json::json!({"passed": 1, "runs": 2})
    );
    assert_eq!(
        budget["scores"]["s11"],
        serde_json::json!({"passed": 2, "runs": 2})
    );
    let (low, high) = (&budget["interval"][0], &budget["interval"][1]);
    assert!(
        low.as_f64() < Some(0.25) && high.as_f64() > Some(0.25),
        "{budget}"
    );
    // Other rules are untouched.
    assert!(close(&v2["rules"]["no-refusal"]["compliance"], 1.0));
    // The stream's timing is measured: the mock answers at once, but it is there.
    assert!(
        v2["measures"]["seconds_to_first_answer"].is_number(),
        "{v2}"
    );
    assert!(v2["measures"]["longest_think"].as_f64() > v1["measures"]["longest_think"].as_f64());

    let pair = &report["pairs"][0]["rules"]["think-budget"];
    // Ten samples got worse (s08–s09 from 2/2 to 1/2), two tied; none better.
    assert_eq!(
        (
            pair["worse"].as_u64(),
            pair["better"].as_u64(),
            pair["ties"].as_u64()
        ),
        (Some(10), Some(0), Some(2))
    );
    let newly_fail: Vec<&str> = pair["newly_fail"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        newly_fail,
        [
            "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"
        ]
    );
    // The exact two-sided sign test: 10 against 0 is 2 / 2^10.
    assert!(close(&pair["p_value"], 2.0 / 1024.0), "{pair}");
    assert_eq!(pair["regressed"], true);
    assert!(
        report["test"]
            .as_str()
            .is_some_and(|t| t.contains("sign test"))
    );

    // Again: everything is on disk, nothing is asked twice, the verdict is the same; without
    // --fail-on-regression the status is 0.
    let again = ws.compare(&args[..args.len() - 1]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(server.request_count(), 24 * 2);
    assert_eq!(json(&again)["pairs"], report["pairs"]);
}

#[test]
fn the_text_report_names_the_test_and_the_flipped_samples() {
    let server = MockServer::start_background(teacher());
    let ws = Workspace::with_mock(&server);
    let out = ws.compare(&[
        "--variant",
        "v1.md@mock",
        "--variant",
        "v2.md@mock",
        "--limit",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("v1.md@mock → v2.md@mock · two-sided exact sign test"),
        "{text}"
    );
    assert!(text.contains("newly fail: s00, s01, s02, s03"), "{text}");
    // Four against none: p = 2 / 16, not significant.
    assert!(
        text.contains("0 better, 4 worse, 0 same · p = 0.125 · no significant difference"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("s00"))
        .expect("a row per sample");
    assert!(
        row.contains("1/1") && row.contains("0/1") && row.ends_with("flipped"),
        "{row}"
    );
}

#[test]
fn a_student_runs_without_a_system_prompt_and_a_saved_version_is_named_by_its_id() {
    let server = MockServer::start_background(teacher());
    let ws = Workspace::with_mock(&server);
    let out = ws.compare(&[
        "--variant",
        "v1.md@mock",
        "--variant",
        "none@mock",
        "--limit",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests.iter().filter(|r| r.system().is_none()).count(), 2);

    // v1's snapshot is in the workspace: its id names it, and its runs are already there.
    let snapshot = std::fs::read_dir(ws.path(".moss/prompts"))
        .expect("snapshots")
        .flatten()
        .find(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with("先回答")))
        .expect("v1's snapshot");
    let id = snapshot
        .file_name()
        .to_string_lossy()
        .trim_end_matches(".md")
        .to_owned();
    let variant = format!("{}@mock", &id[..6]);
    let again = ws.compare(&["--variant", &variant, "--limit", "2", "--json"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(server.request_count(), 4, "resumed from the runs on disk");
    assert_eq!(
        json(&again)["setup"][0]["prompt_id"],
        Value::from(id.clone())
    );

    // And so does its label, as the workbench saves it.
    std::fs::write(
        ws.path(".moss/versions.jsonl"),
        format!(
            "{}\n",
            serde_json::json!({"prompt_id": id, "label": "基线", "note": "", "at_ms": 1})
        ),
    )
    .expect("versions");
    let labelled = ws.compare(&["--variant", "基线@mock", "--limit", "2", "--json"]);
    assert_eq!(labelled.status.code(), Some(0), "{}", stderr(&labelled));
    assert_eq!(server.request_count(), 4);
    assert_eq!(
        json(&labelled)["setup"][0]["prompt_id"],
        Value::from(id.clone())
    );

    let missing = ws.compare(&["--variant", "nothing-here@mock"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing)
            .contains("no prompt file and no saved prompt version named \"nothing-here\"")
    );
    let twice = ws.compare(&["--variant", "v1.md", "--variant", "v1.md"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(stderr(&twice).contains("given twice"));
    // The same prompt and teacher under two names would share their runs.
    let same = ws.compare(&["--variant", "v1.md@mock", "--variant", "./v1.md@mock"]);
    assert_eq!(same.status.code(), Some(2));
    assert!(
        stderr(&same).contains("are the same prompt answered by the same teacher"),
        "{}",
        stderr(&same)
    );
    assert!(!Path::new(&ws.path("nothing-here")).exists());
}
