//! Main-screen actions and the results of runs, decisions and saves.

use std::sync::Arc;
use std::time::Duration;

use super::{Command, notify, notify_error};
use crate::prompt::PromptFile;
use crate::run::{Job, Judge, PromptVersion, Run, RunEvent};
use ratatui_textarea::{TextArea, WrapMode};

use crate::store::{Decision, Verdict};
use crate::transcript::{Outcome, RuleId, Rules};
use crate::tui::app::{
    ActiveRun, App, BulkAction, BulkDialog, Layer, OutputEditor, Pane, Pending, RejectDialog,
    RunKey, SampleState, ShownRun,
};
use crate::tui::history::HistoryView;
use crate::tui::keymap::Action;
use crate::tui::live::LiveView;

/// Rows a page key moves in the live view.
const PAGE_ROWS: isize = 20;
/// Samples a page key moves in the list.
const PAGE_SAMPLES: usize = 10;

pub(super) fn main_action(app: &mut App, action: Action, commands: &mut Vec<Command>) {
    match action {
        // Runs in flight would be cut short, an unsaved prompt edit lost: ask first.
        Action::Quit if app.busy() || app.prompt.dirty => app.layers.push(Layer::ConfirmQuit),
        Action::Quit => quit(app, commands),
        Action::Help => app.layers.push(Layer::Help { scroll: 0 }),
        Action::NextPane => app.focus = app.focus.next(),
        Action::PrevPane => app.focus = app.focus.prev(),
        Action::Down => move_or_scroll(app, 1),
        Action::Up => move_or_scroll(app, -1),
        Action::PageDown => page(app, 1),
        Action::PageUp => page(app, -1),
        Action::Top => match app.focus {
            Pane::Live => {
                if let Some(live) = live_mut(app) {
                    live.scroll_to_top();
                }
            }
            _ => select_visible(app, 0),
        },
        Action::Bottom => match app.focus {
            Pane::Live => {
                if let Some(live) = live_mut(app) {
                    live.scroll_to_bottom();
                }
            }
            _ => select_visible(app, app.visible.len().saturating_sub(1)),
        },
        Action::NextSample => move_selection(app, 1),
        Action::PrevSample => move_selection(app, -1),
        Action::RunSelected => run_selected(app, commands),
        Action::RunAll => super::batch::open(app),
        Action::Cancel => cancel(app, commands),
        Action::Regenerate => {
            if let Some(i) = startable(app) {
                start_run(app, i, commands);
            }
        }
        Action::Accept => accept(app, false, commands),
        Action::AcceptAnyway => accept(app, true, commands),
        Action::Reject => {
            if let Some(run) = decidable(app) {
                app.layers.push(Layer::Reject(RejectDialog {
                    run,
                    selected: None,
                    text: String::new(),
                }));
            }
        }
        Action::Undo => undo(app, commands),
        Action::Bulk => bulk(app),
        Action::ShowQuestion => {
            if app.selected_sample().is_some() {
                app.layers.push(Layer::Question { scroll: 0 });
            }
        }
        Action::Edit => {
            if let Some((run, text)) = editable(app) {
                let rules = rules_of_version(app, &app.runs[run].prompt_id);
                app.layers
                    .push(Layer::EditOutput(Box::new(output_editor(run, text, rules))));
            }
        }
        Action::EditExternal => {
            if let Some((run, text)) = editable(app) {
                commands.push(Command::EditExternally { run, text });
            }
        }
        Action::Export => app
            .layers
            .push(Layer::Export(super::layers::export_dialog())),
        Action::Filter => app.layers.push(Layer::Filter),
        Action::ToggleReasoning => {
            if let Some(live) = live_mut(app) {
                live.toggle_reasoning();
            }
        }
        Action::PromptEditor => app.layers.push(Layer::PromptEditor),
        Action::PromptHistory => {
            let text = app.prompt.editor_text();
            let id = crate::run::prompt_id(&text);
            let mut view = HistoryView::new(
                &app.runs,
                &app.prompt_texts(),
                (&id, Arc::from(text)),
                &app.settings.rule_layers,
            );
            view.set_labels(&app.versions);
            app.layers.push(Layer::History(Box::new(view)));
        }
        Action::Demo => super::demo::open(app, 1.0, false, commands),
        Action::Interrupt => open_interject(app, commands),
        other => super::views::main_action(app, other),
    }
}

