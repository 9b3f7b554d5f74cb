//! The prompt history screen as drawn: versions with their figures, the selected version's
//! rules, and a character-level diff of a Chinese prompt edit, at a wide and a narrow size.

use std::sync::Arc;

#[path = "support/buffer_text.rs"]
mod buffer_text;

use buffer_text::rows;
use moss_thinking::config::{Layers, Source};
use moss_thinking::exec::ExecMode;
use moss_thinking::prompt::ModelParams;
use moss_thinking::run::{Run, RunStatus, SegmentSummary, Timings, prompt_id, rules_id};
use moss_thinking::teacher::TeacherInfo;
use moss_thinking::transcript::{
    CountMode, Outcome, RuleContext, RuleId, RuleResult, Rules, RulesConfig, Transcript,
};
use moss_thinking::tui::history::HistoryView;
use moss_thinking::tui::style::style;
use moss_thinking::tui::theme::{Role, Theme};
use proptest::prelude::*;
use ratatui::buffer::{Buffer, CellWidth as _};
use ratatui::layout::Rect;
use ratatui::style::Modifier;

const V1: &str = "+++
temperature = 0.7
+++

# 角色

你是一个乐于助人的助手：先开口回答，再在回答之间穿插简短的内心思考。

## 规则

1. 第一段必须是回答正文，用一两句话直接回应问题。
2. 之后让 <think>…</think> 与回答正文交替出现。
3. 每段思考的字数，不得超过上一段回答正文的字数。
4. 需要计算时，写 python RUN 代码块，系统会插入运行结果。
";

/// V1 with the role, rule 1 and rule 3 edited and a rule added.
const V2: &str = "+++
temperature = 0.7
+++

# 角色

你是一个严谨的数学助手：先开口回答，再在回答之间穿插简短的内心思考。

## 规则

1. 第一段必须是回答正文，用一句话直接回答问题，不要寒暄。
2. 之后让 <think>…</think> 与回答正文交替出现。
3. 每段思考的字数，不得超过从上一段思考到这里的回答正文字数。
4. 需要计算时，写 python RUN 代码块，系统会插入运行结果。
5. 代码中不要调用 input()。
";

/// The editor's prompt: V2 at a lower temperature, not run yet.
const V3: &str = "+++
temperature = 0.5
+++

# 角色

你是一个严谨的数学助手：先开口回答，再在回答之间穿插简短的内心思考。

## 规则

1. 第一段必须是回答正文，用一句话直接回答问题，不要寒暄。
2. 之后让 <think>…</think> 与回答正文交替出现。
3. 每段思考的字数，不得超过从上一段思考到这里的回答正文字数。
4. 需要计算时，写 python RUN 代码块，系统会插入运行结果。
5. 代码中不要调用 input()。
";

/// 2025-03-04 09:15:00 UTC.
const MARCH_4: u64 = 1_741_079_700_000;
const HOUR_MS: u64 = 3_600_000;

/// A run of `prompt` with the given verdicts, recorded as judged by the built-in rules (which
/// are the current rules of every prompt here: their front matter sets no rules).
fn run(prompt: &str, at: u64, status: RunStatus, fails: &[RuleId]) -> Run {
    let rules = RuleId::ALL
        .iter()
        .map(|&id| RuleResult {
            id,
            // No sample here has code: the code rules have nothing to judge.
            outcome: if matches!(id, RuleId::RunHasResult | RuleId::NoInput) {
                Outcome::Skip
            } else if fails.contains(&id) {
                Outcome::Fail
            } else {
                Outcome::Pass
            },
            message: String::new(),
            segment: None,
        })
        .collect();
    Run {
        run_id: format!("{at:x}"),
        sample_id: "s".into(),
        question: "1+1=?".into(),
        prompt_id: prompt_id(prompt),
        settings_id: "x".into(),
        rules_id: rules_id(&Rules::new(RulesConfig::default()).expect("built-in rules")),
        teacher: TeacherInfo {
            provider: "replay".into(),
            model: "replay".into(),
            replayed: true,
        },
        placeholder: false,
        params: ModelParams::default(),
        exec: ExecMode::Off,
        status,
        error: None,
        finish_reason: None,
        transcript: String::new(),
        segments: SegmentSummary::default(),
        rules,
        reasoning: None,
        usage: None,
        executions: Vec::new(),
        interruptions: Vec::new(),
        timings: Timings {
            started_at_ms: at,
            ..Timings::default()
        },
        stream: None,
    }
}

