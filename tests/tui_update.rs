//! The workbench's pure `update()`: every action, driven by keys and background messages.

#[path = "support/workbench.rs"]
mod workbench;

use std::time::Duration;

use crossterm::event::{KeyModifiers, MouseEvent, MouseEventKind};
use moss_thinking::curate::{ExportPlan, ExportReport, SystemChoice};
use moss_thinking::exec::Protection;
use moss_thinking::export::ExportFormat;
use moss_thinking::run::{Run, RunEvent, RunStatus, ServiceEvent};
use moss_thinking::signals::HostSignal;
use moss_thinking::store::{Decision, Entry, Session, Verdict};
use moss_thinking::tui::app::{App, Layer, Pane, SampleState};
use moss_thinking::tui::update::{Command, Msg, update};
use workbench::{
    GOOD, OVER_BUDGET, app, app_with, press, press_and_start, run, sandbox_check, service,
    start_submitted, submitted, type_text,
};

/// What the runner says once the prompt file holds `text`.
fn prompt_saved(app: &mut App, text: &str) -> Vec<Command> {
    update(
        app,
        Msg::PromptSaved {
            text: text.to_owned(),
            result: Ok(()),
        },
    )
}

/// `R` and Enter: one run of each filtered sample without a complete run (the dialog's
/// first offer).
fn run_filtered(app: &mut App) -> Vec<Command> {
    let mut commands = press(app, "R");
    assert!(matches!(app.top(), Some(Layer::RunMany(_))), "the R dialog");
    commands.extend(press(app, "enter"));
    commands
}

/// What the journal says once `decision` is on disk.
fn saved(decision: Decision) -> ServiceEvent {
    ServiceEvent::Recorded {
        entry: Entry::Decision(decision),
        result: Ok(()),
    }
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

/// Streams `text` for run `key` in small chunks, then finishes it with `record`.
fn stream_and_finish(app: &mut App, key: u64, text: &str, record: Run) -> Vec<Command> {
    let chars: Vec<char> = text.chars().collect();
    for chunk in chars.chunks(3) {
        service(
            app,
            ServiceEvent::Run {
                key,
                elapsed: Duration::from_millis(40),
                event: RunEvent::Text {
                    text: chunk.iter().collect(),
                    system: false,
                },
            },
        );
    }
    service(
        app,
        ServiceEvent::Saved {
            key,
            run: Box::new(record),
            stored: Ok(()),
        },
    )
}

/// Whether the status bar's notice says `text`.
fn noticed(app: &App, text: &str) -> bool {
    app.notice.as_ref().is_some_and(|n| n.text.contains(text))
}

/// Sample `index`'s standing decision.
fn verdict(app: &App, index: usize) -> Option<Verdict> {
    app.review(index).map(|r| r.verdict)
}

/// Confirms every decision in `commands` as the journal would.
fn confirm(app: &mut App, commands: &[Command]) {
    for decision in decisions(commands) {
        service(app, saved(decision));
    }
}

#[test]
fn enter_runs_the_selected_sample_with_the_saved_prompt_and_streams_into_its_view() {
    let mut app = app();
    let commands = press(&mut app, "enter");
    let Some(Command::Submit { key, job, next }) = commands.first() else {
        panic!("expected a run: {commands:?}");
    };
    assert_eq!(job.sample_id, "q01");
    assert_eq!(job.question, "天空为什么是蓝色的？");
    assert_eq!(job.prompt.id, app.prompt.version.id);
    assert!(*next, "a run asked for now goes before any batch");
    // Queued until the run service gives it a slot.
    assert_eq!(app.state(0), SampleState::Queued);
    let key = *key;
    service(&mut app, ServiceEvent::Started { key });
    assert_eq!(app.state(0), SampleState::Running);
    // A second Enter on a running sample starts nothing.
    assert!(press_and_start(&mut app, "enter").is_empty());
    service(
        &mut app,
        ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(120),
            event: RunEvent::Text {
                text: "天空".to_owned(),
                system: false,
            },
        },
    );
    let active = &app.active[&key];
    assert_eq!(active.first_token, Some(Duration::from_millis(120)));
    assert_eq!(active.live.text(), "天空");
}

#[test]
fn a_finished_run_is_shown_judged_and_counted() {
    let mut app = app();
    let (key, _) = press_and_start(&mut app, "enter")[0].clone();
    stream_and_finish(&mut app, key, GOOD, run("q01", GOOD, RunStatus::Complete));
    assert!(app.active.is_empty());
    assert_eq!(app.state(0), SampleState::Passed);
    assert_eq!(app.stats.runs, 1);
    let shown = app.shown.as_ref().expect("the run is shown");
    assert_eq!(shown.live.text(), GOOD);
    // A failing rule makes the sample "rules failed".
    press(&mut app, "j");
    let (key, _) = press_and_start(&mut app, "enter")[0].clone();
    stream_and_finish(
        &mut app,
        key,
        OVER_BUDGET,
        run("q02", OVER_BUDGET, RunStatus::Complete),
    );
    assert_eq!(app.state(1), SampleState::RulesFailed);
}

#[test]
fn enter_on_a_sample_with_a_run_asks_for_regenerate_and_r_runs_it_again() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    assert!(press_and_start(&mut app, "enter").is_empty());
    assert!(noticed(&app, "r"));
    assert_eq!(press_and_start(&mut app, "r").len(), 1);
    assert_eq!(app.state(0), SampleState::Running);
}

#[test]
fn run_all_queues_the_shown_samples_in_the_run_service_and_reports_progress() {
    let mut app = app_with(
        vec![run("q04", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let commands = run_filtered(&mut app);
    // q04 already has a complete run with this prompt; the rest wait for slots, in order,
    // behind nothing asked for now.
    let queued = submitted(&commands);
    assert_eq!(
        queued.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["q01", "q02", "q03"]
    );
    assert!(
        commands
            .iter()
            .all(|c| !matches!(c, Command::Submit { next: true, .. }))
    );
    assert_eq!(app.queue.total, 3);
    assert_eq!(
        (app.state(0), app.state(2)),
        (SampleState::Queued, SampleState::Queued)
    );
    // The service starts two (its concurrency), then the third when a slot frees.
    for (key, _) in &queued[..2] {
        service(&mut app, ServiceEvent::Started { key: *key });
    }
    assert_eq!(
        (app.state(0), app.state(2)),
        (SampleState::Running, SampleState::Queued)
    );
    // Pressed again, nothing running or waiting is asked for twice.
    assert!(submitted(&run_filtered(&mut app)).is_empty());
    assert_eq!(app.queue.total, 3);
    let commands = stream_and_finish(
        &mut app,
        queued[0].0,
        GOOD,
        run("q01", GOOD, RunStatus::Complete),
    );
    assert!(commands.is_empty(), "the service schedules: {commands:?}");
    assert_eq!((app.queue.done, app.queue.total), (1, 3));
    service(&mut app, ServiceEvent::Started { key: queued[2].0 });
    stream_and_finish(
        &mut app,
        queued[1].0,
        GOOD,
        run("q02", GOOD, RunStatus::Complete),
    );
    stream_and_finish(
        &mut app,
        queued[2].0,
        GOOD,
        run("q03", GOOD, RunStatus::Complete),
    );
    assert_eq!((app.queue.done, app.queue.total), (3, 3));
    assert!(noticed(&app, "3"));
}

#[test]
fn a_run_dropped_by_the_service_leaves_the_queue_and_nothing_is_recorded() {
    let mut app = app();
    let queued = submitted(&run_filtered(&mut app));
    assert_eq!(app.queue.total, 4);
    // Cancelled while it waited: it leaves the batch.
    service(
        &mut app,
        ServiceEvent::Dropped {
            key: queued[3].0,
            started: false,
        },
    );
    assert_eq!(app.state(3), SampleState::NotRun);
    assert_eq!(app.queue.total, 3);
    // Cancelled before the teacher sent anything: it ends, with no run to show.
    service(&mut app, ServiceEvent::Started { key: queued[0].0 });
    service(
        &mut app,
        ServiceEvent::Dropped {
            key: queued[0].0,
            started: true,
        },
    );
    assert!(app.active.is_empty());
    assert_eq!(app.state(0), SampleState::NotRun);
    assert!(app.runs.is_empty());
    assert_eq!((app.queue.done, app.queue.total), (1, 3));
    assert!(noticed(&app, "nothing recorded"), "{:?}", app.notice);
}

#[test]
fn esc_cancels_the_selected_run_or_else_drops_the_queue() {
    let mut app = app();
    let commands = run_filtered(&mut app);
    let (key, sample) = submitted(&commands)[0].clone();
    assert_eq!(sample, "q01");
    service(&mut app, ServiceEvent::Started { key });
    assert_eq!(press(&mut app, "esc"), vec![Command::CancelRun(key)]);
    assert!(app.active[&key].cancelling);
    // On another sample Esc drops what is still queued.
    press(&mut app, "j");
    assert_eq!(press(&mut app, "esc"), vec![Command::DropQueued]);
    assert!(app.queue.pending.is_empty());
    assert_eq!(app.state(1), SampleState::NotRun);
}

#[test]
fn accept_is_shown_only_once_the_decision_is_on_disk() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let commands = press(&mut app, "a");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].verdict, Verdict::Accepted);
    assert_eq!(saved[0].run_id, app.runs[0].run_id);
    // Not yet: the journal has not confirmed it.
    assert_eq!(app.state(0), SampleState::Passed);
    assert_eq!(app.saving, 1);
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 0), Some(Verdict::Accepted));
    assert_eq!(
        app.state(0),
        SampleState::Passed,
        "the rules' state stays beside it"
    );
    assert_eq!(app.saving, 0);
    // A failed write is reported and changes nothing.
    press(&mut app, "x");
    let commands = press(&mut app, "enter");
    update(
        &mut app,
        Msg::Service(ServiceEvent::Recorded {
            entry: Entry::Decision(decisions(&commands)[0].clone()),
            result: Err("disk full".to_owned()),
        }),
    );
    assert_eq!(verdict(&app, 0), Some(Verdict::Accepted));
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("disk full"))
    );
}

