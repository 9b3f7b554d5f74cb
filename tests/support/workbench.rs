//! Building a workbench `App` from fixtures, pressing keys, and drawing it into a `TestBackend`.
#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use moss_thinking::exec::ExecMode;
use moss_thinking::generate::Sample;
use moss_thinking::prompt::{ModelParams, PromptFile};
use moss_thinking::run::{Run, RunStatus, SegmentSummary, ServiceEvent, Timings, prompt_id};
use moss_thinking::store::{Decision, Session};
use moss_thinking::teacher::TeacherInfo;
use moss_thinking::transcript::{CountMode, RuleContext, Rules, RulesConfig, Transcript};
use moss_thinking::tui::app::{App, Init, Settings};
use moss_thinking::tui::keymap::Keymap;
use moss_thinking::tui::theme::Theme;
use moss_thinking::tui::update::{Command, Msg, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[path = "buffer_text.rs"]
mod buffer_text;

pub const PROMPT: &str = "+++\ntemperature = 0.7\n+++\n你是老师。先回答，再思考。\n";

pub fn samples() -> Vec<Sample> {
    [
        ("q01", "天空为什么是蓝色的？", "zh science"),
        ("q02", "Compute the mean of 3, 5 and 10.", "en arith"),
        ("q03", "用Python算一下2的64次方。", "zh arith run"),
        ("q04", "What is a monad, briefly?", "en"),
    ]
    .into_iter()
    .map(|(id, question, tags)| Sample {
        id: id.to_owned(),
        question: question.to_owned(),
        tags: tags.split(' ').map(str::to_owned).collect(),
        interruptions: None,
    })
    .collect()
}

pub fn rules() -> Arc<Rules> {
    Arc::new(Rules::new(RulesConfig::default()).expect("default rules"))
}

/// A stored run of `sample` with `transcript`, judged by the default rules.
pub fn run(sample: &str, transcript: &str, status: RunStatus) -> Run {
    let rules = rules();
    let parsed = Transcript::parse(transcript, CountMode::Mixed);
    Run {
        run_id: format!("run-{sample}-{}", transcript.len()),
        sample_id: sample.to_owned(),
        question: format!("question of {sample}"),
        prompt_id: prompt_id(PROMPT),
        settings_id: "settings".to_owned(),
        rules_id: String::new(),
        teacher: TeacherInfo {
            provider: "replay".to_owned(),
            model: "recordings".to_owned(),
            replayed: true,
        },
        placeholder: false,
        params: ModelParams::default(),
        exec: ExecMode::Fill,
        status,
        error: None,
        finish_reason: Some("stop".to_owned()),
        segments: SegmentSummary::of(&parsed),
        transcript: transcript.to_owned(),
        rules: rules.evaluate(&parsed, RuleContext::Live { model_results: 0 }),
        reasoning: None,
        usage: None,
        executions: Vec::new(),
        interruptions: Vec::new(),
        timings: Timings::default(),
        stream: None,
    }
}

/// A compliant answer: answer, think within budget, answer.
pub const GOOD: &str = "天空呈蓝色，是因为瑞利散射让短波长的蓝光散射得更强。\n<think>再补一句日落。</think>\n日落时光线穿过更厚的大气，蓝光被散射掉，所以天空发红。";
/// A think far over its budget.
pub const OVER_BUDGET: &str =
    "是蓝色。\n<think>这里的思考远远超过了前面回答的字数，所以预算规则一定会失败。</think>\n好的。";

pub fn app_with(runs: Vec<Run>, decisions: Vec<Decision>, session: Session) -> App {
    app_of(samples(), runs, decisions, session)
}

/// A workbench over `samples`, with `runs` and `decisions` on disk.
pub fn app_of(
    samples: Vec<Sample>,
    runs: Vec<Run>,
    decisions: Vec<Decision>,
    session: Session,
) -> App {
    app_under(
        samples,
        runs,
        decisions,
        session,
        moss_thinking::config::Layers::default(),
    )
}

/// [`app_of`] with the configuration `layers` (a `moss.toml`, say).
pub fn app_under(
    samples: Vec<Sample>,
    runs: Vec<Run>,
    decisions: Vec<Decision>,
    session: Session,
    layers: moss_thinking::config::Layers,
) -> App {
    let prompt =
        PromptFile::parse(&PathBuf::from("prompts/teacher.zh.md"), PROMPT).expect("prompt parses");
    App::new(Init {
        samples,
        runs,
        decisions,
        session,
        prompt_path: PathBuf::from("prompts/teacher.zh.md"),
        prompt,
        prompt_text: PROMPT.to_owned(),
        prompt_texts: Vec::new(),
        settings: Settings {
            teacher: TeacherInfo {
                provider: "replay".to_owned(),
                model: "recordings".to_owned(),
                replayed: true,
            },
            exec: ExecMode::Fill,
            require: Vec::new(),
            concurrency: 2,
            reject_reasons: vec!["答案错误".to_owned(), "think over budget".to_owned()],
            theme: Theme::load("dark", None).expect("built-in theme"),
            keymap: Keymap::default(),
            rules: rules(),
            rule_layers: layers,
            workspace: PathBuf::from("/workspace"),
            log_path: None,
        },
        warnings: Vec::new(),
    })
}

pub fn app() -> App {
    app_with(Vec::new(), Vec::new(), Session::default())
}

/// A key by name: `a`, `G`, `enter`, `esc`, `tab`, `backtab`, `ctrl-s`, `down`, `space`.
pub fn key_event(name: &str) -> KeyEvent {
    let (modifiers, name) = match name.strip_prefix("ctrl-") {
        Some(rest) => (KeyModifiers::CONTROL, rest),
        None => (KeyModifiers::NONE, name),
    };
    let code = match name {
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "down" => KeyCode::Down,
        "up" => KeyCode::Up,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "backspace" => KeyCode::Backspace,
        "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "space" => KeyCode::Char(' '),
        single => {
            let mut chars = single.chars();
            let c = chars.next().expect("a key");
            assert!(chars.next().is_none(), "unknown key name {name}");
            KeyCode::Char(c)
        }
    };
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() || "?".contains(c) => {
            modifiers | KeyModifiers::SHIFT
        }
        KeyCode::BackTab => modifiers | KeyModifiers::SHIFT,
        _ => modifiers,
    };
    KeyEvent::new(code, modifiers)
}