/// The output editor on run `run`'s `text`: soft-wrapped by display width, with its think
/// budgets and rules judged as it changes by `rules` (the run's version's).
fn output_editor(run: usize, text: String, rules: Arc<Rules>) -> OutputEditor {
    let mut area = TextArea::new(text.split('\n').map(str::to_owned).collect());
    area.set_max_histories(256);
    area.set_wrap_mode(WrapMode::WordOrGlyph);
    let mut preview = LiveView::new(rules);
    preview.rewrite(&text);
    OutputEditor {
        run,
        area,
        original: text,
        preview,
        confirm_discard: false,
    }
}

pub(super) fn quit(app: &mut App, commands: &mut Vec<Command>) {
    if app.busy() {
        for run in app.active.values_mut() {
            run.cancelling = true;
        }
        app.queue.pending.clear();
        commands.push(Command::CancelAll);
    }
    commands.push(Command::SaveSession(app.session()));
    commands.push(Command::Quit);
    app.quit = true;
}

/// The live view on screen: the selected sample's run in flight, else its finished run.
pub(super) fn live_mut(app: &mut App) -> Option<&mut LiveView> {
    let selected = app.selected;
    if let Some(run) = app.active.values_mut().find(|a| a.sample == selected) {
        return Some(&mut run.live);
    }
    app.shown.as_mut().map(|s| &mut s.live)
}

fn move_or_scroll(app: &mut App, step: isize) {
    if app.focus == Pane::Rules {
        let rows = i16::try_from(step.clamp(-99, 99)).unwrap_or(0);
        app.rules_scroll = app.rules_scroll.saturating_add_signed(rows);
        return;
    }
    if app.focus == Pane::Live {
        if let Some(live) = live_mut(app) {
            live.scroll_by(step);
        }
    } else {
        move_selection(app, step);
    }
}

fn page(app: &mut App, direction: isize) {
    if app.focus == Pane::Rules {
        let rows = if direction > 0 { 5 } else { -5 };
        app.rules_scroll = app.rules_scroll.saturating_add_signed(rows);
        return;
    }
    if app.focus == Pane::Live {
        if let Some(live) = live_mut(app) {
            live.scroll_by(direction * PAGE_ROWS);
        }
        return;
    }
    let at = position_in_visible(app).unwrap_or(0);
    let target = if direction > 0 {
        at + PAGE_SAMPLES
    } else {
        at.saturating_sub(PAGE_SAMPLES)
    };
    select_visible(app, target.min(app.visible.len().saturating_sub(1)));
}

fn position_in_visible(app: &App) -> Option<usize> {
    app.visible.iter().position(|&i| i == app.selected)
}

/// Moves the selection `step` rows within the visible samples.
pub(super) fn move_selection(app: &mut App, step: isize) {
    if app.visible.is_empty() {
        return;
    }
    let target = match position_in_visible(app) {
        Some(at) => at
            .saturating_add_signed(step)
            .min(app.visible.len().saturating_sub(1)),
        None => 0,
    };
    select_visible(app, target);
}

pub(super) fn select_visible(app: &mut App, position: usize) {
    let Some(&index) = app.visible.get(position) else {
        return;
    };
    if index != app.selected {
        app.selected = index;
        app.viewing = None;
        app.session_dirty = true;
        app.rules_scroll = 0;
        app.show_selected();
    }
}

/// Moves to the next visible sample after the selected one that waits for a curator (wrapping
/// round); `decided` is the sample just decided on, which still counts as unreviewed until its
/// decision is on disk. Says so when none is left.
pub(super) fn advance(app: &mut App, decided: usize) {
    let states = app.states();
    let at = position_in_visible(app).unwrap_or(0);
    let n = app.visible.len();
    let next = (1..=n).map(|step| (at + step) % n).find(|&p| {
        let i = app.visible[p];
        i != decided && app.unreviewed(i, states[i])
    });
    match next {
        Some(position) => select_visible(app, position),
        None => notify(app, "no unreviewed sample left in this list"),
    }
}

/// The selected sample when no run of it is in flight.
fn startable(app: &mut App) -> Option<usize> {
    let index = app.selected;
    app.selected_sample()?;
    if app.active_for(index).is_some() {
        notify(app, "this sample is running (Esc cancels it)");
        return None;
    }
    Some(index)
}