#[test]
fn reject_marks_the_run_rejected_and_incomplete_runs_cannot_be_accepted() {
    let mut app = app_with(
        vec![
            run("q01", GOOD, RunStatus::Complete),
            run("q02", "只写了一半", RunStatus::Incomplete),
        ],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "x");
    let commands = press(&mut app, "enter");
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 0), Some(Verdict::Rejected));
    assert_eq!(
        app.selected, 0,
        "no other sample waits for review: the selection stays"
    );
    press(&mut app, "j");
    assert_eq!(app.state(1), SampleState::Incomplete);
    assert!(decisions(&press(&mut app, "a")).is_empty());
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    // Rejecting it is fine.
    press(&mut app, "x");
    assert_eq!(decisions(&press(&mut app, "enter")).len(), 1);
    // A sample never run has nothing to decide.
    press(&mut app, "j");
    assert!(decisions(&press(&mut app, "a")).is_empty());
}

#[test]
fn e_edits_in_the_app_and_the_saved_edit_is_rechecked_then_accepted() {
    let mut app = app_with(
        vec![run("q02", OVER_BUDGET, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "j");
    assert_eq!(app.state(1), SampleState::RulesFailed);
    press(&mut app, "e");
    let Some(Layer::EditOutput(editor)) = app.layers.last_mut() else {
        panic!("the output editor is open");
    };
    // Replace everything with a compliant answer.
    editor.area.select_all();
    editor.area.cut();
    editor.area.insert_str(GOOD);
    let commands = press(&mut app, "ctrl-s");
    assert!(app.layers.is_empty());
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].verdict, Verdict::Edited);
    assert_eq!(saved[0].text.as_deref(), Some(GOOD));
    assert!(
        saved[0]
            .rules
            .iter()
            .all(|r| r.outcome != moss_thinking::transcript::Outcome::Fail),
        "the edit is re-judged: {:?}",
        saved[0].rules
    );
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 1), Some(Verdict::Edited));
    assert_eq!(
        app.state(1),
        SampleState::Passed,
        "judged on the edited text"
    );
    let shown = app.shown.as_ref().expect("shown");
    assert!(shown.edited);
    assert_eq!(shown.live.text(), GOOD);
    let commands = press(&mut app, "a");
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 1), Some(Verdict::Accepted));
    assert_eq!(
        app.curation[&app.runs[0].run_id].edited.as_deref(),
        Some(GOOD)
    );
}

#[test]
fn esc_in_the_output_editor_asks_before_discarding_and_an_unchanged_save_writes_nothing() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "e");
    type_text(&mut app, "多余");
    assert!(press(&mut app, "esc").is_empty());
    assert!(
        matches!(app.top(), Some(Layer::EditOutput(e)) if e.confirm_discard),
        "Esc with changes asks first"
    );
    // Any key but y keeps editing, the text intact.
    press(&mut app, "n");
    let Some(Layer::EditOutput(editor)) = app.top() else {
        panic!("still editing");
    };
    assert!(editor.text().contains("多余"));
    assert!(!editor.text().contains("n多余") && !editor.text().ends_with('n'));
    press(&mut app, "esc");
    press(&mut app, "y");
    assert!(app.layers.is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text == "edit discarded")
    );
    // Without changes Esc closes at once.
    press(&mut app, "e");
    press(&mut app, "esc");
    assert!(app.layers.is_empty());
    press(&mut app, "e");
    assert!(decisions(&press(&mut app, "ctrl-s")).is_empty());
    assert!(app.notice.as_ref().is_some_and(|n| n.text == "no change"));
}

#[test]
fn the_output_editor_undoes_redoes_and_judges_budgets_as_the_text_changes() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "e");
    let budgets = |app: &mut App| {
        let Some(Layer::EditOutput(editor)) = app.layers.last_mut() else {
            panic!("editing");
        };
        let budgets: Vec<(usize, usize)> = editor
            .preview
            .budgets()
            .iter()
            .map(|b| (b.used, b.allowed))
            .collect();
        let failing: Vec<String> = editor
            .preview
            .rules()
            .iter()
            .filter(|r| r.outcome == moss_thinking::transcript::Outcome::Fail)
            .map(|r| r.id.to_string())
            .collect();
        (budgets, failing)
    };
    let (before, failing) = budgets(&mut app);
    assert_eq!(before.len(), 1);
    assert!(failing.is_empty(), "{failing:?}");
    // A long think at the end: over its budget at once, before any save.
    press(&mut app, "ctrl-end");
    type_text(
        &mut app,
        "<think>这一段新的思考写得非常非常长，远远超过了它前面那一句回答所给的字数预算</think>",
    );
    let (after, failing) = budgets(&mut app);
    assert_eq!(after.len(), 2);
    assert!(after[1].0 > after[1].1, "over budget: {after:?}");
    assert_eq!(failing, ["think-budget"]);
    // Ctrl-Z takes the typing back (in steps); Ctrl-Y brings it again.
    for _ in 0..200 {
        press(&mut app, "ctrl-z");
    }
    let Some(Layer::EditOutput(editor)) = app.top() else {
        panic!("editing");
    };
    assert_eq!(editor.text(), GOOD);
    assert_eq!(budgets(&mut app).0, before);
    for _ in 0..200 {
        press(&mut app, "ctrl-y");
    }
    assert_eq!(budgets(&mut app).0, after);
}

#[test]
fn capital_e_hands_the_text_to_the_external_editor_and_its_result_is_saved() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let commands = press(&mut app, "E");
    assert_eq!(
        commands,
        vec![Command::EditExternally {
            run: 0,
            text: GOOD.to_owned()
        }]
    );
    let edited = format!("{GOOD}\n补充一句。");
    let commands = update(
        &mut app,
        Msg::ExternallyEdited {
            run: 0,
            result: Ok(edited.clone()),
        },
    );
    assert_eq!(
        decisions(&commands)[0].text.as_deref(),
        Some(edited.as_str())
    );
    let failed = update(
        &mut app,
        Msg::ExternallyEdited {
            run: 0,
            result: Err("vi: not found".to_owned()),
        },
    );
    assert!(failed.is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("vi"))
    );
}

#[test]
fn selection_moves_and_is_saved_on_the_next_tick() {
    let mut app = app();
    press(&mut app, "j");
    press(&mut app, "j");
    assert_eq!(app.selected, 2);
    press(&mut app, "k");
    assert_eq!(app.selected, 1);
    press(&mut app, "G");
    assert_eq!(app.selected, 3);
    press(&mut app, "g");
    assert_eq!(app.selected, 0);
    press(&mut app, "n");
    assert_eq!(app.selected, 1);
    let commands = update(&mut app, Msg::Tick(Vec::new()));
    assert_eq!(
        commands,
        vec![Command::SaveSession(Session {
            selected: Some("q02".to_owned()),
            exec_consent: None,
        })]
    );
    assert!(
        update(&mut app, Msg::Tick(Vec::new())).is_empty(),
        "saved once"
    );
}

