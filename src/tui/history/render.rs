//! Drawing the history screen: versions on top, the selected version's rules and the diff
//! below (side by side when wide, stacked when narrow), a line of key hints at the bottom.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Widget as _};

use crate::tui::style::style;
use crate::tui::theme::{Role, Theme};

use super::rows::{DiffRows, Ink, diff_rows};
use super::{Comparison, HistoryView, PromptVersionStats, RuleRate};
use crate::tui::text::{self, fit, pad, width};

/// From this width the rules and the diff sit side by side; below it they are stacked.
const SIDE_BY_SIDE_MIN_WIDTH: u16 = 90;
/// The rules column when side by side: the longest rule id, counts and a percentage.
const RULES_PANE_WIDTH: u16 = 36;
/// Versions listed at once (the list scrolls to keep the selection in view).
const LIST_MAX_ROWS: usize = 6;
const LIST_MAX_ROWS_NARROW: usize = 4;
/// Hex digits of a prompt id shown: enough to tell a workspace's versions apart.
pub(super) const SHORT_ID: usize = 8;

/// The key hints, longest first: the first that fits is shown.
const HINTS: [&str; 3] = [
    "↑↓ select · space mark base · r restore · PgUp/PgDn scroll diff · Esc close",
    "↑↓ select · space base · r restore · PgUp/PgDn scroll · Esc close",
    "↑↓ · space · r · PgUp/PgDn · Esc",
];
/// The widest a label is shown in the version list.
const LABEL_MAX_WIDTH: usize = 16;

type Pieces = Vec<(String, Style)>;

pub(super) fn draw(view: &mut HistoryView, area: Rect, buf: &mut Buffer, theme: &Theme) {
    if area.is_empty() {
        return;
    }
    let hint = Rect {
        y: area.bottom() - 1,
        height: 1,
        ..area
    };
    draw_hint(hint, buf, theme);
    let body = Rect {
        height: area.height - 1,
        ..area
    };
    if body.is_empty() {
        return;
    }
    let wide = body.width >= SIDE_BY_SIDE_MIN_WIDTH;
    let borders = if wide { Borders::ALL } else { Borders::TOP };
    let frame = if wide { 2 } else { 1 };
    let max_rows = if wide {
        LIST_MAX_ROWS
    } else {
        LIST_MAX_ROWS_NARROW
    };
    let list_rows = u16::try_from(view.versions.len().clamp(1, max_rows)).unwrap_or(1);
    let list_height = (list_rows + 1 + frame).min(body.height);
    let list = Rect {
        height: list_height,
        ..body
    };
    let rest = Rect {
        y: body.y + list_height,
        height: body.height - list_height,
        ..body
    };
    draw_list(view, list, borders, buf, theme);
    if rest.is_empty() {
        return;
    }
    let rule_lines = rule_line_count(view);
    let (rules, diff) = if wide {
        let rules_width = RULES_PANE_WIDTH.min(rest.width / 2);
        (
            Rect {
                width: rules_width,
                ..rest
            },
            Rect {
                x: rest.x + rules_width,
                width: rest.width - rules_width,
                ..rest
            },
        )
    } else {
        let wanted = u16::try_from(rule_lines)
            .unwrap_or(u16::MAX)
            .saturating_add(frame);
        // The diff gets most of the room; the rules at most two fifths of it.
        let share = u16::try_from(u32::from(rest.height) * 2 / 5).unwrap_or(u16::MAX);
        let height = wanted.min(share.max(4)).min(rest.height);
        (
            Rect { height, ..rest },
            Rect {
                y: rest.y + height,
                height: rest.height - height,
                ..rest
            },
        )
    };
    draw_rules(view, rules, borders, buf, theme);
    draw_diff(view, diff, borders, buf, theme);
}