fn run_selected(app: &mut App, commands: &mut Vec<Command>) {
    let Some(index) = startable(app) else {
        return;
    };
    if app.latest_run(index).is_some() {
        let key = key_hint(app, Action::Regenerate);
        notify(app, format!("this sample has a run: {key} runs it again"));
        return;
    }
    start_run(app, index, commands);
}

pub(super) fn key_hint(app: &App, action: Action) -> String {
    app.settings
        .keymap
        .keys(crate::tui::keymap::Scope::Main, action)
        .into_iter()
        .next()
        .unwrap_or_else(|| action.as_str().to_owned())
}

fn cancel(app: &mut App, commands: &mut Vec<Command>) {
    let selected = app.selected;
    if let Some((key, _)) = app.active_for(selected) {
        if let Some(run) = app.active.get_mut(&key) {
            run.cancelling = true;
        }
        commands.push(Command::CancelRun(key));
        notify(
            app,
            "cancelling the run (what arrived is kept as incomplete)",
        );
    } else if !app.queue.pending.is_empty() {
        let waiting: Vec<RunKey> = app.queue.pending.keys().copied().collect();
        let n = waiting.len();
        for key in waiting {
            unqueue(app, key);
        }
        commands.push(Command::DropQueued);
        notify(
            app,
            format!("{n} queued runs dropped; runs in flight go on"),
        );
    } else if !app.filter.is_empty() {
        app.filter.clear();
        app.refilter();
    }
}

/// Holds the selected sample's streaming run where it is and opens the line to break in on it.
fn open_interject(app: &mut App, commands: &mut Vec<Command>) {
    let selected = app.selected;
    let streaming = app
        .active
        .iter()
        .find(|(_, run)| run.sample == selected && !run.cancelling)
        .map(|(key, run)| (*key, run.interrupter.clone()));
    match streaming {
        Some((key, interrupter)) => {
            commands.push(Command::Hold { interrupter });
            app.layers.push(Layer::Interject {
                key,
                text: String::new(),
            });
        }
        None => notify(
            app,
            "nothing is streaming for this sample: I breaks in on a run",
        ),
    }
}

/// Runs sample `index` with the saved prompt, before any batch waiting.
pub(super) fn start_run(app: &mut App, index: usize, commands: &mut Vec<Command>) -> RunKey {
    submit(app, index, true, commands)
}

/// Asks the run service for a run of sample `index` with the saved prompt; it shows as queued
/// until the service starts it.
pub(super) fn submit(
    app: &mut App,
    index: usize,
    next: bool,
    commands: &mut Vec<Command>,
) -> RunKey {
    let key = app.next_key;
    app.next_key += 1;
    let sample = &app.samples[index];
    let mut job = Job::new(
        sample.id.clone(),
        sample.question.clone(),
        Arc::clone(&app.prompt.version),
    );
    let interrupter = crate::run::Interrupter::new();
    job.interrupter = Some(interrupter.clone());
    app.queue.pending.insert(
        key,
        Pending {
            sample: index,
            rules: Arc::clone(app.rules()),
            interrupter,
        },
    );
    if index == app.selected {
        app.shown = None;
        app.viewing = None;
    }
    if app.prompt.dirty {
        notify(
            app,
            "runs use the saved prompt: the editor has unsaved changes (Ctrl-S saves)",
        );
    }
    commands.push(Command::Submit { key, job, next });
    key
}

/// The run service gave run `key` a slot: it is in flight.
pub(super) fn run_started(app: &mut App, key: RunKey) {
    let Some(pending) = app.queue.pending.remove(&key) else {
        return;
    };
    app.active.insert(
        key,
        ActiveRun {
            sample: pending.sample,
            live: LiveView::new(pending.rules),
            first_token: None,
            elapsed: Duration::ZERO,
            executing: None,
            cancelling: false,
            interrupter: pending.interrupter,
        },
    );
}

/// Run `key` was cancelled while it waited, or before the teacher sent anything: nothing is
/// recorded.
pub(super) fn run_dropped(app: &mut App, key: RunKey, started: bool) {
    if !started {
        unqueue(app, key);
        return;
    }
    let Some(ActiveRun { sample, .. }) = app.active.remove(&key) else {
        return;
    };
    if app.queue.keys.remove(&key) {
        app.queue.done += 1;
        batch_done(app);
    }
    if !app.quit {
        notify(
            app,
            format!(
                "{}: cancelled before the teacher sent anything (nothing recorded)",
                app.samples[sample].id
            ),
        );
    }
    if sample == app.selected {
        app.show_selected();
    }
}

