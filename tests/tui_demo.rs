//! Presentation mode: pure `update` tests (time only through `Msg::Frame`) and screen snapshots.

#[macro_use]
#[path = "support/workbench.rs"]
mod workbench;

use std::time::Duration;

use moss_thinking::run::{Origin, Run, RunEvent, RunStatus, ServiceEvent, Timeline};
use moss_thinking::store::Session;
use moss_thinking::tui::app::{App, Layer};
use moss_thinking::tui::demo::{Activity, DemoView, Feed, Meter};
use moss_thinking::tui::update::{Command, Msg, update};
use workbench::{app_with, fitted_screen, press, run, service, submitted};

/// A CJK answer, a think, a python RUN block and its result, more answer: each piece with the
/// millisecond it arrived at (the result is the system's, after the code ran for two seconds).
const PIECES: [(u64, &str, Origin); 7] = [
    (100, "天空是蓝色的，", Origin::Teacher),
    (200, "因为阳光被散射。\n", Origin::Teacher),
    (300, "<think>短波长", Origin::Teacher),
    (400, "散射更强。</think>\n", Origin::Teacher),
    (500, "```python RUN\nprint(2 ** 10)\n```\n", Origin::Teacher),
    (
        2500,
        "\n<execute_result>\n1024\n</execute_result>\n\n",
        Origin::System,
    ),
    (2600, "所以答案是 1024。", Origin::Teacher),
];

const STEP: Duration = Duration::from_millis(100);

/// The recorded run of `sample`: [`PIECES`] with their timing.
fn timed_run(sample: &str) -> Run {
    let text: String = PIECES.iter().map(|p| p.1).collect();
    let mut record = run(sample, &text, RunStatus::Complete);
    let mut timeline = Timeline::default();
    for (ms, piece, origin) in PIECES {
        timeline.push(Duration::from_millis(ms), piece.len(), origin);
    }
    record.stream = Some(timeline);
    record
}

/// The workbench with recorded runs of q01 and q02 (q03 and q04 have none).
fn demo_app() -> App {
    app_with(
        vec![timed_run("q01"), timed_run("q02")],
        Vec::new(),
        Session::default(),
    )
}

fn view(app: &App) -> &DemoView {
    match app.layers.last() {
        Some(Layer::Demo(view)) => view,
        other => panic!("presentation mode is not on top: {other:?}"),
    }
}

fn view_mut(app: &mut App) -> &mut DemoView {
    match app.layers.last_mut() {
        Some(Layer::Demo(view)) => view,
        _ => panic!("presentation mode is not on top"),
    }
}

/// The text shown so far.
fn shown(app: &App) -> String {
    match &view(app).feed {
        Feed::Playback(playback) => playback.live.text().to_owned(),
        Feed::Live(key) => app
            .active
            .get(key)
            .map(|run| run.live.text().to_owned())
            .unwrap_or_default(),
        Feed::Empty => String::new(),
    }
}

fn activity(app: &App) -> Activity {
    match &view(app).feed {
        Feed::Playback(playback) => Activity::of(&playback.live, true),
        Feed::Live(key) => app
            .active
            .get(key)
            .map_or(Activity::Waiting, |run| Activity::of(&run.live, true)),
        Feed::Empty => Activity::Waiting,
    }
}

fn meter(app: &App) -> Meter {
    let view = view(app);
    match &view.feed {
        Feed::Playback(playback) => Meter::of(&playback.live, &view.rules),
        _ => panic!("not a playback"),
    }
}

/// `n` frames of [`STEP`].
fn frames(app: &mut App, n: usize) -> Vec<Command> {
    let mut commands = Vec::new();
    for _ in 0..n {
        commands.extend(update(app, Msg::Frame(STEP)));
    }
    commands
}

/// The text of the pieces up to `ms`.
fn text_until(ms: u64) -> String {
    PIECES.iter().filter(|p| p.0 <= ms).map(|p| p.1).collect()
}

/// The demo opened with `D` on q01.
fn opened() -> App {
    let mut app = demo_app();
    press(&mut app, "D");
    app
}

#[test]
fn playback_moves_with_the_frames_elapsed_time_times_the_pace() {
    let mut app = opened();
    assert_eq!(shown(&app), "");
    frames(&mut app, 2);
    assert_eq!(shown(&app), text_until(200));

    let mut fast = demo_app();
    update(&mut fast, Msg::OpenDemo { pace: 2.0 });
    frames(&mut fast, 2);
    assert_eq!(shown(&fast), text_until(400), "pace 2: twice the run time");

    // `+` and `-` step the pace by 1.5.
    press(&mut app, "+");
    assert!((view(&app).pace - 1.5).abs() < 1e-9);
    press(&mut app, "-");
    press(&mut app, "-");
    assert!((view(&app).pace - 1.0 / 1.5).abs() < 1e-9);
    assert_eq!(view(&app).pace_label(), "×0.67");
}