#[test]
fn reopening_restores_the_selection_runs_and_decisions() {
    let runs = vec![
        run("q01", GOOD, RunStatus::Complete),
        run("q03", GOOD, RunStatus::Complete),
    ];
    let accepted = Decision {
        run_id: runs[1].run_id.clone(),
        sample_id: "q03".to_owned(),
        verdict: Verdict::Accepted,
        text: None,
        rules: Vec::new(),
        override_rules: false,
        reason: None,
        prompt_id: None,
        over: None,
        at_ms: 1,
    };
    let app = app_with(
        runs,
        vec![accepted],
        Session {
            selected: Some("q03".to_owned()),
            exec_consent: Some(true),
        },
    );
    assert_eq!(app.selected, 2);
    assert_eq!(verdict(&app, 2), Some(Verdict::Accepted));
    assert_eq!(app.state(0), SampleState::Passed);
    assert_eq!(app.consent, Some(true));
    assert!(app.shown.is_some());
}

#[test]
fn tab_cycles_the_panes_and_keys_scroll_the_live_view_when_it_has_focus() {
    let long = (0..200).fold(String::new(), |mut text, i| {
        use std::fmt::Write as _;
        let _ = writeln!(text, "第{i}行回答。");
        text
    });
    let mut app = app_with(
        vec![run("q01", &long, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Live);
    workbench::screen(&mut app, 100, 30);
    press(&mut app, "g");
    press(&mut app, "j");
    press(&mut app, "j");
    workbench::screen(&mut app, 100, 30);
    assert_eq!(app.selected, 0, "the selection stays");
    let live = &app.shown.as_ref().expect("shown").live;
    assert_eq!(live.scroll_offset(), 2);
    assert!(!live.follows_tail());
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Rules);
    press(&mut app, "backtab");
    press(&mut app, "backtab");
    assert_eq!(app.focus, Pane::Samples);
    // The mouse wheel scrolls the transcript.
    update(
        &mut app,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 50,
            row: 10,
            modifiers: KeyModifiers::NONE,
        }),
    );
    workbench::screen(&mut app, 100, 30);
    assert_eq!(app.shown.as_ref().expect("shown").live.scroll_offset(), 5);
}

#[test]
fn slash_filters_by_text_and_state_and_esc_clears_it() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "/");
    type_text(&mut app, "python");
    assert_eq!(app.visible, vec![2]);
    assert_eq!(app.selected, 2, "the selection follows the filter");
    press(&mut app, "enter");
    assert!(app.layers.is_empty());
    assert_eq!(app.filter, "python");
    press(&mut app, "/");
    for _ in 0..6 {
        press(&mut app, "backspace");
    }
    type_text(&mut app, "is:passed");
    assert_eq!(app.visible, vec![0]);
    press(&mut app, "esc");
    assert!(app.filter.is_empty());
    assert_eq!(app.visible.len(), 4);
}

#[test]
fn the_export_summary_says_what_is_refused_and_asks_before_replacing_a_file() {
    let mut app = app();
    press(&mut app, "o");
    let commands = press(&mut app, "enter");
    let [Command::PlanExport(planned)] = commands.as_slice() else {
        panic!("a plan first: {commands:?}");
    };
    let planned = planned.clone();
    let summary = ExportPlan {
        records: 2,
        refused: vec!["q03 (run r3): fails think-budget".to_owned()],
        replayed: 1,
        files: vec![planned.out.clone()],
        existing: vec![planned.out.clone()],
        ..ExportPlan::default()
    };
    update(&mut app, Msg::ExportPlanned(Ok(summary.clone())));
    let text = workbench::screen(&mut app, 100, 30);
    assert!(text.contains("2 records as sharegpt"), "{text}");
    assert!(text.contains("q03 (run r3): fails think-budget"), "{text}");
    assert!(
        text.contains("1 run of the offline replay teacher left out"),
        "{text}"
    );
    assert!(
        text.contains("(exists: replaced)") && text.contains("Overwrite?"),
        "{text}"
    );
    // The file exists: Enter does not write it; any key but y goes back to the fields.
    assert!(press(&mut app, "enter").is_empty());
    assert!(press(&mut app, "n").is_empty());
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.plan.is_none()));
    press(&mut app, "enter");
    update(&mut app, Msg::ExportPlanned(Ok(summary)));
    let commands = press(&mut app, "y");
    assert_eq!(commands, vec![Command::Export(planned)]);
    // A failed write keeps the summary; Esc goes back to the fields.
    update(&mut app, Msg::Exported(Err("disk full".to_owned())));
    press(&mut app, "esc");
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.plan.is_none()));
    // Nothing to write: Enter does not write, y goes back.
    press(&mut app, "enter");
    update(&mut app, Msg::ExportPlanned(Ok(ExportPlan::default())));
    assert!(workbench::screen(&mut app, 100, 30).contains("nothing to write"));
    assert!(press(&mut app, "enter").is_empty());
    assert!(press(&mut app, "y").is_empty());
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.plan.is_none()));
    // The formats, then the consumer targets, round and back.
    for _ in 0..ExportFormat::ALL.len() {
        press(&mut app, "right");
    }
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.format == ExportFormat::Sharegpt));
    press(&mut app, "left");
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.format == ExportFormat::Openai));
}

#[test]
fn o_opens_the_export_dialog_whose_fields_become_the_export_options() {
    let mut app = app();
    app.settings
        .rule_layers
        .push(moss_thinking::config::Source::inline(
            "moss.toml",
            "[rules.first-answer-concise]\nmax-words = 10\n",
        ));
    press(&mut app, "o");
    assert!(matches!(app.top(), Some(Layer::Export(_))));
    press(&mut app, "right"); // format: messages
    press(&mut app, "tab");
    press(&mut app, "space"); // system: teacher
    press(&mut app, "tab");
    press(&mut app, "space"); // with meta
    press(&mut app, "tab");
    press(&mut app, "space"); // replayed runs too
    press(&mut app, "tab");
    for _ in 0.."curated.jsonl".len() {
        press(&mut app, "backspace");
    }
    type_text(&mut app, "out/数据.jsonl");
    // Enter works out what would be written; nothing is written before the summary is seen.
    let commands = press(&mut app, "enter");
    let [Command::PlanExport(planned)] = commands.as_slice() else {
        panic!("a plan first: {commands:?}");
    };
    let planned = planned.clone();
    assert!(
        press(&mut app, "enter").is_empty(),
        "keys wait for the plan"
    );
    update(
        &mut app,
        Msg::ExportPlanned(Ok(ExportPlan {
            records: 2,
            files: vec![planned.out.clone()],
            ..ExportPlan::default()
        })),
    );
    // No file to replace: Enter writes.
    let commands = press(&mut app, "enter");
    let [Command::Export(options)] = commands.as_slice() else {
        panic!("one export: {commands:?}");
    };
    assert_eq!(*options, planned);
    assert_eq!(options.format, ExportFormat::Messages);
    assert_eq!(options.system, SystemChoice::Teacher);
    assert!(options.with_meta);
    assert!(options.include_replayed);
    assert_eq!(
        options.out,
        std::path::Path::new("/workspace/out/数据.jsonl")
    );
    // The metadata is judged under the workbench's config.
    assert_eq!(options.rule_layers, app.settings.rule_layers);
    // Keys wait while it is written; a failure keeps the dialog open.
    assert!(press(&mut app, "enter").is_empty());
    update(&mut app, Msg::Exported(Err("permission denied".to_owned())));
    assert!(matches!(app.top(), Some(Layer::Export(d)) if !d.busy));
    press(&mut app, "enter");
    update(
        &mut app,
        Msg::Exported(Ok(ExportReport {
            path: options.out.clone(),
            written: 2,
            edited: 1,
            ..ExportReport::default()
        })),
    );
    assert!(app.layers.is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("exported 2") && n.text.contains("1 edited"))
    );
    // What the export warned about is said, not only logged.
    press(&mut app, "o");
    press(&mut app, "enter");
    update(
        &mut app,
        Msg::Exported(Ok(ExportReport {
            path: options.out.clone(),
            written: 1,
            warnings: vec![
                "prompt 0123abcd: no snapshot: judged by the configuration's rules".to_owned(),
                "runs.jsonl:7: skipped a torn line".to_owned(),
            ],
            ..ExportReport::default()
        })),
    );
    let notice = app.notice.as_ref().expect("said");
    assert!(
        notice
            .text
            .contains("2 warnings, first: prompt 0123abcd: no snapshot"),
        "{}",
        notice.text
    );
    // Esc closes without exporting.
    press(&mut app, "o");
    assert!(press(&mut app, "esc").is_empty());
    assert!(app.layers.is_empty());
}

#[test]
fn q_quits_at_once_when_idle_and_asks_while_runs_are_in_flight() {
    let mut app = app();
    let commands = press(&mut app, "q");
    assert!(commands.contains(&Command::Quit));
    assert!(matches!(commands[0], Command::SaveSession(_)));
    assert!(app.quit);

    let mut app = workbench::app();
    let (key, _) = press_and_start(&mut app, "enter")[0].clone();
    assert!(press(&mut app, "q").is_empty());
    assert!(matches!(app.top(), Some(Layer::ConfirmQuit)));
    press(&mut app, "n");
    assert!(app.layers.is_empty() && !app.quit);
    press(&mut app, "q");
    let commands = press(&mut app, "y");
    assert!(commands.contains(&Command::CancelAll));
    assert!(commands.contains(&Command::Quit));
    assert!(app.active[&key].cancelling);
}

