//! The workbench under a fast stream:
//!
//! - `stream N`: a synthetic zh/en transcript of 100 KB, 1 MB and 4 MB (answers, thinks, python
//!   RUN blocks with results) sent in 4-byte chunks as the run service's `Run` events through the app's `update`, the
//!   whole 120×40 screen drawn (samples, transcript, rules, status bar) after every 64 chunks
//!   (about 30 frames a second on a fast stream). Reports CPU time per size and per MB: the cost
//!   must grow linearly.
//! - `stream 1 MB markdown`: the 1 MB transcript with emphasis, inline code and a table in every
//!   answer, each answer rendered as markdown while it streams.
//! - `stream 4 MB, one segment`: the same bytes as one answer without a line break, the worst case
//!   for re-wrapping the growing tail.
//! - `screen 1 MB middle`: one whole 120×40 screen with a 1 MB transcript scrolled to its middle
//!   (target ≤ 2 ms); `frame 1 MB middle`: the transcript view alone.
//! - `resize 1 MB`: the first frame after a width change, which re-wraps everything.
//! - `grid 1000 samples x 4 variants`: a cursor move and the whole 120×40 screen with the grid
//!   open (`cargo bench --bench tui -- grid` times it alone).
//!
//! - `demo frame during a 1 MB stream`: presentation mode playing back a recorded 1 MB run (4-byte
//!   pieces 1 ms apart), each frame moving the playback 64 ms (256 bytes, as a fast stream) and
//!   drawing the whole 120×40 screen: `update` + draw per frame (`cargo bench --bench tui -- demo`
//!   times it alone, and prints the mean and worst frame over the whole stream).
//!
//! Run without `--bench` (criterion's test mode) only the 100 KB stream is timed.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use moss_thinking::run::{Origin, RunEvent, RunStatus, ServiceEvent, Timeline};
use moss_thinking::store::Session;
use moss_thinking::transcript::{Rules, RulesConfig};
use moss_thinking::tui::app::{App, Layer};
use moss_thinking::tui::demo::Feed;
use moss_thinking::tui::live::LiveView;
use moss_thinking::tui::theme::Theme;
use moss_thinking::tui::update::{Msg, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

#[path = "support/synth.rs"]
mod synth;
#[path = "../tests/support/workbench.rs"]
mod workbench;

const CHUNK_BYTES: usize = 4;
const CHUNKS_PER_FRAME: usize = 64;
const AREA: Rect = Rect::new(0, 0, 120, 40);
const KB: usize = 1024;
const MB: usize = 1024 * 1024;
const FRAME_TARGET: Duration = Duration::from_millis(2);
/// Frames timed for the printed per-frame figure.
const FRAMES: u32 = 2_000;

/// One streamed chunk, as the runner delivers it: a message through the app's update.
fn feed(app: &mut App, key: u64, chunk: &str) {
    let commands = update(
        app,
        Msg::Service(ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(100),
            event: RunEvent::Text {
                text: chunk.to_owned(),
                system: false,
            },
        }),
    );
    black_box(commands);
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(AREA.width, AREA.height)).expect("test terminal")
}

/// Starts a run of the first sample and streams `chunks` into it as a run does, drawing the whole
/// screen every `CHUNKS_PER_FRAME` chunks.
fn stream(chunks: &[&str]) -> App {
    let mut app = workbench::app();
    let mut terminal = terminal();
    let Some((key, _)) = workbench::press_and_start(&mut app, "enter")
        .first()
        .cloned()
    else {
        panic!("the run starts");
    };
    for (i, chunk) in chunks.iter().enumerate() {
        feed(&mut app, key, chunk);
        if (i + 1) % CHUNKS_PER_FRAME == 0 {
            terminal
                .draw(|frame| moss_thinking::tui::view::draw(frame, &mut app))
                .expect("draws");
        }
    }
    terminal
        .draw(|frame| moss_thinking::tui::view::draw(frame, &mut app))
        .expect("draws");
    app
}

/// The same bytes as one answer segment on one line: no tag, fence or newline left.
fn one_segment(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => '‹',
            '`' => '\'',
            '\n' => ' ',
            c => c,
        })
        .collect()
}

/// The transcript with markdown in every answer: emphasis, inline code, and a small table
/// before each think, so that every answer is rendered as it streams.
fn in_markdown(text: &str) -> String {
    text.replace("复利", "**复利**")
        .replace("pandas", "`pandas`")
        .replace(
            "<think>",
            "| 组 | 平均值 |\n|:--|--:|\n| 甲 | 12.5 |\n| 乙 | 8 |\n<think>",
        )
}

/// CPU time of this thread (user + system).
fn thread_cpu() -> Duration {
    let Ok(usage) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD)
    else {
        return Duration::ZERO;
    };
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