/// Draws a pane's border and title (left) and note (right, kept whole when room allows);
/// returns the inside.
fn pane(
    area: Rect,
    borders: Borders,
    title: &str,
    note: &str,
    buf: &mut Buffer,
    theme: &Theme,
) -> Rect {
    let block = Block::new()
        .borders(borders)
        .border_style(style(theme, Role::Border));
    let inner = block.inner(area);
    block.render(area, buf);
    if area.is_empty() {
        return inner;
    }
    let (x, room) = if borders.contains(Borders::LEFT) {
        (area.x + 1, usize::from(area.width.saturating_sub(2)))
    } else {
        (area.x, usize::from(area.width))
    };
    let note = fit(note, room / 2);
    let note_width = width(&note);
    let title = fit(title, room.saturating_sub(note_width + 1));
    buf.set_stringn(x, area.y, &title, room, style(theme, Role::Title));
    if note_width > 0 {
        let note_x = x + u16::try_from(room - note_width).unwrap_or(0);
        buf.set_stringn(note_x, area.y, &note, note_width, style(theme, Role::Muted));
    }
    inner
}

/// Draws `pieces` on one row, cut to `max` cells.
fn put(buf: &mut Buffer, x: u16, y: u16, pieces: &[(String, Style)], max: usize) {
    let refs: Vec<(&str, Style)> = pieces.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    let mut x = x;
    let mut room = max;
    for (piece, style) in clip(&refs, max) {
        let (end, _) = buf.set_stringn(x, y, &piece, room, style);
        room = room.saturating_sub(usize::from(end - x));
        x = end;
    }
}

/// `pieces` cut to `max` cells, with an ellipsis in the last piece's style when cut.
fn clip<K: Copy + PartialEq>(pieces: &[(&str, K)], max: usize) -> Vec<(String, K)> {
    let printable: Vec<(String, K)> = pieces
        .iter()
        .map(|(t, k)| (text::printable(t).into_owned(), *k))
        .collect();
    let total: usize = printable.iter().map(|(t, _)| width(t)).sum();
    if total <= max {
        return printable;
    }
    let refs: Vec<(&str, K)> = printable.iter().map(|(t, k)| (t.as_str(), *k)).collect();
    let room = max.saturating_sub(width(text::ELLIPSIS));
    let mut first = text::wrap(&refs, room)
        .into_iter()
        .next()
        .unwrap_or_default();
    if max >= width(text::ELLIPSIS)
        && let Some(&(_, kind)) = pieces.last()
    {
        first.push((text::ELLIPSIS.to_owned(), kind));
    }
    first
}

fn draw_hint(area: Rect, buf: &mut Buffer, theme: &Theme) {
    let room = usize::from(area.width);
    let hint = HINTS
        .iter()
        .find(|h| width(h) <= room)
        .map_or_else(|| fit(HINTS[HINTS.len() - 1], room), |h| (*h).into());
    buf.set_stringn(area.x, area.y, &hint, room, style(theme, Role::KeyHint));
}

/// A first-run time as a UTC date and minute: `2025-03-04 09:15`.
fn utc_minute(ms: u64) -> String {
    let mut stamp = String::new();
    let written = UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .is_some_and(|t| write!(stamp, "{}", humantime::format_rfc3339_seconds(t)).is_ok());
    match stamp.get(..16) {
        Some(minute) if written => minute.replacen('T', " ", 1),
        _ => "?".to_owned(),
    }
}