#[test]
fn pause_stops_the_playback_and_resume_goes_on() {
    let mut app = opened();
    frames(&mut app, 1);
    press(&mut app, "space");
    assert!(view(&app).paused);
    frames(&mut app, 30);
    assert_eq!(shown(&app), text_until(100), "nothing moves while paused");
    press(&mut app, "space");
    frames(&mut app, 1);
    assert_eq!(shown(&app), text_until(200));
}

#[test]
fn the_state_word_follows_what_the_model_does() {
    let mut app = opened();
    let mut seen = vec![activity(&app)];
    for _ in 0..30 {
        frames(&mut app, 1);
        let now = activity(&app);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    assert_eq!(
        seen,
        [
            Activity::Waiting,
            Activity::Speaking,
            Activity::Thinking,
            Activity::Speaking,
            Activity::RunningCode,
            Activity::Speaking,
            Activity::Done,
        ]
    );
    assert_eq!(Activity::RunningCode.word(), "RUNNING CODE");
}

#[test]
fn the_meter_fills_with_answer_words_and_drains_as_the_think_spends_them() {
    let mut app = opened();
    frames(&mut app, 1);
    // 天空是蓝色的: six characters, the comma no word.
    assert_eq!((meter(&app).allowance, meter(&app).thinking), (6, false));
    frames(&mut app, 1);
    // …因为阳光被散射: seven more.
    assert_eq!(meter(&app).allowance, 13);
    frames(&mut app, 1);
    // <think>短波长: three spent of thirteen.
    let m = meter(&app);
    assert_eq!(
        (m.allowance, m.spent, m.remaining(), m.thinking),
        (13, 3, 10, true)
    );
    assert!(!m.overspent());
    frames(&mut app, 1);
    // The think closed with seven: a new allowance starts from nothing.
    assert_eq!((meter(&app).allowance, meter(&app).thinking), (0, false));
    frames(&mut app, 25);
    // 所以答案是 1024: five characters and a number (the code does not count).
    assert_eq!(meter(&app).allowance, 6);
}

#[test]
fn an_overspent_think_turns_the_meter_to_failure() {
    let text = "好。\n<think>这一段思考太长了</think>\n";
    let mut app = app_with(
        vec![run("q01", text, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "D");
    // Untimed: played at the replay pace; give it time to reach the think.
    let mut m = meter(&app);
    for _ in 0..50 {
        frames(&mut app, 1);
        m = meter(&app);
        if m.thinking && m.overspent() {
            break;
        }
    }
    assert!(m.thinking && m.overspent(), "{m:?}");
    assert_eq!(m.allowance, 1);
    assert!(m.label().starts_with("over budget"));
}

#[test]
fn next_and_previous_sample_play_its_latest_run_or_start_one() {
    let mut app = opened();
    frames(&mut app, 5);
    press(&mut app, "n");
    assert_eq!(app.samples[view(&app).sample].id, "q02");
    assert_eq!(app.samples[app.selected].id, "q02", "the selection follows");
    assert_eq!(shown(&app), "", "from its start");
    press(&mut app, "N");
    assert_eq!(app.samples[view(&app).sample].id, "q01");
    press(&mut app, "n");
    // q03 has no run: one is started, and followed live.
    let commands = press(&mut app, "n");
    assert_eq!(submitted(&commands).len(), 1);
    let Feed::Live(key) = view(&app).feed else {
        panic!("not live");
    };
    service(&mut app, ServiceEvent::Started { key });
    service(
        &mut app,
        ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(50),
            event: RunEvent::Text {
                text: "二的六十四次方".to_owned(),
                system: false,
            },
        },
    );
    assert_eq!(shown(&app), "二的六十四次方");
    assert_eq!(activity(&app), Activity::Speaking);
    // Back past the first sample: round to the last.
    press(&mut app, "N");
    press(&mut app, "N");
    press(&mut app, "N");
    assert_eq!(app.samples[view(&app).sample].id, "q04");
}

#[test]
fn auto_play_moves_on_after_the_end_and_a_hold() {
    let mut app = demo_app();
    update(&mut app, Msg::OpenDemo { pace: 1.0 });
    assert!(view(&app).autoplay);
    frames(&mut app, 26);
    assert_eq!(activity(&app), Activity::Done);
    frames(&mut app, 29);
    assert_eq!(app.samples[view(&app).sample].id, "q01", "still holding");
    frames(&mut app, 1);
    assert_eq!(app.samples[view(&app).sample].id, "q02");
    // Paused, it stays.
    press(&mut app, "space");
    frames(&mut app, 100);
    assert_eq!(app.samples[view(&app).sample].id, "q02");
    // Without auto-play, it stays too.
    press(&mut app, "space");
    press(&mut app, "a");
    frames(&mut app, 100);
    assert_eq!(app.samples[view(&app).sample].id, "q02");
    press(&mut app, "esc");
    assert!(app.layers.is_empty());
}

#[test]
fn restart_plays_the_run_again() {
    let mut app = opened();
    frames(&mut app, 30);
    assert_eq!(activity(&app), Activity::Done);
    press(&mut app, "r");
    assert_eq!(shown(&app), "");
    view_mut(&mut app).paused = false;
    frames(&mut app, 3);
    assert_eq!(shown(&app), text_until(300));
}

/// The demo `ms` into q01's run.
fn at(ms: u64) -> impl Fn() -> App {
    move || {
        let mut app = opened();
        let n = usize::try_from(ms / 100).expect("few frames");
        frames(&mut app, n);
        app
    }
}

#[test]
fn screens_mid_think_and_mid_code() {
    snapshot!("demo_mid_think", at(300));
    snapshot!("demo_mid_code", at(1200));
    // Wide enough for the think lane beside the answers.
    for (name, ms) in [("demo_mid_think", 300), ("demo_done", 3000)] {
        let mut app = at(ms)();
        insta::assert_snapshot!(format!("{name}_140x40"), fitted_screen(&mut app, 140, 40));
    }
}

#[test]
fn wide_screens_set_thinks_beside_the_answer() {
    let mut app = at(3000)();
    let text = fitted_screen(&mut app, 140, 40);
    let think_row = text
        .lines()
        .find(|l| l.contains("think · 7/13 words"))
        .expect("the think's head");
    let column = unicode_width::UnicodeWidthStr::width(
        &think_row[..think_row.find("think").expect("think")],
    );
    assert!(column > 90, "the think sits in the right lane:\n{text}");
    let narrow = fitted_screen(&mut app, 80, 40);
    let think_row = narrow
        .lines()
        .find(|l| l.contains("think · 7/13 words"))
        .expect("the think's head");
    assert!(
        think_row.starts_with("┆"),
        "inline with a gutter:\n{narrow}"
    );
}

#[test]
fn a_live_run_is_followed_and_shown_whole_once_saved() {
    let mut app = demo_app();
    // q03 has no run: the demo starts one and follows it.
    press(&mut app, "j");
    press(&mut app, "j");
    let commands = press(&mut app, "D");
    let started = submitted(&commands);
    let [(key, sample)] = &started[..] else {
        panic!("one run started");
    };
    let key = *key;
    assert_eq!(sample, "q03");
    assert_eq!(activity(&app), Activity::Waiting);
    service(&mut app, ServiceEvent::Started { key });
    let text = "二的六十四次方是\n<think>算一下";
    service(
        &mut app,
        ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(80),
            event: RunEvent::Text {
                text: text.to_owned(),
                system: false,
            },
        },
    );
    assert_eq!(activity(&app), Activity::Thinking);
    let whole = format!("{text}</think>\n18446744073709551616。");
    service(
        &mut app,
        ServiceEvent::Saved {
            key,
            run: Box::new(run("q03", &whole, RunStatus::Complete)),
            stored: Ok(()),
        },
    );
    frames(&mut app, 1);
    assert_eq!(shown(&app), whole);
    assert_eq!(activity(&app), Activity::Done);
}

#[test]
fn code_runs_only_where_code_is_executed() {
    let rules = std::sync::Arc::new(
        moss_thinking::transcript::Rules::new(moss_thinking::transcript::RulesConfig::default())
            .expect("rules"),
    );
    let mut live = moss_thinking::tui::live::LiveView::new(rules);
    live.push("答案如下。\n```python RUN\nprint(1)\n```\n");
    assert_eq!(Activity::of(&live, true), Activity::RunningCode);
    // With code off, the model goes on after the block: it is still speaking.
    assert_eq!(Activity::of(&live, false), Activity::Speaking);
}
