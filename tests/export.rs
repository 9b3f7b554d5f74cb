//! `moss export` end to end: the real binary over workspaces built with the library's own
//! writers (runs, decisions, prompt snapshots).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use moss_thinking::config::{Layers, Source};
use moss_thinking::curate::{
    self, CurateError, ExportOptions, ExportReport, SystemChoice, recheck,
};
use moss_thinking::exec::ExecMode;
use moss_thinking::export::template::{ChatTemplate, Problem, TemplateReport};
use moss_thinking::export::{ChatMessage, ExportFormat};
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{PromptVersion, Run, RunStatus, SegmentSummary, Timings, rules_id};
use moss_thinking::store::{Decision, Verdict, Workspace};
use moss_thinking::teacher::TeacherInfo;
use moss_thinking::transcript::{CountMode, RuleContext, Rules, RulesConfig, Transcript};
use serde_json::{Value, json};

const PROMPT: &str = "+++\ntemperature = 0.5\n\n[rules.first-answer-concise]\nmax-words = 80\n+++\n\n# 教师提示\n先给出简短回答，再边想边答。\n";
const PROMPT_BODY: &str = "# 教师提示\n先给出简短回答，再边想边答。\n";

/// A workspace in a temporary folder, with one saved teacher prompt.
struct Bench {
    dir: tempfile::TempDir,
    store: Workspace,
    prompt: PromptVersion,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Workspace::open(dir.path()).expect("workspace");
        let prompt = prompt(PROMPT);
        store.save_prompt(&prompt).expect("snapshot");
        Self { dir, store, prompt }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A run of `sample` under the saved prompt, appended to `runs.jsonl`.
    fn run(&self, id: &str, sample: &str, status: RunStatus) -> Run {
        let run = make_run(id, sample, status, &self.prompt.id);
        self.record(&run);
        run
    }

    fn record(&self, run: &Run) {
        self.store
            .run_log()
            .expect("run log")
            .append(run)
            .expect("append run");
    }

    fn decide(&self, run: &Run, verdict: Verdict) {
        self.write_decision(run, verdict, None, false);
    }

    /// Accepts `run` knowing it fails a rule (`A` in the workbench).
    fn accept_anyway(&self, run: &Run) {
        self.write_decision(run, Verdict::Accepted, None, true);
    }

    fn edit(&self, run: &Run, text: &str) {
        self.write_decision(run, Verdict::Edited, Some(text), false);
    }

    fn write_decision(&self, run: &Run, verdict: Verdict, text: Option<&str>, anyway: bool) {
        let rules = Rules::new(RulesConfig::default()).expect("rules");
        let decision = Decision {
            run_id: run.run_id.clone(),
            sample_id: run.sample_id.clone(),
            verdict,
            text: text.map(str::to_owned),
            rules: text.map(|t| recheck(t, &rules)).unwrap_or_default(),
            override_rules: anyway,
            reason: None,
            prompt_id: None,
            over: None,
            at_ms: 1_760_000_000_000,
        };
        self.store
            .decision_log()
            .expect("decision log")
            .append(&decision)
            .expect("append decision");
    }

    fn export(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_moss"))
            .current_dir(self.dir.path())
            .arg("export")
            .args(args)
            .env("MOSS_CONFIG", "")
            .stdin(Stdio::null())
            .output()
            .expect("moss runs")
    }

