//! The run list, the side-by-side and the grid: pure `update` tests and screen snapshots.

#[macro_use]
#[path = "support/workbench.rs"]
mod workbench;

use moss_thinking::run::{Run, RunStatus, ServiceEvent, prompt_id};
use moss_thinking::store::{Decision, Entry, Session, Verdict};
use moss_thinking::transcript::SegmentKind;
use moss_thinking::tui::app::{App, Layer};
use moss_thinking::tui::grid::{GridSort, GridView};
use moss_thinking::tui::side::{SideBySide, align};
use moss_thinking::tui::update::Command;
use workbench::{GOOD, OVER_BUDGET, PROMPT, app_with, press, run, screen, service};

/// An earlier prompt version's id (its snapshot is gone: judged by the config's rules).
const OLD: &str = "0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0l";

/// A complete run of `sample` with `text` under prompt version `prompt`, as run `id`.
fn run_as(id: &str, sample: &str, text: &str, prompt: &str) -> Run {
    let mut run = run(sample, text, RunStatus::Complete);
    id.clone_into(&mut run.run_id);
    prompt.clone_into(&mut run.prompt_id);
    run
}

fn current() -> String {
    prompt_id(PROMPT)
}

fn decisions(commands: &[Command]) -> Vec<Decision> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::SaveDecision(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// What the journal says once each decision of `commands` is on disk.
fn confirm(app: &mut App, commands: &[Command]) {
    for decision in decisions(commands) {
        service(
            app,
            ServiceEvent::Recorded {
                entry: Entry::Decision(decision),
                result: Ok(()),
            },
        );
    }
}

fn index_of(app: &App, run_id: &str) -> usize {
    app.runs
        .iter()
        .position(|r| r.run_id == run_id)
        .expect("the run is loaded")
}

fn side_by_side(app: &App) -> &SideBySide {
    match app.layers.last() {
        Some(Layer::Compare(view)) => view,
        other => panic!("expected the side-by-side, got {other:?}"),
    }
}

fn grid(app: &App) -> &GridView {
    match app.layers.last() {
        Some(Layer::Grid(grid)) => grid,
        other => panic!("expected the grid, got {other:?}"),
    }
}

/// q01 under the old version and then the current one.
fn two_versions(old: &str, new: &str) -> App {
    app_with(
        vec![
            run_as("old-q01", "q01", old, OLD),
            run_as("new-q01", "q01", new, &current()),
        ],
        Vec::new(),
        Session::default(),
    )
}

#[test]
fn segments_align_by_kind_and_the_shorter_side_pads() {
    use SegmentKind::{Answer as A, Code as C, ExecResult as R, Think as T};
    let rows = align(&[A, T, A, C, R, A], &[A, T, A, T, A]);
    assert_eq!(
        rows,
        vec![
            (Some(0), Some(0)),
            (Some(1), Some(1)),
            (Some(2), Some(2)),
            (Some(3), None),
            (Some(4), None),
            (None, Some(3)),
            (Some(5), Some(4)),
        ]
    );
    // Every aligned pair is of one kind.
    let left = [A, T, A, C, R, A];
    let right = [A, T, A, T, A];
    for (l, r) in rows {
        if let (Some(l), Some(r)) = (l, r) {
            assert_eq!(left[l], right[r]);
        }
    }
    assert_eq!(align(&[], &[A]), vec![(None, Some(0))]);
}

#[test]
fn the_run_list_shows_an_earlier_run_which_a_then_accepts() {
    let mut app = two_versions(GOOD, GOOD);
    let earlier = index_of(&app, "old-q01");
    press(&mut app, "l");
    let Some(Layer::Runs(list)) = app.layers.last() else {
        panic!("the run list opens: {:?}", app.layers);
    };
    let listed: Vec<&str> = list
        .rows
        .iter()
        .map(|r| app.runs[r.run].run_id.as_str())
        .collect();
    assert_eq!(listed, ["new-q01", "old-q01"], "newest first");
    press(&mut app, "j");
    press(&mut app, "enter");
    assert!(
        app.layers.is_empty(),
        "Enter shows the run in the main pane"
    );
    assert_eq!(app.viewing, Some(earlier));
    assert_eq!(app.shown.as_ref().map(|s| s.run), Some(earlier));
    assert!(
        screen(&mut app, 100, 30).contains("earlier run 1 of 2"),
        "the header says it is an earlier run"
    );
    let commands = press(&mut app, "a");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].run_id, "old-q01", "a accepts the run shown");
    assert_eq!(saved[0].verdict, Verdict::Accepted);
    confirm(&mut app, &commands);
    assert_eq!(
        app.curation.get("old-q01").and_then(|c| c.verdict),
        Some(Verdict::Accepted)
    );
    assert_eq!(app.curation.get("new-q01").and_then(|c| c.verdict), None);
}