#[test]
fn sigterm_or_sighup_quits_at_once_over_any_dialog_cancelling_runs_and_the_queue() {
    let mut app = app();
    let commands = run_filtered(&mut app);
    // q01 and q02 run, q03 and q04 wait.
    let queued = submitted(&commands);
    let running: Vec<u64> = queued[..2].iter().map(|(key, _)| *key).collect();
    for key in &running {
        service(&mut app, ServiceEvent::Started { key: *key });
    }
    press(&mut app, "q");
    assert!(matches!(app.top(), Some(Layer::ConfirmQuit)));

    let commands = update(&mut app, Msg::Signal(HostSignal::Terminate));
    // Every run is cancelled (waiting or in flight), then the session saved, then the runner
    // told to quit.
    assert!(
        matches!(
            commands[..],
            [Command::CancelAll, Command::SaveSession(_), Command::Quit]
        ),
        "{commands:?}"
    );
    assert!(app.quit);
    assert!(app.queue.pending.is_empty(), "nothing waiting starts");
    assert!(app.active.values().all(|run| run.cancelling));
    // The cancelled runs finish as usual; nothing new starts, and a second signal adds nothing.
    assert!(update(&mut app, Msg::Signal(HostSignal::Hangup)).is_empty());
    for (key, _) in &queued[2..] {
        service(
            &mut app,
            ServiceEvent::Dropped {
                key: *key,
                started: false,
            },
        );
    }
    let commands = stream_and_finish(
        &mut app,
        running[0],
        "是蓝色。",
        run("q01", "是蓝色。", RunStatus::Incomplete),
    );
    assert!(submitted(&commands).is_empty(), "{commands:?}");
    assert_eq!(app.active.len(), 1);

    // Idle, with no dialog: the same, at once.
    let mut app = workbench::app();
    let commands = update(&mut app, Msg::Signal(HostSignal::Hangup));
    assert!(matches!(
        commands[..],
        [Command::SaveSession(_), Command::Quit]
    ));
    assert!(app.quit);
}

#[test]
fn consent_is_asked_once_and_the_answer_is_remembered() {
    let mut app = app();
    service(&mut app, ServiceEvent::ConsentNeeded);
    service(&mut app, ServiceEvent::ConsentNeeded);
    assert_eq!(app.layers.len(), 1, "asked once");
    assert!(type_text(&mut app, "x").is_empty(), "other keys wait");
    let commands = press(&mut app, "y");
    assert_eq!(commands[0], Command::AnswerConsent(true));
    assert_eq!(
        commands[1],
        Command::SaveSession(Session {
            selected: Some("q01".to_owned()),
            exec_consent: Some(true),
        })
    );
    assert_eq!(app.consent, Some(true));
    // Once answered it is not asked again.
    service(&mut app, ServiceEvent::ConsentNeeded);
    assert!(app.layers.is_empty());

    let mut app = workbench::app();
    service(&mut app, ServiceEvent::ConsentNeeded);
    assert_eq!(press(&mut app, "n")[0], Command::AnswerConsent(false));
    assert_eq!(app.consent, Some(false));
}

#[test]
fn the_prompt_editor_marks_unsaved_changes_and_ctrl_s_makes_a_new_version() {
    let mut app = app();
    let before = app.prompt.version.id.clone();
    // The editor holds the file byte for byte, final newline included.
    assert_eq!(app.prompt.editor_text(), workbench::PROMPT);
    press(&mut app, "p");
    assert!(matches!(app.top(), Some(Layer::PromptEditor)));
    type_text(&mut app, "多想一步。");
    assert!(app.prompt.dirty);
    // Runs started now use the saved version, and say so.
    press(&mut app, "esc");
    let commands = press(&mut app, "enter");
    let Some(Command::Submit { job, .. }) = commands.first() else {
        panic!("a run");
    };
    assert_eq!(job.prompt.id, before);
    assert!(noticed(&app, "unsaved"));
    press(&mut app, "p");
    assert!(press(&mut app, "ctrl-s").is_empty(), "the label first");
    let commands = press(&mut app, "enter");
    let [Command::SavePrompt { path, text }] = commands.as_slice() else {
        panic!("one save: {commands:?}");
    };
    assert_eq!(path, std::path::Path::new("prompts/teacher.zh.md"));
    assert!(text.starts_with("多想一步。"), "{text}");
    prompt_saved(&mut app, text);
    assert!(!app.prompt.dirty);
    assert_ne!(app.prompt.version.id, before);
    assert_eq!(app.prompt.version.id, moss_thinking::run::prompt_id(text));
    assert!(app.prompt.texts.contains_key(&before) && app.prompt.texts.len() == 2);
}

#[test]
fn a_prompt_with_bad_front_matter_is_not_saved() {
    let mut app = app();
    press(&mut app, "p");
    // Break the front matter's TOML on its second line.
    press(&mut app, "down");
    type_text(&mut app, "= =");
    assert!(press(&mut app, "ctrl-s").is_empty());
    let notice = app.notice.as_ref().expect("an error");
    assert!(
        notice.error && notice.text.contains("not saved"),
        "{notice:?}"
    );
}

#[test]
fn h_opens_the_prompt_history_and_esc_closes_it() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    press(&mut app, "h");
    let Some(Layer::History(history)) = app.top() else {
        panic!("history open");
    };
    assert_eq!(history.versions().len(), 1);
    assert_eq!(history.versions()[0].runs, 1);
    press(&mut app, "esc");
    assert!(app.layers.is_empty());
}

#[test]
fn the_history_judges_runs_by_the_workbench_config() {
    // Recorded under the built-in rules, where its first answer (25 words) was concise.
    let record = run("q01", GOOD, RunStatus::Complete);
    let mut app = app_with(vec![record], Vec::new(), Session::default());
    let mut layers = moss_thinking::config::Layers::default();
    layers.push(moss_thinking::config::Source::inline(
        "moss.toml",
        "[rules.first-answer-concise]\nmax-words = 10\n",
    ));
    app.settings.rule_layers = layers;
    press(&mut app, "h");
    let Some(Layer::History(history)) = app.top() else {
        panic!("history open");
    };
    let concise = history.versions()[0]
        .rules
        .iter()
        .find(|r| r.id == moss_thinking::transcript::RuleId::FirstAnswerConcise)
        .map(|r| (r.passed, r.judged));
    assert_eq!(concise, Some((0, 1)), "judged again under max-words = 10");
}

#[test]
fn question_mark_opens_help_and_any_key_closes_it() {
    let mut app = app();
    press(&mut app, "?");
    assert!(matches!(app.top(), Some(Layer::Help { .. })));
    assert!(press(&mut app, "a").is_empty(), "the key only closes help");
    assert!(app.layers.is_empty());
}

#[test]
fn z_expands_and_collapses_hidden_reasoning() {
    let mut record = run("q01", GOOD, RunStatus::Complete);
    record.reasoning = Some("先想一想散射。".to_owned());
    let mut app = app_with(vec![record], Vec::new(), Session::default());
    let live = &app.shown.as_ref().expect("shown").live;
    assert!(!live.reasoning_expanded());
    assert_eq!(live.reasoning(), "先想一想散射。");
    press(&mut app, "z");
    assert!(app.shown.as_ref().expect("shown").live.reasoning_expanded());
    press(&mut app, "z");
    assert!(!app.shown.as_ref().expect("shown").live.reasoning_expanded());
}

#[test]
fn page_keys_and_capital_n_move_through_the_samples() {
    let mut app = app();
    press(&mut app, "pagedown");
    assert_eq!(app.selected, 3, "a page stops at the last sample");
    press(&mut app, "N");
    assert_eq!(app.selected, 2);
    update(
        &mut app,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::PageUp,
            KeyModifiers::NONE,
        )),
    );
    assert_eq!(app.selected, 0);
    // N at the top stays there.
    press(&mut app, "N");
    assert_eq!(app.selected, 0);
}

