//! The run list, the side-by-side and the grid: opening them and their keys.

use super::actions::{accept_run, rules_of_version, select_visible};
use super::{Command, notify};
use crate::tui::app::{App, Layer, RunList};
use crate::tui::grid::GridView;
use crossterm::event::KeyEvent;

use crate::tui::keymap::{Action, Scope};
use crate::tui::runs::shown_text;
use crate::tui::side::{Side, SideBySide};

/// Rows a page key scrolls the side-by-side, and moves the grid's cursor.
const PAGE_ROWS: isize = 10;

/// The main screen's keys for these views (the other actions are not theirs).
pub(super) fn main_action(app: &mut App, action: Action) {
    match action {
        Action::RunList => open_run_list(app),
        Action::SideBySide => open_side_by_side_of_selected(app),
        Action::Grid => open_grid(app),
        _ => {}
    }
}

/// A key for the run list, the side-by-side or the grid on top, through its scope's keymap.
pub(super) fn key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let keymap = &app.settings.keymap;
    match app.layers.last() {
        Some(Layer::Runs(_)) => runs_key(app, keymap.action(Scope::Runs, key)),
        Some(Layer::Compare(_)) => {
            compare_key(app, keymap.action(Scope::Compare, key), commands);
        }
        Some(Layer::Grid(_)) => grid_key(app, keymap.action(Scope::Grid, key)),
        _ => {}
    }
}

/// Opens the selected sample's run list.
fn open_run_list(app: &mut App) {
    let Some(sample) = app.selected_sample() else {
        return;
    };
    if !app.runs_of.contains_key(&sample.id) {
        notify(app, "this sample has no run yet (Enter runs it)");
        return;
    }
    let mode = app.rules().config().count_mode;
    let mut list = RunList::new(app, app.selected, mode);
    // The run the main pane shows is the one highlighted.
    if let Some(shown) = app.shown_run_index() {
        list.selected = list.rows.iter().position(|r| r.run == shown).unwrap_or(0);
    }
    app.layers.push(Layer::Runs(list));
}

/// The two runs of sample `sample` to compare first: its latest (right) against the latest
/// under another prompt version, else its previous run (left).
fn default_pair(app: &App, sample: usize) -> Option<(usize, usize)> {
    let runs = app.runs_of.get(&app.samples.get(sample)?.id)?;
    let (&latest, earlier) = runs.split_last()?;
    let version = &app.runs[latest].prompt_id;
    let other = earlier
        .iter()
        .rev()
        .find(|&&i| app.runs[i].prompt_id != *version)
        .or_else(|| earlier.last())?;
    Some((*other, latest))
}

/// Sample `sample`'s latest runs under prompt versions `left` and `right`, when those are two
/// versions it has runs of; else its default pair.
fn pair_like(app: &App, sample: usize, left: &str, right: &str) -> Option<(usize, usize)> {
    let runs = app.runs_of.get(&app.samples.get(sample)?.id)?;
    let latest_of = |version: &str| {
        runs.iter()
            .rev()
            .copied()
            .find(|&i| app.runs[i].prompt_id == version)
    };
    if left != right
        && let (Some(l), Some(r)) = (latest_of(left), latest_of(right))
    {
        return Some((l, r));
    }
    default_pair(app, sample)
}

/// One run's column.
fn side(app: &App, run: usize) -> Side {
    let record = &app.runs[run];
    Side::new(
        run,
        shown_text(app, record),
        app.text_rules(record),
        rules_of_version(app, &record.prompt_id),
    )
}

fn push_side_by_side(app: &mut App, sample: usize, left: usize, right: usize) {
    let view = SideBySide::new(sample, side(app, left), side(app, right));
    app.layers.push(Layer::Compare(Box::new(view)));
}