#[test]
fn the_run_viewed_is_forgotten_when_the_selection_moves() {
    let mut app = two_versions(GOOD, GOOD);
    press(&mut app, "l");
    press(&mut app, "j");
    press(&mut app, "enter");
    assert!(app.viewing.is_some());
    press(&mut app, "j");
    assert_eq!(app.viewing, None);
    press(&mut app, "k");
    assert_eq!(
        app.shown.as_ref().map(|s| s.run),
        Some(index_of(&app, "new-q01")),
        "back on q01 the latest run shows"
    );
}

#[test]
fn two_marked_runs_open_side_by_side_from_the_list() {
    let mut app = two_versions(GOOD, GOOD);
    press(&mut app, "l");
    press(&mut app, "space");
    press(&mut app, "j");
    press(&mut app, "enter");
    let view = side_by_side(&app);
    assert_eq!(view.left.run, index_of(&app, "new-q01"), "the marked run");
    assert_eq!(
        view.right.run,
        index_of(&app, "old-q01"),
        "the highlighted run"
    );
    press(&mut app, "esc");
    assert!(matches!(app.layers.last(), Some(Layer::Runs(_))));
}

#[test]
fn choosing_left_accepts_it_over_the_right_once_on_disk() {
    let mut app = two_versions(GOOD, GOOD);
    press(&mut app, "v");
    let view = side_by_side(&app);
    assert_eq!(
        view.left.run,
        index_of(&app, "old-q01"),
        "the other version"
    );
    assert_eq!(view.right.run, index_of(&app, "new-q01"), "the latest run");
    let commands = press(&mut app, "1");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1, "{commands:?}");
    assert_eq!(saved[0].run_id, "old-q01");
    assert_eq!(saved[0].verdict, Verdict::Accepted);
    assert_eq!(saved[0].over.as_deref(), Some("new-q01"));
    assert!(!saved[0].override_rules);
    assert!(
        !app.curation.contains_key("old-q01"),
        "nothing shows before the journal says it is on disk"
    );
    confirm(&mut app, &commands);
    let curation = app.curation.get("old-q01").expect("decided");
    assert_eq!(curation.verdict, Some(Verdict::Accepted));
    assert_eq!(
        curation.standing().last().and_then(|d| d.over.as_deref()),
        Some("new-q01")
    );
    assert!(matches!(app.layers.last(), Some(Layer::Compare(_))));
    // → chooses the right one.
    let commands = press(&mut app, "right");
    let saved = decisions(&commands);
    assert_eq!(saved[0].run_id, "new-q01");
    assert_eq!(saved[0].over.as_deref(), Some("old-q01"));
}

#[test]
fn a_placeholder_is_never_chosen() {
    let mut app = app_with(
        vec![
            {
                let mut run = run_as("old-q01", "q01", GOOD, OLD);
                run.placeholder = true;
                run
            },
            run_as("new-q01", "q01", GOOD, &current()),
        ],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "v");
    assert!(decisions(&press(&mut app, "1")).is_empty());
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    press(&mut app, "!");
    assert!(
        decisions(&press(&mut app, "1")).is_empty(),
        "not even anyway"
    );
}