/// Forgets queued run `key`: it leaves the batch it was part of.
fn unqueue(app: &mut App, key: RunKey) {
    app.queue.pending.remove(&key);
    if app.queue.keys.remove(&key) {
        app.queue.total = app.queue.total.saturating_sub(1);
    }
}

/// Says so when the last run of a batch ended.
fn batch_done(app: &mut App) {
    if app.queue.pending.is_empty() && app.queue.keys.is_empty() {
        let total = app.queue.total;
        notify(app, format!("all {total} queued runs finished"));
    }
}

pub(super) fn run_event(app: &mut App, key: RunKey, elapsed: Duration, event: RunEvent) {
    let Some(run) = app.active.get_mut(&key) else {
        return;
    };
    run.elapsed = elapsed;
    match event {
        RunEvent::Text { text, .. } => {
            if run.first_token.is_none() {
                run.first_token = Some(elapsed);
            }
            run.live.push(&text);
        }
        RunEvent::Reasoning(text) => {
            if run.first_token.is_none() {
                run.first_token = Some(elapsed);
            }
            run.live.push_reasoning(&text);
        }
        RunEvent::Rewritten(text) => run.live.rewrite(&text),
        RunEvent::ExecStarted { block, .. } => run.executing = Some(block),
        RunEvent::ExecFinished { .. } => run.executing = None,
        RunEvent::Interrupted { text, .. } => run.live.interrupt(&text),
        RunEvent::Usage(_) | RunEvent::Continuing => {}
    }
}

/// Adds the run's tokens and speed to the status bar's figures: the provider's usage, or an
/// estimate from the text (marked as such) when it sent none.
fn count_tokens(stats: &mut crate::tui::app::Stats, run: &Run) {
    if let Some(ms) = run.timings.first_token_ms {
        stats.last_first_token = Some(Duration::from_millis(ms));
    }
    if let Some(usage) = run.usage {
        stats.tokens += usage.completion_tokens;
        if run.timings.tokens_per_sec.is_some() {
            stats.last_tokens_per_sec = run.timings.tokens_per_sec;
            stats.speed_estimated = false;
        }
        return;
    }
    let tokens = crate::run::estimate_tokens(&run.transcript)
        + run
            .reasoning
            .as_deref()
            .map_or(0, crate::run::estimate_tokens);
    if tokens == 0 {
        return;
    }
    stats.tokens += tokens;
    stats.tokens_estimated = true;
    let streaming_ms = run
        .timings
        .total_ms
        .saturating_sub(run.timings.exec_ms)
        .saturating_sub(run.timings.first_token_ms.unwrap_or(0));
    if streaming_ms > 0 {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let speed = tokens as f64 * 1000.0 / streaming_ms as f64;
        stats.last_tokens_per_sec = Some(speed);
        stats.speed_estimated = true;
    }
}

pub(super) fn run_finished(app: &mut App, key: RunKey, run: Run, stored: Result<(), String>) {
    let Some(mut active) = app.active.remove(&key) else {
        return;
    };
    app.stats.runs += 1;
    count_tokens(&mut app.stats, &run);
    if let Err(e) = stored {
        notify_error(
            app,
            format!("the run of {} could not be saved: {e}", run.sample_id),
        );
    } else if let Some(error) = &run.error {
        notify_error(
            app,
            format!("{}: {} ({error})", run.sample_id, run.status.as_str()),
        );
    }
    if app.queue.keys.remove(&key) {
        app.queue.done += 1;
        batch_done(app);
    }
    active.live.finish(run.rules.clone());
    let sample = active.sample;
    app.add_run(run);
    super::views::refresh_grid(app);
    if sample == app.selected {
        app.viewing = None;
        app.shown = Some(ShownRun {
            run: app.runs.len() - 1,
            live: active.live,
            edited: false,
        });
    }
    if let Some(id) = app.samples.get(sample).map(|s| s.id.clone()) {
        app.refilter_sample(&id);
    }
}