/// V1 and V2 have runs (V1 struggled with the think budget); V3 is in the editor.
fn history() -> HistoryView {
    use RuleId::{Interleaved, StartsWithAnswer, ThinkBudget};
    let runs = [
        run(V1, MARCH_4, RunStatus::Complete, &[ThinkBudget]),
        run(
            V1,
            MARCH_4 + 60_000,
            RunStatus::Complete,
            &[ThinkBudget, Interleaved],
        ),
        run(V1, MARCH_4 + 120_000, RunStatus::Complete, &[]),
        run(
            V1,
            MARCH_4 + 180_000,
            RunStatus::Incomplete,
            &[StartsWithAnswer],
        ),
        run(V2, MARCH_4 + 26 * HOUR_MS, RunStatus::Complete, &[]),
        run(
            V2,
            MARCH_4 + 27 * HOUR_MS,
            RunStatus::Complete,
            &[ThinkBudget],
        ),
        run(V2, MARCH_4 + 28 * HOUR_MS, RunStatus::Complete, &[]),
    ];
    let texts = [
        (prompt_id(V1), Arc::from(V1)),
        (prompt_id(V2), Arc::from(V2)),
    ];
    HistoryView::new(
        &runs,
        &texts,
        (&prompt_id(V3), Arc::from(V3)),
        &Layers::default(),
    )
}

fn theme() -> Theme {
    Theme::load("dark", None).expect("built-in theme")
}

fn draw(view: &mut HistoryView, width: u16, height: u16) -> Buffer {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    view.render(area, &mut buf, &theme());
    buf
}

fn screen(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// Where `needle` starts on screen: (column, row).
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let mut text = String::new();
            let mut cx = x;
            while text.len() < needle.len() && cx < area.right() {
                let symbol = buf[(cx, y)].symbol();
                text.push_str(symbol);
                cx += symbol.cell_width().max(1);
            }
            if text.starts_with(needle) {
                return Some((x, y));
            }
        }
    }
    None
}

#[test]
fn versions_are_listed_in_order_with_the_editor_prompt_last() {
    let view = history();
    let ids: Vec<&str> = view.versions().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, [prompt_id(V1), prompt_id(V2), prompt_id(V3)]);
    let v1 = &view.versions()[0];
    assert_eq!((v1.runs, v1.complete), (4, 3));
    let budget = v1
        .rules
        .iter()
        .find(|r| r.id == RuleId::ThinkBudget)
        .expect("think-budget judged");
    assert_eq!((budget.passed, budget.judged), (1, 3));
    assert_eq!(view.selected(), 2, "the editor's prompt starts selected");
}

#[test]
fn wide_view_at_100x30() {
    let mut view = history();
    view.select_prev();
    insta::assert_snapshot!(screen(&draw(&mut view, 100, 30)));
}

#[test]
fn narrow_view_at_60x20() {
    let mut view = history();
    view.select_prev();
    insta::assert_snapshot!(screen(&draw(&mut view, 60, 20)));
}

#[test]
fn marked_base_compared_with_the_editor_prompt_at_100x30() {
    let mut view = history();
    view.select_prev();
    view.select_prev();
    view.mark();
    view.select_next();
    view.select_next();
    insta::assert_snapshot!(screen(&draw(&mut view, 100, 30)));
}

