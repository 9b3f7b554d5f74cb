//! Presentation mode on screen: the state word, the allowance meter and the pace over the
//! transcript, answers in the main lane and thinks beside them (or inline, dimmed, when narrow).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use crate::tui::app::{App, Layer};
use crate::tui::demo::{Activity, DemoView, Feed, Geometry, Meter};
use crate::tui::keymap::Action;
use crate::tui::live::LiveView;
use crate::tui::style::style;
use crate::tui::text::{self, fit};
use crate::tui::theme::{Role, Theme};

/// The keys the hint line names, in this order.
pub(super) const HINTS: &[Action] = &[
    Action::PauseResume,
    Action::Faster,
    Action::Slower,
    Action::NextSample,
    Action::PrevSample,
    Action::AutoPlay,
    Action::Restart,
    Action::Close,
];

/// Rows of the state word in big letters (8×8 letters, four pixels a cell).
const BIG_ROWS: u16 = 4;
/// The smallest screen that shows them: "RUNNING CODE" is 48 columns wide.
const BIG_MIN_WIDTH: u16 = 50;
const BIG_MIN_HEIGHT: u16 = 24;

/// From this many columns the thinks get a lane of their own.
pub const WIDE: u16 = 110;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &mut App, layer: usize) {
    let theme = app.settings.theme.clone();
    // The state word in big letters, where the screen has room for them.
    let big = area.height >= BIG_MIN_HEIGHT && area.width >= BIG_MIN_WIDTH;
    let [
        big_area,
        head,
        meter_area,
        info_area,
        rule_area,
        body,
        hints,
    ] = Layout::vertical([
        Constraint::Length(if big { BIG_ROWS } else { 0 }),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let hint = super::hint_line(app, usize::from(hints.width));
    frame.render_widget(Paragraph::new(hint), hints);
    let position = {
        let Some(Layer::Demo(view)) = app.layers.get(layer) else {
            return;
        };
        let at = app.visible.iter().position(|&i| i == view.sample);
        format!("sample {}/{}", at.map_or(0, |p| p + 1), app.visible.len())
    };
    let (sample_id, question) = {
        let Some(Layer::Demo(view)) = app.layers.get(layer) else {
            return;
        };
        app.samples
            .get(view.sample)
            .map_or_else(Default::default, |s| {
                (s.id.clone(), s.question.replace('\n', " "))
            })
    };
    let Some(Layer::Demo(view)) = app.layers.get_mut(layer) else {
        return;
    };
    let DemoView {
        feed, lanes, rules, ..
    } = &mut **view;
    let live_code = app.settings.exec != crate::exec::ExecMode::Off && app.consent != Some(false);
    let (live, live_clock, runs_code): (Option<&LiveView>, Option<std::time::Duration>, bool) =
        match feed {
            Feed::Live(key) => match app.active.get(key) {
                Some(run) => (Some(&run.live), Some(run.elapsed), live_code),
                None => (None, None, live_code),
            },
            Feed::Playback(playback) => (
                Some(&playback.live),
                None,
                app.runs
                    .get(playback.run)
                    .is_some_and(|r| r.exec != crate::exec::ExecMode::Off),
            ),
            Feed::Empty => (None, None, false),
        };
    let activity = live.map_or(Activity::Waiting, |live| Activity::of(live, runs_code));
    let meter = live.map(|live| Meter::of(live, rules));
    if let Some(live) = live {
        let geometry = geometry(body.width);
        lanes.sync(live, geometry, &theme);
        draw_lanes(frame, body, lanes, geometry, &theme);
    } else {
        let note = match feed {
            Feed::Live(_) => "waiting for the teacher…",
            _ => "this sample has no run, and none could be started",
        };
        frame.render_widget(
            Paragraph::new(Line::styled(note, style(&theme, Role::Muted))),
            body,
        );
    }
    let Some(Layer::Demo(view)) = app.layers.get(layer) else {
        return;
    };
    if big {
        draw_big_word(frame, big_area, activity, &theme);
    }
    let head_line = header(view, activity, &sample_id, &question, head.width, &theme);
    frame.render_widget(Paragraph::new(head_line), head);
    if let Some(meter) = meter {
        draw_meter(frame, meter_area, meter, &theme);
    }
    let info = info(view, live_clock, &position, &theme);
    frame.render_widget(
        Paragraph::new(fit_line(info, usize::from(info_area.width))),
        info_area,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(
            "─".repeat(usize::from(rule_area.width)),
            style(&theme, Role::Border),
        )),
        rule_area,
    );
}

/// The lanes' widths for a body `width` wide.
fn geometry(width: u16) -> Geometry {
    if width >= WIDE {
        let main = (width - 1) * 2 / 3;
        Geometry {
            main: usize::from(main),
            side: usize::from(width - 1 - main),
        }
    } else {
        Geometry {
            main: usize::from(width),
            side: 0,
        }
    }
}

/// The allowance meter: a line that fills and drains, in the failure colour when overspent.
fn draw_meter(frame: &mut Frame<'_>, area: Rect, meter: Meter, theme: &Theme) {
    let role = if meter.overspent() {
        Role::BudgetExceeded
    } else {
        Role::BudgetOk
    };
    let gauge = LineGauge::default()
        .ratio(meter.ratio())
        .label(Span::styled(
            format!("{} ", meter.label()),
            style(theme, role),
        ))
        .filled_style(style(theme, role))
        .unfilled_style(style(theme, Role::Muted));
    frame.render_widget(gauge, area);
}

/// The state word in big letters (8×8, four pixels a cell).
fn draw_big_word(frame: &mut Frame<'_>, area: Rect, activity: Activity, theme: &Theme) {
    let word = tui_big_text::BigText::builder()
        .pixel_size(tui_big_text::PixelSize::Quadrant)
        .style(style(theme, activity_role(activity)).add_modifier(Modifier::BOLD))
        .lines(vec![Line::from(activity.word())])
        .build();
    frame.render_widget(word, area);
}

/// The colour of the state word.
fn activity_role(activity: Activity) -> Role {
    match activity {
        Activity::Waiting => Role::Muted,
        Activity::Speaking => Role::Answer,
        Activity::Thinking => Role::Think,
        Activity::RunningCode => Role::CodeExecutable,
        Activity::Done => Role::RulePass,
    }
}

/// The state word as a badge, a spinner while code runs, and the sample.
fn header(
    view: &DemoView,
    activity: Activity,
    sample: &str,
    question: &str,
    width: u16,
    theme: &Theme,
) -> Line<'static> {
    let badge =
        style(theme, activity_role(activity)).add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let mut spans = vec![Span::styled(format!(" {} ", activity.word()), badge)];
    if activity == Activity::RunningCode {
        spans.push(Span::styled(
            format!(" {}", view.spinner()),
            style(theme, Role::CodeExecutable),
        ));
    }
    spans.push(Span::styled(
        format!("  {sample} "),
        style(theme, Role::Title),
    ));
    let used: usize = spans.iter().map(|s| text::width(&s.content)).sum();
    let room = usize::from(width).saturating_sub(used);
    spans.push(Span::raw(fit(question, room).into_owned()));
    Line::from(spans)
}