#[test]
fn history_keys_select_mark_and_scroll() {
    let old = "旧版本的提示词。\n";
    let mut first = run("q01", GOOD, RunStatus::Complete);
    first.prompt_id = moss_thinking::run::prompt_id(old);
    first.run_id = "old".to_owned();
    first.timings.started_at_ms = 1;
    let mut second = run("q02", GOOD, RunStatus::Complete);
    second.timings.started_at_ms = 2;
    let mut app = app_with(vec![first, second], Vec::new(), Session::default());
    app.prompt.texts.insert(
        moss_thinking::run::prompt_id(old),
        std::sync::Arc::from(old),
    );
    press(&mut app, "h");
    let selected = |app: &App| match app.top() {
        Some(Layer::History(h)) => (h.selected(), h.marked()),
        _ => panic!("history open"),
    };
    assert_eq!(
        selected(&app),
        (1, None),
        "the current version starts selected"
    );
    press(&mut app, "k");
    assert_eq!(selected(&app), (0, None));
    press(&mut app, "space");
    assert_eq!(selected(&app), (0, Some(0)));
    press(&mut app, "j");
    assert_eq!(selected(&app), (1, Some(0)));
    press(&mut app, "pagedown");
    press(&mut app, "space");
    assert_eq!(selected(&app), (1, Some(1)), "space moves the base");
    press(&mut app, "space");
    assert_eq!(
        selected(&app),
        (1, None),
        "and clears it on the marked version"
    );
    press(&mut app, "q");
    assert!(app.layers.is_empty(), "q closes the history, not the app");
    assert!(!app.quit);
}

#[test]
fn pasted_text_goes_to_the_layer_that_takes_text() {
    let mut app = app();
    press(&mut app, "/");
    update(&mut app, Msg::Paste("python\nignored".to_owned()));
    assert_eq!(app.filter, "python");
    assert_eq!(app.visible, vec![2]);
    press(&mut app, "esc");
    press(&mut app, "p");
    update(&mut app, Msg::Paste("粘贴的一段。".to_owned()));
    assert!(app.prompt.dirty);
    assert!(app.prompt.editor_text().starts_with("粘贴的一段。"));
    // On the main screen a paste does nothing.
    press(&mut app, "esc");
    let before = app.filter.clone();
    assert!(update(&mut app, Msg::Paste("x".to_owned())).is_empty());
    assert_eq!(app.filter, before);
}

#[test]
fn states_in_one_pass_agree_with_each_sample_state() {
    let mut app = app_with(
        vec![run("q04", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let commands = run_filtered(&mut app);
    // The service starts q01; q02 and q03 wait.
    service(
        &mut app,
        ServiceEvent::Started {
            key: submitted(&commands)[0].0,
        },
    );
    let states = app.states();
    assert_eq!(
        states,
        [
            SampleState::Running,
            SampleState::Queued,
            SampleState::Queued,
            SampleState::Passed
        ]
    );
    for (i, state) in states.iter().enumerate() {
        assert_eq!(app.state(i), *state);
    }
}

#[test]
fn the_samples_list_scrolls_to_keep_the_selection_on_screen() {
    let mut app = app();
    app.samples = (0..40)
        .map(|i| moss_thinking::generate::Sample {
            id: format!("s{i:02}"),
            question: format!("问题{i}"),
            tags: Vec::new(),
            interruptions: None,
        })
        .collect();
    app.visible = (0..40).collect();
    press(&mut app, "G");
    let screen = workbench::screen(&mut app, 60, 20);
    assert!(screen.contains("s39"), "{screen}");
    assert!(!screen.contains("s00"), "{screen}");
    press(&mut app, "g");
    let screen = workbench::screen(&mut app, 60, 20);
    assert!(
        screen.contains("s00") && !screen.contains("s39"),
        "{screen}"
    );
}

fn status_row(app: &mut App) -> String {
    let screen = workbench::screen(app, 160, 20);
    screen
        .lines()
        .find(|row| row.contains(" · exec "))
        .unwrap_or_else(|| panic!("a status bar:\n{screen}"))
        .to_owned()
}

#[test]
fn the_sandbox_check_reaches_the_status_bar_and_the_consent_dialog() {
    let mut app = app();
    assert!(
        !status_row(&mut app).contains("sandbox:"),
        "nothing before the check"
    );
    update(
        &mut app,
        Msg::SandboxChecked(Box::new(sandbox_check(
            Ok("Python 3.12.3 (/usr/bin/python3)"),
            &[
                (Protection::FilesystemIsolated, "no user namespaces"),
                (Protection::DiskLimit, "no user namespaces"),
            ],
        ))),
    );
    assert!(
        app.notice.is_none(),
        "missing protections alone are not an error"
    );
    assert_eq!(app.sandbox.as_ref().map(|c| c.missing.len()), Some(2));
    assert!(status_row(&mut app).contains("fill (asks first) · sandbox: 2 missing"));
    service(&mut app, ServiceEvent::ConsentNeeded);
    let dialog = workbench::screen(&mut app, 100, 30);
    assert!(
        dialog.contains("✗ filesystem isolation, disk limit: no user namespaces"),
        "one row per reason:\n{dialog}"
    );
}

#[test]
fn a_required_protection_that_is_missing_is_an_error_at_once() {
    let mut app = app();
    app.settings.require = vec![Protection::FilesystemIsolated, Protection::Unprivileged];
    update(
        &mut app,
        Msg::SandboxChecked(Box::new(sandbox_check(
            Ok("Python 3.12.3 (/usr/bin/python3)"),
            &[(Protection::FilesystemIsolated, "no user namespaces")],
        ))),
    );
    let notice = app.notice.as_ref().expect("an error");
    assert!(notice.error);
    assert!(
        notice.text.contains("filesystem-isolated") && !notice.text.contains("unprivileged"),
        "names exactly what is lacking: {}",
        notice.text
    );
    assert!(status_row(&mut app).contains("sandbox: refused by require"));
}

#[test]
fn a_sandbox_that_cannot_start_python_is_an_error_at_once() {
    let mut app = app();
    update(
        &mut app,
        Msg::SandboxChecked(Box::new(sandbox_check(Err("python3.99: not found"), &[]))),
    );
    let notice = app.notice.as_ref().expect("an error");
    assert!(
        notice.error && notice.text.contains("python3.99: not found"),
        "{}",
        notice.text
    );
    assert!(status_row(&mut app).contains("sandbox: no python"));
}

#[test]
fn the_clock_of_a_run_waiting_for_its_first_token_moves_on_ticks() {
    let mut app = app();
    let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
        panic!("a run starts");
    };
    update(
        &mut app,
        Msg::Tick(vec![(key, Duration::from_millis(2300))]),
    );
    assert_eq!(app.active[&key].elapsed, Duration::from_millis(2300));
    let screen = workbench::screen(&mut app, 100, 30);
    assert!(screen.contains("waiting for the teacher 2.3s"), "{screen}");
    // A late tick never winds the clock back; runs no longer in flight are ignored.
    update(
        &mut app,
        Msg::Tick(vec![
            (key, Duration::from_millis(900)),
            (key + 99, Duration::ZERO),
        ]),
    );
    assert_eq!(app.active[&key].elapsed, Duration::from_millis(2300));
}

#[test]
fn without_usage_tokens_and_speed_are_estimated_from_the_text_and_say_so() {
    let mut app = app();
    let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
        panic!("a run starts");
    };
    let mut record = run("q01", GOOD, RunStatus::Complete);
    record.usage = None;
    record.timings.first_token_ms = Some(500);
    record.timings.total_ms = 2500;
    stream_and_finish(&mut app, key, GOOD, record);
    let estimate = moss_thinking::run::estimate_tokens(GOOD);
    assert!(estimate > 0);
    assert_eq!(app.stats.tokens, estimate);
    assert!(app.stats.tokens_estimated && app.stats.speed_estimated);
    // Two seconds of streaming.
    let speed = app.stats.last_tokens_per_sec.expect("a speed");
    #[allow(clippy::cast_precision_loss)]
    let expected = estimate as f64 / 2.0;
    assert!((speed - expected).abs() < 1e-9, "{speed} vs {expected}");
    let status = status_row(&mut app);
    assert!(status.contains(&format!("≈{estimate} tok")), "{status}");
    assert!(
        status.contains(&format!("≈{expected:.1} tok/s")),
        "{status}"
    );

    // With usage, the provider's count, and no `≈` on the speed it gave.
    press(&mut app, "j");
    let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
        panic!("a second run starts");
    };
    let mut record = run("q02", GOOD, RunStatus::Complete);
    record.usage = Some(moss_thinking::teacher::Usage {
        completion_tokens: 40,
        ..Default::default()
    });
    record.timings.tokens_per_sec = Some(20.0);
    stream_and_finish(&mut app, key, GOOD, record);
    assert_eq!(app.stats.tokens, estimate + 40);
    assert!(!app.stats.speed_estimated);
    let status = status_row(&mut app);
    assert!(status.contains(" 20.0 tok/s"), "{status}");
}

