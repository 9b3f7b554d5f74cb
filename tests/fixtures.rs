//! The sample fixtures: `samples/questions.jsonl` and `samples/transcripts.jsonl`.
//!
//! Every recorded transcript states the outcome it expects from each rule; this test judges each
//! one and reports every disagreement at once. It also checks that the fixtures cover what they
//! are for (both languages, compliant and non-compliant transcripts, every rule's failure path),
//! and that streaming a transcript in small chunks parses it exactly as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use moss_thinking::transcript::{
    CountMode, Outcome, RuleContext, RuleId, StreamParser, Transcript, evaluate, is_cjk,
};
use serde::Deserialize;

/// The rules a transcript's `expect` must list: all of them but `no-model-results`, which is only
/// judged on live runs.
fn expected_rules() -> impl Iterator<Item = RuleId> {
    RuleId::ALL
        .into_iter()
        // No recording is a placeholder: `model-answer` is shown failing on the replay
        // teacher's own placeholder (its unit tests) and passes on every recording.
        .filter(|id| *id != RuleId::NoModelResults && *id != RuleId::ModelAnswer)
}

/// Chunk sizes of the streaming comparison, in bytes (each cut rounded up to a char boundary).
const CHUNKS: [usize; 4] = [1, 3, 7, 16];

#[derive(Debug, Deserialize)]
struct Question {
    id: String,
    question: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    id: String,
    sample: String,
    note: String,
    text: String,
    expect: BTreeMap<String, String>,
}

/// Parses every non-blank line of `samples/<name>` as one JSON object.
fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: invalid record: {e}", path.display(), n + 1))
        })
        .collect()
}

fn questions() -> Vec<Question> {
    load("questions.jsonl")
}

fn fixtures() -> Vec<Fixture> {
    load("transcripts.jsonl")
}

fn parse(text: &str) -> Transcript {
    Transcript::parse(text, CountMode::Mixed)
}

/// Parses `text` fed in chunks of about `size` bytes, each cut at a char boundary.
fn parse_streamed(text: &str, size: usize) -> Transcript {
    let mut transcript = Transcript::new(CountMode::Mixed);
    let mut parser = StreamParser::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        for event in parser.push(&text[start..end]) {
            transcript.apply(event);
        }
        start = end;
    }
    for event in parser.finish() {
        transcript.apply(event);
    }
    transcript
}

fn assert_unique<'a>(what: &str, ids: impl IntoIterator<Item = &'a str>) {
    let mut seen = BTreeSet::new();
    let duplicates: Vec<&str> = ids.into_iter().filter(|id| !seen.insert(*id)).collect();
    assert!(
        duplicates.is_empty(),
        "duplicate {what} ids: {duplicates:?}"
    );
}

#[test]
fn questions_cover_both_languages() {
    let questions = questions();
    assert!(
        questions.len() >= 30,
        "only {} questions, want at least 30",
        questions.len()
    );
    assert_unique("question", questions.iter().map(|q| q.id.as_str()));
    let empty: Vec<&str> = questions
        .iter()
        .filter(|q| q.id.trim().is_empty() || q.question.trim().is_empty())
        .map(|q| q.id.as_str())
        .collect();
    assert!(
        empty.is_empty(),
        "questions with an empty id or text: {empty:?}"
    );
    let chinese = questions
        .iter()
        .filter(|q| q.question.chars().any(is_cjk))
        .count();
    let english = questions
        .iter()
        .filter(|q| !q.question.chars().any(is_cjk))
        .count();
    assert!(chinese > 0, "no Chinese question");
    assert!(english > 0, "no English question");
}

#[test]
fn transcripts_are_well_formed_and_cover_every_rule() {
    let questions: BTreeSet<String> = questions().into_iter().map(|q| q.id).collect();
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 12,
        "only {} transcripts, want at least 12",
        fixtures.len()
    );
    assert_unique("transcript", fixtures.iter().map(|f| f.id.as_str()));

    let mut problems = Vec::new();
    let known: BTreeSet<&str> = expected_rules().map(RuleId::as_str).collect();
    for f in &fixtures {
        if !questions.contains(&f.sample) {
            problems.push(format!("{}: sample `{}` is no question id", f.id, f.sample));
        }
        if f.note.trim().is_empty() || f.text.trim().is_empty() {
            problems.push(format!("{}: empty note or text", f.id));
        }
        for id in expected_rules() {
            if !f.expect.contains_key(id.as_str()) {
                problems.push(format!("{}: expect does not list `{id}`", f.id));
            }
        }
        for (rule, outcome) in &f.expect {
            if !known.contains(rule.as_str()) {
                problems.push(format!("{}: expect lists unknown rule `{rule}`", f.id));
            }
            if !["pass", "fail", "skip"].contains(&outcome.as_str()) {
                problems.push(format!("{}: `{rule}` expects `{outcome}`", f.id));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let compliant = fixtures
        .iter()
        .filter(|f| f.expect.values().all(|o| o != "fail"))
        .count();
    assert!(compliant > 0, "no compliant transcript");
    assert!(compliant < fixtures.len(), "no non-compliant transcript");
    let never_failing: Vec<RuleId> = expected_rules()
        .filter(|id| {
            !fixtures
                .iter()
                .any(|f| f.expect.get(id.as_str()).is_some_and(|o| o == "fail"))
        })
        .collect();
    assert!(
        never_failing.is_empty(),
        "no transcript demonstrates the failure of {never_failing:?}"
    );
}

#[test]
fn transcripts_get_the_verdicts_they_expect() {
    let mut report = String::new();
    let mut mismatches = 0usize;
    let fixtures = fixtures();
    for f in &fixtures {
        let transcript = parse(&f.text);
        let results = evaluate(&transcript, RuleContext::Dataset);
        let judged: BTreeSet<RuleId> = results.iter().map(|r| r.id).collect();
        for id in expected_rules() {
            if !judged.contains(&id) {
                mismatches += 1;
                let _ = writeln!(report, "{}: rule `{id}` was not judged", f.id);
            }
        }
        for result in &results {
            let actual = result.outcome.as_str();
            let expected = if result.id == RuleId::NoModelResults {
                Outcome::Skip.as_str()
            } else {
                match f.expect.get(result.id.as_str()) {
                    Some(expected) => expected.as_str(),
                    None => continue,
                }
            };
            if actual != expected {
                mismatches += 1;
                let _ = writeln!(
                    report,
                    "{} [{}]: `{}` expected {expected}, got {actual}: {}",
                    f.id, f.sample, result.id, result.message
                );
            }
        }
    }
    assert!(
        mismatches == 0,
        "{mismatches} rule verdicts differ from the fixtures' expectations \
         ({} transcripts):\n{report}",
        fixtures.len()
    );
}

#[test]
fn streaming_in_small_chunks_parses_like_the_whole() {
    let mut differing = Vec::new();
    for f in fixtures() {
        let whole = parse(&f.text);
        for size in CHUNKS {
            let streamed = parse_streamed(&f.text, size);
            if streamed.segments != whole.segments
                || streamed.content() != whole.content()
                || streamed.anomalies != whole.anomalies
            {
                differing.push(format!(
                    "{} in chunks of {size} bytes:\n  whole:    {:?}\n  streamed: {:?}",
                    f.id, whole.segments, streamed.segments
                ));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "streamed transcripts parse differently from whole ones:\n{}",
        differing.join("\n")
    );
}
