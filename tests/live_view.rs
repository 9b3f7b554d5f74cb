//! The live transcript view: streaming, wrapping by display width, think badges, code and result
//! blocks, reasoning, scrolling, and what it looks like (insta snapshots).

use std::sync::Arc;

#[path = "support/buffer_text.rs"]
mod buffer_text;

use moss_thinking::transcript::{Outcome, RuleId, Rules, RulesConfig};
use moss_thinking::tui::live::LiveView;
use moss_thinking::tui::style::style;
use moss_thinking::tui::theme::{Role, Theme};
use proptest::prelude::*;
use ratatui::buffer::{Buffer, Cell, CellWidth};
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};

fn rules() -> Arc<Rules> {
    Arc::new(Rules::new(RulesConfig::default()).expect("default rules compile"))
}

fn theme() -> Theme {
    Theme::load("dark", None).expect("built-in theme")
}

/// A role's style as a cell holds it (unset colours are the terminal's own).
fn role(theme: &Theme, role: Role) -> Style {
    let mut cell = Cell::default();
    cell.set_style(style(theme, role));
    cell.style()
}

fn render(view: &mut LiveView, width: u16, height: u16) -> Buffer {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    view.render(area, &mut buf, &theme());
    buf
}

/// The buffer as text, one string per row without trailing spaces.
fn rows(buf: &Buffer) -> Vec<String> {
    buffer_text::rows(buf)
        .into_iter()
        .map(|row| row.trim_end().to_owned())
        .collect()
}

fn screen(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// The row whose text starts with `prefix`.
fn row_starting(buf: &Buffer, prefix: &str) -> Option<u16> {
    rows(buf)
        .iter()
        .position(|r| r.starts_with(prefix))
        .and_then(|y| u16::try_from(y).ok())
}

/// No wide character hangs over the right edge, and nothing is drawn past it.
fn assert_fits(buf: &Buffer) {
    let area = buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let width = buf[(x, y)].symbol().cell_width();
            assert!(
                x + width <= area.right(),
                "{:?} at column {x} of row {y} crosses the edge at {}",
                buf[(x, y)].symbol(),
                area.right()
            );
        }
    }
}

fn feed(view: &mut LiveView, text: &str, chunk_chars: usize) {
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(chunk_chars) {
        view.push(&piece.iter().collect::<String>());
    }
}

const DEMO: &str = "复利是指利息也会计入本金，继续产生利息。比如本金1000元，年利率5%，十年后大约是1629元。\n\
<think>用户可能想看计算过程，用代码验证一下。</think>\n\
我用Python算一下：\n\
<think>先写代码，注意浮点数的精度，顺便比较单利和复利两种算法的差别，还要考虑按月计息的情况。</think>\n\
```python RUN\n\
principal = 1000  # 本金\n\
rate = 0.05\n\
print(round(principal * (1 + rate) ** 10, 2))\n\
```\n\
<execute_result>\n\
1628.89\n\
</execute_result>\n\
结果是1628.89元，和估算一致。Compound interest grows faster than simple interest over time.\n\
<think>回答完整了。</think>\n\
还有其他问题吗？";

const REASONING: &str = "用户问复利，先给出直观解释，再用代码验证。";

fn demo(width: u16, height: u16) -> Buffer {
    let mut view = LiveView::new(rules());
    view.push_reasoning(REASONING);
    feed(&mut view, DEMO, 7);
    view.finish(Vec::new());
    view.scroll_to_top();
    render(&mut view, width, height)
}

#[test]
fn snapshot_100x30() {
    let buf = demo(100, 30);
    assert_fits(&buf);
    insta::assert_snapshot!(screen(&buf));
}

#[test]
fn snapshot_60x20() {
    let buf = demo(60, 20);
    assert_fits(&buf);
    insta::assert_snapshot!(screen(&buf));
}

#[test]
fn snapshot_60x20_scrolled_to_the_end() {
    let mut view = LiveView::new(rules());
    view.push_reasoning(REASONING);
    feed(&mut view, DEMO, 3);
    let buf = render(&mut view, 60, 20);
    assert!(view.follows_tail());
    assert_fits(&buf);
    insta::assert_snapshot!(screen(&buf));
}