fn draw_list(view: &HistoryView, area: Rect, borders: Borders, buf: &mut Buffer, theme: &Theme) {
    let note = view
        .marked
        .filter(|&i| i < view.versions.len())
        .map_or_else(String::new, |i| format!(" base * {} ", view.name(i)));
    let inner = pane(area, borders, " prompt versions ", &note, buf, theme);
    if inner.is_empty() {
        return;
    }
    let room = usize::from(inner.width);
    let muted = style(theme, Role::Muted);
    let names = name_width(view);
    // pass: every rule at once, per sample; then what interleaving is for, on average: seconds
    // to the first answer text, answer words before the first think, the longest think.
    // Narrow screens keep the tags (current, notes) rather than the measures.
    let measures = room >= names + MEASURES_ROOM;
    let mut header = format!(
        "    {}  {:>4}  {:>4}  {:>4}  {:>4}  {:<16}",
        pad("version", names),
        "runs",
        "done",
        "smpl",
        "pass",
        "first run (UTC)",
    );
    if measures {
        let _ = write!(
            header,
            "  {:>5}  {:>9}  {:>10}",
            "ans s", "pre-think", "long think"
        );
    }
    put(buf, inner.x, inner.y, &[(header, muted)], room);
    let visible = usize::from(inner.height - 1);
    if view.versions.is_empty() {
        if visible > 0 {
            put(
                buf,
                inner.x,
                inner.y + 1,
                &[("no prompt versions yet".into(), muted)],
                room,
            );
        }
        return;
    }
    let first = (view.selected + 1).saturating_sub(visible);
    let rows = view.versions.iter().enumerate().skip(first).take(visible);
    for (row, (i, version)) in (inner.y + 1..).zip(rows) {
        let mut pieces = list_row(view, i, version, (names, measures), theme);
        if i == view.selected {
            let selection = style(theme, Role::Selection);
            for (_, s) in &mut pieces {
                *s = s.patch(selection);
            }
            let used: usize = pieces.iter().map(|(t, _)| width(t)).sum();
            pieces.push((pad("", room.saturating_sub(used)), selection));
        }
        put(buf, inner.x, row, &pieces, room);
    }
}

/// The version column: the short ids, or the longest label (up to a limit).
fn name_width(view: &HistoryView) -> usize {
    (0..view.versions.len())
        .map(|i| width(&view.name(i)))
        .max()
        .unwrap_or(0)
        .clamp(SHORT_ID, LABEL_MAX_WIDTH)
}

/// The version list's width beside the names with the measures and a short tag.
const MEASURES_ROOM: usize = 90;

/// One version's row: `names` wide names, with the measures when `measures`.
fn list_row(
    view: &HistoryView,
    i: usize,
    v: &PromptVersionStats,
    (names, measures): (usize, bool),
    theme: &Theme,
) -> Pieces {
    let plain = Style::default();
    let muted = style(theme, Role::Muted);
    let clean = view.facts.get(i).map_or(0, |f| f.clean);
    let (pass, pass_role) = match v.pass_percent {
        None => ("-".to_owned(), Role::Muted),
        Some(p) if clean == v.complete => (format!("{p}%"), Role::RulePass),
        Some(p) => (format!("{p}%"), Role::RuleFail),
    };
    let figures = v.measures.map_or_else(
        || format!("  {:>5}  {:>9}  {:>10}  ", "-", "-", "-"),
        |m| {
            let wait = m
                .seconds_to_first_answer
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"));
            format!(
                "  {wait:>5}  {:>9.1}  {:>10.1}  ",
                m.words_before_first_think, m.longest_think
            )
        },
    );
    let first = v
        .first_run_ms
        .map_or_else(|| "not run yet".to_owned(), utc_minute);
    let mut tags = Vec::new();
    if v.current {
        tags.push("current");
    }
    if !view.facts.get(i).is_some_and(|f| f.text_known) {
        tags.push("no snapshot");
    }
    if let Some(note) = view.note(i) {
        tags.push(note);
    }
    vec![
        (
            format!(
                "{}{}",
                if i == view.selected { "> " } else { "  " },
                if view.marked == Some(i) { "* " } else { "  " }
            ),
            plain,
        ),
        (
            pad(&fit(&view.name(i), names), names),
            style(theme, Role::Title),
        ),
        (
            format!("  {:>4}  {:>4}  {:>4}  ", v.runs, v.complete, v.samples),
            plain,
        ),
        (format!("{pass:>4}"), style(theme, pass_role)),
        (format!("  {first:<16}"), plain),
        (if measures { figures } else { "  ".to_owned() }, plain),
        (tags.join(", "), muted),
    ]
}

fn rule_line_count(view: &HistoryView) -> usize {
    view.versions.get(view.selected).map_or(1, |v| {
        if v.complete == 0 {
            1
        } else {
            // The rules, the legend, and the note on which rules judged them.
            v.rules.len().max(1) + 1 + usize::from(rules_note(view).is_some())
        }
    })
}