    /// Exports to `out.jsonl`, expecting success; returns its records and stderr.
    fn export_ok(&self, args: &[&str]) -> (Vec<Value>, String) {
        let mut all = vec!["--out", "out.jsonl"];
        all.extend_from_slice(args);
        let out = self.export(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        (read_jsonl(&self.path("out.jsonl")), err)
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn prompt(text: &str) -> PromptVersion {
    let body = moss_thinking::prompt::PromptFile::parse(Path::new("t.md"), text)
        .expect("prompt")
        .body;
    PromptVersion::new(text.to_owned(), body, ModelParams::default())
}

fn answer(id: &str) -> String {
    format!("{id} 的回答：天空是蓝色的。\n<think>补充原因</think>\n因为短波长的光散射更强。")
}

/// A run of `sample` recorded before runs kept the id of the rules that judged them: judged by
/// the built-in rules, with no `rules_id`.
fn make_run(id: &str, sample: &str, status: RunStatus, prompt_id: &str) -> Run {
    let transcript = answer(id);
    let parsed = Transcript::parse(&transcript, CountMode::Mixed);
    Run {
        run_id: id.to_owned(),
        sample_id: sample.to_owned(),
        question: format!("问题 {sample}：天空为什么是蓝色的？"),
        prompt_id: prompt_id.to_owned(),
        settings_id: "settings".to_owned(),
        rules_id: String::new(),
        teacher: TeacherInfo {
            provider: "siliconflow".to_owned(),
            model: "deepseek-ai/DeepSeek-V3".to_owned(),
            replayed: false,
        },
        placeholder: false,
        params: ModelParams::default(),
        exec: ExecMode::Off,
        status,
        error: (status != RunStatus::Complete).then(|| "the stream was cut off".to_owned()),
        finish_reason: (status == RunStatus::Complete).then(|| "stop".to_owned()),
        segments: SegmentSummary::of(&parsed),
        rules: moss_thinking::transcript::evaluate(&parsed, RuleContext::Live { model_results: 0 }),
        transcript,
        reasoning: None,
        usage: None,
        executions: Vec::new(),
        interruptions: Vec::new(),
        timings: Timings::default(),
        stream: None,
    }
}

/// The rules of prompt `text` under `config`: its front matter over the configuration.
fn prompt_rules(text: &str, config: &Layers) -> Rules {
    let file = moss_thinking::prompt::PromptFile::parse(Path::new("t.md"), text).expect("prompt");
    config
        .rules_with(file.front_matter.as_ref())
        .expect("rules resolve")
}

/// An exported record's `first-answer-concise` verdict in its meta: (outcome, message).
fn concise(record: &Value) -> (String, String) {
    let rules = record["meta"]["rules"].as_array().expect("meta rules");
    let verdict = rules
        .iter()
        .find(|r| r["id"] == "first-answer-concise")
        .expect("first-answer-concise judged");
    (
        verdict["outcome"].as_str().expect("outcome").to_owned(),
        verdict["message"].as_str().expect("message").to_owned(),
    )
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("export written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn answers(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["conversations"][1]["value"].as_str().expect("answer"))
        .collect()
}

#[test]
fn exactly_the_accepted_outputs_go_out_once_per_sample_in_run_order() {
    let bench = Bench::new();
    let accepted = bench.run("r1", "q1", RunStatus::Complete);
    let also_accepted = bench.run("r2", "q2", RunStatus::Complete);
    let older = bench.run("r8a", "q8", RunStatus::Complete);
    let rejected = bench.run("r3", "q3", RunStatus::Complete);
    bench.run("r4", "q4", RunStatus::Complete);
    let edited_accepted = bench.run("r5", "q5", RunStatus::Complete);
    let edited_only = bench.run("r6", "q6", RunStatus::Complete);
    let withdrawn = bench.run("r7", "q7", RunStatus::Complete);
    let newer = bench.run("r8b", "q8", RunStatus::Complete);

    bench.decide(&older, Verdict::Accepted);
    bench.decide(&also_accepted, Verdict::Accepted);
    bench.decide(&rejected, Verdict::Rejected);
    bench.edit(&edited_accepted, "改过的回答。\n<think>想</think>\n好的。");
    bench.decide(&edited_accepted, Verdict::Accepted);
    bench.edit(&edited_only, "只改未收。");
    bench.decide(&withdrawn, Verdict::Accepted);
    bench.decide(&withdrawn, Verdict::Rejected);
    bench.decide(&newer, Verdict::Accepted);
    bench.decide(&accepted, Verdict::Accepted);

    // The export replaces the old file whole and leaves no temporary file behind.
    std::fs::write(bench.path("out.jsonl"), "old\n").expect("old export");
    let (records, err) = bench.export_ok(&[]);
    let r8b = answer("r8b");
    let (r1, r2) = (answer("r1"), answer("r2"));
    assert_eq!(
        answers(&records),
        [
            r1.as_str(),
            r2.as_str(),
            r8b.as_str(),
            "改过的回答。\n<think>想</think>\n好的。"
        ]
    );
    assert_eq!(
        records[2]["conversations"][0]["value"],
        "问题 q8：天空为什么是蓝色的？"
    );
    assert!(
        err.contains("moss: exported 4 accepted outputs (1 edited) to out.jsonl (sharegpt)\n"),
        "{err}"
    );
    assert!(!err.contains("refused"), "{err}");
    assert_eq!(bench.files(), [".moss", "out.jsonl"]);
}

#[test]
fn an_accepted_run_that_did_not_complete_is_refused_and_listed() {
    let bench = Bench::new();
    let complete = bench.run("r1", "q1", RunStatus::Complete);
    let cut = bench.run("r2", "q2", RunStatus::Incomplete);
    let failed = bench.run("r3", "q3", RunStatus::Failed);
    for run in [&complete, &cut, &failed] {
        bench.decide(run, Verdict::Accepted);
    }
    let (records, err) = bench.export_ok(&[]);
    assert_eq!(answers(&records), [answer("r1")]);
    assert!(err.contains("moss: refused q2 (run r2): "), "{err}");
    assert!(err.contains("moss: refused q3 (run r3): "), "{err}");
    assert!(
        err.contains("exported 1 accepted output (0 edited) to out.jsonl (sharegpt); 2 accepted outputs refused"),
        "{err}"
    );
}

#[test]
fn only_refused_runs_accepted_is_an_error_naming_them() {
    let bench = Bench::new();
    let cut = bench.run("r2", "q2", RunStatus::Incomplete);
    bench.decide(&cut, Verdict::Accepted);
    let out = bench.export(&["--out", "out.jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "every one was refused (q2 (run r2): accepted, but the run is incomplete or failed)"
        ),
        "{err}"
    );
    assert!(!bench.path("out.jsonl").exists());
}

#[test]
fn each_format_has_its_shape_and_a_literal_system_text() {
    let bench = Bench::new();
    let run = bench.run("r1", "q1", RunStatus::Complete);
    bench.decide(&run, Verdict::Accepted);
    let question = run.question.as_str();
    let answer = run.transcript.as_str();

    let (records, _) = bench.export_ok(&[]);
    assert_eq!(
        records,
        [json!({"conversations": [
            {"from": "human", "value": question},
            {"from": "gpt", "value": answer},
        ]})]
    );
    let (records, _) = bench.export_ok(&["--format", "messages", "--system", "你是一位老师"]);
    assert_eq!(
        records,
        [json!({"messages": [
            {"role": "system", "content": "你是一位老师"},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]})]
    );
    let (records, err) = bench.export_ok(&["--format", "alpaca"]);
    assert_eq!(
        records,
        [json!({"instruction": question, "input": "", "output": answer})]
    );
    assert!(err.contains("to out.jsonl (alpaca)"), "{err}");
    let (records, _) = bench.export_ok(&["--system", "文本"]);
    assert_eq!(records[0]["system"], "文本");

    let out = bench.export(&["--out", "out.jsonl", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown export format \"csv\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn system_teacher_is_the_prompt_each_run_was_made_with_without_front_matter() {
    let bench = Bench::new();
    let other = prompt("Answer first, then think.\n");
    bench.store.save_prompt(&other).expect("snapshot");
    let first = bench.run("r1", "q1", RunStatus::Complete);
    let second = make_run("r2", "q2", RunStatus::Complete, &other.id);
    bench.record(&second);
    let third = bench.run("r3", "q3", RunStatus::Complete);
    for run in [&first, &second, &third] {
        bench.decide(run, Verdict::Accepted);
    }
    let (records, _) = bench.export_ok(&["--system", "teacher"]);
    let systems: Vec<&Value> = records.iter().map(|r| &r["system"]).collect();
    assert_eq!(
        systems,
        [
            &json!(PROMPT_BODY),
            &json!("Answer first, then think.\n"),
            &json!(PROMPT_BODY)
        ]
    );
}

#[test]
fn a_missing_teacher_prompt_is_an_error_and_the_old_file_stays() {
    let bench = Bench::new();
    let run = make_run("r1", "q1", RunStatus::Complete, "0123456789abcdef");
    bench.record(&run);
    bench.decide(&run, Verdict::Accepted);
    std::fs::write(bench.path("out.jsonl"), "old\n").expect("old export");
    let out = bench.export(&["--out", "out.jsonl", "--system", "teacher"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(".moss/prompts/0123456789abcdef.md: cannot read the teacher prompt that run r1 was made with"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(bench.path("out.jsonl")).expect("read"),
        "old\n"
    );
    assert_eq!(
        bench.files(),
        [".moss", "out.jsonl"],
        "no temporary file left"
    );

    // Without the teacher prompt the same workspace exports.
    let (records, _) = bench.export_ok(&[]);
    assert_eq!(records.len(), 1);
}

#[test]
fn with_meta_says_where_each_example_came_from() {
    let bench = Bench::new();
    let mut plain = make_run("r1", "q1", RunStatus::Complete, &bench.prompt.id);
    plain.timings.first_answer_ms = Some(1250);
    bench.record(&plain);
    let mut replayed = make_run("r2", "q2", RunStatus::Complete, &bench.prompt.id);
    replayed.teacher = TeacherInfo {
        provider: "replay".to_owned(),
        model: "recorded".to_owned(),
        replayed: true,
    };
    bench.record(&replayed);
    // The edit opens with a think: its own rules fail where the run's passed.
    let edit = "<think>先想</think>\n改过的回答。";
    bench.decide(&plain, Verdict::Accepted);
    bench.edit(&replayed, edit);
    bench.accept_anyway(&replayed);

    let (mut records, _) =
        bench.export_ok(&["--with-meta", "--format", "messages", "--include-replayed"]);
    // The interleaving measures of the text exported (JSON floats compared with a tolerance):
    // "r1 的回答：天空是蓝色的。" is 10 words, the think 4, the rest 11, so 21 answer words;
    // the edit is a think of 2, then an answer of 5.
    // The first answer text came 1.25 s into r1's stream; r2's timing is not known.
    for (record, expected, first_answer) in records
        .iter_mut()
        .zip([
            (10, 4, 4.0 / 21.0, 100.0 / 21.0),
            (0, 2, 2.0 / 5.0, 100.0 / 5.0),
        ])
        .zip([json!(1.25), Value::Null])
        .map(|((r, e), f)| (r, e, f))
    {
        let measures = record["meta"]
            .as_object_mut()
            .and_then(|m| m.remove("interleaving"))
            .expect("interleaving measures");
        let (before, longest, ratio, per_100) = expected;
        assert_eq!(measures["words_before_first_think"], before);
        assert_eq!(measures["longest_think"], longest);
        let near = |v: &Value, x: f64| v.as_f64().is_some_and(|v| (v - x).abs() < 1e-9);
        assert!(near(&measures["think_ratio"], ratio), "{measures}");
        assert!(
            near(&measures["thinks_per_100_words"], per_100),
            "{measures}"
        );
        assert_eq!(measures["seconds_to_first_answer"], first_answer);
    }
    let rules = |run: &Run| serde_json::to_value(&run.rules).expect("rules");
    // The prompt's front matter sets max-words = 80 over the built-in rules: the runs were
    // recorded without a rules id, so they and the edit are judged by those.
    let version_rules = prompt_rules(PROMPT, &Layers::default());
    let parsed = Transcript::parse(&plain.transcript, CountMode::Mixed);
    let plain_rules = version_rules.evaluate(&parsed, RuleContext::Live { model_results: 0 });
    let edited_rules = recheck(edit, &version_rules);
    assert_eq!(
        records[0]["meta"],
        json!({
            "run_id": "r1", "sample_id": "q1", "prompt_id": bench.prompt.id,
            "provider": "siliconflow", "model": "deepseek-ai/DeepSeek-V3",
            "edited": false, "replayed": false, "rules": plain_rules,
            "accepted_anyway": false, "decided_at_ms": 1_760_000_000_000u64,
        })
    );
    assert_eq!(
        concise(&records[0]).1,
        "first answer has 10 words, limit 80"
    );
    assert_eq!(
        records[1]["meta"],
        json!({
            "run_id": "r2", "sample_id": "q2", "prompt_id": bench.prompt.id,
            "provider": "replay", "model": "recorded",
            "edited": true, "replayed": true, "rules": edited_rules,
            "accepted_anyway": true, "decided_at_ms": 1_760_000_000_000u64,
        })
    );
    assert_ne!(records[1]["meta"]["rules"], rules(&replayed));
    assert_eq!(records[1]["messages"][1]["content"], edit);

    let (records, _) = bench.export_ok(&["--include-replayed"]);
    assert!(records.iter().all(|r| r.get("meta").is_none()));
    // Without --include-replayed the replay teacher's run stays out, and says so.
    let (records, err) = bench.export_ok(&[]);
    assert_eq!(records.len(), 1);
    assert!(
        err.contains(
            "moss: left out 1 run of the offline replay teacher (--include-replayed takes them)"
        ),
        "{err}"
    );
}

#[test]
fn an_accepted_output_that_fails_a_rule_is_refused_unless_accepted_anyway() {
    let bench = Bench::new();
    let good = bench.run("r1", "q1", RunStatus::Complete);
    let over = "好。\n<think>这一段思考远远超过了前面的回答字数</think>\n完。";
    let mut failing = make_run("r2", "q2", RunStatus::Complete, &bench.prompt.id);
    let parsed = Transcript::parse(over, CountMode::Mixed);
    over.clone_into(&mut failing.transcript);
    failing.segments = SegmentSummary::of(&parsed);
    failing.rules =
        moss_thinking::transcript::evaluate(&parsed, RuleContext::Live { model_results: 0 });
    bench.record(&failing);
    // An edit over budget, accepted plainly: refused too.
    let edited = bench.run("r3", "q3", RunStatus::Complete);
    bench.edit(&edited, over);
    for run in [&good, &failing, &edited] {
        bench.decide(run, Verdict::Accepted);
    }
    let (records, err) = bench.export_ok(&[]);
    assert_eq!(answers(&records), [answer("r1")]);
    assert!(
        err.contains("moss: refused q2 (run r2): fails think-budget (accept it anyway in the workbench, A, to export it)"),
        "{err}"
    );
    assert!(
        err.contains("moss: refused q3 (run r3): fails think-budget"),
        "{err}"
    );

    // Accepted anyway, both go out, marked so in the metadata.
    bench.accept_anyway(&failing);
    bench.accept_anyway(&edited);
    let (records, err) = bench.export_ok(&["--with-meta"]);
    assert_eq!(
        answers(&records),
        [answer("r1"), over.to_owned(), over.to_owned()]
    );
    assert!(!err.contains("refused"), "{err}");
    assert_eq!(records[1]["meta"]["accepted_anyway"], true);
    assert_eq!(records[0]["meta"]["accepted_anyway"], false);
}

#[test]
fn placeholders_never_leave_and_only_passing_takes_every_complete_passing_run() {
    let bench = Bench::new();
    let accepted = bench.run("r1", "q1", RunStatus::Complete);
    bench.decide(&accepted, Verdict::Accepted);
    let unreviewed = bench.run("r2", "q2", RunStatus::Complete);
    let rejected = bench.run("r3", "q3", RunStatus::Complete);
    bench.decide(&rejected, Verdict::Rejected);
    bench.run("r4", "q4", RunStatus::Incomplete);
    // A placeholder marked as such, and one recorded before the mark (known by its text).
    let mut marked = make_run("r5", "q5", RunStatus::Complete, &bench.prompt.id);
    marked.placeholder = true;
    bench.record(&marked);
    bench.decide(&marked, Verdict::Accepted);
    let mut legacy = make_run("r6", "q6", RunStatus::Complete, &bench.prompt.id);
    legacy.transcript = "[Offline replay] There is no recorded answer for this question; this is a placeholder, not a model's answer.".to_owned();
    bench.record(&legacy);
    bench.decide(&legacy, Verdict::Accepted);

    let (records, err) = bench.export_ok(&[]);
    assert_eq!(answers(&records), [answer("r1")]);
    assert!(
        err.contains(
            "moss: refused q5 (run r5): the offline replay's placeholder, not a model's answer"
        ),
        "{err}"
    );
    assert!(
        err.contains("moss: refused q6 (run r6): the offline replay's placeholder"),
        "{err}"
    );

    let (records, _) = bench.export_ok(&["--only-passing", "--include-replayed"]);
    assert_eq!(
        answers(&records),
        [answer("r1"), answer("r2")],
        "the accepted run, and the unreviewed one that passes; not the rejected, incomplete or placeholder ones"
    );
    let _ = unreviewed;
}

#[test]
fn cjk_is_written_as_utf8_not_escaped() {
    let bench = Bench::new();
    let run = bench.run("r1", "问题一", RunStatus::Complete);
    bench.decide(&run, Verdict::Accepted);
    bench.export_ok(&["--system", "系统提示", "--with-meta"]);
    let raw = std::fs::read_to_string(bench.path("out.jsonl")).expect("read");
    assert!(raw.contains("天空是蓝色的"), "{raw}");
    assert!(raw.contains("\"系统提示\""), "{raw}");
    assert!(raw.contains("\"sample_id\":\"问题一\""), "{raw}");
    assert!(!raw.contains("\\u"), "{raw}");
}

#[test]
fn nothing_accepted_is_an_error_and_the_old_file_stays() {
    let bench = Bench::new();
    let run = bench.run("r1", "q1", RunStatus::Complete);
    bench.decide(&run, Verdict::Rejected);
    std::fs::write(bench.path("out.jsonl"), "old\n").expect("old export");
    let out = bench.export(&["--out", "out.jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let store = bench.path(".moss");
    assert!(
        err.contains(&format!(
            "no exportable outputs in {}: accept outputs in the workbench first",
            store.display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(bench.path("out.jsonl")).expect("read"),
        "old\n"
    );
    assert_eq!(bench.files(), [".moss", "out.jsonl"]);
}

#[test]
fn a_folder_without_a_workspace_is_an_error_and_stays_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_moss"))
        .current_dir(dir.path())
        .args(["export", "--out", "out.jsonl"])
        .stdin(Stdio::null())
        .output()
        .expect("moss runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no workspace at "),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[test]
fn a_torn_decision_line_is_reported_by_file_and_line_and_the_rest_is_used() {
    let bench = Bench::new();
    let first = bench.run("r1", "q1", RunStatus::Complete);
    let second = bench.run("r2", "q2", RunStatus::Complete);
    bench.decide(&first, Verdict::Accepted);
    bench.decide(&second, Verdict::Accepted);
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(bench.store.decisions_path())
        .expect("journal");
    journal
        .write_all(br#"{"run_id":"r1","sample_id":"q1","verdict":"rej"#)
        .expect("tear");
    drop(journal);

    let (records, err) = bench.export_ok(&["--workspace", "."]);
    assert_eq!(answers(&records), [answer("r1"), answer("r2")]);
    assert!(
        err.contains("decisions.jsonl:3: skipped a torn last line"),
        "{err}"
    );
}

/// A prompt whose front matter leaves the rules to the configuration.
const PLAIN_PROMPT: &str = "+++\ntemperature = 0.7\n+++\n先回答，再思考。\n";

/// A first answer of fifty words (CJK characters), a short think, and more answer.
fn fifty_word_answer() -> String {
    format!("{}。\n<think>补充一句。</think>\n好的。", "天空".repeat(25))
}

/// The configuration with `moss.toml` saying `[rules.first-answer-concise] max-words = N`.
fn config_with_max_words(max_words: usize) -> (Layers, String) {
    let text = format!("[rules.first-answer-concise]\nmax-words = {max_words}\n");
    let mut layers = Layers::default();
    layers.push(Source::inline("moss.toml", text.clone()));
    (layers, text)
}

/// A complete run of `prompt` answering with `transcript`, recorded as judged by `rules`.
fn judged_run(
    id: &str,
    sample: &str,
    prompt: &PromptVersion,
    transcript: &str,
    rules: &Rules,
) -> Run {
    let mut run = make_run(id, sample, RunStatus::Complete, &prompt.id);
    let parsed = Transcript::parse(transcript, CountMode::Mixed);
    transcript.clone_into(&mut run.transcript);
    run.segments = SegmentSummary::of(&parsed);
    run.rules = rules.evaluate(&parsed, RuleContext::Live { model_results: 0 });
    run.rules_id = rules_id(rules);
    run
}

#[test]
fn with_meta_judges_runs_by_their_version_rules_under_the_current_config() {
    let bench = Bench::new();
    let plain = prompt(PLAIN_PROMPT);
    bench.store.save_prompt(&plain).expect("snapshot");
    let (forty, moss_toml) = config_with_max_words(40);
    let (sixty, _) = config_with_max_words(60);
    let under_forty = prompt_rules(PLAIN_PROMPT, &forty);
    let under_sixty = prompt_rules(PLAIN_PROMPT, &sixty);
    let answer = fifty_word_answer();

    // Recorded when moss.toml said 60: fifty words passed.
    let older = judged_run("r1", "q1", &plain, &answer, &under_sixty);
    // Recorded under exactly the current rules, with a verdict the text does not earn (fifty
    // words, limit 40): it is kept as it is.
    let mut current = judged_run("r2", "q2", &plain, &answer, &under_forty);
    for result in &mut current.rules {
        if result.id == moss_thinking::transcript::RuleId::FirstAnswerConcise {
            result.outcome = moss_thinking::transcript::Outcome::Pass;
            result.message = "recorded".to_owned();
        }
    }
    // Recorded before runs kept their rules id (judged by the built-in 120 words: passed).
    let builtin = Rules::new(RulesConfig::default()).expect("rules");
    let mut legacy = judged_run("r3", "q3", &plain, &answer, &builtin);
    legacy.rules_id = String::new();
    // Fifty words fail at forty: only what was accepted anyway leaves.
    for run in [&older, &current, &legacy] {
        bench.record(run);
    }
    bench.accept_anyway(&older);
    bench.decide(&current, Verdict::Accepted);
    bench.accept_anyway(&legacy);
    // An edit to fifty words, judged by the built-in rules when it was made (passed).
    let edited = judged_run(
        "r4",
        "q4",
        &plain,
        "好。\n<think>想</think>\n好的。",
        &builtin,
    );
    bench.record(&edited);
    bench.edit(&edited, &answer);
    bench.accept_anyway(&edited);

    std::fs::write(bench.path("moss.toml"), moss_toml).expect("moss.toml");
    let (records, err) = bench.export_ok(&["--with-meta"]);
    assert!(!err.contains("prompt "), "every snapshot is there: {err}");
    let verdicts: Vec<(String, String)> = records.iter().map(concise).collect();
    let fail_at_40 = (
        "fail".to_owned(),
        "first answer has 50 words, limit 40 (segment #1)".to_owned(),
    );
    assert_eq!(
        verdicts,
        [
            fail_at_40.clone(),
            ("pass".to_owned(), "recorded".to_owned()),
            fail_at_40.clone(),
            fail_at_40,
        ]
    );
    // The whole verdicts of a run judged again are those a run under these rules gets.
    let parsed = Transcript::parse(&answer, CountMode::Mixed);
    let fresh = under_forty.evaluate(&parsed, RuleContext::Live { model_results: 0 });
    assert_eq!(
        records[0]["meta"]["rules"],
        serde_json::to_value(&fresh).expect("json")
    );
    assert_eq!(
        records[2]["meta"]["rules"],
        serde_json::to_value(&fresh).expect("json")
    );
    assert_eq!(
        records[3]["meta"]["rules"],
        serde_json::to_value(recheck(&answer, &under_forty)).expect("json")
    );
    assert_eq!(
        records[1]["meta"]["rules"],
        serde_json::to_value(&current.rules).expect("json")
    );

    // Back at 60, the run recorded then keeps its own verdicts again.
    let (_, moss_toml) = config_with_max_words(60);
    std::fs::write(bench.path("moss.toml"), moss_toml).expect("moss.toml");
    let (records, _) = bench.export_ok(&["--with-meta"]);
    assert_eq!(
        records[0]["meta"]["rules"],
        serde_json::to_value(&older.rules).expect("json")
    );
    assert_eq!(concise(&records[2]).0, "pass");
}

#[test]
fn with_meta_judges_a_version_without_its_snapshot_by_the_config_and_says_so() {
    let bench = Bench::new();
    let (_, moss_toml) = config_with_max_words(40);
    let answer = fifty_word_answer();
    let mut run = judged_run(
        "r1",
        "q1",
        &prompt("已删除的提示。\n"),
        &answer,
        &prompt_rules(PLAIN_PROMPT, &Layers::default()),
    );
    run.prompt_id = "0123456789abcdef".to_owned();
    bench.record(&run);
    bench.accept_anyway(&run);
    std::fs::write(bench.path("moss.toml"), moss_toml).expect("moss.toml");
    let (records, err) = bench.export_ok(&["--with-meta"]);
    assert_eq!(concise(&records[0]).0, "fail", "judged by max-words = 40");
    assert!(
        err.contains("moss: prompt 0123456789abcdef: ")
            && err.contains("judged by the configuration's rules without its front matter"),
        "{err}"
    );
}

#[test]
fn a_config_whose_rules_do_not_resolve_stops_a_meta_export() {
    let bench = Bench::new();
    let run = bench.run("r1", "q1", RunStatus::Complete);
    bench.decide(&run, Verdict::Accepted);
    std::fs::write(
        bench.path("moss.toml"),
        "[rules.think-budget]\nratio = -1.0\n",
    )
    .expect("moss.toml");
    let out = bench.export(&["--out", "out.jsonl", "--with-meta"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("moss.toml:2:9: "), "{err}");
    assert!(!bench.path("out.jsonl").exists());
}

// ---------------------------------------------------------------------------------------------
// Consumer targets and the chat-template check.

/// An answer the way the teacher writes one: a short answer first, a think, code and its
/// result, another think, and more answer.
const INTERLEAVED: &str = "天空是蓝色的，因为空气把蓝光散射得更多。\n<think>想看数字：强度与波长四次方成反比。</think>\n算一下蓝光比红光强多少：\n\n```python RUN\nprint(round((700 / 450) ** 4, 2))\n```\n<execute_result>\n5.86\n</execute_result>\n\n<think>5.86 倍，够直观了。</think>\n蓝光的散射大约是红光的 5.86 倍。";

const SYSTEM: &str = "你是一位老师";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn read_fixture(path: &str) -> String {
    std::fs::read_to_string(fixture(path)).expect("fixture")
}

impl Bench {
    /// One accepted complete run of sample `q1` answering `text`.
    fn accepted(&self, text: &str) -> Run {
        let mut run = make_run("r1", "q1", RunStatus::Complete, &self.prompt.id);
        text.clone_into(&mut run.transcript);
        self.record(&run);
        self.decide(&run, Verdict::Accepted);
        run
    }

    /// [`Bench::accepted`] for a text that breaks a rule: accepted anyway.
    fn accepted_anyway(&self, text: &str) -> Run {
        let mut run = make_run("r1", "q1", RunStatus::Complete, &self.prompt.id);
        text.clone_into(&mut run.transcript);
        self.record(&run);
        self.accept_anyway(&run);
        run
    }

    /// Exports through the library, as the workbench and the binary do.
    fn export_with(
        &self,
        out: &str,
        format: ExportFormat,
        system: SystemChoice,
        check_template: Option<PathBuf>,
    ) -> Result<ExportReport, CurateError> {
        curate::export_accepted(
            &self.store,
            &ExportOptions {
                format,
                system,
                out: self.path(out),
                check_template,
                ..ExportOptions::default()
            },
        )
    }
}

#[test]
fn each_target_writes_what_its_consumer_loads() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    for format in ExportFormat::ALL {
        let name = format!("{format}.jsonl");
        let report = bench
            .export_with(&name, format, SystemChoice::Text(SYSTEM.to_owned()), None)
            .expect("exports");
        let written = std::fs::read_to_string(bench.path(&name)).expect("written");
        assert_eq!(
            written,
            read_fixture(&format!("export/{format}.jsonl")),
            "{format}: the record differs from tests/fixtures/export/{format}.jsonl"
        );
        assert_eq!(report.files[0], bench.path(&name));
        assert_eq!(
            report.training.is_some(),
            format.is_target(),
            "{format}: a training command for consumers only"
        );
        let record: Value = serde_json::from_str(written.trim_end()).expect("one JSON line");
        match format {
            ExportFormat::Trl => {
                // Every assistant message has an empty reasoning_content, and no other does.
                for message in record["messages"].as_array().expect("messages") {
                    let is_assistant = message["role"] == "assistant";
                    assert_eq!(
                        message.get("reasoning_content") == Some(&json!("")),
                        is_assistant,
                        "{message}"
                    );
                }
            }
            ExportFormat::Openai => {
                // Nothing but messages of role and content.
                let keys: Vec<&String> = record.as_object().expect("object").keys().collect();
                assert_eq!(keys, ["messages"]);
                for message in record["messages"].as_array().expect("messages") {
                    let mut keys: Vec<&String> =
                        message.as_object().expect("message").keys().collect();
                    keys.sort();
                    assert_eq!(keys, ["content", "role"]);
                    assert!(
                        ["system", "user", "assistant"]
                            .contains(&message["role"].as_str().unwrap_or("")),
                        "{message}"
                    );
                }
            }
            _ => {}
        }
    }
}

/// What LLaMA-Factory's loader does with a `dataset_info.json` entry of sharegpt records: the
/// file is `dataset_dir/file_name`, each record's `columns.messages` is a list of turns keyed by
/// the tags, alternating user and assistant from the first, and every other column named is
/// there. Returns the conversations it read.
fn load_like_llama_factory(dataset_dir: &Path, name: &str) -> Vec<Vec<(String, String)>> {
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(dataset_dir.join("dataset_info.json")).expect("dataset_info.json"),
    )
    .expect("JSON");
    let entry = &info[name];
    assert_eq!(entry["formatting"], "sharegpt", "{entry}");
    let file = dataset_dir.join(entry["file_name"].as_str().expect("file_name"));
    let tags = &entry["tags"];
    let tag = |key: &str, default: &str| tags[key].as_str().unwrap_or(default).to_owned();
    let (role, content) = (tag("role_tag", "from"), tag("content_tag", "value"));
    let (user, assistant) = (tag("user_tag", "human"), tag("assistant_tag", "gpt"));
    let columns = entry["columns"].as_object().expect("columns");
    read_jsonl(&file)
        .iter()
        .map(|record| {
            for column in columns.values() {
                let column = column.as_str().expect("column name");
                assert!(
                    record.get(column).is_some(),
                    "column {column} missing: {record}"
                );
            }
            let turns = record[columns["messages"].as_str().expect("messages column")]
                .as_array()
                .expect("turns");
            turns
                .iter()
                .enumerate()
                .map(|(i, turn)| {
                    let who = turn[&role].as_str().expect("role").to_owned();
                    let expected = if i % 2 == 0 { &user } else { &assistant };
                    assert_eq!(&who, expected, "turn {i} of {record}");
                    (who, turn[&content].as_str().expect("content").to_owned())
                })
                .collect()
        })
        .collect()
}

#[test]
fn llama_factory_gets_a_dataset_info_entry_beside_the_records_and_others_are_kept() {
    let bench = Bench::new();
    let run = bench.accepted(INTERLEAVED);
    let dir = bench.path("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("dataset_info.json"),
        read_fixture("export/dataset_info.before.json"),
    )
    .expect("existing dataset_info.json");
    let report = bench
        .export_with(
            "data/sft.jsonl",
            ExportFormat::LlamaFactory,
            SystemChoice::Text(SYSTEM.to_owned()),
            None,
        )
        .expect("exports");
    let after = read_fixture("export/dataset_info.after.json");
    assert_eq!(
        std::fs::read_to_string(dir.join("dataset_info.json")).expect("written"),
        after
    );
    assert_eq!(
        report.files,
        [dir.join("sft.jsonl"), dir.join("dataset_info.json")]
    );
    assert!(
        report.notes[0].ends_with(
            "dataset_info.json: entry \"sft\", named after sft.jsonl; 1 other entry kept"
        ),
        "{:?}",
        report.notes
    );
    let training = report.training.expect("a command");
    assert!(
        training.contains("--dataset sft --dataset_dir ")
            && training.contains("--template qwen3_nothink"),
        "{training}"
    );
    assert_eq!(
        load_like_llama_factory(&dir, "sft"),
        [vec![
            ("human".to_owned(), run.question.clone()),
            ("gpt".to_owned(), INTERLEAVED.to_owned()),
        ]]
    );

    // Again: the entry is replaced where it is, the other one stays as it was written.
    let report = bench
        .export_with(
            "data/sft.jsonl",
            ExportFormat::LlamaFactory,
            SystemChoice::Text(SYSTEM.to_owned()),
            None,
        )
        .expect("exports again");
    assert_eq!(
        std::fs::read_to_string(dir.join("dataset_info.json")).expect("written"),
        after
    );
    assert!(
        report.notes[0].contains("replacing the entry of that name"),
        "{:?}",
        report.notes
    );

    // Without a system prompt the column is not named (LLaMA-Factory would look for it).
    bench
        .export_with(
            "data/sft.jsonl",
            ExportFormat::LlamaFactory,
            SystemChoice::None,
            None,
        )
        .expect("exports without a system prompt");
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("dataset_info.json")).expect("written"),
    )
    .expect("JSON");
    assert_eq!(info["sft"]["columns"], json!({"messages": "conversations"}));
    assert_eq!(load_like_llama_factory(&dir, "sft").len(), 1);
}

#[test]
fn a_dataset_info_that_is_not_a_list_of_datasets_stops_the_export_before_anything_is_written() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    std::fs::write(bench.path("dataset_info.json"), "[1, 2]\n").expect("write");
    std::fs::write(bench.path("sft.jsonl"), "old\n").expect("old export");
    let err = bench
        .export_with(
            "sft.jsonl",
            ExportFormat::LlamaFactory,
            SystemChoice::None,
            None,
        )
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("dataset_info.json: not a JSON object of datasets"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(bench.path("sft.jsonl")).expect("read"),
        "old\n"
    );
    assert_eq!(
        std::fs::read_to_string(bench.path("dataset_info.json")).expect("read"),
        "[1, 2]\n"
    );
}

/// The problems a template check found in the one record exported.
fn check_problems(report: &ExportReport) -> Vec<Problem> {
    let template = report.template.as_ref().expect("checked");
    assert_eq!(template.records, 1);
    template
        .failures
        .iter()
        .flat_map(|f| f.problems.clone())
        .collect()
}

#[test]
fn trl_survives_a_template_that_splits_on_think_and_plain_messages_are_cut() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    let split = fixture("templates/split_think.jinja");

    let report = bench
        .export_with(
            "trl.jsonl",
            ExportFormat::Trl,
            SystemChoice::None,
            Some(split.clone()),
        )
        .expect("every answer survives");
    assert_eq!(check_problems(&report), []);
    assert!(report.template.as_ref().is_some_and(TemplateReport::passed));
    assert!(bench.path("trl.jsonl").is_file());

    for format in [
        ExportFormat::Messages,
        ExportFormat::Sharegpt,
        ExportFormat::Alpaca,
        ExportFormat::Openai,
    ] {
        let name = format!("{format}.jsonl");
        let err = bench
            .export_with(&name, format, SystemChoice::None, Some(split.clone()))
            .expect_err("the template cuts the answer");
        let CurateError::TemplateCheckFailed { report } = &err else {
            panic!("{format}: {err}");
        };
        assert!(!bench.path(&name).exists(), "{format}: nothing is written");
        let [failure] = report.failures.as_slice() else {
            panic!("{format}: {:?}", report.failures);
        };
        assert_eq!((failure.line, failure.sample_id.as_str()), (1, "q1"));
        let [
            Problem::Cut {
                answer: 1,
                chars,
                missing,
            },
        ] = failure.problems.as_slice()
        else {
            panic!("{format}: {:?}", failure.problems);
        };
        // The opening answer and everything up to the last think are named.
        let shown = missing.join(" ");
        assert!(
            shown.contains("天空是蓝色的，因为空气把蓝光散射得更多。"),
            "{shown}"
        );
        assert!(shown.contains("算一下蓝光比红光强多少"), "{shown}");
        assert!(
            *chars > "天空是蓝色的，因为空气把蓝光散射得更多。".chars().count(),
            "{chars}"
        );
        assert!(
            err.to_string().contains("1 cut, 0 with text added"),
            "{err}"
        );
    }
}

#[test]
fn an_empty_think_put_before_the_answer_is_reported_as_added() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    let err = bench
        .export_with(
            "out.jsonl",
            ExportFormat::MsSwift,
            SystemChoice::None,
            Some(fixture("templates/empty_think.jinja")),
        )
        .expect_err("text is added");
    let CurateError::TemplateCheckFailed { report } = err else {
        panic!("{err}");
    };
    assert_eq!(
        report.failures[0].problems,
        [Problem::Added {
            answer: 1,
            text: "<think>\n\n</think>\n\n".to_owned()
        }]
    );
    assert_eq!((report.cut(), report.added()), (0, 1));

    // An answer that opens with a think (against the rules, accepted anyway) gets nothing
    // added.
    let bench = Bench::new();
    bench.accepted_anyway("<think>先想</think>\n再答。");
    let report = bench
        .export_with(
            "out.jsonl",
            ExportFormat::MsSwift,
            SystemChoice::None,
            Some(fixture("templates/empty_think.jinja")),
        )
        .expect("kept whole");
    assert_eq!(check_problems(&report), []);
}

#[test]
fn a_default_system_prompt_breaks_nothing() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    for system in [SystemChoice::None, SystemChoice::Text(SYSTEM.to_owned())] {
        for format in ExportFormat::ALL {
            let report = bench
                .export_with(
                    "out.jsonl",
                    format,
                    system.clone(),
                    Some(fixture("templates/default_system.jinja")),
                )
                .unwrap_or_else(|e| panic!("{format} {system:?}: {e}"));
            assert_eq!(check_problems(&report), [], "{format} {system:?}");
        }
    }
}

#[test]
fn a_tokenizer_config_gives_its_default_template_and_tokens() {
    let config = fixture("templates/tokenizer_config.json");
    let template = ChatTemplate::load(&config).expect("loads");
    let messages = [
        ChatMessage {
            role: "user",
            content: "问",
            reasoning_content: None,
        },
        ChatMessage {
            role: "assistant",
            content: "答",
            reasoning_content: Some(""),
        },
    ];
    assert_eq!(
        template.render(&messages, false).expect("renders"),
        "<|begin|><|turn|>user\n问<|end|>\n<|turn|>assistant\n答<|end|>\n"
    );
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    let report = bench
        .export_with(
            "trl.jsonl",
            ExportFormat::Trl,
            SystemChoice::None,
            Some(config.clone()),
        )
        .expect("passes");
    assert_eq!(check_problems(&report), []);
    let err = bench
        .export_with(
            "m.jsonl",
            ExportFormat::Messages,
            SystemChoice::None,
            Some(config),
        )
        .expect_err("cut");
    assert!(
        matches!(err, CurateError::TemplateCheckFailed { .. }),
        "{err}"
    );
}

#[test]
fn check_template_exit_statuses_and_what_is_written() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    let split = fixture("templates/split_think.jinja");
    let split = split.to_str().expect("utf-8");

    // Passes: written, exit 0, the check summarised.
    let out = bench.export(&[
        "--out",
        "trl.jsonl",
        "--target",
        "trl",
        "--check-template",
        split,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1 record (1 answer): 1 kept whole, 0 cut, 0 with text added"),
        "{err}"
    );
    assert!(
        err.contains("moss: to train with trl:\npython - <<'PY'\n"),
        "{err}"
    );
    assert!(bench.path("trl.jsonl").is_file());

    // Fails: exit 1, the record and the cut text named, nothing written, an old file kept.
    std::fs::write(bench.path("m.jsonl"), "old\n").expect("old export");
    let out = bench.export(&[
        "--out",
        "m.jsonl",
        "--format",
        "messages",
        "--check-template",
        split,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("moss: m.jsonl:1 (sample q1): answer 1: the template cuts "),
        "{err}"
    );
    assert!(
        err.contains("天空是蓝色的，因为空气把蓝光散射得更多。"),
        "{err}"
    );
    assert!(
        err.contains("nothing was written (--write-anyway writes it all the same)"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(bench.path("m.jsonl")).expect("read"),
        "old\n"
    );

    // --write-anyway: written, still exit 1.
    let out = bench.export(&[
        "--out",
        "m.jsonl",
        "--format",
        "messages",
        "--check-template",
        split,
        "--write-anyway",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("written although the chat template does not keep every answer"),
        "{err}"
    );
    assert_eq!(read_jsonl(&bench.path("m.jsonl")).len(), 1);

    // A template that does not compile: exit 2, the file and line named.
    std::fs::write(
        bench.path("bad.jinja"),
        "{% for m in messages %}\n{{ m.content }\n",
    )
    .expect("write");
    let out = bench.export(&["--out", "b.jsonl", "--check-template", "bad.jinja"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.jinja:2: syntax error: "), "{err}");
    assert!(!bench.path("b.jsonl").exists());
}

#[test]
fn target_and_format_choices_are_checked_before_anything_is_read() {
    let bench = Bench::new();
    bench.accepted(INTERLEAVED);
    let refused = |args: &[&str], says: &str| {
        let out = bench.export(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(
        &[
            "--out", "o.jsonl", "--format", "messages", "--target", "trl",
        ],
        "cannot be used with",
    );
    refused(
        &["--out", "o.jsonl", "--format", "trl"],
        "give it as --target trl",
    );
    refused(
        &["--out", "o.jsonl", "--target", "alpaca"],
        "give it as --format alpaca",
    );
    refused(
        &["--out", "o.jsonl", "--target", "openai", "--with-meta"],
        "--with-meta cannot go into openai",
    );
    refused(&["--out", "o.jsonl", "--write-anyway"], "--check-template");
    assert!(!bench.path("o.jsonl").exists());

    let (records, err) = bench.export_ok(&["--target", "openai", "--system", SYSTEM]);
    assert_eq!(
        records[0]["messages"][0],
        json!({"role": "system", "content": SYSTEM})
    );
    assert!(err.contains("to out.jsonl (openai)"), "{err}");
    assert!(
        err.contains("openai api files.create -f out.jsonl -p fine-tune"),
        "{err}"
    );
}

/// A think longer than the answer before it: fails `think-budget`.
const OVER_BUDGET: &str =
    "是蓝色。\n<think>这里的思考远远超过了前面回答的字数，所以预算规则一定会失败。</think>\n好的。";

impl Bench {
    /// A complete run of `sample` answering `text`, recorded.
    fn run_with(&self, id: &str, sample: &str, text: &str) -> Run {
        let mut run = make_run(id, sample, RunStatus::Complete, &self.prompt.id);
        text.clone_into(&mut run.transcript);
        let parsed = Transcript::parse(text, CountMode::Mixed);
        run.segments = SegmentSummary::of(&parsed);
        run.rules =
            moss_thinking::transcript::evaluate(&parsed, RuleContext::Live { model_results: 0 });
        self.record(&run);
        run
    }

    /// Accepts `chosen` over `other` in a side-by-side comparison (`anyway`: knowing it fails).
    fn prefer(&self, chosen: &Run, other: &Run, anyway: bool) {
        let mut decision = Decision::new(
            &chosen.run_id,
            &chosen.sample_id,
            Verdict::Accepted,
            1_760_000_000_000,
        );
        decision.over = Some(other.run_id.clone());
        decision.override_rules = anyway;
        self.store
            .decision_log()
            .expect("decision log")
            .append(&decision)
            .expect("append decision");
    }
}

/// The keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn pairs_go_out_in_trl_and_llama_factory_preference_formats() {
    let bench = Bench::new();
    let worse = bench.run_with("r0", "q1", OVER_BUDGET);
    let better = bench.run_with("r1", "q1", INTERLEAVED);
    // Only accepts chosen over another run make pairs.
    let plain = bench.run_with("r2", "q2", INTERLEAVED);
    bench.decide(&plain, Verdict::Accepted);
    bench.prefer(&better, &worse, false);

    // Only --pairs: TRL's conversational preference format.
    let (records, err) = bench.export_ok(&["--pairs", "--system", SYSTEM]);
    assert_eq!(
        std::fs::read_to_string(bench.path("out.jsonl")).expect("written"),
        read_fixture("export/pairs-trl.jsonl"),
        "the record differs from tests/fixtures/export/pairs-trl.jsonl"
    );
    let [record] = records.as_slice() else {
        panic!("one pair: {records:?}");
    };
    assert_eq!(keys(record), ["chosen", "prompt", "rejected"]);
    assert_eq!(
        record["prompt"],
        json!([
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "问题 q1：天空为什么是蓝色的？"},
        ])
    );
    assert_eq!(
        record["chosen"],
        json!([{"role": "assistant", "content": INTERLEAVED, "reasoning_content": ""}])
    );
    assert_eq!(
        record["rejected"],
        json!([{"role": "assistant", "content": OVER_BUDGET, "reasoning_content": ""}])
    );
    assert!(
        err.contains("moss: exported 1 preference pair (0 edited)"),
        "{err}"
    );
    assert!(
        err.contains("from trl import DPOConfig, DPOTrainer"),
        "{err}"
    );

    // LLaMA-Factory: sharegpt ranking records and a "ranking": true entry, others kept.
    let dir = bench.path("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(
        dir.join("dataset_info.json"),
        read_fixture("export/dataset_info.before.json"),
    )
    .expect("existing dataset_info.json");
    let out = bench.export(&[
        "--pairs",
        "--target",
        "llama-factory",
        "--system",
        SYSTEM,
        "--out",
        "data/pairs.jsonl",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("pairs.jsonl")).expect("written"),
        read_fixture("export/pairs-llama-factory.jsonl"),
        "the record differs from tests/fixtures/export/pairs-llama-factory.jsonl"
    );
    let records = read_jsonl(&dir.join("pairs.jsonl"));
    assert_eq!(
        keys(&records[0]),
        ["chosen", "conversations", "rejected", "system"]
    );
    assert_eq!(
        records[0]["conversations"],
        json!([{"from": "human", "value": "问题 q1：天空为什么是蓝色的？"}])
    );
    assert_eq!(records[0]["system"], SYSTEM);
    assert_eq!(
        records[0]["chosen"],
        json!({"from": "gpt", "value": INTERLEAVED})
    );
    assert_eq!(
        records[0]["rejected"],
        json!({"from": "gpt", "value": OVER_BUDGET})
    );
    let info = std::fs::read_to_string(dir.join("dataset_info.json")).expect("written");
    assert_eq!(info, read_fixture("export/pairs-dataset_info.after.json"));
    let info: Value = serde_json::from_str(&info).expect("JSON");
    assert_eq!(info["pairs"]["ranking"], true);
    assert_eq!(
        info["pairs"]["columns"],
        json!({"messages": "conversations", "system": "system", "chosen": "chosen", "rejected": "rejected"})
    );
    assert!(info["identity"].is_object(), "the other entry is kept");
    assert!(
        err.contains("llamafactory-cli train --stage dpo")
            && err.contains("--dataset pairs --dataset_dir data "),
        "{err}"
    );
}

#[test]
fn pairs_with_meta_say_where_they_came_from() {
    let bench = Bench::new();
    let worse = bench.run_with("r0", "q1", OVER_BUDGET);
    let better = bench.run_with("r1", "q1", INTERLEAVED);
    bench.prefer(&better, &worse, false);
    let (records, _) = bench.export_ok(&["--pairs", "--with-meta"]);
    let meta = &records[0]["meta"];
    assert_eq!(meta["chosen_run_id"], "r1");
    assert_eq!(meta["rejected_run_id"], "r0");
    assert_eq!(meta["chosen_prompt_id"], bench.prompt.id.as_str());
    assert!(
        meta["chosen_interleaving"]["longest_think"].is_number(),
        "{meta}"
    );
    assert_eq!(keys(&records[0]), ["chosen", "meta", "prompt", "rejected"]);
}

#[test]
fn pairs_with_a_placeholder_an_incomplete_run_or_a_failing_chosen_text_are_refused() {
    let bench = Bench::new();
    // q1: over the replay's placeholder.
    let mut placeholder = make_run("p1", "q1", RunStatus::Complete, &bench.prompt.id);
    placeholder.placeholder = true;
    bench.record(&placeholder);
    let good = bench.run_with("g1", "q1", INTERLEAVED);
    bench.prefer(&good, &placeholder, false);
    // q2: the chosen text fails think-budget, not accepted anyway.
    let other = bench.run_with("o2", "q2", INTERLEAVED);
    let failing = bench.run_with("f2", "q2", OVER_BUDGET);
    bench.prefer(&failing, &other, false);
    // q3: the same, accepted anyway: it goes.
    let other3 = bench.run_with("o3", "q3", INTERLEAVED);
    let anyway = bench.run_with("f3", "q3", OVER_BUDGET);
    bench.prefer(&anyway, &other3, true);
    // q4: over a run that was cut off.
    let cut = bench.run("c4", "q4", RunStatus::Incomplete);
    let good4 = bench.run_with("g4", "q4", INTERLEAVED);
    bench.prefer(&good4, &cut, false);

    let (records, err) = bench.export_ok(&["--pairs"]);
    assert_eq!(records.len(), 1, "{err}");
    assert_eq!(records[0]["chosen"][0]["content"], OVER_BUDGET);
    assert!(
        err.contains(
            "moss: refused q1 (run g1 over p1): the rejected run is the offline replay's placeholder, not a model's answer"
        ),
        "{err}"
    );
    assert!(
        err.contains("moss: refused q2 (run f2 over o2): the chosen text fails think-budget"),
        "{err}"
    );
    assert!(
        err.contains("moss: refused q4 (run g4 over c4): the rejected run is incomplete"),
        "{err}"
    );
    assert!(!err.contains("q3 (run"), "{err}");
    assert!(err.contains("; 3 pairs refused, listed above"), "{err}");

    // Nothing left: an error, and no file.
    let bench = Bench::new();
    let mut placeholder = make_run("p1", "q1", RunStatus::Complete, &bench.prompt.id);
    placeholder.placeholder = true;
    bench.record(&placeholder);
    let good = bench.run_with("g1", "q1", INTERLEAVED);
    bench.prefer(&good, &placeholder, false);
    let out = bench.export(&["--pairs", "--out", "none.jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no preference pairs to export"), "{err}");
    assert!(!bench.path("none.jsonl").exists());
    // A layout is not a preference consumer.
    let out = bench.export(&["--pairs", "--format", "sharegpt", "--out", "x.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--pairs writes for a trainer"));
}