#[test]
fn thinks_are_marked_and_budgeted() {
    let buf = demo(100, 30);
    let theme = theme();
    let lines = rows(&buf);
    let think = lines
        .iter()
        .position(|r| r.contains("用户可能想看计算过程"))
        .expect("first think shown");
    assert!(lines[think].starts_with("▎ "), "{}", lines[think]);
    let y = u16::try_from(think).expect("row");
    assert_eq!(buf[(0, y)].style(), role(&theme, Role::ThinkGutter));
    assert_eq!(
        buf[(2, y)].fg,
        style(&theme, Role::Think).fg.expect("think colour")
    );
    // Each think's badge shows its budget; only the second outspends the answer before it, as
    // the think-budget rule finds.
    let mut view = LiveView::finished(DEMO, None, Vec::new(), rules());
    let budgets = view.budgets();
    assert_eq!(budgets.len(), 3);
    for b in &budgets {
        let badge = format!("think {}/{}", b.used, b.allowed);
        let line = lines
            .iter()
            .find(|r| r.contains(&badge))
            .unwrap_or_else(|| panic!("{badge} not shown"));
        assert_eq!(line.ends_with("· over budget"), b.exceeded(), "{line}");
    }
    let over: Vec<usize> = budgets
        .iter()
        .filter(|b| b.exceeded())
        .map(|b| b.segment)
        .collect();
    assert_eq!(over, [3]);
    let rule = rules().evaluate(
        view.transcript(),
        moss_thinking::transcript::RuleContext::Dataset,
    );
    let verdict = rule
        .iter()
        .find(|r| r.id == RuleId::ThinkBudget)
        .expect("judged");
    assert_eq!((verdict.outcome, verdict.segment), (Outcome::Fail, Some(3)));
    assert!(
        view.rules().is_empty(),
        "a finished view shows the verdicts it was given"
    );
}

#[test]
fn the_badge_turns_the_moment_the_think_exceeds_its_allowance() {
    let theme = theme();
    let ok = role(&theme, Role::BudgetOk);
    let exceeded = role(&theme, Role::BudgetExceeded);
    let mut view = LiveView::new(rules());
    view.push("一二三四五。<think>");
    let think = "六七八九十百千";
    for (k, c) in think.chars().enumerate() {
        view.push(&c.to_string());
        let budget = view.budgets()[0];
        assert_eq!(view.last_budget(), Some(budget));
        assert_eq!((budget.used, budget.allowed, budget.open), (k + 1, 5, true));
        assert_eq!(budget.exceeded(), k + 1 > 5, "after {} characters", k + 1);
        let buf = render(&mut view, 40, 6);
        let y = row_starting(&buf, "▎ think").expect("badge row");
        let expected = if k + 1 > 5 { exceeded } else { ok };
        assert_eq!(buf[(2, y)].style(), expected, "after {} characters", k + 1);
        assert!(
            rows(&buf)[usize::from(y)].contains(&format!("think {}/5", k + 1)),
            "{}",
            screen(&buf)
        );
    }
    view.push("</think>好。");
    let budget = view.budgets()[0];
    assert!(!budget.open);
    assert_eq!(budget.used, 7);
}

#[test]
fn budgets_follow_the_rule_settings() {
    let mut config = RulesConfig::default();
    config.think_budget.count_code = true;
    config.think_budget.ratio = 2.0;
    let rules = Arc::new(Rules::new(config).expect("rules"));
    let mut view = LiveView::new(rules);
    view.push("Run it.\n<think>ok</think>\n```python RUN\nprint(1, 2)\n```\n<think>a b c d e f g h i j</think>");
    let budgets = view.budgets();
    assert_eq!(budgets.len(), 2);
    // "Run it." is two words; the code's three words count too, doubled.
    assert_eq!((budgets[0].allowed, budgets[1].allowed), (4, 6));
    assert!(budgets[1].exceeded());
}