/// `v` on the main screen: the selected sample's latest run against its latest under another
/// prompt version (or its previous run).
fn open_side_by_side_of_selected(app: &mut App) {
    let sample = app.selected;
    match default_pair(app, sample) {
        Some((left, right)) => push_side_by_side(app, sample, left, right),
        None => notify(
            app,
            "nothing to compare: this sample has fewer than two runs (r runs it again)",
        ),
    }
}

fn open_grid(app: &mut App) {
    if app.visible.is_empty() {
        notify(app, "no samples in this list");
        return;
    }
    let grid = GridView::new(app);
    app.layers.push(Layer::Grid(Box::new(grid)));
}

/// A run or a decision arrived: the grid's cells are worked out again.
pub(super) fn refresh_grid(app: &mut App) {
    let Some(at) = app.layers.iter().position(|l| matches!(l, Layer::Grid(_))) else {
        return;
    };
    let mut layer = std::mem::replace(&mut app.layers[at], Layer::Filter);
    if let Layer::Grid(grid) = &mut layer {
        grid.refresh(app);
    }
    app.layers[at] = layer;
}

/// Shows run `run` in the main pane (the sample selected, an earlier run marked as such) and
/// closes the layers over it.
fn show_run(app: &mut App, run: usize) {
    let Some(sample) = app
        .runs
        .get(run)
        .and_then(|r| app.samples.iter().position(|s| s.id == r.sample_id))
    else {
        return;
    };
    match app.visible.iter().position(|&i| i == sample) {
        Some(position) => select_visible(app, position),
        None if sample != app.selected => {
            app.selected = sample;
            app.session_dirty = true;
        }
        None => {}
    }
    let latest = app.latest.get(&app.samples[sample].id).copied();
    app.viewing = (Some(run) != latest).then_some(run);
    app.layers.clear();
    app.show_selected();
}

fn runs_key(app: &mut App, action: Option<Action>) {
    let Some(Layer::Runs(list)) = app.layers.last_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => {
            list.selected = (list.selected + 1).min(list.rows.len().saturating_sub(1));
        }
        Some(Action::Up) => list.selected = list.selected.saturating_sub(1),
        Some(Action::MarkRun) => {
            list.marked = if list.marked == Some(list.selected) {
                None
            } else {
                Some(list.selected)
            };
        }
        Some(action @ (Action::Open | Action::SideBySide)) => {
            let marked = list
                .marked
                .filter(|&m| m != list.selected)
                .and_then(|m| list.rows.get(m))
                .map(|r| r.run);
            let sample = list.sample;
            let highlighted = list.highlighted();
            match (marked, highlighted, action) {
                (Some(left), Some(right), _) => push_side_by_side(app, sample, left, right),
                (None, Some(run), Action::Open) => show_run(app, run),
                _ => notify(
                    app,
                    "mark a run with Space, highlight another, then v shows the two side by side",
                ),
            }
        }
        Some(Action::Close | Action::Quit) => {
            app.layers.pop();
        }
        Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
        _ => {}
    }
}

fn compare_key(app: &mut App, action: Option<Action>, commands: &mut Vec<Command>) {
    let Some(Layer::Compare(view)) = app.layers.last_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => view.scroll_by(1),
        Some(Action::Up) => view.scroll_by(-1),
        Some(Action::PageDown) => view.scroll_by(PAGE_ROWS),
        Some(Action::PageUp) => view.scroll_by(-PAGE_ROWS),
        Some(Action::NextSample) => step(app, 1),
        Some(Action::PrevSample) => step(app, -1),
        Some(Action::ChooseAnyway) => {
            view.anyway = !view.anyway;
            let armed = view.anyway;
            notify(
                app,
                if armed {
                    "the next choice accepts the run even if it fails a rule (recorded as such)"
                } else {
                    "choices follow the rules again"
                },
            );
        }
        Some(Action::ChooseLeft) => choose(app, true, commands),
        Some(Action::ChooseRight) => choose(app, false, commands),
        Some(Action::Close | Action::Quit) => {
            app.layers.pop();
        }
        Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
        _ => {}
    }
}