/// The selected version's note on the rules its figures were judged by, if not its own.
fn rules_note(view: &HistoryView) -> Option<&'static str> {
    view.facts.get(view.selected).and_then(|f| f.rules_note)
}

fn draw_rules(view: &HistoryView, area: Rect, borders: Borders, buf: &mut Buffer, theme: &Theme) {
    let Some(version) = view.versions.get(view.selected) else {
        pane(area, borders, " rules ", "", buf, theme);
        return;
    };
    let title = format!(" rules · {} ", view.name(view.selected));
    let note = if version.runs == 0 {
        String::new()
    } else {
        format!(" {}/{} complete ", version.complete, version.runs)
    };
    let inner = pane(area, borders, &title, &note, buf, theme);
    if inner.is_empty() {
        return;
    }
    let room = usize::from(inner.width);
    let muted = style(theme, Role::Muted);
    let message = match (version.runs, version.complete, version.rules.is_empty()) {
        (0, _, _) => Some("not run yet"),
        (_, 0, _) => Some("no complete runs yet"),
        (_, _, true) => Some("no rules were judged"),
        _ => None,
    };
    if let Some(message) = message {
        put(buf, inner.x, inner.y, &[(message.to_owned(), muted)], room);
        return;
    }
    let mut top = inner.y;
    if let Some(note) = rules_note(view) {
        put(buf, inner.x, top, &[(note.to_owned(), muted)], room);
        top += 1;
    }
    // What the figures count: runs passing of runs judged, and the mean over samples of each
    // sample's share of passing runs (a sample run three times counts once).
    let legend = format!(
        "runs · % of {} sample{}",
        version.samples,
        if version.samples == 1 { "" } else { "s" }
    );
    put(buf, inner.x, top, &[(legend, muted)], room);
    top += 1;
    let rows = usize::from(inner.bottom().saturating_sub(top));
    let lines = rule_lines(&version.rules, rows, theme);
    for (y, line) in (top..inner.bottom()).zip(lines) {
        put(buf, inner.x, y, &line, room);
    }
}

/// One line per rule in report order. When they do not all fit, the failing rules come first
/// (worst first), then those never judged, then those at 100%, and a last line counts what
/// is left out.
fn rule_lines(rates: &[RuleRate], rows: usize, theme: &Theme) -> Vec<Pieces> {
    let mut rates = rates.to_vec();
    let overflow = rates.len() > rows;
    if overflow {
        rates.sort_by_key(|r| {
            let standing = if r.perfect() {
                2
            } else {
                u8::from(r.judged == 0)
            };
            (standing, r.percent(), r.id)
        });
    }
    let shown = if overflow {
        rows.saturating_sub(1)
    } else {
        rates.len()
    };
    let name_width = rates.iter().map(|r| r.id.as_str().len()).max().unwrap_or(0);
    let count_width = rates
        .iter()
        .map(|r| r.judged.to_string().len())
        .max()
        .unwrap_or(1);
    let mut lines: Vec<Pieces> = rates[..shown]
        .iter()
        .map(|r| {
            let (pct, role) = match r.percent() {
                None => ("-".to_owned(), Role::RuleSkip),
                Some(p) if r.perfect() => (format!("{p}%"), Role::RulePass),
                Some(p) => (format!("{p}%"), Role::RuleFail),
            };
            vec![
                (format!("{:<name_width$} ", r.id.as_str()), Style::default()),
                (
                    format!(
                        "{:>count_width$}/{:<count_width$} {pct:>4}",
                        r.passed, r.judged
                    ),
                    style(theme, role),
                ),
            ]
        })
        .collect();
    if overflow && rows > 0 {
        let hidden = &rates[shown..];
        let perfect = hidden.iter().filter(|r| r.perfect()).count();
        let unjudged = hidden.iter().filter(|r| r.judged == 0).count();
        let mut parts = Vec::new();
        if perfect > 0 {
            parts.push(format!("{perfect} at 100%"));
        }
        if unjudged > 0 {
            parts.push(format!("{unjudged} never judged"));
        }
        let failing = hidden.len() - perfect - unjudged;
        if failing > 0 {
            parts.push(format!("{failing} failing"));
        }
        let line = format!("+{} more: {}", hidden.len(), parts.join(", "));
        lines.push(vec![(line, style(theme, Role::Muted))]);
    }
    lines
}