#[test]
fn executable_blocks_are_marked_and_results_boxed() {
    let theme = theme();
    let mut view = LiveView::new(rules());
    view.push(
        "看一下：\n```python RUN\nprint(6 * 7)\n```\n<execute_result>\n42\n</execute_result>\n\
         ```bash\npip install numpy\n```\n<execute_error>\nTraceback: boom\n</execute_error>\n",
    );
    view.finish(Vec::new());
    let buf = render(&mut view, 30, 20);
    let lines = rows(&buf);
    let run = row_starting(&buf, "▶ python RUN").expect("run header");
    assert_eq!(buf[(0, run)].style(), role(&theme, Role::CodeExecutable));
    let plain = row_starting(&buf, "▷ bash").expect("plain header");
    assert_eq!(buf[(0, plain)].style(), role(&theme, Role::Muted));

    let top = row_starting(&buf, "┌─ result").expect("result box");
    let top_line = &lines[usize::from(top)];
    assert!(
        top_line.ends_with('┐') && top_line.chars().count() == 30,
        "{top_line}"
    );
    assert_eq!(
        lines[usize::from(top) + 1],
        format!("│ 42{}│", " ".repeat(25))
    );
    assert!(lines[usize::from(top) + 2].starts_with('└'));
    assert_eq!(buf[(0, top)].style(), role(&theme, Role::ExecResult));

    let error = row_starting(&buf, "┌─ error").expect("error box");
    assert_eq!(buf[(0, error)].style(), role(&theme, Role::ExecError));
    assert!(lines[usize::from(error) + 1].contains("Traceback: boom"));
}

#[test]
fn code_is_highlighted_and_unknown_languages_fall_back_to_the_code_role() {
    let theme = theme();
    let code_role = role(&theme, Role::Code);
    let mut view = LiveView::new(rules());
    view.push("```python\nimport os\n```\n```klingon\nqapla batlh\n```\n");
    view.finish(Vec::new());
    let buf = render(&mut view, 30, 10);
    let import = row_starting(&buf, "  import os").expect("python row");
    let keyword = buf[(2, import)].fg;
    let name = buf[(9, import)].fg;
    assert!(matches!(keyword, Color::Rgb(..)), "{keyword:?}");
    assert_ne!(keyword, name, "keywords and names differ");
    let plain = row_starting(&buf, "  qapla").expect("plain row");
    assert_eq!(buf[(2, plain)].style(), code_role);
}

#[test]
fn reasoning_is_one_line_until_expanded() {
    let mut view = LiveView::new(rules());
    view.push_reasoning("先想一想这个问题。");
    view.push("答案是42。");
    let buf = render(&mut view, 50, 6);
    let lines = rows(&buf);
    assert_eq!(lines[0], "▸ reasoning · 8 words (z to expand)");
    assert_eq!(lines[1], "答案是42。");
    assert_eq!(buf[(0, 0)].style(), role(&theme(), Role::Reasoning));
    assert!(!view.reasoning_expanded());

    view.toggle_reasoning();
    let lines = rows(&render(&mut view, 50, 6));
    assert!(view.reasoning_expanded());
    assert_eq!(lines[0], "▾ reasoning · 8 words (z to collapse)");
    assert_eq!(lines[1], "  先想一想这个问题。");
    assert_eq!(lines[2], "答案是42。");
    assert_eq!(view.reasoning(), "先想一想这个问题。");
}

fn lines_of_text(n: usize) -> String {
    (0..n)
        .flat_map(|i| ["第", &i.to_string(), "行 line ", &i.to_string(), "\n"].map(str::to_owned))
        .collect()
}

#[test]
fn the_view_follows_the_tail_until_scrolled_up() {
    let mut view = LiveView::new(rules());
    view.push(&lines_of_text(100));
    render(&mut view, 40, 10);
    assert!(view.follows_tail());
    assert_eq!(view.scroll_offset(), 90);

    view.scroll_by(-5);
    assert!(!view.follows_tail());
    let buf = render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 85);
    assert_eq!(rows(&buf)[0], "第85行 line 85");

    // New text does not move a reader who scrolled up.
    view.push("more\nand more\n");
    render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 85);

    view.scroll_to_bottom();
    assert!(view.follows_tail());
    let buf = render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 92);
    assert_eq!(rows(&buf)[9], "and more");

    // Offsets clamp to the content; scrolling down to the end follows again.
    view.scroll_to_top();
    render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 0);
    view.scroll_by(-3);
    render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 0);
    view.scroll_by(1_000);
    assert!(view.follows_tail());
    render(&mut view, 40, 10);
    assert_eq!(view.scroll_offset(), 92);
}

