//! Presentation mode: opening it, its keys, and its frames.

use std::sync::Arc;
use std::time::Duration;

use super::Command;
use super::actions::{rules_of_version, select_visible, start_run};
use crate::tui::app::{App, Layer};
use crate::tui::demo::{DemoView, Feed, Playback};
use crate::tui::keymap::Action;

/// Opens presentation mode on the selected sample at `pace`; `autoplay` walks the list.
pub(super) fn open(app: &mut App, pace: f64, autoplay: bool, commands: &mut Vec<Command>) {
    if app.visible.is_empty() {
        super::notify(app, "no samples in this list");
        return;
    }
    if !app.visible.contains(&app.selected) {
        select_visible(app, 0);
    }
    let sample = app.selected;
    let preferred = app.shown_run_index();
    let (feed, rules) = feed_of(app, sample, preferred, commands);
    let mut view = DemoView::new(sample, feed, rules, pace);
    view.autoplay = autoplay;
    app.layers.push(Layer::Demo(Box::new(view)));
}

/// What to show of sample `sample`: its run in flight, else `preferred` or its latest run
/// played from the start, else a run started now.
fn feed_of(
    app: &mut App,
    sample: usize,
    preferred: Option<usize>,
    commands: &mut Vec<Command>,
) -> (Feed, Arc<crate::transcript::Rules>) {
    if let Some((key, _)) = app.active_for(sample) {
        return (Feed::Live(key), Arc::clone(app.rules()));
    }
    if let Some((&key, pending)) = app.queue.pending.iter().find(|(_, p)| p.sample == sample) {
        return (Feed::Live(key), Arc::clone(&pending.rules));
    }
    let latest = app
        .samples
        .get(sample)
        .and_then(|s| app.latest.get(&s.id))
        .copied();
    if let Some(run) = preferred.or(latest) {
        let rules = rules_of_version(app, &app.runs[run].prompt_id);
        let playback = Playback::new(run, &app.runs[run], Arc::clone(&rules));
        return (Feed::Playback(Box::new(playback)), rules);
    }
    let rules = Arc::clone(app.rules());
    let key = start_run(app, sample, commands);
    (Feed::Live(key), rules)
}

/// Shows the visible sample `step` places from the demo's (wrapping round).
fn step_sample(app: &mut App, step: isize, commands: &mut Vec<Command>) {
    let Some(Layer::Demo(view)) = app.layers.last() else {
        return;
    };
    let n = app.visible.len();
    if n == 0 {
        return;
    }
    let at = app
        .visible
        .iter()
        .position(|&i| i == view.sample)
        .unwrap_or(0);
    let n_signed = isize::try_from(n).unwrap_or(isize::MAX);
    let at_signed = isize::try_from(at).unwrap_or(0);
    let position = usize::try_from((at_signed + step).rem_euclid(n_signed)).unwrap_or(0);
    select_visible(app, position);
    let sample = app.visible[position];
    let (feed, rules) = feed_of(app, sample, None, commands);
    if let Some(Layer::Demo(view)) = app.layers.last_mut() {
        view.show(sample, feed, rules);
    }
}

pub(super) fn action(app: &mut App, action: Option<Action>, commands: &mut Vec<Command>) {
    let Some(Layer::Demo(view)) = app.layers.last_mut() else {
        return;
    };
    match action {
        Some(Action::PauseResume) => view.paused = !view.paused,
        Some(Action::Faster) => view.faster(),
        Some(Action::Slower) => view.slower(),
        Some(Action::AutoPlay) => view.autoplay = !view.autoplay,
        Some(Action::Restart) => {
            if let Feed::Playback(playback) = &view.feed {
                let run = playback.run;
                let rules = Arc::clone(&view.rules);
                let playback = Playback::new(run, &app.runs[run], Arc::clone(&rules));
                view.show(view.sample, Feed::Playback(Box::new(playback)), rules);
            }
        }
        Some(Action::NextSample) => step_sample(app, 1, commands),
        Some(Action::PrevSample) => step_sample(app, -1, commands),
        Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
        Some(Action::Close | Action::Quit) => {
            app.layers.pop();
        }
        _ => {}
    }
}

/// A frame `elapsed` after the last: the playback moves, a live run that ended is shown whole,
/// and auto-play moves on once a finished run has been held long enough.
pub(super) fn frame(app: &mut App, elapsed: Duration, commands: &mut Vec<Command>) {
    let Some(Layer::Demo(view)) = app
        .layers
        .iter_mut()
        .rev()
        .find(|l| matches!(l, Layer::Demo(_)))
    else {
        return;
    };
    view.tick(elapsed);
    if let Feed::Live(key) = view.feed
        && !app.active.contains_key(&key)
        && !app.queue.pending.contains_key(&key)
    {
        // The run ended (or was dropped): its record, if any, shown whole.
        let sample = view.sample;
        let latest = app
            .samples
            .get(sample)
            .and_then(|s| app.latest.get(&s.id))
            .copied();
        view.feed = match latest {
            Some(run) => Feed::Playback(Box::new(Playback::at_end(
                run,
                &app.runs[run],
                Arc::clone(&view.rules),
            ))),
            None => Feed::Empty,
        };
        view.lanes = crate::tui::demo::Lanes::default();
        view.ended = Some(view.clock);
    }
    if let Feed::Empty = view.feed
        && view.ended.is_none()
    {
        view.ended = Some(view.clock);
    }
    if view.hold_over() && matches!(app.layers.last(), Some(Layer::Demo(_))) {
        step_sample(app, 1, commands);
    }
}