/// Presses one key and returns the commands.
pub fn press(app: &mut App, name: &str) -> Vec<Command> {
    update(app, Msg::Key(key_event(name)))
}

/// What the run service reports: `event` applied to the workbench.
pub fn service(app: &mut App, event: ServiceEvent) -> Vec<Command> {
    update(app, Msg::Service(event))
}

/// The runs `commands` submitted, as `(key, sample id)`.
pub fn submitted(commands: &[Command]) -> Vec<(u64, String)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Submit { key, job, .. } => Some((*key, job.sample_id.clone())),
            _ => None,
        })
        .collect()
}

/// What the run service says when it gives every run `commands` submitted a slot; returns
/// them as `(key, sample id)`.
pub fn start_submitted(app: &mut App, commands: &[Command]) -> Vec<(u64, String)> {
    let runs = submitted(commands);
    for (key, _) in &runs {
        service(app, ServiceEvent::Started { key: *key });
    }
    runs
}

/// Presses `name` and starts the runs it submitted.
pub fn press_and_start(app: &mut App, name: &str) -> Vec<(u64, String)> {
    let commands = press(app, name);
    start_submitted(app, &commands)
}

/// Types every character of `text`.
pub fn type_text(app: &mut App, text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    for c in text.chars() {
        commands.extend(update(
            app,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        ));
    }
    commands
}

/// The screen as text, one line per row.
pub fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| moss_thinking::tui::view::draw(frame, app))
        .expect("draws");
    let mut out = String::new();
    for row in buffer_text::rows(terminal.backend().buffer()) {
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// A sandbox check as the runner reports it: Python works (or not), these protections missing.
pub fn sandbox_check(
    interpreter: Result<&str, &str>,
    missing: &[(moss_thinking::exec::Protection, &str)],
) -> moss_thinking::exec::SandboxCheck {
    use moss_thinking::exec::{Missing, Protections, SandboxCheck};
    SandboxCheck {
        protections: Protections::default(),
        missing: missing
            .iter()
            .map(|(protection, reason)| Missing {
                protection: *protection,
                reason: (*reason).to_owned(),
            })
            .collect(),
        interpreter: interpreter.map(str::to_owned).map_err(str::to_owned),
    }
}

/// The sizes every screen is checked at.
pub const SIZES: [(u16, u16); 2] = [(100, 30), (60, 20)];

/// `app`'s screen at `width` × `height`, checked to fit: no row wider than the screen.
pub fn fitted_screen(app: &mut App, width: u16, height: u16) -> String {
    let text = screen(app, width, height);
    for row in text.lines() {
        assert!(
            unicode_width::UnicodeWidthStr::width(row) <= usize::from(width),
            "a row overflows the screen:\n{text}"
        );
    }
    text
}

/// `snapshot!(name, make)`: the screen of the app `make()` gives, at each of [`SIZES`], as the
/// insta snapshot `{name}_{width}x{height}` of the calling test file.
#[allow(unused_macros)]
macro_rules! snapshot {
    ($name:expr, $make:expr) => {
        for (width, height) in workbench::SIZES {
            let make = &$make;
            let mut app = make();
            let text = workbench::fitted_screen(&mut app, width, height);
            insta::assert_snapshot!(format!("{}_{width}x{height}", $name), text);
        }
    };
}