#[test]
fn a_run_that_panicked_is_failed_and_the_queue_goes_on() {
    let mut app = app();
    let commands = run_filtered(&mut app);
    let (key, sample) = submitted(&commands)[0].clone();
    assert_eq!(sample, "q01");
    service(&mut app, ServiceEvent::Started { key });
    // What `run_contained` records for a run that panicked.
    let mut panicked = run("q01", "", RunStatus::Failed);
    panicked.error = Some("internal error in moss (please report it): boom".to_owned());
    stream_and_finish(&mut app, key, "", panicked);
    // The rest of the batch still waits for the service's slots.
    assert_eq!(app.queue.pending.len(), 3);
    assert_eq!(app.state(1), SampleState::Queued);
    assert_eq!(app.state(0), SampleState::Incomplete);
    assert!(!app.active.contains_key(&key));
    let notice = app.notice.as_ref().expect("said");
    assert!(
        notice.error && notice.text.contains("boom"),
        "{}",
        notice.text
    );
}

#[test]
fn the_workbench_folds_decisions_exactly_as_the_store_reads_them_back() {
    let mut app = app_with(
        vec![run("q01", GOOD, RunStatus::Complete)],
        Vec::new(),
        Session::default(),
    );
    let run_id = app.runs[0].run_id.clone();
    let decision = |verdict: Verdict, text: Option<&str>| Decision {
        run_id: run_id.clone(),
        sample_id: "q01".to_owned(),
        verdict,
        text: text.map(str::to_owned),
        rules: Vec::new(),
        override_rules: false,
        reason: None,
        prompt_id: None,
        over: None,
        at_ms: 1,
    };
    let decisions = [
        decision(Verdict::Edited, Some("改过的回答。")),
        decision(Verdict::Accepted, None),
        // A damaged edit line: no text. The edit before it stands.
        decision(Verdict::Edited, None),
        decision(Verdict::Rejected, None),
    ];
    for (i, d) in decisions.iter().enumerate() {
        app.saving += 1;
        service(&mut app, saved(d.clone()));
        let read_back = moss_thinking::store::fold(&decisions[..=i]);
        assert_eq!(
            app.curation.get(&run_id),
            read_back.get(&run_id),
            "after {i}"
        );
    }
    assert_eq!(
        app.curation[&run_id].edited.as_deref(),
        Some("改过的回答。")
    );
}

#[test]
fn a_saved_prompt_with_its_own_rules_judges_the_next_run_with_them() {
    let mut app = app();
    let before = app.prompt.version.id.clone();
    assert_eq!(
        app.prompt
            .version
            .rules
            .as_ref()
            .map(|r| r.config().first_answer_concise.max_words),
        Some(120)
    );
    let text =
        "+++\n[rules.first-answer-concise]\nmax-words = 6\n+++\n你是老师。先回答，再思考。\n";
    prompt_saved(&mut app, text);
    assert_ne!(app.prompt.version.id, before);
    // The next run carries the new version's rules, and the live view's budgets follow them.
    let commands = press(&mut app, "enter");
    let Some(Command::Submit { key, job, .. }) = commands.first() else {
        panic!("a run: {commands:?}");
    };
    start_submitted(&mut app, &commands);
    let rules = job.prompt.rules.as_ref().expect("the version's rules");
    assert_eq!(rules.config().first_answer_concise.max_words, 6);
    assert_eq!(app.rules().config().first_answer_concise.max_words, 6);
    // Judged by them: GOOD's first answer is longer than 6 words.
    let verdict = rules.evaluate(
        &moss_thinking::transcript::Transcript::parse(
            GOOD,
            moss_thinking::transcript::CountMode::Mixed,
        ),
        moss_thinking::transcript::RuleContext::Live { model_results: 0 },
    );
    let key = *key;
    assert!(verdict.iter().any(
        |r| r.id == moss_thinking::transcript::RuleId::FirstAnswerConcise
            && r.outcome == moss_thinking::transcript::Outcome::Fail
    ));
    assert!(app.active.contains_key(&key));

    // Rules that do not resolve: the version does not change, and the screen says why.
    let current = app.prompt.version.id.clone();
    prompt_saved(
        &mut app,
        "+++\n[rules.think-budget]\nratio = \"lots\"\n+++\n你是老师。\n",
    );
    assert_eq!(app.prompt.version.id, current);
    assert!(
        app.notice.as_ref().is_some_and(|n| n.error),
        "{:?}",
        app.notice
    );
}

#[test]
fn an_edit_is_rechecked_by_the_rules_of_its_runs_prompt_version() {
    // The run was made with an older version whose front matter allows 5 words of first
    // answer; the current version allows 120.
    let old = "+++\n[rules.first-answer-concise]\nmax-words = 5\n+++\n你是老师。\n";
    let mut old_run = run("q01", OVER_BUDGET, RunStatus::Complete);
    old_run.prompt_id = moss_thinking::run::prompt_id(old);
    let mut app = app_with(vec![old_run], Vec::new(), Session::default());
    app.prompt.texts.insert(
        moss_thinking::run::prompt_id(old),
        std::sync::Arc::from(old),
    );
    press(&mut app, "e");
    let Some(Layer::EditOutput(editor)) = app.layers.last_mut() else {
        panic!("the output editor is open");
    };
    editor.area.select_all();
    editor.area.cut();
    editor.area.insert_str(GOOD);
    let saved = decisions(&press(&mut app, "ctrl-s"));
    let concise = saved[0]
        .rules
        .iter()
        .find(|r| r.id == moss_thinking::transcript::RuleId::FirstAnswerConcise)
        .expect("judged");
    assert_eq!(
        concise.outcome,
        moss_thinking::transcript::Outcome::Fail,
        "judged by its version's 5 words: {}",
        concise.message
    );
    assert!(concise.message.contains("limit 5"), "{}", concise.message);
}

#[test]
fn runs_queued_before_a_prompt_save_keep_their_version_and_the_notice_says_so() {
    let mut app = app();
    let before = app.prompt.version.id.clone();
    let commands = run_filtered(&mut app);
    let queued: Vec<String> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Submit { job, .. } => Some(job.prompt.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(queued, vec![before.clone(); 4]);
    prompt_saved(&mut app, "+++\ntemperature = 0.3\n+++\n你是老师。\n");
    assert_ne!(app.prompt.version.id, before);
    let notice = app.notice.as_ref().expect("said");
    assert!(
        notice
            .text
            .contains("the 4 runs already queued keep the version"),
        "{}",
        notice.text
    );
}

/// Four samples: q01 passes, q02 fails its think budget, q03 passes, q04 not run.
fn review_app() -> App {
    app_with(
        vec![
            run("q01", GOOD, RunStatus::Complete),
            run("q02", OVER_BUDGET, RunStatus::Complete),
            run("q03", &format!("{GOOD}\n"), RunStatus::Complete),
        ],
        Vec::new(),
        Session::default(),
    )
}

#[test]
fn a_accepts_and_moves_to_the_next_unreviewed_sample() {
    let mut app = review_app();
    type_text(&mut app, "/is:unreviewed");
    press(&mut app, "enter");
    assert_eq!(app.visible, [0, 1, 2], "q04 has no run to review");
    press(&mut app, "esc");
    let commands = press(&mut app, "a");
    assert_eq!(decisions(&commands).len(), 1);
    assert_eq!(app.selected, 1, "on to q02 at once");
    confirm(&mut app, &commands);
    assert!(!app.unreviewed(0, app.state(0)));
    // q02 fails a rule: `a` refuses and says how to go on; nothing is saved, nothing moves.
    let commands = press(&mut app, "a");
    assert!(decisions(&commands).is_empty());
    assert_eq!(app.selected, 1);
    let notice = app.notice.clone().expect("a notice");
    assert!(
        notice.error && notice.text.contains("fails think-budget"),
        "{notice:?}"
    );
    assert!(notice.text.contains("A accepts it anyway"), "{notice:?}");
    // `A` accepts it knowingly, recorded as such.
    let commands = press(&mut app, "A");
    let saved = decisions(&commands);
    assert!(saved[0].override_rules);
    assert_eq!(saved[0].verdict, Verdict::Accepted);
    assert_eq!(app.selected, 2);
    confirm(&mut app, &commands);
    let review = app.review(1).expect("decided");
    assert!(review.fails && review.override_rules);
    assert_eq!(
        app.state(1),
        SampleState::RulesFailed,
        "the failure stays in sight"
    );
    // The last one: nothing left to move to.
    let commands = press(&mut app, "a");
    confirm(&mut app, &commands);
    assert_eq!(app.selected, 2);
    let commands = press(&mut app, "a");
    assert_eq!(decisions(&commands).len(), 1, "accepting again is allowed");
    assert!(noticed(&app, "no unreviewed sample left"));
}

#[test]
fn x_asks_for_a_reason_then_rejects_and_moves_on() {
    let mut app = review_app();
    press(&mut app, "x");
    assert!(matches!(app.top(), Some(Layer::Reject(_))));
    // Esc backs out: nothing is decided.
    assert!(decisions(&press(&mut app, "esc")).is_empty());
    assert!(app.layers.is_empty());
    // A number picks a configured reason.
    press(&mut app, "x");
    let commands = press(&mut app, "1");
    let saved = decisions(&commands);
    assert_eq!(saved[0].verdict, Verdict::Rejected);
    assert_eq!(saved[0].reason.as_deref(), Some("答案错误"));
    assert_eq!(app.selected, 1);
    confirm(&mut app, &commands);
    assert_eq!(
        app.review(0).and_then(|r| r.reason).as_deref(),
        Some("答案错误")
    );
    // Or a reason typed in (digits then go into the text).
    press(&mut app, "x");
    type_text(&mut app, "思考太长2倍");
    let commands = press(&mut app, "enter");
    assert_eq!(
        decisions(&commands)[0].reason.as_deref(),
        Some("思考太长2倍")
    );
    // Or the highlighted one.
    confirm(&mut app, &commands);
    press(&mut app, "x");
    press(&mut app, "down");
    press(&mut app, "down");
    let commands = press(&mut app, "enter");
    assert_eq!(
        decisions(&commands)[0].reason.as_deref(),
        Some("think over budget")
    );
}

#[test]
fn u_undoes_the_latest_decision_with_a_revoke_line() {
    let runs = vec![
        run("q01", GOOD, RunStatus::Complete),
        run("q02", GOOD, RunStatus::Complete),
    ];
    // One decision already on disk from an earlier session.
    let earlier = Decision::new(&runs[1].run_id, "q02", Verdict::Rejected, 5);
    let mut app = app_with(runs, vec![earlier], Session::default());
    let commands = press(&mut app, "a");
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 0), Some(Verdict::Accepted));
    press(&mut app, "j");
    // u takes back q01's accept (the latest), selecting it.
    let commands = press(&mut app, "u");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].verdict, Verdict::Revoked);
    assert_eq!(saved[0].run_id, app.runs[0].run_id);
    assert_eq!(app.selected, 0);
    // Shown only once it is on disk.
    assert_eq!(verdict(&app, 0), Some(Verdict::Accepted));
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 0), None);
    assert!(noticed(&app, "undid accepted"));
    // Then the one from the earlier session; then nothing.
    let commands = press(&mut app, "u");
    assert_eq!(decisions(&commands)[0].run_id, app.runs[1].run_id);
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 1), None);
    assert!(decisions(&press(&mut app, "u")).is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text == "nothing to undo")
    );
}