fn diff_title(view: &HistoryView, key: Comparison, (added, removed): (usize, usize)) -> String {
    let id = |i: usize| {
        if i < view.versions.len() {
            view.name(i)
        } else {
            "?".to_owned()
        }
    };
    match key {
        Comparison::Nothing => " diff ".to_owned(),
        Comparison::Whole(i) => format!(" {} · first version, in full ", id(i)),
        Comparison::IsBase(i) => format!(" diff · {} is the base ", id(i)),
        Comparison::Pair { base, selected } => format!(
            " diff {}{} → {} · +{} -{} ",
            if view.marked == Some(base) { "*" } else { "" },
            id(base),
            id(selected),
            added,
            removed
        ),
    }
}

fn draw_diff(
    view: &mut HistoryView,
    area: Rect,
    borders: Borders,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let key = view.comparison();
    let content_width = usize::from(Block::new().borders(borders).inner(area).width);
    let stale = view
        .rows
        .as_ref()
        .is_none_or(|r| r.key != key || r.width != content_width);
    if stale {
        let rows = diff_rows(view.diff(), content_width);
        view.rows = Some(DiffRows {
            key,
            width: content_width,
            rows,
        });
    }
    let total = view.rows.as_ref().map_or(0, |r| r.rows.len());
    let height = usize::from(Block::new().borders(borders).inner(area).height);
    let max_scroll = total.saturating_sub(height);
    view.max_scroll = Some(max_scroll);
    view.scroll = view.scroll.min(max_scroll);
    let note = if total > height {
        format!(
            " {}-{}/{} ",
            view.scroll + 1,
            (view.scroll + height).min(total),
            total
        )
    } else {
        String::new()
    };
    let counts = {
        let diff = view.diff();
        (diff.added, diff.removed)
    };
    let title = diff_title(view, key, counts);
    let inner = pane(area, borders, &title, &note, buf, theme);
    let Some(rows) = view.rows.as_ref() else {
        return;
    };
    for (y, row) in (inner.y..inner.bottom()).zip(rows.rows.iter().skip(view.scroll)) {
        let pieces: Pieces = row
            .iter()
            .map(|(t, ink)| (t.clone(), ink_style(theme, *ink)))
            .collect();
        put(buf, inner.x, y, &pieces, usize::from(inner.width));
    }
}

fn ink_style(theme: &Theme, ink: Ink) -> Style {
    match ink {
        Ink::Gutter | Ink::Context => style(theme, Role::Muted),
        Ink::Added => style(theme, Role::DiffAdded),
        Ink::AddedChange => style(theme, Role::DiffAdded).add_modifier(Modifier::REVERSED),
        Ink::Removed => style(theme, Role::DiffRemoved),
        Ink::RemovedChange => style(theme, Role::DiffRemoved).add_modifier(Modifier::REVERSED),
        Ink::Hunk => style(theme, Role::Title),
        Ink::Notice => style(theme, Role::Muted).add_modifier(Modifier::ITALIC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_times_read_as_utc_minutes() {
        // 2024-02-29T23:59:30Z, a leap day.
        assert_eq!(utc_minute(1_709_251_170_000), "2024-02-29 23:59");
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(u64::MAX), "?");
    }

    #[test]
    fn clipped_pieces_fit_and_end_in_an_ellipsis() {
        let clipped = clip(&[("版本", 1), ("abc", 2)], 5);
        assert_eq!(clipped, [("版本".to_owned(), 1), ("…".to_owned(), 2)]);
        assert_eq!(clip(&[("版本", 1)], 4), [("版本".to_owned(), 1)]);
    }
}