#[allow(clippy::cast_precision_loss)] // sizes far below 2^52
fn per_mb(d: Duration, bytes: usize) -> f64 {
    d.as_secs_f64() * MB as f64 / bytes as f64
}

fn label(bytes: usize) -> String {
    if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes / KB)
    }
}

fn bench_stream(c: &mut Criterion, benching: bool) {
    let sizes: &[usize] = if benching {
        &[100 * KB, MB, 4 * MB]
    } else {
        &[100 * KB]
    };
    let mut group = c.benchmark_group("tui");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    let mut cases: Vec<(String, String)> = sizes
        .iter()
        .map(|&size| {
            let text = synth::transcript(&mut synth::Rng::new(11), size);
            (format!("stream {}", label(size)), text)
        })
        .collect();
    if benching {
        let text = one_segment(&synth::transcript(&mut synth::Rng::new(11), 4 * MB));
        cases.push(("stream 4 MB, one segment".to_owned(), text));
        let text = in_markdown(&synth::transcript(&mut synth::Rng::new(11), MB));
        cases.push(("stream 1 MB markdown".to_owned(), text));
    }
    for (name, text) in &cases {
        let chunks = synth::chunks(text, CHUNK_BYTES);
        let cpu = thread_cpu();
        let wall = Instant::now();
        let app = stream(&chunks);
        let (cpu, wall) = (thread_cpu().saturating_sub(cpu), wall.elapsed());
        let segments = app
            .active
            .values()
            .next()
            .map_or(0, |run| run.live.transcript().segments.len());
        eprintln!(
            "{name} in {CHUNK_BYTES}-byte chunks, a frame per {CHUNKS_PER_FRAME}: {:.3} s CPU ({:.3} s wall), {:.3} s per MB; {} chunks, {} segments",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            per_mb(cpu, text.len()),
            chunks.len(),
            segments,
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| black_box(stream(black_box(&chunks))));
        });
    }
    group.finish();
}

fn bench_frames(c: &mut Criterion, rules: &Arc<Rules>, theme: &Theme) {
    let text = synth::transcript(&mut synth::Rng::new(13), MB);
    let mut view = LiveView::finished(&text, None, Vec::new(), rules.clone());
    let mut buf = Buffer::empty(AREA);
    view.render(AREA, &mut buf, theme);
    let bottom = view.scroll_offset();
    view.scroll_to_top();
    view.scroll_by(isize::try_from(bottom / 2).unwrap_or(isize::MAX));
    view.render(AREA, &mut buf, theme);
    assert_eq!(view.scroll_offset(), bottom / 2);

    // Alternate between two neighbouring rows so every frame draws a different picture.
    let start = Instant::now();
    for i in 0..FRAMES {
        view.scroll_by(if i % 2 == 0 { 1 } else { -1 });
        view.render(AREA, &mut buf, theme);
    }
    let frame = start.elapsed() / FRAMES;
    eprintln!(
        "frame of 1 MB ({} rows) scrolled to the middle, 120×40: {:.1} µs (target ≤ {} ms)",
        bottom + usize::from(AREA.height),
        frame.as_secs_f64() * 1e6,
        FRAME_TARGET.as_millis(),
    );

    let narrower = Rect {
        width: AREA.width - 1,
        ..AREA
    };
    let start = Instant::now();
    for area in [narrower, AREA, narrower, AREA] {
        view.render(area, &mut buf, theme);
    }
    eprintln!(
        "first frame after a width change, 1 MB: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3 / 4.0
    );

    let mut group = c.benchmark_group("tui");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("frame 1 MB middle 120x40", |b| {
        let mut step = 1;
        b.iter(|| {
            view.scroll_by(step);
            step = -step;
            view.render(AREA, &mut buf, theme);
            black_box(&buf);
        });
    });
    group.bench_function("resize 1 MB", |b| {
        let mut wide = false;
        b.iter(|| {
            wide = !wide;
            view.render(if wide { AREA } else { narrower }, &mut buf, theme);
            black_box(&buf);
        });
    });
    group.finish();
}