#[test]
fn a_failing_run_is_chosen_only_anyway() {
    let mut app = two_versions(GOOD, OVER_BUDGET);
    press(&mut app, "v");
    assert!(decisions(&press(&mut app, "2")).is_empty());
    let notice = app.notice.clone().expect("a notice");
    assert!(notice.error && notice.text.contains("fails"), "{notice:?}");
    press(&mut app, "!");
    let saved = decisions(&press(&mut app, "2"));
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].run_id, "new-q01");
    assert!(saved[0].override_rules);
    assert_eq!(saved[0].over.as_deref(), Some("old-q01"));
    // The next choice follows the rules again.
    assert!(decisions(&press(&mut app, "2")).is_empty());
}

#[test]
fn n_and_shift_n_step_to_samples_with_two_runs() {
    let now = current();
    let mut app = app_with(
        vec![
            run_as("q01-old", "q01", GOOD, OLD),
            run_as("q01-new", "q01", GOOD, &now),
            run_as("q02-new", "q02", GOOD, &now),
            run_as("q03-old", "q03", GOOD, OLD),
            run_as("q03-new", "q03", GOOD, &now),
            run_as("q03-again", "q03", GOOD, &now),
        ],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "v");
    assert_eq!(side_by_side(&app).sample, 0);
    press(&mut app, "n");
    let view = side_by_side(&app);
    assert_eq!(view.sample, 2, "q02 has one run: skipped");
    assert_eq!(
        app.runs[view.left.run].run_id, "q03-old",
        "the same two versions"
    );
    assert_eq!(app.runs[view.right.run].run_id, "q03-again");
    assert_eq!(app.selected, 2, "the list follows");
    press(&mut app, "]");
    assert_eq!(side_by_side(&app).sample, 2, "none after q03");
    assert!(app.notice.is_some());
    press(&mut app, "N");
    assert_eq!(side_by_side(&app).sample, 0);
    press(&mut app, "[");
    assert_eq!(side_by_side(&app).sample, 0, "none before q01");
}

/// Old version first (the first column), then the current one:
/// - q01: old fails; current passes 3 of 3;
/// - q02: old fails; current passes 2 of 3;
/// - q03: old passes; current fails think-budget twice;
/// - q04: no runs.
fn grid_app() -> App {
    let now = current();
    app_with(
        vec![
            run_as("q01-old", "q01", OVER_BUDGET, OLD),
            run_as("q02-old", "q02", OVER_BUDGET, OLD),
            run_as("q03-old", "q03", GOOD, OLD),
            run_as("q01-a", "q01", GOOD, &now),
            run_as("q01-b", "q01", GOOD, &now),
            run_as("q01-c", "q01", GOOD, &now),
            run_as("q02-a", "q02", GOOD, &now),
            run_as("q02-b", "q02", OVER_BUDGET, &now),
            run_as("q02-c", "q02", GOOD, &now),
            run_as("q03-a", "q03", OVER_BUDGET, &now),
            run_as("q03-b", "q03", OVER_BUDGET, &now),
        ],
        Vec::new(),
        Session::default(),
    )
}

/// The ids of the grid's rows in order.
fn grid_rows(app: &App) -> Vec<String> {
    let grid = grid(app);
    grid.order
        .iter()
        .map(|&r| app.samples[grid.rows[r].sample].id.clone())
        .collect()
}

#[test]
fn grid_cells_score_each_sample_under_each_variant() {
    let mut app = grid_app();
    press(&mut app, "c");
    let grid = grid(&app);
    assert_eq!(grid.variants.len(), 2);
    assert_eq!(grid.variants[0].prompt_id, OLD);
    assert!(!grid.variants[0].current);
    assert!(
        grid.variants[1].current,
        "this session's version and teacher"
    );
    let labels: Vec<Vec<String>> = grid
        .rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .map(moss_thinking::tui::grid::Cell::label)
                .collect()
        })
        .collect();
    assert_eq!(
        labels,
        [
            ["✗ think-budget", "✓ 3/3"],
            ["✗ think-budget", "2/3"],
            ["✓ 1/1", "✗ think-budget"],
            ["·", "·"],
        ]
    );
    let compliance = &grid.compliance;
    assert!((compliance[0].expect("runs") - 1.0 / 3.0).abs() < 1e-9);
    assert!((compliance[1].expect("runs") - 5.0 / 9.0).abs() < 1e-9);
}