/// The selected sample's finished run and the text a curator works on, when it may be decided.
fn decidable(app: &mut App) -> Option<usize> {
    let index = app.selected;
    if app.active_for(index).is_some() {
        notify(app, "wait for the run to finish (or Esc to cancel it)");
        return None;
    }
    let Some(run) = app.shown_run_index() else {
        notify(app, "this sample has no run yet (Enter runs it)");
        return None;
    };
    Some(run)
}

/// Accepts the selected output. One that fails an enabled rule is only accepted `anyway`
/// (recorded as such: exports refuse it otherwise); a placeholder never is.
fn accept(app: &mut App, anyway: bool, commands: &mut Vec<Command>) {
    let Some(index) = decidable(app) else {
        return;
    };
    let sample = app.selected;
    if accept_run(app, index, None, anyway, commands) {
        advance(app, sample);
    }
}

/// Asks for run `index` to be accepted (over run `over`, when chosen in a side-by-side):
/// refused, with a notice, when it is not complete, a placeholder, or fails an enabled rule and
/// not `anyway`. Whether the decision was sent.
pub(super) fn accept_run(
    app: &mut App,
    index: usize,
    over: Option<usize>,
    anyway: bool,
    commands: &mut Vec<Command>,
) -> bool {
    let Some(run) = app.runs.get(index) else {
        return false;
    };
    if !run.is_complete() {
        let status = run.status.as_str();
        notify_error(
            app,
            format!("a {status} run cannot be accepted: regenerate it (r)"),
        );
        return false;
    }
    if run.is_placeholder() {
        notify_error(
            app,
            "this is the offline replay's placeholder, not a model's answer: it cannot be accepted; run it with a real teacher",
        );
        return false;
    }
    let failing: Vec<String> = app
        .text_rules(run)
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.id.to_string())
        .collect();
    if !failing.is_empty() && !anyway {
        let (key, then) = if over.is_some() {
            (
                app.settings
                    .keymap
                    .keys(crate::tui::keymap::Scope::Compare, Action::ChooseAnyway)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Action::ChooseAnyway.as_str().to_owned()),
                " then the choice",
            )
        } else {
            (key_hint(app, Action::AcceptAnyway), "")
        };
        notify_error(
            app,
            format!(
                "not accepted: it fails {}; {key}{then} accepts it anyway (recorded), e edits it",
                failing.join(", ")
            ),
        );
        return false;
    }
    let mut decision = decision_on(run, Verdict::Accepted);
    // `A` says "whatever the rules say": the export, which judges by the rules in force now,
    // may find a failure the recorded verdicts do not show.
    decision.override_rules = anyway;
    decision.over = over.and_then(|i| app.runs.get(i)).map(|r| r.run_id.clone());
    app.saving += 1;
    commands.push(Command::SaveDecision(decision));
    true
}

/// A decision on `run` with its ids filled in.
fn decision_on(run: &Run, verdict: Verdict) -> Decision {
    let mut decision = Decision::new(&run.run_id, &run.sample_id, verdict, 0);
    decision.prompt_id = Some(run.prompt_id.clone());
    decision
}

/// Rejects run `index` with `reason` and moves on to the next unreviewed sample.
pub(super) fn reject(
    app: &mut App,
    index: usize,
    reason: Option<String>,
    commands: &mut Vec<Command>,
) {
    let Some(run) = app.runs.get(index) else {
        return;
    };
    let mut decision = decision_on(run, Verdict::Rejected);
    decision.reason = reason.filter(|r| !r.trim().is_empty());
    let sample = app.samples.iter().position(|s| s.id == run.sample_id);
    app.saving += 1;
    commands.push(Command::SaveDecision(decision));
    if let Some(sample) = sample.filter(|&s| s == app.selected) {
        advance(app, sample);
    }
}

/// Withdraws the latest decision that stands (a `revoked` line in the journal) and selects
/// its sample.
fn undo(app: &mut App, commands: &mut Vec<Command>) {
    if app.saving > 0 {
        // The stack changes as decisions reach the disk: undo what is there, not a guess.
        notify(app, "decisions are still being saved: undo once they are");
        return;
    }
    let Some((run_id, sample_id)) = app.undo.last().cloned() else {
        notify(app, "nothing to undo");
        return;
    };
    let mut decision = Decision::new(&run_id, &sample_id, Verdict::Revoked, 0);
    decision.prompt_id = app
        .runs
        .iter()
        .find(|r| r.run_id == run_id)
        .map(|r| r.prompt_id.clone());
    if let Some(position) = app
        .visible
        .iter()
        .position(|&i| app.samples[i].id == sample_id)
    {
        select_visible(app, position);
    }
    app.saving += 1;
    commands.push(Command::SaveDecision(decision));
}