/// The whole screen with a stored 1 MB run selected and scrolled to the middle of it.
fn bench_screen(c: &mut Criterion) {
    let text = synth::transcript(&mut synth::Rng::new(13), MB);
    let mut app = workbench::app_with(
        vec![workbench::run("q01", &text, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let mut terminal = terminal();
    let draw = |app: &mut App, terminal: &mut Terminal<TestBackend>| {
        terminal
            .draw(|frame| moss_thinking::tui::view::draw(frame, app))
            .expect("draws");
    };
    update(&mut app, Msg::Key(workbench::key_event("tab")));
    update(&mut app, Msg::Key(workbench::key_event("G")));
    draw(&mut app, &mut terminal);
    let bottom = live(&mut app).scroll_offset();
    live(&mut app).scroll_to_top();
    live(&mut app).scroll_by(isize::try_from(bottom / 2).unwrap_or(isize::MAX));
    draw(&mut app, &mut terminal);
    assert_eq!(live(&mut app).scroll_offset(), bottom / 2);
    let start = Instant::now();
    for i in 0..FRAMES {
        // j / k through update, as the user scrolls.
        let key = if i % 2 == 0 { "j" } else { "k" };
        update(&mut app, Msg::Key(workbench::key_event(key)));
        draw(&mut app, &mut terminal);
    }
    let frame = start.elapsed() / FRAMES;
    eprintln!(
        "whole 120×40 screen, 1 MB transcript scrolled to the middle: {:.1} µs per key + frame (target ≤ {} ms)",
        frame.as_secs_f64() * 1e6,
        FRAME_TARGET.as_millis(),
    );
    let mut group = c.benchmark_group("tui");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("screen 1 MB middle 120x40", |b| {
        let mut down = true;
        b.iter(|| {
            down = !down;
            let key = if down { "j" } else { "k" };
            update(&mut app, Msg::Key(workbench::key_event(key)));
            draw(&mut app, &mut terminal);
        });
    });
    group.finish();
}

/// The main screen over 10,000 samples, each with two runs (the earlier one accepted, the
/// latest undecided), half of them failing a rule: what a frame and a filter keystroke cost
/// when every row shows its run state beside its standing decision.
fn bench_review_list(c: &mut Criterion) {
    const SAMPLES: usize = 10_000;
    let samples: Vec<moss_thinking::dataset::Sample> = (0..SAMPLES)
        .map(|i| moss_thinking::dataset::Sample {
            id: format!("s{i:05}"),
            question: format!("第 {i} 个问题：天空为什么是蓝色的？"),
            tags: vec![if i % 3 == 0 { "zh" } else { "en" }.to_owned()],
            interruptions: None,
        })
        .collect();
    let mut runs = Vec::with_capacity(2 * SAMPLES);
    let mut decisions = Vec::with_capacity(SAMPLES);
    for sample in &samples {
        let mut earlier = workbench::run(&sample.id, workbench::GOOD, RunStatus::Complete);
        earlier.run_id = format!("{}-a", sample.id);
        decisions.push(moss_thinking::store::Decision::new(
            &earlier.run_id,
            &sample.id,
            moss_thinking::store::Verdict::Accepted,
            1,
        ));
        let text = if sample.id.ends_with(['1', '3', '5', '7', '9']) {
            workbench::OVER_BUDGET
        } else {
            workbench::GOOD
        };
        let mut latest = workbench::run(&sample.id, text, RunStatus::Complete);
        latest.run_id = format!("{}-b", sample.id);
        runs.push(earlier);
        runs.push(latest);
    }
    let mut app = workbench::app_of(samples, runs, decisions, Session::default());
    let mut terminal = terminal();
    let mut group = c.benchmark_group("tui");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("review list 10k samples frame 120x40", |b| {
        let mut down = true;
        b.iter(|| {
            down = !down;
            let key = if down { "j" } else { "k" };
            update(&mut app, Msg::Key(workbench::key_event(key)));
            terminal
                .draw(|frame| moss_thinking::tui::view::draw(frame, &mut app))
                .expect("draws");
        });
    });
    group.bench_function("review list 10k samples filter keystroke", |b| {
        b.iter(|| {
            "is:unrev fails:think -tag:zh".clone_into(&mut app.filter);
            update(&mut app, Msg::Key(workbench::key_event("/")));
            update(&mut app, Msg::Key(workbench::key_event("enter")));
            assert!(!app.visible.is_empty());
        });
    });
    group.finish();
}

/// The grid over 1,000 samples × 4 variants (prompt versions), each sample run once under
/// each, a third of the runs failing a rule: a frame (a cursor move through `update`, then
/// the whole 120×40 screen) must not work the cells out again, so it costs the rows in sight.
fn bench_grid(c: &mut Criterion) {
    const SAMPLES: usize = 1_000;
    const VARIANTS: usize = 4;
    let samples: Vec<moss_thinking::dataset::Sample> = (0..SAMPLES)
        .map(|i| moss_thinking::dataset::Sample {
            id: format!("s{i:04}"),
            question: format!("第 {i} 个问题：天空为什么是蓝色的？"),
            tags: Vec::new(),
            interruptions: None,
        })
        .collect();
    let mut runs = Vec::with_capacity(SAMPLES * VARIANTS);
    for variant in 0..VARIANTS {
        for (i, sample) in samples.iter().enumerate() {
            let text = if (i + variant) % 3 == 0 {
                workbench::OVER_BUDGET
            } else {
                workbench::GOOD
            };
            let mut run = workbench::run(&sample.id, text, RunStatus::Complete);
            run.run_id = format!("{}-{variant}", sample.id);
            run.prompt_id = format!("{variant:0>32}");
            runs.push(run);
        }
    }
    let mut app = workbench::app_of(samples, runs, Vec::new(), Session::default());
    let start = Instant::now();
    update(&mut app, Msg::Key(workbench::key_event("c")));
    eprintln!(
        "grid of {SAMPLES} samples × {VARIANTS} variants worked out in {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let mut terminal = terminal();
    let mut draw = |app: &mut App| {
        terminal
            .draw(|frame| moss_thinking::tui::view::draw(frame, app))
            .expect("draws");
    };
    draw(&mut app);
    let start = Instant::now();
    for i in 0..FRAMES {
        let key = if i % 2 == 0 { "j" } else { "k" };
        update(&mut app, Msg::Key(workbench::key_event(key)));
        draw(&mut app);
    }
    let frame = start.elapsed() / FRAMES;
    eprintln!(
        "grid {SAMPLES} samples × {VARIANTS} variants, 120×40: {:.1} µs per key + frame (target ≤ {} ms)",
        frame.as_secs_f64() * 1e6,
        FRAME_TARGET.as_millis(),
    );
    let mut group = c.benchmark_group("tui");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("grid 1000 samples x 4 variants frame 120x40", |b| {
        let mut down = true;
        b.iter(|| {
            down = !down;
            let key = if down { "j" } else { "k" };
            update(&mut app, Msg::Key(workbench::key_event(key)));
            draw(&mut app);
        });
    });
    group.finish();
}

fn live(app: &mut App) -> &mut LiveView {
    &mut app.shown.as_mut().expect("the run is shown").live
}

/// What one demo frame moves the playback by.
const DEMO_FRAME: Duration = Duration::from_millis(64);

/// The workbench in presentation mode on a recorded 1 MB run, from its start.
fn demo_app() -> App {
    let text = synth::transcript(&mut synth::Rng::new(17), MB);
    let mut record = workbench::run("q01", &text, RunStatus::Complete);
    let mut timeline = Timeline::default();
    for (ms, chunk) in (0u64..).zip(synth::chunks(&text, CHUNK_BYTES)) {
        timeline.push(Duration::from_millis(ms), chunk.len(), Origin::Teacher);
    }
    record.stream = Some(timeline);
    let mut app = workbench::app_with(vec![record], Vec::new(), Session::default());
    workbench::press(&mut app, "D");
    assert!(!demo_done(&app), "the demo plays");
    app
}

fn demo_done(app: &App) -> bool {
    match app.layers.last() {
        Some(Layer::Demo(view)) => match &view.feed {
            Feed::Playback(playback) => playback.is_done(),
            _ => true,
        },
        _ => panic!("presentation mode is open"),
    }
}

/// One frame: the playback moves, the screen is drawn.
fn demo_frame(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    black_box(update(app, Msg::Frame(DEMO_FRAME)));
    terminal
        .draw(|frame| moss_thinking::tui::view::draw(frame, app))
        .expect("draws");
}

fn bench_demo(c: &mut Criterion) {
    let mut app = demo_app();
    let mut terminal = terminal();
    let mut frames = 0u32;
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    while !demo_done(&app) {
        let frame = Instant::now();
        demo_frame(&mut app, &mut terminal);
        worst = worst.max(frame.elapsed());
        frames += 1;
    }
    let mean = start.elapsed() / frames.max(1);
    eprintln!(
        "demo frame during a 1 MB stream, 120×40: {frames} frames, {:.1} µs a frame on average, worst {:.2} ms (target ≤ {} ms)",
        mean.as_secs_f64() * 1e6,
        worst.as_secs_f64() * 1e3,
        FRAME_TARGET.as_millis(),
    );
    let mut group = c.benchmark_group("tui");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("demo frame during a 1 MB stream 120x40", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if demo_done(&app) {
                    // Played to the end: again from the start (untimed).
                    workbench::press(&mut app, "r");
                }
                let frame = Instant::now();
                demo_frame(&mut app, &mut terminal);
                total += frame.elapsed();
            }
            total
        });
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let rules = Arc::new(Rules::new(RulesConfig::default()).expect("default rules"));
    let theme = Theme::load("dark", None).expect("built-in theme");
    // `cargo bench --bench tui -- grid` times the grid alone, without the streams' setup.
    if std::env::args().skip(1).any(|arg| arg == "grid") {
        bench_grid(c);
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "demo") {
        bench_demo(c);
        return;
    }
    bench_stream(c, benching);
    if benching {
        bench_screen(c);
        bench_review_list(c);
        bench_grid(c);
        bench_frames(c, &rules, &theme);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