#[test]
fn grid_sorts_by_the_cursor_column_and_by_difference() {
    let mut app = grid_app();
    press(&mut app, "c");
    assert_eq!(grid_rows(&app), ["q01", "q02", "q03", "q04"]);
    press(&mut app, "l");
    press(&mut app, "s");
    assert_eq!(grid(&app).sort, GridSort::Column);
    assert_eq!(
        grid_rows(&app),
        ["q03", "q02", "q01", "q04"],
        "lowest first"
    );
    press(&mut app, "s");
    assert_eq!(grid(&app).sort, GridSort::Difference);
    // current − old: q03 −1, q02 −1/3, q01 +1; q04 has no figure.
    assert_eq!(grid_rows(&app), ["q03", "q02", "q01", "q04"]);
    press(&mut app, "h");
    // Column 0 against itself: every difference is 0, sample order kept.
    assert_eq!(grid_rows(&app), ["q01", "q02", "q03", "q04"]);
    press(&mut app, "s");
    assert_eq!(grid(&app).sort, GridSort::Samples);
}

#[test]
fn grid_only_flips_keeps_samples_whose_pass_status_changed() {
    let mut app = grid_app();
    press(&mut app, "c");
    press(&mut app, "right");
    press(&mut app, "f");
    assert!(grid(&app).only_flips);
    // q02 fails under both (2/3 is not all), q04 has no runs.
    assert_eq!(grid_rows(&app), ["q01", "q03"]);
    press(&mut app, "f");
    assert_eq!(grid_rows(&app).len(), 4);
}

#[test]
fn enter_on_a_grid_cell_opens_it_against_the_first_column() {
    let mut app = grid_app();
    press(&mut app, "c");
    press(&mut app, "l");
    press(&mut app, "enter");
    let view = side_by_side(&app);
    assert_eq!(view.sample, 0);
    assert_eq!(app.runs[view.left.run].run_id, "q01-old");
    assert_eq!(
        app.runs[view.right.run].run_id, "q01-c",
        "the cell's latest run"
    );
    press(&mut app, "esc");
    assert!(matches!(app.layers.last(), Some(Layer::Grid(_))));
    // On the first column: the run in the main pane.
    press(&mut app, "h");
    press(&mut app, "j");
    press(&mut app, "enter");
    assert!(app.layers.is_empty());
    assert_eq!(app.selected, 1);
    assert_eq!(app.viewing, Some(index_of(&app, "q02-old")));
}

#[test]
fn the_grid_follows_a_decision_and_a_new_run() {
    let mut app = grid_app();
    press(&mut app, "c");
    let before = grid(&app).rows[3].cells.clone();
    assert!(before.iter().all(|c| c.score.runs == 0));
    // A run of q04 under the current version arrives.
    let commands = {
        press(&mut app, "esc");
        press(&mut app, "G");
        let commands = press(&mut app, "enter");
        press(&mut app, "c");
        commands
    };
    let runs = workbench::start_submitted(&mut app, &commands);
    let (key, _) = runs.first().cloned().expect("a run of q04");
    let record = run_as("q04-new", "q04", GOOD, &current());
    service(
        &mut app,
        ServiceEvent::Saved {
            key,
            run: Box::new(record),
            stored: Ok(()),
        },
    );
    assert_eq!(grid(&app).rows[3].cells[1].label(), "✓ 1/1");
}