#[test]
fn a_width_change_rewraps_and_keeps_the_reader_in_place() {
    let text = format!("{}{}", lines_of_text(40), DEMO);
    let mut view = LiveView::new(rules());
    view.push(&text);
    render(&mut view, 80, 10);
    view.scroll_to_top();
    view.scroll_by(20);
    let before = rows(&render(&mut view, 80, 10));
    assert_eq!(before[0], "第20行 line 20");

    let narrow = render(&mut view, 9, 10);
    assert_fits(&narrow);
    let lines = rows(&narrow);
    assert_eq!(lines[0], "第20行", "{lines:#?}");
    assert_eq!(lines[1], "line 20");

    // The same as a view that was always this narrow.
    let mut fresh = LiveView::new(rules());
    fresh.push(&text);
    render(&mut fresh, 9, 10);
    fresh.scroll_to_top();
    fresh.scroll_by(isize::try_from(view.scroll_offset()).expect("offset"));
    assert_eq!(render(&mut fresh, 9, 10), narrow);
}

#[test]
fn only_the_given_area_is_drawn() {
    let mut view = LiveView::new(rules());
    view.push(&lines_of_text(30));
    let mut buf = Buffer::empty(Rect::new(0, 0, 30, 10));
    let area = Rect::new(3, 2, 20, 5);
    view.render(area, &mut buf, &theme());
    let lines = rows(&buf);
    assert_eq!(lines[2], "   第25行 line 25");
    assert_eq!(lines[6], "   第29行 line 29");
    for (y, line) in lines.iter().enumerate() {
        if !(2..7).contains(&y) {
            assert!(line.is_empty(), "row {y} drawn: {line}");
        }
    }
}

#[test]
fn english_breaks_at_words_and_cjk_anywhere() {
    let mut view = LiveView::new(rules());
    view.push("The quick brown fox jumps over the lazy dog 敏捷的棕色狐狸跳过了懒狗");
    let lines = rows(&render(&mut view, 11, 10));
    assert_eq!(
        &lines[..7],
        [
            "The quick",
            "brown fox",
            "jumps over",
            "the lazy",
            "dog 敏捷的",
            "棕色狐狸跳",
            "过了懒狗"
        ]
    );
}

#[test]
fn tabs_are_expanded() {
    let mut view = LiveView::new(rules());
    view.push("a\tb\n中\tc");
    let lines = rows(&render(&mut view, 20, 3));
    assert_eq!(lines[0], "a   b");
    assert_eq!(lines[1], "中  c");
}

#[test]
fn rules_are_rejudged_while_small_and_amortized_when_large() {
    let refusal = |view: &mut LiveView| {
        view.rules()
            .iter()
            .find(|r| r.id == RuleId::NoRefusal)
            .map(|r| r.outcome)
    };
    let mut small = LiveView::new(rules());
    small.push("好的。");
    assert_eq!(refusal(&mut small), Some(Outcome::Pass));
    small.push("抱歉，我无法回答");
    assert_eq!(refusal(&mut small), Some(Outcome::Fail));

    let block = "这是一段足够长的回答，用来把文本撑到六十四千字节以上。<think>想一想。</think>\n";
    let mut large = LiveView::new(rules());
    large.push(&block.repeat(80 * 1024 / block.len()));
    assert_eq!(refusal(&mut large), Some(Outcome::Pass));
    let judged = large.text().len();
    // A refusal arrives, but the transcript has not grown by a quarter: the verdicts stand.
    large.push("抱歉，我无法回答。");
    assert_eq!(refusal(&mut large), Some(Outcome::Pass));
    // A quarter more text, but still in the same segment: the verdicts stand.
    large.push(&"补充说明。".repeat(judged / 4 / "补充说明。".len() + 1));
    assert_eq!(refusal(&mut large), Some(Outcome::Pass));
    // The segment ends: judged again.
    large.push("<think>");
    assert_eq!(refusal(&mut large), Some(Outcome::Fail));

    // The run's own verdicts are final.
    let final_rules = large.rules().to_vec();
    large.finish(Vec::new());
    assert!(large.rules().is_empty());
    assert!(!final_rules.is_empty());
}