/// Playing or paused, the pace, where the playback is, auto-play and the sample's place.
fn info(
    view: &DemoView,
    live_clock: Option<std::time::Duration>,
    position: &str,
    theme: &Theme,
) -> Line<'static> {
    let muted = style(theme, Role::Muted);
    let mut spans = Vec::new();
    match &view.feed {
        Feed::Live(_) => {
            spans.push(Span::styled("● live", style(theme, Role::ReplayBadge)));
            if let Some(clock) = live_clock {
                spans.push(Span::styled(
                    format!(" · {:.1} s", clock.as_secs_f64()),
                    muted,
                ));
            }
        }
        Feed::Playback(playback) => {
            let (mark, role) = if view.paused {
                ("⏸ paused", Role::BudgetExceeded)
            } else if playback.is_done() {
                ("■ played", Role::Muted)
            } else {
                ("▶ playing", Role::BudgetOk)
            };
            spans.push(Span::styled(mark, style(theme, role)));
            spans.push(Span::styled(
                format!(" {}", view.pace_label()),
                style(theme, Role::Title),
            ));
            let timing = if playback.timed {
                "recorded timing"
            } else {
                "replay pace (no recorded timing)"
            };
            spans.push(Span::styled(
                format!(
                    " · {:.1} s of {:.1} s · {timing}",
                    playback.position.min(playback.length()).as_secs_f64(),
                    playback.length().as_secs_f64()
                ),
                muted,
            ));
        }
        Feed::Empty => spans.push(Span::styled("no run", muted)),
    }
    let autoplay = if view.autoplay {
        " · auto-play on"
    } else {
        " · auto-play off"
    };
    spans.push(Span::styled(format!("{autoplay} · {position}"), muted));
    Line::from(spans)
}

/// `line` cut to `max` cells.
fn fit_line(line: Line<'static>, max: usize) -> Line<'static> {
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let room = max.saturating_sub(used);
        if room == 0 {
            break;
        }
        let cut = fit(&span.content, room).into_owned();
        used += text::width(&cut);
        spans.push(Span::styled(cut, span.style));
    }
    Line::from(spans)
}

/// The tail of the lanes (the demo follows the stream), the think lane beside the answers.
fn draw_lanes(
    frame: &mut Frame<'_>,
    area: Rect,
    lanes: &crate::tui::demo::Lanes,
    geometry: Geometry,
    theme: &Theme,
) {
    let rows = usize::from(area.height);
    let top = lanes.height().saturating_sub(rows);
    let main_width = u16::try_from(geometry.main).unwrap_or(area.width);
    let side_x = area.x + main_width + 1;
    let buffer = frame.buffer_mut();
    if geometry.side > 0 {
        for y in area.y..area.y + area.height {
            buffer.set_string(area.x + main_width, y, "│", style(theme, Role::Border));
        }
    }
    for block in lanes.visible(top, rows) {
        let (x, width) = if block.side {
            (side_x, u16::try_from(geometry.side).unwrap_or(0))
        } else {
            (area.x, main_width)
        };
        let skip = top.saturating_sub(block.top);
        for (k, line) in block.lines.iter().enumerate().skip(skip) {
            let row = block.top + k - top;
            if row >= rows {
                break;
            }
            let y = area.y + u16::try_from(row).unwrap_or(0);
            buffer.set_line(x, y, line, width);
        }
    }
}