/// An answer with code, its result and a think over budget.
const CODE_OVER: &str = "2的64次方是18446744073709551616。\n<think>用代码核对。</think>\n我用Python算一下：\n```python RUN\nprint(2 ** 64)\n```\n<execute_result>\n18446744073709551616\n</execute_result>\n结果一致。\n<think>这里的思考远远超过了前面回答的字数，所以预算规则一定会失败。</think>\n好。";

#[test]
fn side_by_side_screens() {
    snapshot!("side_by_side", || {
        let mut app = two_versions(GOOD, CODE_OVER);
        press(&mut app, "v");
        app
    });
}

#[test]
fn grid_screens() {
    snapshot!("grid", || {
        let mut app = grid_app();
        press(&mut app, "c");
        press(&mut app, "l");
        app
    });
}

#[test]
fn run_list_screens() {
    snapshot!("run_list", || {
        let mut app = two_versions(GOOD, CODE_OVER);
        press(&mut app, "l");
        press(&mut app, "space");
        press(&mut app, "j");
        app
    });
}

#[test]
fn the_rules_that_differ_are_those_one_side_fails() {
    let mut app = two_versions(GOOD, CODE_OVER);
    press(&mut app, "v");
    let differing: Vec<String> = side_by_side(&app)
        .differing()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(differing, ["think-budget"]);
    let view = side_by_side(&app);
    let budgets: Vec<Option<(usize, usize)>> = view
        .right
        .segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Think)
        .map(|s| s.budget)
        .collect();
    assert_eq!(budgets, [Some((5, 7)), Some((28, 10))]);
}

#[test]
fn a_new_run_of_the_sample_replaces_the_earlier_run_shown() {
    let mut app = two_versions(GOOD, GOOD);
    press(&mut app, "l");
    press(&mut app, "j");
    press(&mut app, "enter");
    assert!(app.viewing.is_some());
    let commands = press(&mut app, "r");
    let runs = workbench::start_submitted(&mut app, &commands);
    let (key, _) = runs.first().cloned().expect("a run of q01");
    assert_eq!(
        app.viewing, None,
        "the run asked for is what the pane follows"
    );
    service(
        &mut app,
        ServiceEvent::Saved {
            key,
            run: Box::new(run_as("third-q01", "q01", GOOD, &current())),
            stored: Ok(()),
        },
    );
    assert_eq!(app.viewing, None);
    assert_eq!(
        app.shown.as_ref().map(|s| s.run),
        Some(index_of(&app, "third-q01"))
    );
    let saved = decisions(&press(&mut app, "a"));
    assert_eq!(saved[0].run_id, "third-q01");
}

/// Answers written in markdown: a heading, emphasis, a list and a table with Chinese cells.
const MARKDOWN_OLD: &str = "## 各部门平均工资\n研发部**最高**，财务部最低。\n<think>按部门分组求平均，再排序。</think>\n| 部门 | 平均工资 |\n|:--|--:|\n| 研发 | 21166.67 |\n| 市场 | 15900 |\n| 财务 | 13650 |\n\n- 研发比市场高 *33%*\n- 用 `csv` 模块读入";
const MARKDOWN_NEW: &str = "研发部平均工资最高。\n<think>直接给结论，表格放后面。</think>\n| 部门 | 平均工资 |\n|--|--|\n| 研发 | 21166.67 |\n| 市场 | 15900 |";

#[test]
fn side_by_side_renders_answer_markdown() {
    snapshot!("side_by_side_markdown", || {
        let mut app = two_versions(MARKDOWN_OLD, MARKDOWN_NEW);
        press(&mut app, "v");
        app
    });
    // The markers are gone, the table lines up.
    let mut app = two_versions(MARKDOWN_OLD, MARKDOWN_NEW);
    press(&mut app, "v");
    let text = screen(&mut app, 100, 30);
    assert!(
        text.contains("各部门平均工资") && !text.contains("## "),
        "{text}"
    );
    assert!(
        text.contains("研发部最高") && !text.contains("**"),
        "{text}"
    );
    assert!(text.contains("研发 │ 21166.67"), "{text}");
    assert!(text.contains("• 研发比市场高 33%"), "{text}");
}