/// Opens the bulk menu on the filtered samples' latest complete runs: accept those that pass
/// (and are not accepted yet), reject those failing each rule (and not rejected yet).
fn bulk(app: &mut App) {
    let states = app.states();
    let mut passing = Vec::new();
    let mut failing: std::collections::BTreeMap<RuleId, Vec<usize>> =
        std::collections::BTreeMap::new();
    for &i in &app.visible {
        if matches!(states[i], SampleState::Running | SampleState::Queued) {
            continue;
        }
        let Some(&index) = app.latest.get(&app.samples[i].id) else {
            continue;
        };
        let run = &app.runs[index];
        if !run.is_complete() {
            continue;
        }
        // Only what waits for a verdict: a decision already made is the curator's.
        let verdict = app.curation.get(&run.run_id).and_then(|c| c.verdict);
        if !matches!(verdict, None | Some(Verdict::Edited)) {
            continue;
        }
        if app.text_passes(run) {
            passing.push(index);
        } else {
            // Stored runs are judged as the workspace opens, so a placeholder recorded before
            // `model-answer` existed fails it here too.
            for rule in app
                .text_rules(run)
                .iter()
                .filter(|r| r.outcome == Outcome::Fail)
            {
                failing.entry(rule.id).or_default().push(index);
            }
        }
    }
    let mut actions = Vec::new();
    if !passing.is_empty() {
        actions.push(BulkAction {
            verdict: Verdict::Accepted,
            rule: None,
            runs: passing,
        });
    }
    for (rule, runs) in failing {
        actions.push(BulkAction {
            verdict: Verdict::Rejected,
            rule: Some(rule),
            runs,
        });
    }
    if actions.is_empty() {
        notify(
            app,
            "nothing to do in bulk: no complete run here waits to be accepted or rejected",
        );
        return;
    }
    app.layers.push(Layer::Bulk(BulkDialog {
        actions,
        selected: 0,
        confirming: false,
    }));
}

/// Carries out a confirmed bulk action: one decision per run.
pub(super) fn bulk_confirmed(app: &mut App, action: &BulkAction, commands: &mut Vec<Command>) {
    for &index in &action.runs {
        let Some(run) = app.runs.get(index) else {
            continue;
        };
        let mut decision = decision_on(run, action.verdict);
        decision.reason = action.rule.map(|rule| format!("fails {rule}"));
        app.saving += 1;
        commands.push(Command::SaveDecision(decision));
    }
    notify(app, format!("{}: saving…", action.label()));
}

/// The run to edit and its current text (edited text where edited).
fn editable(app: &mut App) -> Option<(usize, String)> {
    let index = decidable(app)?;
    let run = &app.runs[index];
    let text = app
        .curation
        .get(&run.run_id)
        .and_then(|c| c.edited.clone())
        .unwrap_or_else(|| run.transcript.clone());
    Some((index, text))
}

/// The rules of prompt version `id` as they resolve now ([`Judge`]: its front matter over the
/// config's layers). The current version's own; should the config itself not resolve, the
/// current rules.
pub(super) fn rules_of_version(app: &App, id: &str) -> Arc<Rules> {
    if id == app.prompt.version.id {
        return Arc::clone(app.rules());
    }
    let Ok(mut judge) = Judge::new(app.settings.rule_layers.clone()) else {
        return Arc::clone(app.rules());
    };
    let text = app.prompt.texts.get(id).map(ToString::to_string);
    let version = judge.version(id, || text.ok_or_else(|| "no snapshot".to_owned()));
    Arc::clone(&version.rules)
}

/// Saves an edit of run `index` (re-judged by the rules of the run's prompt version) as a
/// decision.
pub(super) fn save_edit(app: &mut App, index: usize, text: String, commands: &mut Vec<Command>) {
    let Some(run) = app.runs.get(index) else {
        return;
    };
    let current = app
        .curation
        .get(&run.run_id)
        .and_then(|c| c.edited.as_deref())
        .unwrap_or(&run.transcript);
    if current == text {
        notify(app, "no change");
        return;
    }
    let rules = crate::curate::recheck(&text, &rules_of_version(app, &run.prompt_id));
    let mut decision = decision_on(run, Verdict::Edited);
    decision.text = Some(text);
    decision.rules = rules;
    app.saving += 1;
    commands.push(Command::SaveDecision(decision));
}