#[test]
fn stored_runs_keep_their_verdicts() {
    let verdicts = rules().evaluate(
        &moss_thinking::transcript::Transcript::parse(DEMO, rules().config().count_mode),
        moss_thinking::transcript::RuleContext::Dataset,
    );
    let mut view = LiveView::finished(DEMO, Some(REASONING), verdicts.clone(), rules());
    assert!(!view.is_streaming());
    assert_eq!(view.text(), DEMO);
    assert_eq!(view.reasoning(), REASONING);
    assert_eq!(view.rules(), verdicts.as_slice());
    assert_eq!(view.budgets().len(), 3);
    assert!(view.budgets().iter().all(|b| !b.open));
}

#[test]
fn a_rewrite_replaces_the_text() {
    let mut view = LiveView::new(rules());
    view.push("算一下：\n```python RUN\nprint(1)\n```\n");
    render(&mut view, 30, 8);
    let filled =
        "算一下：\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n完成。";
    view.rewrite(filled);
    view.finish(Vec::new());
    assert_eq!(view.text(), filled);
    let buf = render(&mut view, 30, 8);
    let mut fresh = LiveView::finished(filled, None, Vec::new(), rules());
    assert_eq!(render(&mut fresh, 30, 8), buf);
    assert!(row_starting(&buf, "┌─ result").is_some());
}

/// Pieces of transcripts, so random ones still hold every construct.
fn transcript() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("你好，世界。"),
            Just("复利的效果在长期里非常明显，"),
            Just("The quick brown fox "),
            Just("supercalifragilistic"),
            Just("用Python算一下"),
            Just(" "),
            Just("\t"),
            Just("\n"),
            Just("\n\n"),
            Just("<think>"),
            Just("</think>"),
            Just("<think>先算一下再说。</think>"),
            Just("\n```python RUN\nprint('结果', 1 + 1)\n"),
            Just("```\n"),
            Just("\n```bash\nls -la\n```\n"),
            Just("<execute_result>\n2\n</execute_result>\n"),
            Just("<execute_error>\nboom\n</execute_error>"),
            Just("e\u{301}"),
            Just("🇨🇳👍🏽"),
            Just("<"),
            Just("`"),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// Cut points on char boundaries, sorted, from arbitrary numbers.
fn cuts(text: &str, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw
        .iter()
        .map(|c| c % (text.len() + 1))
        .filter(|&c| text.is_char_boundary(c))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_chunking_renders_like_the_whole(
        text in transcript(),
        raw_cuts in proptest::collection::vec(0usize..2000, 0..40),
        one_char_chunks in any::<bool>(),
        width in 6u16..70,
        reasoning in any::<bool>(),
    ) {
        let (w, h) = (width, 400);
        let mut whole = LiveView::new(rules());
        let mut chunked = LiveView::new(rules());
        if reasoning {
            whole.push_reasoning("想一想");
            chunked.push_reasoning("想一想");
        }
        whole.push(&text);
        let bounds = if one_char_chunks {
            text.char_indices().map(|(i, _)| i).skip(1).collect()
        } else {
            cuts(&text, &raw_cuts)
        };
        let mut last = 0;
        for b in bounds.into_iter().chain([text.len()]) {
            chunked.push(&text[last..b]);
            last = b;
            // Frames in between wrap the text as it grows.
            render(&mut chunked, w, 5);
        }
        prop_assert_eq!(render(&mut chunked, w, h), render(&mut whole, w, h));
        prop_assert_eq!(chunked.budgets(), whole.budgets());
        whole.finish(Vec::new());
        chunked.finish(Vec::new());
        let done = render(&mut whole, w, h);
        prop_assert_eq!(render(&mut chunked, w, h), done.clone());
        assert_fits(&done);
    }

    #[test]
    fn cjk_never_splits_and_nothing_is_lost(
        parts in proptest::collection::vec(
            prop_oneof![Just("汉字"), Just("，"), Just("。"), Just("word"), Just("longerword"), Just(" "), Just("カタカナ"), Just("한글"), Just("１２")],
            1..40,
        ),
        half in 1u16..20,
    ) {
        let width = half * 2 + 1;
        let text = parts.concat();
        let mut view = LiveView::new(rules());
        view.push(&text);
        view.finish(Vec::new());
        let buf = render(&mut view, width, 200);
        assert_fits(&buf);
        let shown: String = rows(&buf).concat().chars().filter(|c| !c.is_whitespace()).collect();
        let expected: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        prop_assert_eq!(shown, expected);
    }
}