/// Accepts the left (or right) run over the other, through the accept's own checks.
fn choose(app: &mut App, left: bool, commands: &mut Vec<Command>) {
    let Some(Layer::Compare(view)) = app.layers.last_mut() else {
        return;
    };
    let (chosen, over) = if left {
        (view.left.run, view.right.run)
    } else {
        (view.right.run, view.left.run)
    };
    let anyway = std::mem::take(&mut view.anyway);
    accept_run(app, chosen, Some(over), anyway, commands);
}

/// Moves the side-by-side to the next (`direction` 1) or previous sample in the list that has
/// two runs to compare, keeping the two prompt versions where that sample has both.
fn step(app: &mut App, direction: isize) {
    let Some(Layer::Compare(view)) = app.layers.last() else {
        return;
    };
    let versions = (
        app.runs[view.left.run].prompt_id.clone(),
        app.runs[view.right.run].prompt_id.clone(),
    );
    let at = app.visible.iter().position(|&i| i == view.sample);
    let candidates: Vec<usize> = match (at, direction > 0) {
        (Some(at), true) => app.visible.get(at + 1..).unwrap_or_default().to_vec(),
        (Some(at), false) => app.visible[..at].iter().rev().copied().collect(),
        (None, true) => app.visible.clone(),
        (None, false) => app.visible.iter().rev().copied().collect(),
    };
    let found = candidates.into_iter().find_map(|sample| {
        pair_like(app, sample, &versions.0, &versions.1).map(|pair| (sample, pair))
    });
    let Some((sample, (left, right))) = found else {
        let which = if direction > 0 { "after" } else { "before" };
        notify(
            app,
            format!("no sample {which} this one has two runs to compare"),
        );
        return;
    };
    if let Some(position) = app.visible.iter().position(|&i| i == sample) {
        select_visible(app, position);
    }
    let view = SideBySide::new(sample, side(app, left), side(app, right));
    if let Some(Layer::Compare(old)) = app.layers.last_mut() {
        **old = view;
    }
}

fn grid_key(app: &mut App, action: Option<Action>) {
    let Some(Layer::Grid(grid)) = app.layers.last_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => grid.move_row(1),
        Some(Action::Up) => grid.move_row(-1),
        Some(Action::PageDown) => grid.move_row(PAGE_ROWS),
        Some(Action::PageUp) => grid.move_row(-PAGE_ROWS),
        Some(Action::Right) => grid.move_col(1),
        Some(Action::Left) => grid.move_col(-1),
        Some(Action::Sort) => grid.cycle_sort(),
        Some(Action::OnlyFlips) => grid.toggle_flips(),
        Some(Action::Open) => open_cell(app),
        Some(Action::Close | Action::Quit) => {
            app.layers.pop();
        }
        Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
        _ => {}
    }
}

/// Enter on a cell: its latest run against the first column's latest run of the sample, side
/// by side; on the first column (or with nothing there to compare) the run in the main pane.
fn open_cell(app: &mut App) {
    let Some(Layer::Grid(grid)) = app.layers.last() else {
        return;
    };
    let (Some(row), Some(cell)) = (grid.cursor_row(), grid.cursor_cell()) else {
        return;
    };
    let sample = row.sample;
    let Some(run) = cell.latest else {
        notify(app, "no run of this sample under this variant");
        return;
    };
    let first = row.cells.first().and_then(|c| c.latest);
    match first {
        Some(first) if grid.col > 0 && first != run => {
            push_side_by_side(app, sample, first, run);
        }
        _ => show_run(app, run),
    }
}

/// Wheel scrolling in the side-by-side.
pub(super) fn scroll(app: &mut App, rows: isize) {
    if let Some(Layer::Compare(view)) = app.layers.last_mut() {
        view.scroll_by(rows);
    }
}
