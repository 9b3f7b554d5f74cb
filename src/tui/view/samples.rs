//! The samples pane: each sample with its state, counts in the title, the filter at the foot.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};

use super::pane_block;
use crate::store::Verdict;
use crate::tui::app::{App, Layer, Pane, SampleState};
use crate::tui::style::style;
use crate::tui::text::{self, fit};
use crate::tui::theme::Role;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let states = app.states();
    let title = title(app, &states);
    let block = pane_block(app, Pane::Samples, Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filtering = matches!(app.top(), Some(Layer::Filter)) || !app.filter.is_empty();
    let list_height = inner.height.saturating_sub(u16::from(filtering));
    let list_area = Rect {
        height: list_height,
        ..inner
    };
    let width = usize::from(inner.width);
    let selected = app.visible.iter().position(|&i| i == app.selected);
    // The selection stays on screen: the list starts as late as that needs. Only the rows on
    // screen are built, however many samples there are.
    let height = usize::from(list_height);
    let offset = selected.map_or(0, |at| at.saturating_sub(height.saturating_sub(1)));
    let items: Vec<ListItem<'_>> = app
        .visible
        .iter()
        .skip(offset)
        .take(height)
        .map(|&i| {
            let sample = &app.samples[i];
            let state = states[i];
            let review = app.review(i);
            let (mark, role) = match &review {
                Some(r) if r.on_latest => (r.mark(), verdict_role(r.verdict)),
                Some(r) => (r.mark(), Role::Muted),
                None => (" ", Role::Muted),
            };
            let head = format!(" {} ", sample.id);
            let rest = width.saturating_sub(text::width(&head) + 2);
            ListItem::new(Line::from(vec![
                Span::styled(state.mark(), style(theme, role_of(state))),
                Span::styled(mark, style(theme, role)),
                Span::styled(head, style(theme, role_of(state))),
                Span::styled(
                    fit(&one_line(&sample.question), rest).into_owned(),
                    style(theme, Role::Answer),
                ),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(selected.map(|at| at - offset));
    frame.render_stateful_widget(
        List::new(items).highlight_style(style(theme, Role::Selection)),
        list_area,
        &mut state,
    );
    if app.visible.is_empty() && list_height > 0 {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no sample matches the filter",
                style(theme, Role::Muted),
            )),
            list_area,
        );
    }
    if filtering {
        let line = Rect {
            y: inner.y + list_height,
            height: 1,
            ..inner
        };
        let cursor = if matches!(app.top(), Some(Layer::Filter)) {
            "▏"
        } else {
            ""
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("/", style(theme, Role::KeyHint)),
                Span::raw(format!("{}{cursor}", app.filter)),
                Span::styled(
                    format!("  {}/{}", app.visible.len(), app.samples.len()),
                    style(theme, Role::Muted),
                ),
            ])),
            line,
        );
    }
}

/// The pane's title: how many samples, by run state and by decision, and how many wait for
/// review.
fn title(app: &App, states: &[SampleState]) -> Vec<Span<'static>> {
    let theme = &app.settings.theme;
    let counts = App::state_counts(states);
    let decided = app.decision_counts();
    let unreviewed = states
        .iter()
        .enumerate()
        .filter(|&(i, &state)| app.unreviewed(i, state))
        .count();
    let mut title = vec![Span::styled(
        format!(" Samples {} ", app.samples.len()),
        style(theme, Role::Title),
    )];
    for state in SampleState::ALL {
        if state == SampleState::NotRun {
            continue;
        }
        if let Some(n) = counts.get(&state).filter(|n| **n > 0) {
            title.push(Span::styled(
                format!("{}{n} ", state.mark()),
                style(theme, role_of(state)),
            ));
        }
    }
    for ((n, mark), role) in
        decided
            .into_iter()
            .zip(["A", "R", "E"])
            .zip([Role::Accepted, Role::Rejected, Role::Edited])
    {
        if n > 0 {
            title.push(Span::styled(format!("{mark}{n} "), style(theme, role)));
        }
    }
    if unreviewed > 0 {
        title.push(Span::styled(
            format!("?{unreviewed} "),
            style(theme, Role::KeyHint),
        ));
    }
    title
}

pub(super) fn role_of(state: SampleState) -> Role {
    match state {
        SampleState::NotRun | SampleState::Queued => Role::Muted,
        SampleState::Running => Role::KeyHint,
        SampleState::Passed => Role::RulePass,
        SampleState::RulesFailed | SampleState::Incomplete => Role::RuleFail,
    }
}

/// How a decision's mark is drawn.
fn verdict_role(verdict: Verdict) -> Role {
    match verdict {
        Verdict::Accepted => Role::Accepted,
        Verdict::Rejected => Role::Rejected,
        Verdict::Edited | Verdict::Revoked => Role::Edited,
    }
}

/// The first line of `text` with runs of whitespace as one space.
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