#[test]
fn a_decision_stays_in_sight_after_a_rerun_under_another_version() {
    let first = run("q01", GOOD, RunStatus::Complete);
    let accepted = Decision::new(&first.run_id, "q01", Verdict::Accepted, 1);
    let mut rerun = run("q01", OVER_BUDGET, RunStatus::Complete);
    rerun.prompt_id = "feedbeef00112233".to_owned();
    let mut app = app_with(vec![first, rerun], vec![accepted], Session::default());
    let review = app.review(0).expect("the accept stands");
    assert_eq!(review.verdict, Verdict::Accepted);
    assert!(!review.on_latest, "it is on the earlier run");
    assert_eq!(review.mark(), "a");
    assert_eq!(
        app.state(0),
        SampleState::RulesFailed,
        "the latest run fails"
    );
    assert!(
        app.unreviewed(0, app.state(0)),
        "the new run waits for review"
    );
    type_text(&mut app, "/is:accepted");
    assert_eq!(app.visible, [0]);
    let text = workbench::screen(&mut app, 100, 30);
    assert!(text.contains("✗a q01"), "{text}");
    assert!(text.contains("accepted earlier (prompt "), "{text}");
}

#[test]
fn filters_take_rules_tags_answer_text_and_negation() {
    let mut app = review_app();
    let commands = press(&mut app, "a");
    confirm(&mut app, &commands);
    let mut visible = |filter: &str| {
        app.filter = filter.to_owned();
        press(&mut app, "/");
        press(&mut app, "enter");
        app.visible.clone()
    };
    assert_eq!(visible("fails:think"), [1]);
    assert_eq!(visible("-fails:think-budget"), [0, 2, 3]);
    assert_eq!(visible("tag:arith"), [1, 2]);
    assert_eq!(visible("tag:zh -tag:run"), [0]);
    assert_eq!(visible("answer:瑞利"), [0, 2]);
    assert_eq!(visible("-is:accepted"), [1, 2, 3]);
    assert_eq!(visible("is:acc"), [0]);
    assert_eq!(visible("is:failed"), [1]);
    assert_eq!(visible("is:new"), [3]);
    assert_eq!(visible("monad"), [3]);
    assert_eq!(visible("-monad -is:unreviewed"), [0]);
}

#[test]
fn b_decides_the_filtered_set_in_bulk_after_asking() {
    let mut app = review_app();
    let commands = press(&mut app, "b");
    assert!(commands.is_empty());
    let Some(Layer::Bulk(dialog)) = app.top() else {
        panic!("the bulk menu is open");
    };
    let labels: Vec<String> = dialog
        .actions
        .iter()
        .map(moss_thinking::tui::app::BulkAction::label)
        .collect();
    assert_eq!(
        labels,
        [
            "accept 2 passing outputs",
            "reject 1 output failing think-budget"
        ]
    );
    // Enter asks; anything but y backs out of the question.
    assert!(press(&mut app, "enter").is_empty());
    assert!(press(&mut app, "n").is_empty());
    assert!(matches!(app.top(), Some(Layer::Bulk(d)) if !d.confirming));
    press(&mut app, "j");
    press(&mut app, "enter");
    let commands = press(&mut app, "y");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].sample_id, "q02");
    assert_eq!(saved[0].verdict, Verdict::Rejected);
    assert_eq!(saved[0].reason.as_deref(), Some("fails think-budget"));
    confirm(&mut app, &commands);
    press(&mut app, "b");
    press(&mut app, "enter");
    let commands = press(&mut app, "y");
    let saved = decisions(&commands);
    assert_eq!(
        saved
            .iter()
            .map(|d| d.sample_id.as_str())
            .collect::<Vec<_>>(),
        ["q01", "q03"]
    );
    assert!(
        saved
            .iter()
            .all(|d| d.verdict == Verdict::Accepted && !d.override_rules)
    );
    confirm(&mut app, &commands);
    assert!(decisions(&press(&mut app, "b")).is_empty());
    assert!(app.layers.is_empty(), "nothing left to do in bulk");
}

#[test]
fn a_placeholder_is_never_accepted() {
    let mut placeholder = run(
        "q01",
        "[Offline replay] There is no recorded answer for this question; this is a placeholder, not a model's answer.",
        RunStatus::Complete,
    );
    placeholder.placeholder = true;
    // Recorded before the rule existed: the workbench judges it again as it opens.
    placeholder
        .rules
        .retain(|r| r.id != moss_thinking::transcript::RuleId::ModelAnswer);
    let mut app = app_with(vec![placeholder], Vec::new(), Session::default());
    assert_eq!(app.state(0), SampleState::RulesFailed);
    for key in ["a", "A"] {
        assert!(decisions(&press(&mut app, key)).is_empty(), "{key}");
        assert!(
            app.notice
                .as_ref()
                .is_some_and(|n| n.error && n.text.contains("placeholder")),
            "{key}"
        );
    }
    // It fails model-answer for the filter and the bulk menu alike (it can only be rejected).
    type_text(&mut app, "/fails:model");
    press(&mut app, "enter");
    assert_eq!(app.visible, [0]);
    press(&mut app, "b");
    let Some(Layer::Bulk(dialog)) = app.top() else {
        panic!("the bulk menu is open");
    };
    let labels: Vec<String> = dialog
        .actions
        .iter()
        .map(moss_thinking::tui::app::BulkAction::label)
        .collect();
    assert!(
        labels.contains(&"reject 1 output failing model-answer".to_owned()),
        "{labels:?}"
    );
    assert!(labels.iter().all(|l| l.starts_with("reject")), "{labels:?}");
}

