//! The side-by-side: two runs of one sample in two columns, aligned segment by segment.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::run::Run;
use crate::store::Verdict;
use crate::transcript::{Outcome, RuleId, SegmentKind};
use crate::tui::app::{App, Layer};
use crate::tui::side::{Drawn, Side, SideBySide, SideSegment};
use crate::tui::style::style;
use crate::tui::text::{self, fit};
use crate::tui::theme::{Role, Theme};

/// Rows the rules strip may take.
const RULE_ROWS: usize = 3;
/// The gutter before a think's text.
const GUTTER: &str = "│ ";

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &mut App, layer: usize) {
    let theme = app.settings.theme.clone();
    let Some(Layer::Compare(view)) = app.layers.get(layer) else {
        return;
    };
    let sample = app
        .samples
        .get(view.sample)
        .map(|s| s.id.clone())
        .unwrap_or_default();
    let mut title = vec![
        Span::styled(" Side by side ", style(&theme, Role::Title)),
        Span::raw(format!("{sample} ")),
    ];
    if view.anyway {
        title.push(Span::styled(
            "! next choice anyway ",
            style(&theme, Role::BudgetExceeded),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style(&theme, Role::BorderFocused))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let left_width = inner.width.saturating_sub(1) / 2;
    let right_width = inner.width.saturating_sub(1 + left_width);
    let widths = (usize::from(left_width), usize::from(right_width));
    let differing = view.differing();
    let heads = [
        head(app, &view.left, "1 ◀ ", widths.0, &theme),
        head(app, &view.right, "2 ▶ ", widths.1, &theme),
    ];
    let strips = [
        strip(&view.left, &differing, widths.0, &theme),
        strip(&view.right, &differing, widths.1, &theme),
    ];
    let strip_rows = strips[0].len().max(strips[1].len()).min(RULE_ROWS);
    let [head_area, strip_area, rule_area, body] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::try_from(strip_rows).unwrap_or(1)),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let [head_areas, strip_areas, body_areas] = [head_area, strip_area, body].map(|a| {
        Layout::horizontal([
            Constraint::Length(left_width),
            Constraint::Length(1),
            Constraint::Length(right_width),
        ])
        .areas::<3>(a)
    });
    let [head_left, head_right] = heads;
    frame.render_widget(Paragraph::new(head_left), head_areas[0]);
    frame.render_widget(Paragraph::new(head_right), head_areas[2]);
    let [strip_left, strip_right] = strips;
    frame.render_widget(Paragraph::new(strip_left), strip_areas[0]);
    frame.render_widget(Paragraph::new(strip_right), strip_areas[2]);
    let border = style(&theme, Role::Border);
    let mut rule = "─".repeat(usize::from(left_width));
    rule.push('┼');
    rule.push_str(&"─".repeat(usize::from(right_width)));
    frame.render_widget(Paragraph::new(rule).style(border), rule_area);
    for (area, height) in [(head_areas[1], 1), (strip_areas[1], strip_rows)] {
        let bar: Vec<Line<'static>> = (0..height).map(|_| Line::from("│")).collect();
        frame.render_widget(Paragraph::new(bar).style(border), area);
    }

    let Some(Layer::Compare(view)) = app.layers.get_mut(layer) else {
        return;
    };
    if view.drawn.as_ref().is_none_or(|d| d.widths != widths) {
        view.drawn = Some(Drawn {
            widths,
            rows: rows(view, widths, &theme),
        });
    }
    let height = usize::from(body.height);
    let drawn = view.drawn.as_ref().map_or(&[][..], |d| d.rows.as_slice());
    view.scroll = view.scroll.min(drawn.len().saturating_sub(height));
    let shown = drawn.iter().skip(view.scroll).take(height);
    let (left, right): (Vec<Line<'static>>, Vec<Line<'static>>) = shown.cloned().unzip();
    frame.render_widget(Paragraph::new(left), body_areas[0]);
    frame.render_widget(Paragraph::new(right), body_areas[2]);
    let bar: Vec<Line<'static>> = (0..height).map(|_| Line::from("│")).collect();
    frame.render_widget(Paragraph::new(bar).style(border), body_areas[1]);
}

/// A side's header: its key, version, teacher, status and the decision on it.
fn head(app: &App, side: &Side, key: &str, width: usize, theme: &Theme) -> Line<'static> {
    let Some(run) = app.runs.get(side.run) else {
        return Line::default();
    };
    let decision = decision(app, run);
    let status = run.status.as_str();
    let text = format!(
        "{key}{} · {}/{} · {status}",
        app.version_name(&run.prompt_id),
        run.teacher.provider,
        run.teacher.model
    );
    let room = width.saturating_sub(decision.as_ref().map_or(0, |(d, _)| text::width(d)));
    let mut spans = vec![Span::styled(
        fit(&text, room).into_owned(),
        style(
            theme,
            if run.is_complete() {
                Role::Title
            } else {
                Role::RuleFail
            },
        ),
    )];
    if let Some((label, role)) = decision {
        spans.push(Span::styled(
            fit(&label, width.saturating_sub(text::width(&text))).into_owned(),
            style(theme, role),
        ));
    }
    Line::from(spans)
}

