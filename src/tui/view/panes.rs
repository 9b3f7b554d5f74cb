//! The live view and the rules pane of the selected sample.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::pane_block;
use super::samples::one_line;
use crate::store::Verdict;
use crate::transcript::{Outcome, RuleResult};
use crate::tui::app::{App, Pane};
use crate::tui::live::LiveView;
use crate::tui::style::style;
use crate::tui::text::{self, fit, width};
use crate::tui::theme::Role;

/// A prompt version's id as the screen shows it.
fn short_id(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

/// Rows the question may take above the transcript.
const QUESTION_ROWS: u16 = 3;

pub(super) fn live(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
    let theme = app.settings.theme.clone();
    let Some(sample) = app.selected_sample().cloned() else {
        let block = pane_block(app, Pane::Live, Line::from(" Transcript "));
        frame.render_widget(
            Paragraph::new("No samples: give a file with --samples.").block(block),
            area,
        );
        return;
    };
    let selected = app.selected;
    let active_key = app.active_for(selected).map(|(k, _)| k);
    let badges = badges(app, &sample.id, active_key, &theme);
    let block = pane_block(app, Pane::Live, Line::from(badges));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Wrapped by display width (a question is often one long run of Chinese without spaces);
    // a question longer than QUESTION_ROWS rows ends in an ellipsis.
    let max_rows = usize::from(QUESTION_ROWS);
    let question = one_line(&sample.question);
    let mut wrapped = text::wrap(
        &[
            ("Q ", Role::KeyHint),
            (text::printable(&question).as_ref(), Role::Title),
        ],
        usize::from(inner.width),
    );
    if wrapped.len() > max_rows {
        wrapped.truncate(max_rows);
        if let Some(last) = wrapped.last_mut().and_then(|row| row.last_mut()) {
            last.0 =
                text::fit(&format!("{}{}", last.0, text::ELLIPSIS), width(&last.0)).into_owned();
        }
    }
    let rows = u16::try_from(wrapped.len()).unwrap_or(QUESTION_ROWS);
    let question: Vec<Line<'static>> = wrapped
        .into_iter()
        .map(|row| {
            Line::from(
                row.into_iter()
                    .map(|(t, role)| Span::styled(t, style(&theme, role)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let question = Paragraph::new(question);
    let [q_area, rule, body] = Layout::vertical([
        Constraint::Length(rows),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(question, q_area);
    frame.render_widget(
        Paragraph::new("─".repeat(usize::from(rule.width))).style(style(&theme, Role::Border)),
        rule,
    );
    let view: Option<&mut LiveView> = match active_key {
        Some(key) => app.active.get_mut(&key).map(|a| &mut a.live),
        None => app.shown.as_mut().map(|s| &mut s.live),
    };
    match view {
        Some(view) => view.render(body, frame.buffer_mut(), &theme),
        None => {
            let hint =
                super::super::update::key_hint_for(app, crate::tui::keymap::Action::RunSelected);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("Not run yet: {hint} runs it with the saved prompt."),
                    style(&theme, Role::Muted),
                ))
                .wrap(Wrap { trim: false }),
                body,
            );
        }
    }
}

/// The rules pane's title: how many rules pass and fail.
fn rules_title(results: &[RuleResult], theme: &crate::tui::theme::Theme) -> Vec<Span<'static>> {
    let failed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .count();
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .count();
    if results.is_empty() {
        vec![Span::styled(" Rules ", style(theme, Role::Title))]
    } else {
        vec![
            Span::styled(" Rules ", style(theme, Role::Title)),
            Span::styled(format!("✓{passed} "), style(theme, Role::RulePass)),
            Span::styled(
                format!("✗{failed} "),
                style(
                    theme,
                    if failed > 0 {
                        Role::RuleFail
                    } else {
                        Role::Muted
                    },
                ),
            ),
        ]
    }
}

/// The live pane's title: the sample, and how its run stands.
fn badges(
    app: &App,
    id: &str,
    active_key: Option<crate::tui::app::RunKey>,
    theme: &crate::tui::theme::Theme,
) -> Vec<Span<'static>> {
    let mut badges: Vec<Span<'static>> =
        vec![Span::styled(format!(" {id} "), style(theme, Role::Title))];
    if let Some(key) = active_key {
        if let Some(run) = app.active.get(&key) {
            let what = match (run.cancelling, run.executing) {
                (true, _) => "cancelling".to_owned(),
                (false, Some(block)) => format!("running code block {}", block + 1),
                (false, None) if run.live.text().is_empty() => "waiting for the teacher".to_owned(),
                (false, None) => "streaming".to_owned(),
            };
            badges.push(Span::styled(
                format!("▶ {what} {:.1}s ", run.elapsed.as_secs_f64()),
                style(theme, Role::KeyHint),
            ));
        }
    } else if let Some(shown) = &app.shown {
        let run = &app.runs[shown.run];
        let status = run.status.as_str();
        let role = if run.is_complete() {
            Role::Muted
        } else {
            Role::RuleFail
        };
        badges.push(Span::styled(format!("{status} "), style(theme, role)));
        // Opened from the run list or the grid: say it is not the latest, and which it is.
        if let Some(runs) = app.runs_of.get(id)
            && runs.last() != Some(&shown.run)
        {
            let number = runs
                .iter()
                .position(|&r| r == shown.run)
                .map_or(0, |p| p + 1);
            badges.push(Span::styled(
                format!(
                    "earlier run {number} of {} (prompt {}) ",
                    runs.len(),
                    app.version_name(&run.prompt_id)
                ),
                style(theme, Role::KeyHint),
            ));
        }
        if shown.edited {
            badges.push(Span::styled("edited ", style(theme, Role::Edited)));
        }
        if run.is_placeholder() {
            badges.push(Span::styled(
                "placeholder, not a model's answer ",
                style(theme, Role::RuleFail),
            ));
        }
        if let Some(curation) = app.curation.get(&run.run_id) {
            let label = match (curation.verdict, &curation.reason) {
                (Some(Verdict::Accepted), _) if curation.override_rules => {
                    Some(("accepted anyway ".to_owned(), Role::Accepted))
                }
                (Some(Verdict::Accepted), _) => Some(("accepted ".to_owned(), Role::Accepted)),
                (Some(Verdict::Rejected), Some(reason)) => Some((
                    format!("rejected: {} ", fit(&one_line(reason), 30)),
                    Role::Rejected,
                )),
                (Some(Verdict::Rejected), None) => Some(("rejected ".to_owned(), Role::Rejected)),
                _ => None,
            };
            if let Some((label, role)) = label {
                badges.push(Span::styled(label, style(theme, role)));
            }
        }
        // A decision on an earlier run of this sample stays in sight after a re-run, and so
        // does the accepted run an export would take.
        if let Some(review) = app.review(app.selected) {
            if review.run != shown.run {
                let earlier = &app.runs[review.run];
                badges.push(Span::styled(
                    format!(
                        "{} earlier (prompt {}) ",
                        review.as_str(),
                        short_id(&earlier.prompt_id)
                    ),
                    style(theme, Role::Muted),
                ));
            }
            if let Some(accepted) = review
                .accepted
                .filter(|&a| a != review.run && a != shown.run)
            {
                badges.push(Span::styled(
                    format!(
                        "exports the run accepted under prompt {} ",
                        short_id(&app.runs[accepted].prompt_id)
                    ),
                    style(theme, Role::Accepted),
                ));
            }
        }
        if let Some(error) = &run.error {
            badges.push(Span::styled(
                format!("{} ", fit(&one_line(error), 40)),
                style(theme, Role::Error),
            ));
        }
    }
    badges
}

pub(super) fn rules(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
    let theme = app.settings.theme.clone();
    let selected = app.selected;
    let active_key = app.active_for(selected).map(|(k, _)| k);
    let results: Vec<RuleResult> = match active_key {
        Some(key) => app
            .active
            .get_mut(&key)
            .map(|a| a.live.rules().to_vec())
            .unwrap_or_default(),
        None => app
            .shown
            .as_mut()
            .map(|s| s.live.rules().to_vec())
            .unwrap_or_default(),
    };
    let title = rules_title(&results, &theme);
    // The block's inner area, worked out before the title (which says what is scrolled off).
    let inner = pane_block(app, Pane::Rules, Line::default()).inner(area);
    let width = usize::from(inner.width);
    let lines: Vec<Line<'static>> = if results.is_empty() {
        app.settings
            .rules
            .enabled()
            .map(|id| Line::from(Span::styled(format!("· {id}"), style(&theme, Role::Muted))))
            .collect()
    } else {
        // Failures first: they are what the curator needs to see in a short pane.
        let mut ordered: Vec<&RuleResult> = results.iter().collect();
        ordered.sort_by_key(|r| match r.outcome {
            Outcome::Fail => 0,
            Outcome::Pass => 1,
            Outcome::Skip => 2,
        });
        ordered
            .into_iter()
            .map(|r| {
                let (mark, role) = match r.outcome {
                    Outcome::Pass => ("✓", Role::RulePass),
                    Outcome::Fail => ("✗", Role::RuleFail),
                    Outcome::Skip => ("–", Role::RuleSkip),
                };
                let head = format!("{mark} {:<20}", r.id.as_str());
                let rest = width.saturating_sub(text::width(&head) + 1);
                Line::from(vec![
                    Span::styled(head, style(&theme, role)),
                    Span::raw(" "),
                    Span::styled(
                        fit(&one_line(&r.message), rest).into_owned(),
                        style(&theme, Role::Muted),
                    ),
                ])
            })
            .collect()
    };
    let height = usize::from(inner.height);
    let max_scroll = lines.len().saturating_sub(height);
    app.rules_scroll = app
        .rules_scroll
        .min(u16::try_from(max_scroll).unwrap_or(u16::MAX));
    let scroll = usize::from(app.rules_scroll);
    let mut title = title;
    if scroll > 0 {
        title.push(Span::styled(
            format!("↑{scroll} "),
            style(&theme, Role::KeyHint),
        ));
    }
    let below = max_scroll - scroll;
    if below > 0 {
        title.push(Span::styled(
            format!("↓{below} "),
            style(&theme, Role::KeyHint),
        ));
    }
    let block = pane_block(app, Pane::Rules, Line::from(title));
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines).scroll((app.rules_scroll, 0)), inner);
}