#[test]
fn the_rules_pane_takes_focus_and_scrolls_and_i_shows_the_whole_question() {
    let mut app = review_app();
    press(&mut app, "tab");
    press(&mut app, "tab");
    assert_eq!(app.focus, Pane::Rules);
    // At 80×24 the pane is shorter than its rules: it scrolls, down to its last row.
    let before = workbench::screen(&mut app, 80, 24);
    assert!(before.contains("↓"), "{before}");
    for _ in 0..30 {
        press(&mut app, "j");
    }
    let after = workbench::screen(&mut app, 80, 24);
    assert!(app.rules_scroll > 0);
    assert!(after.contains("↑"), "{after}");
    assert!(!after.contains("↓"), "{after}");
    press(&mut app, "k");
    assert!(workbench::screen(&mut app, 80, 24).contains("↓"));
    // Selecting another sample starts its rules from the top.
    press(&mut app, "tab");
    press(&mut app, "j");
    assert_eq!(app.rules_scroll, 0);

    app.samples[1].question = "第一行：问题\n第二行：条件\n\n第四行".to_owned();
    press(&mut app, "i");
    assert!(matches!(app.top(), Some(Layer::Question { .. })));
    let text = workbench::screen(&mut app, 80, 24);
    for line in ["│第一行：问题", "│第二行：条件", "│第四行"] {
        assert!(text.contains(line), "{line} on its own row:\n{text}");
    }
    press(&mut app, "x");
    assert!(app.layers.is_empty(), "any other key closes it");
}

#[test]
fn a_notice_gives_way_to_the_key_hints_at_the_next_key() {
    let mut app = review_app();
    press(&mut app, "j");
    press(&mut app, "a");
    assert!(app.notice.is_some());
    let text = workbench::screen(&mut app, 100, 30);
    assert!(!text.contains("Enter run · a accept"), "{text}");
    press(&mut app, "k");
    assert!(app.notice.is_none());
    let text = workbench::screen(&mut app, 100, 30);
    assert!(text.contains("Enter run · a accept"), "{text}");
}

#[test]
fn accept_anyway_is_recorded_as_such_even_on_an_output_that_shows_no_failure() {
    // The export judges by the rules in force now, which may find a failure the recorded
    // verdicts do not show: `A` must mean "whatever the rules say".
    let mut app = review_app();
    let commands = press(&mut app, "A");
    let saved = decisions(&commands);
    assert_eq!(saved.len(), 1);
    assert!(saved[0].override_rules);
}

#[test]
fn bulk_leaves_the_decisions_already_made_alone() {
    let mut app = review_app();
    // q01 rejected by hand, q02 accepted anyway by hand.
    press(&mut app, "x");
    let commands = press(&mut app, "1");
    confirm(&mut app, &commands);
    let commands = press(&mut app, "A");
    confirm(&mut app, &commands);
    press(&mut app, "b");
    let Some(Layer::Bulk(dialog)) = app.top() else {
        panic!("the bulk menu is open");
    };
    let labels: Vec<String> = dialog
        .actions
        .iter()
        .map(moss_thinking::tui::app::BulkAction::label)
        .collect();
    assert_eq!(
        labels,
        ["accept 1 passing output"],
        "only q03 waits for a verdict"
    );
}

#[test]
fn undo_waits_for_the_decisions_being_saved() {
    let mut app = review_app();
    let pending = press(&mut app, "a");
    assert_eq!(app.saving, 1);
    assert!(decisions(&press(&mut app, "u")).is_empty());
    assert!(noticed(&app, "still being saved"));
    confirm(&mut app, &pending);
    let saved = decisions(&press(&mut app, "u"));
    assert_eq!(saved[0].verdict, Verdict::Revoked);
    assert_eq!(
        saved[0].sample_id, "q01",
        "the accept just saved is what is undone"
    );
}

#[test]
fn an_edited_output_still_waits_for_review() {
    let mut app = review_app();
    press(&mut app, "j");
    press(&mut app, "e");
    type_text(&mut app, "好，");
    let commands = press(&mut app, "ctrl-s");
    confirm(&mut app, &commands);
    assert_eq!(verdict(&app, 1), Some(Verdict::Edited));
    assert!(app.unreviewed(1, app.state(1)));
    type_text(&mut app, "/is:unrev");
    assert!(app.visible.contains(&1));
}

#[test]
fn the_export_dialog_gets_its_answer_under_a_dialog_opened_over_it() {
    let mut app = app();
    press(&mut app, "o");
    press(&mut app, "enter");
    // A run asks about running code meanwhile: the consent question goes on top.
    service(&mut app, ServiceEvent::ConsentNeeded);
    assert!(matches!(app.top(), Some(Layer::Consent)));
    update(
        &mut app,
        Msg::ExportPlanned(Ok(ExportPlan {
            records: 1,
            ..ExportPlan::default()
        })),
    );
    press(&mut app, "y");
    assert!(
        matches!(app.top(), Some(Layer::Export(d)) if !d.busy && d.plan.is_some()),
        "the summary is there once the question is answered"
    );
    // Esc always gets out, even while an export is being written.
    press(&mut app, "enter");
    assert!(matches!(app.top(), Some(Layer::Export(d)) if d.busy));
    press(&mut app, "esc");
    assert!(app.layers.is_empty());
}

#[test]
fn stored_runs_are_judged_as_an_export_would_judge_them() {
    // Recorded when the first answer might be 120 words; moss.toml now says 10.
    let long_first = "天空呈蓝色，是因为瑞利散射让短波长的蓝光散射得更强。\n<think>补一句。</think>\n日落时天空发红。";
    let stored = run("q01", long_first, RunStatus::Complete);
    assert!(stored.rules_passed(), "it passed when it was recorded");
    let edited = run("q02", GOOD, RunStatus::Complete);
    let mut edit = Decision::new(&edited.run_id, "q02", Verdict::Edited, 1);
    edit.text = Some(long_first.to_owned());
    let mut layers = moss_thinking::config::Layers::default();
    layers.push(moss_thinking::config::Source::inline(
        "moss.toml",
        "[rules.first-answer-concise]\nmax-words = 10\n",
    ));
    let mut app = workbench::app_under(
        workbench::samples(),
        vec![stored, edited],
        vec![edit],
        Session::default(),
        layers,
    );
    // The list, `a` and the edit's verdicts follow the rules in force, as the export does.
    assert_eq!(app.state(0), SampleState::RulesFailed);
    assert_eq!(
        app.state(1),
        SampleState::RulesFailed,
        "the edit is judged again too"
    );
    assert!(decisions(&press(&mut app, "a")).is_empty());
    assert!(noticed(&app, "fails first-answer-concise"));
}

#[test]
fn an_export_waits_for_the_decisions_being_saved() {
    let mut app = review_app();
    let pending = press(&mut app, "a");
    press(&mut app, "o");
    assert!(
        press(&mut app, "enter").is_empty(),
        "the journal is not written yet"
    );
    assert!(noticed(&app, "still being saved"));
    confirm(&mut app, &pending);
    assert!(matches!(
        press(&mut app, "enter").as_slice(),
        [Command::PlanExport(_)]
    ));
}

#[test]
fn quitting_with_an_unsaved_prompt_edit_asks_first() {
    let mut app = app();
    press(&mut app, "p");
    type_text(&mut app, "补一句。");
    press(&mut app, "esc");
    assert!(app.prompt.dirty);
    // q asks; n stays, with the edit.
    assert!(press(&mut app, "q").is_empty());
    assert!(matches!(app.top(), Some(Layer::ConfirmQuit)));
    let text = workbench::screen(&mut app, 100, 30);
    assert!(text.contains("unsaved changes"), "{text}");
    assert!(!text.contains("runs in flight"), "{text}");
    press(&mut app, "n");
    assert!(!app.quit && app.prompt.dirty);
    // y quits.
    press(&mut app, "q");
    let commands = press(&mut app, "y");
    assert!(app.quit);
    assert!(commands.contains(&Command::Quit));
    // Saved, it quits at once.
    let mut app = workbench::app();
    assert!(press(&mut app, "q").contains(&Command::Quit));
}

#[test]
fn a_run_stopped_by_a_rule_says_why_and_r_runs_it_again() {
    let mut app = app();
    let started = press_and_start(&mut app, "r");
    let (key, sample) = started[0].clone();
    assert_eq!(sample, "q01");
    // What the pipeline records when a rule with `stop = true` fails for good.
    let reason = "stopped: think-budget failed: think #1 has 6 words, budget 2 (segment #2)";
    let mut stopped = run("q01", "两个字。<think>想了很久很久", RunStatus::Incomplete);
    stopped.error = Some(reason.to_owned());
    stream_and_finish(&mut app, key, "两个字。<think>想了很久很久", stopped);
    assert_eq!(app.state(0), SampleState::Incomplete);
    assert!(
        noticed(&app, &format!("q01: incomplete ({reason})")),
        "{:?}",
        app.notice
    );
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    // The transcript pane names the reason too, after the notice has gone.
    app.notice = None;
    let screen = workbench::screen(&mut app, 160, 20);
    assert!(screen.contains("stopped: think-budget failed"), "{screen}");

    let again = press_and_start(&mut app, "r");
    assert_eq!(again.len(), 1, "r runs the sample again");
    assert_eq!(again[0].1, "q01");
    assert_ne!(again[0].0, key);
    assert_eq!(app.state(0), SampleState::Running);
}