pub(super) fn decision_saved(app: &mut App, decision: &Decision) {
    app.saving = app.saving.saturating_sub(1);
    let verdict = decision.verdict;
    let sample = decision.sample_id.clone();
    let before = app.curation.get(&decision.run_id).and_then(|c| c.verdict);
    app.apply_decision(decision);
    if verdict == Verdict::Revoked {
        if let Some(at) = app.undo.iter().rposition(|(id, _)| *id == decision.run_id) {
            app.undo.remove(at);
        }
    } else {
        app.undo
            .push((decision.run_id.clone(), decision.sample_id.clone()));
    }
    if app.selected_sample().is_some_and(|s| s.id == sample) {
        app.show_selected();
    }
    app.refilter_sample(&sample);
    super::views::refresh_grid(app);
    let a = key_hint(app, Action::Accept);
    let text = match verdict {
        Verdict::Accepted if decision.over.is_some() => format!(
            "{sample}: chosen over the other run{}",
            if decision.override_rules {
                " (anyway: exports take it whatever the rules say)"
            } else {
                ""
            }
        ),
        Verdict::Accepted if decision.override_rules => {
            format!("{sample}: accepted anyway (recorded: exports take it whatever the rules say)")
        }
        Verdict::Accepted => format!("{sample}: accepted"),
        Verdict::Rejected => match &decision.reason {
            Some(reason) => format!("{sample}: rejected ({reason})"),
            None => format!("{sample}: rejected"),
        },
        Verdict::Edited => format!("{sample}: edit saved and re-checked; {a} accepts it"),
        Verdict::Revoked => {
            let now = app.curation.get(&decision.run_id).and_then(|c| c.verdict);
            let undone = before.map_or("nothing", Verdict::as_str);
            match now {
                Some(v) => format!("{sample}: undid {undone}; now {}", v.as_str()),
                None => format!("{sample}: undid {undone}; undecided"),
            }
        }
    };
    notify(app, text);
}

/// Ctrl-S in the prompt editor: a prompt that parses is saved once its label is given.
pub(super) fn save_prompt(app: &mut App) {
    let text = app.prompt.editor_text();
    if let Err(e) = PromptFile::parse(&app.prompt.path, &text) {
        notify_error(app, format!("not saved: {e}"));
        return;
    }
    super::versions::open_save_dialog(app);
}

pub(super) fn prompt_saved(
    app: &mut App,
    text: String,
    result: Result<(), String>,
    commands: &mut Vec<Command>,
) {
    if let Err(e) = result {
        app.prompt.pending_label = None;
        notify_error(app, format!("the prompt was not saved: {e}"));
        return;
    }
    match PromptFile::parse(&app.prompt.path, &text) {
        Ok(file) => {
            app.prompt.dirty = app.prompt.editor_text() != text;
            // The new version is judged by its own front matter's rules, from its first run.
            let rules = match app
                .settings
                .rule_layers
                .rules_with(file.front_matter.as_ref())
            {
                Ok(rules) => Arc::new(rules),
                Err(e) => {
                    let id = &app.prompt.version.id;
                    notify_error(
                        app,
                        format!(
                            "saved, but its rules do not resolve ({e}); runs keep version {id}"
                        ),
                    );
                    return;
                }
            };
            let shared: Arc<str> = Arc::from(text.as_str());
            let version = PromptVersion::new(text, file.body, file.params).with_rules(rules);
            let id = version.id.clone();
            app.prompt.texts.insert(id.clone(), shared);
            app.prompt.version = Arc::new(version);
            let labelling = super::versions::prompt_saved(app, commands);
            let name = app.version_name(&id);
            let waiting = match app.queue.pending.len() {
                0 => String::new(),
                n => {
                    format!(" (the {n} runs already queued keep the version they were queued with)")
                }
            };
            let labelling = if labelling {
                "; recording its label…"
            } else {
                ""
            };
            notify(
                app,
                format!("prompt saved: version {name}{waiting}{labelling}"),
            );
        }
        Err(e) => notify_error(app, format!("saved, but the prompt does not parse: {e}")),
    }
}