#[test]
fn changed_characters_are_marked_in_the_line_colours() {
    let mut view = history();
    view.select_prev();
    let buf = draw(&mut view, 100, 30);
    let theme = theme();
    let added = style(&theme, Role::DiffAdded);
    let removed = style(&theme, Role::DiffRemoved);

    let (x, y) = find(&buf, "严谨的数学").expect("the new role line is shown");
    let changed = &buf[(x, y)];
    assert_eq!(changed.fg, added.fg.expect("added lines have a colour"));
    assert!(changed.modifier.contains(Modifier::REVERSED), "严 changed");
    // 的 was in the old line too: coloured as added, not marked.
    let kept = &buf[(x + 4, y)];
    assert_eq!(kept.symbol(), "的");
    assert!(!kept.modifier.contains(Modifier::REVERSED), "的 unchanged");

    let (x, y) = find(&buf, "乐于助人").expect("the old role line is shown");
    assert_eq!(
        buf[(x, y)].fg,
        removed.fg.expect("removed lines have a colour")
    );
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn scrolling_reaches_the_last_diff_line_and_no_further() {
    let mut view = history();
    view.select_prev();
    let before = screen(&draw(&mut view, 60, 20));
    assert!(
        !before.contains("input()"),
        "the added rule starts below the fold"
    );
    view.scroll_by(1000);
    let scrolled = view.diff_scroll();
    let after = screen(&draw(&mut view, 60, 20));
    assert!(after.contains("5. 代码中不要调用 input()。"), "{after}");
    view.scroll_by(5);
    assert_eq!(view.diff_scroll(), scrolled, "the end stays the end");
    view.scroll_by(-1000);
    assert_eq!(view.diff_scroll(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// At any size every row is exactly as wide as the screen: no wide character spills over
    /// an edge or is cut in half.
    #[test]
    fn every_size_draws_within_bounds(width in 1u16..130, height in 1u16..40, moves in 0usize..3, scroll in -5isize..40) {
        let mut view = history();
        for _ in 0..moves {
            view.select_prev();
        }
        view.scroll_by(scroll);
        let buf = draw(&mut view, width, height);
        for row in rows(&buf) {
            let cells: usize = row
                .chars()
                .map(|c| usize::from(c.to_string().as_str().cell_width()))
                .sum();
            prop_assert_eq!(cells, usize::from(width), "{:?}", row);
        }
    }
}

#[test]
fn a_version_whose_snapshot_is_gone_is_listed_and_its_diff_says_so() {
    let runs = [
        run(V1, MARCH_4, RunStatus::Complete, &[]),
        run(V2, MARCH_4 + HOUR_MS, RunStatus::Complete, &[]),
    ];
    // Only the editor's prompt (V2) is known; V1's snapshot file was deleted.
    let mut view = HistoryView::new(
        &runs,
        &[],
        (&prompt_id(V2), Arc::from(V2)),
        &Layers::default(),
    );
    view.select_prev();
    let text = screen(&draw(&mut view, 100, 30));
    let v1_row = rows(&draw(&mut view, 100, 30))
        .into_iter()
        .find(|r| r.contains(&prompt_id(V1)[..8]))
        .expect("V1 is listed");
    assert!(v1_row.contains("no snapshot"), "{v1_row}");
    assert!(text.contains("is missing"), "{text}");
}

#[test]
fn a_long_list_scrolls_to_keep_the_selection_in_view() {
    let prompts: Vec<String> = (0..12).map(|i| format!("第 {i} 版提示词\n")).collect();
    let runs: Vec<Run> = prompts
        .iter()
        .zip(0u64..)
        .map(|(p, i)| run(p, MARCH_4 + i * HOUR_MS, RunStatus::Complete, &[]))
        .collect();
    let texts: Vec<(String, Arc<str>)> = prompts
        .iter()
        .map(|p| (prompt_id(p), Arc::from(p.as_str())))
        .collect();
    let last = &prompts[11];
    let mut view = HistoryView::new(
        &runs,
        &texts,
        (&prompt_id(last), Arc::from(last.as_str())),
        &Layers::default(),
    );
    let selected_row = |view: &mut HistoryView| {
        rows(&draw(view, 60, 20))
            .into_iter()
            .find(|r| r.starts_with('>'))
            .expect("the selected version is on screen")
    };
    assert!(selected_row(&mut view).contains(&prompt_id(last)[..8]));
    for _ in 0..11 {
        view.select_prev();
    }
    assert!(selected_row(&mut view).contains(&prompt_id(&prompts[0])[..8]));
    let screen = screen(&draw(&mut view, 60, 20));
    assert!(
        screen.contains("first version, in full") && screen.contains("+ 第 0 版提示词"),
        "{screen}"
    );
}

/// The configuration with `moss.toml` saying `[rules.first-answer-concise] max-words = N`.
fn config_with_max_words(max_words: usize) -> Layers {
    let mut layers = Layers::default();
    layers.push(Source::inline(
        "moss.toml",
        format!("[rules.first-answer-concise]\nmax-words = {max_words}\n"),
    ));
    layers
}

/// A first answer of fifty words (CJK characters), a short think, and more answer.
fn fifty_word_answer() -> String {
    format!("{}。\n<think>补充一句。</think>\n好的。", "天空".repeat(25))
}

/// A complete run of V1 with `transcript`, recorded as judged by the built-in rules under
/// `config` (V1's front matter sets no rules).
fn judged_under(config: &Layers, transcript: &str, at: u64) -> Run {
    let rules = config.rules_with(None).expect("rules");
    let parsed = Transcript::parse(transcript, CountMode::Mixed);
    let mut run = run(V1, at, RunStatus::Complete, &[]);
    transcript.clone_into(&mut run.transcript);
    run.segments = SegmentSummary::of(&parsed);
    run.rules = rules.evaluate(&parsed, RuleContext::Live { model_results: 0 });
    run.rules_id = rules_id(&rules);
    run
}

/// V1's figures for `first-answer-concise` (passed, judged) and its clean runs' share as shown
/// in the list, with `runs` under `config`.
fn concise_under(config: &Layers, runs: &[Run]) -> ((usize, usize), String) {
    let texts = [(prompt_id(V1), Arc::from(V1))];
    let mut view = HistoryView::new(runs, &texts, (&prompt_id(V1), Arc::from(V1)), config);
    let v1 = &view.versions()[0];
    let rate = v1
        .rules
        .iter()
        .find(|r| r.id == RuleId::FirstAnswerConcise)
        .map(|r| (r.passed, r.judged))
        .expect("first-answer-concise judged");
    let row = rows(&draw(&mut view, 100, 30))
        .into_iter()
        .find(|r| r.contains(&prompt_id(V1)[..8]) && r.contains("current"))
        .expect("V1 is listed");
    (rate, row)
}

#[test]
fn a_run_judged_under_other_rules_is_judged_again_by_the_current_config() {
    let forty = config_with_max_words(40);
    let run = judged_under(&forty, &fifty_word_answer(), MARCH_4);
    let recorded = run
        .rules
        .iter()
        .find(|r| r.id == RuleId::FirstAnswerConcise);
    assert_eq!(recorded.map(|r| r.outcome), Some(Outcome::Fail));
    let runs = [run];

    // Under the rules it was judged by, it fails.
    let (rate, row) = concise_under(&forty, &runs);
    assert_eq!(rate, (0, 1));
    assert!(row.contains("   0%"), "{row}");

    // The config now allows 60 words: the recorded verdict is of other rules, so the
    // transcript is judged again, and passes.
    let (rate, row) = concise_under(&config_with_max_words(60), &runs);
    assert_eq!(rate, (1, 1));
    assert!(row.contains(" 100%"), "{row}");
}

#[test]
fn a_run_judged_by_the_current_rules_keeps_its_recorded_verdicts_as_they_are() {
    let forty = config_with_max_words(40);
    // Recorded under exactly these rules, with a verdict the text does not earn: judged
    // again it would fail (fifty words, limit 40).
    let mut run = judged_under(&forty, &fifty_word_answer(), MARCH_4);
    for result in &mut run.rules {
        if result.id == RuleId::FirstAnswerConcise {
            result.outcome = Outcome::Pass;
        }
    }
    let runs = [run];
    let (rate, row) = concise_under(&forty, &runs);
    assert_eq!(rate, (1, 1), "the recorded verdict is used as is");
    assert!(row.contains(" 100%"), "{row}");
}

#[test]
fn a_run_recorded_before_rules_ids_were_kept_is_judged_again() {
    // Judged by the built-in rules (120 words) when it ran; no rules id was kept then.
    let mut run = judged_under(&Layers::default(), &fifty_word_answer(), MARCH_4);
    run.rules_id = String::new();
    let recorded = run
        .rules
        .iter()
        .find(|r| r.id == RuleId::FirstAnswerConcise);
    assert_eq!(recorded.map(|r| r.outcome), Some(Outcome::Pass));
    let (rate, _) = concise_under(&config_with_max_words(40), &[run]);
    assert_eq!(rate, (0, 1));
}

#[test]
fn a_version_judged_by_the_config_alone_says_so_in_its_rules_pane() {
    let forty = config_with_max_words(40);
    // V1's snapshot is gone; V2 is in the editor.
    let runs = [judged_under(&forty, &fifty_word_answer(), MARCH_4)];
    let mut view = HistoryView::new(&runs, &[], (&prompt_id(V2), Arc::from(V2)), &forty);
    view.select_prev();
    let text = screen(&draw(&mut view, 100, 30));
    assert!(text.contains("config rules only (no snapshot)"), "{text}");
    // Narrow, the note still leaves the rules their rows.
    let narrow = screen(&draw(&mut view, 60, 20));
    assert!(narrow.contains("config rules only"), "{narrow}");
    // A version with a snapshot says nothing of the kind.
    let mut view = HistoryView::new(
        &runs,
        &[(prompt_id(V1), Arc::from(V1))],
        (&prompt_id(V2), Arc::from(V2)),
        &forty,
    );
    view.select_prev();
    let text = screen(&draw(&mut view, 100, 30));
    assert!(!text.contains("config rules only"), "{text}");
}
