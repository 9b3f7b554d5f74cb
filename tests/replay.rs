//! `moss replay`: recorded runs printed as they streamed, through the real binary (with no
//! pauses: these tests never measure wall-clock time).

#[path = "support/moss_cli.rs"]
mod moss_cli;

use moss_cli::{Bench, FAST_REPLAY, stderr};
use serde_json::Value;

/// A workspace with runs of the first three samples by the offline replay teacher.
fn bench_with_runs() -> (Bench, Vec<Value>) {
    let bench = Bench::new(FAST_REPLAY);
    let made = moss_cli::run(
        bench.moss(
            &Bench::generate_args("3")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
    );
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let runs = bench.runs();
    assert_eq!(runs.len(), 3);
    (bench, runs)
}

fn text(run: &Value) -> String {
    let transcript = run["transcript"].as_str().expect("a transcript");
    if transcript.ends_with('\n') {
        transcript.to_owned()
    } else {
        format!("{transcript}\n")
    }
}

fn id(run: &Value) -> &str {
    run["run_id"].as_str().expect("an id")
}

#[test]
fn replay_prints_each_runs_transcript_as_recorded_by_id_or_unique_prefix() {
    let (bench, runs) = bench_with_runs();
    for run in &runs {
        let stream = &run["stream"];
        // The compact form: a version, then at least two bytes of varints per piece.
        assert!(
            stream
                .as_str()
                .is_some_and(|s| s.starts_with("t1.") && s.len() > 30),
            "every run keeps its timeline: {stream}"
        );
    }
    let whole = moss_cli::run(bench.moss(&["replay", "--speed", "0", id(&runs[1])]));
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    assert_eq!(String::from_utf8_lossy(&whole.stdout), text(&runs[1]));
    assert!(whole.stderr.is_empty(), "{}", stderr(&whole));

    // Several runs, in the order asked, by the shortest unique prefix of each and --instant.
    let prefixes: Vec<String> = runs
        .iter()
        .map(|r| {
            let id = id(r);
            (1..=id.len())
                .map(|n| &id[..n])
                .find(|p| runs.iter().filter(|o| self::id(o).starts_with(p)).count() == 1)
                .expect("a unique prefix")
                .to_owned()
        })
        .collect();
    let played = moss_cli::run(bench.moss(&["replay", "--instant", &prefixes[2], &prefixes[0]]));
    assert_eq!(played.status.code(), Some(0), "{}", stderr(&played));
    assert_eq!(
        String::from_utf8_lossy(&played.stdout),
        format!("{}{}", text(&runs[2]), text(&runs[0]))
    );
}

#[test]
fn unknown_and_ambiguous_ids_are_errors_and_untimed_runs_play_at_the_replay_pace() {
    let (bench, runs) = bench_with_runs();
    let unknown = moss_cli::run(bench.moss(&["replay", "--speed", "0", "zz9"]));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(unknown.stdout.is_empty());
    assert!(
        stderr(&unknown).contains("no run zz9 in .moss/runs.jsonl"),
        "{}",
        stderr(&unknown)
    );

    // The ids begin with the time they were made: the first character is shared.
    let shared = &id(&runs[0])[..1];
    let ambiguous = moss_cli::run(bench.moss(&["replay", "--speed", "0", shared]));
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(
        stderr(&ambiguous).contains(&format!("{shared} is the start of 3 run ids")),
        "{}",
        stderr(&ambiguous)
    );

    let bad_speed = moss_cli::run(bench.moss(&["replay", "--speed", "-1", id(&runs[0])]));
    assert_eq!(bad_speed.status.code(), Some(2));

    // A run recorded before timelines were kept, and one whose transcript was edited by hand.
    let mut old = runs[0].clone();
    old.as_object_mut().expect("an object").remove("stream");
    old["run_id"] = "old-run".into();
    let mut edited = runs[1].clone();
    edited["run_id"] = "edited-run".into();
    edited["transcript"] = format!("改过的。{}", text(&runs[1])).into();
    let lines = format!("{old}\n{edited}\n");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(bench.path(".moss/runs.jsonl"))
        .expect("runs");
    std::io::Write::write_all(&mut file, lines.as_bytes()).expect("append");
    for (name, run) in [("old-run", &old), ("edited-run", &edited)] {
        let played = moss_cli::run(bench.moss(&["replay", "--speed", "0", name]));
        assert_eq!(played.status.code(), Some(0), "{}", stderr(&played));
        assert_eq!(String::from_utf8_lossy(&played.stdout), text(run));
        assert!(
            stderr(&played).contains(&format!(
                "run {name} has no recorded timing: played at the replay teacher's pace"
            )),
            "{}",
            stderr(&played)
        );
    }
}

#[test]
fn replay_outside_a_workspace_says_so() {
    let bench = Bench::new(FAST_REPLAY);
    let out = moss_cli::run(bench.moss(&["replay", "abc"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no workspace at"), "{}", stderr(&out));
}