fn decision(app: &App, run: &Run) -> Option<(String, Role)> {
    let curation = app.curation.get(&run.run_id)?;
    let chosen = curation.standing().last().is_some_and(|d| d.over.is_some());
    match curation.verdict? {
        Verdict::Accepted if chosen => Some((" · chosen".to_owned(), Role::Accepted)),
        Verdict::Accepted => Some((" · accepted".to_owned(), Role::Accepted)),
        Verdict::Rejected => Some((" · rejected".to_owned(), Role::Rejected)),
        Verdict::Edited => Some((" · edited".to_owned(), Role::Edited)),
        Verdict::Revoked => None,
    }
}

/// The rules strip: each rule's mark and name, whole (never broken across rows), those whose
/// outcome differs from the other side's first and highlighted, then failures, then the rest.
fn strip(side: &Side, differing: &[RuleId], width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut rules: Vec<&(RuleId, Outcome)> = side.rules.iter().collect();
    rules.sort_by_key(|(id, outcome)| (!differing.contains(id), *outcome != Outcome::Fail));
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (id, outcome) in rules {
        let (mark, role) = match outcome {
            Outcome::Pass => ("✓", Role::RulePass),
            Outcome::Fail => ("✗", Role::RuleFail),
            Outcome::Skip => ("–", Role::RuleSkip),
        };
        let role = if differing.contains(id) {
            Role::Selection
        } else {
            role
        };
        let item = fit(&format!("{mark}{id}"), width).into_owned();
        let cells = text::width(&item);
        let gap = usize::from(used > 0);
        if used > 0 && used + gap + cells > width {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if used > 0 {
            line.push(Span::raw(" "));
            used += 1;
        }
        used += cells;
        line.push(Span::styled(item, style(theme, role)));
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    lines.truncate(RULE_ROWS);
    lines
}

/// Every body row: the aligned segments, the shorter side padded with blank rows so that
/// segments aligned start on the same row.
fn rows(
    view: &SideBySide,
    widths: (usize, usize),
    theme: &Theme,
) -> Vec<(Line<'static>, Line<'static>)> {
    let mut out = Vec::new();
    for &(l, r) in &view.alignment {
        let left = l
            .and_then(|i| view.left.segments.get(i))
            .map(|s| segment_lines(s, widths.0, theme))
            .unwrap_or_default();
        let right = r
            .and_then(|i| view.right.segments.get(i))
            .map(|s| segment_lines(s, widths.1, theme))
            .unwrap_or_default();
        let n = left.len().max(right.len());
        let mut left = left.into_iter();
        let mut right = right.into_iter();
        for _ in 0..n {
            out.push((
                left.next().unwrap_or_default(),
                right.next().unwrap_or_default(),
            ));
        }
    }
    out
}

/// One segment's rows at `width`: a think with its words against its budget, a code block
/// under its info string, a result under its label.
fn segment_lines(segment: &SideSegment, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let (role, gutter) = match segment.kind {
        SegmentKind::Answer => (Role::Answer, ""),
        SegmentKind::Think => {
            let (used, allowed) = segment.budget.unwrap_or_default();
            let over = segment.budget.is_some_and(|(u, a)| u > a);
            let budget = format!("{used}/{allowed}");
            lines.push(Line::from(vec![
                Span::styled(
                    fit("think ", width).into_owned(),
                    style(theme, Role::ThinkGutter),
                ),
                Span::styled(
                    fit(&budget, width.saturating_sub(6)).into_owned(),
                    style(
                        theme,
                        if over {
                            Role::BudgetExceeded
                        } else {
                            Role::BudgetOk
                        },
                    ),
                ),
            ]));
            (Role::Think, GUTTER)
        }
        SegmentKind::Code => {
            let info = segment.info.clone().unwrap_or_default();
            let executable = info.contains("RUN");
            lines.push(Line::from(Span::styled(
                fit(&format!("```{info}"), width).into_owned(),
                style(
                    theme,
                    if executable {
                        Role::CodeExecutable
                    } else {
                        Role::Code
                    },
                ),
            )));
            (Role::Code, "")
        }
        SegmentKind::ExecResult => {
            lines.push(Line::from(Span::styled(
                fit("▸ result", width).into_owned(),
                style(theme, Role::ExecResult),
            )));
            (Role::ExecResult, GUTTER)
        }
        SegmentKind::ExecError => {
            lines.push(Line::from(Span::styled(
                fit("▸ error", width).into_owned(),
                style(theme, Role::ExecError),
            )));
            (Role::ExecError, GUTTER)
        }
    };
    if segment.kind == SegmentKind::Answer {
        // Answer text is the model's markdown: shown rendered, as the reader sees it.
        lines.extend(crate::tui::markdown::render(
            segment.text.trim_matches('\n'),
            width,
            theme,
            style(theme, Role::Answer),
        ));
        return lines;
    }
    let gutter_width = text::width(gutter);
    let room = width.saturating_sub(gutter_width);
    for line in segment.text.split('\n') {
        let printable = text::printable(line);
        for row in text::wrap(&[(printable.as_ref(), role)], room) {
            let mut spans = Vec::with_capacity(2);
            if !gutter.is_empty() && width > gutter_width {
                spans.push(Span::styled(gutter, style(theme, Role::ThinkGutter)));
            }
            spans.extend(
                row.into_iter()
                    .map(|(t, role)| Span::styled(t, style(theme, role))),
            );
            lines.push(Line::from(spans));
        }
    }
    lines
}
