//! The prompt engineer's loop in the workbench: labelled versions (save dialog, status bar,
//! history, restore) and `R` running the filtered samples N times. Pure `update` and screens.

#[macro_use]
#[path = "support/workbench.rs"]
mod workbench;

use moss_thinking::run::{RunStatus, ServiceEvent, prompt_id};
use moss_thinking::store::{Entry, Session, VersionLabel, Versions};
use moss_thinking::tui::app::{App, Layer, RunWhich};
use moss_thinking::tui::update::{Command, Msg, update};
use workbench::{
    GOOD, OVER_BUDGET, PROMPT, app, app_with, press, run, screen, submitted, type_text,
};

fn noticed(app: &App, text: &str) -> bool {
    app.notice.as_ref().is_some_and(|n| n.text.contains(text))
}

fn label(id: &str, label: &str, note: &str) -> VersionLabel {
    VersionLabel {
        prompt_id: id.to_owned(),
        label: label.to_owned(),
        note: note.to_owned(),
        at_ms: 1,
    }
}

/// The runner's answers to a save: the file is written, then the journal has the label.
fn carry_out_save(app: &mut App, commands: &[Command]) -> Vec<Command> {
    let Some(Command::SavePrompt { text, .. }) = commands.first() else {
        panic!("a save: {commands:?}");
    };
    let after = update(
        app,
        Msg::PromptSaved {
            text: text.clone(),
            result: Ok(()),
        },
    );
    for command in &after {
        if let Command::SaveVersion { label, .. } = command {
            update(
                app,
                Msg::Service(ServiceEvent::Recorded {
                    entry: Entry::Version(label.clone()),
                    result: Ok(()),
                }),
            );
        }
    }
    after
}

/// An old version (with a run, labelled `v1`) and the current one (labelled `v2`).
const OLD: &str = "+++\ntemperature = 0.7\n+++\n你是老师。先思考，再回答。\n";

fn app_with_two_versions() -> App {
    let mut old_run = run("q01", GOOD, RunStatus::Complete);
    old_run.prompt_id = prompt_id(OLD);
    "old".clone_into(&mut old_run.run_id);
    old_run.timings.started_at_ms = 1_795_132_800_000;
    let mut new_run = run("q02", GOOD, RunStatus::Complete);
    new_run.timings.started_at_ms = 1_795_478_400_000;
    let mut app = app_with(vec![old_run, new_run], Vec::new(), Session::default());
    app.prompt
        .texts
        .insert(prompt_id(OLD), std::sync::Arc::from(OLD));
    app.versions = Versions::new(
        [
            label(&prompt_id(OLD), "v1", "先思考"),
            label(&prompt_id(PROMPT), "v2", "先回答，再思考"),
        ],
        Vec::new(),
    );
    app
}

#[test]
fn saving_the_prompt_asks_for_a_label_and_records_it_with_the_note() {
    let mut app = app();
    press(&mut app, "p");
    type_text(&mut app, "多想一步。");
    assert!(press(&mut app, "ctrl-s").is_empty(), "nothing saved yet");
    let Some(Layer::SaveVersion(dialog)) = app.top() else {
        panic!("the label dialog");
    };
    // One version known (the file as it opened): the next is v2.
    assert_eq!(dialog.label, "v2");
    assert_eq!(dialog.prompt_id, prompt_id(&app.prompt.editor_text()));
    // Tab to the note; CJK types as typed.
    press(&mut app, "tab");
    type_text(&mut app, "更短的回答");
    let commands = press(&mut app, "enter");
    assert!(!matches!(app.top(), Some(Layer::SaveVersion(_))));
    let [Command::SavePrompt { text, .. }] = commands.as_slice() else {
        panic!("one save: {commands:?}");
    };
    assert!(text.starts_with("多想一步。"), "{text}");
    let after = carry_out_save(&mut app, &commands);
    let [Command::SaveVersion { prompt, label }] = after.as_slice() else {
        panic!("the label goes to the journal: {after:?}");
    };
    assert_eq!(prompt.id, prompt_id(text));
    assert_eq!(
        (
            label.prompt_id.as_str(),
            label.label.as_str(),
            label.note.as_str()
        ),
        (prompt.id.as_str(), "v2", "更短的回答")
    );
    // On disk: the screen names the version by its label.
    assert_eq!(app.versions.label(&prompt.id), Some("v2"));
    assert!(
        noticed(&app, "prompt saved: version v2"),
        "{:?}",
        app.notice
    );
    assert!(noticed(&app, "更短的回答"));
    let text = screen(&mut app, 100, 30);
    let status = text.lines().rev().nth(1).expect("status bar");
    assert!(status.contains("prompt v2"), "{status}");
    assert!(!status.contains("edited"), "{status}");
    // An edit shows on the status bar.
    type_text(&mut app, "再");
    let text = screen(&mut app, 100, 30);
    let status = text.lines().rev().nth(1).expect("status bar");
    assert!(status.contains("prompt v2 (edited)"), "{status}");
}

#[test]
fn esc_in_the_label_dialog_cancels_the_save() {
    let mut app = app();
    press(&mut app, "p");
    type_text(&mut app, "改");
    press(&mut app, "ctrl-s");
    assert!(press(&mut app, "esc").is_empty());
    assert!(matches!(app.top(), Some(Layer::PromptEditor)));
    assert!(app.prompt.dirty && app.prompt.pending_label.is_none());
}

#[test]
fn a_label_another_version_has_is_refused() {
    let mut app = app();
    app.versions = Versions::new([label("0123456789abcdef", "基线", "")], Vec::new());
    press(&mut app, "p");
    type_text(&mut app, "改");
    press(&mut app, "ctrl-s");
    let Some(Layer::SaveVersion(dialog)) = app.top() else {
        panic!("the label dialog");
    };
    // Two versions known (the file's and the labelled one): v3.
    assert_eq!(dialog.label, "v3");
    for _ in 0..2 {
        press(&mut app, "backspace");
    }
    type_text(&mut app, "基线");
    assert!(press(&mut app, "enter").is_empty(), "refused");
    assert!(
        matches!(app.top(), Some(Layer::SaveVersion(_))),
        "still asking"
    );
    let notice = app.notice.as_ref().expect("why");
    assert!(
        notice.error && notice.text.contains("already version 01234567"),
        "{notice:?}"
    );
    for _ in 0..2 {
        press(&mut app, "backspace");
    }
    type_text(&mut app, "新版");
    assert!(matches!(
        press(&mut app, "enter").as_slice(),
        [Command::SavePrompt { .. }]
    ));
}

#[test]
fn the_history_names_versions_by_label_and_r_restores_one_into_the_editor() {
    let mut app = app_with_two_versions();
    press(&mut app, "h");
    let Some(Layer::History(history)) = app.top() else {
        panic!("history open");
    };
    assert_eq!(history.name(0), "v1");
    assert_eq!(history.note(1), Some("先回答，再思考"));
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("v1") && text.contains("先思考"), "{text}");
    // The old version, restored: in the editor, unsaved.
    press(&mut app, "k");
    press(&mut app, "r");
    assert!(matches!(app.top(), Some(Layer::PromptEditor)));
    assert_eq!(app.layers.len(), 1, "the history closed");
    assert_eq!(app.prompt.editor_text(), OLD);
    assert!(app.prompt.dirty);
    assert!(noticed(&app, "restored v1"), "{:?}", app.notice);
    // Saving it makes it current again, under its own label.
    press(&mut app, "ctrl-s");
    let Some(Layer::SaveVersion(dialog)) = app.top() else {
        panic!("the label dialog");
    };
    assert_eq!(dialog.label, "v1");
    let commands = press(&mut app, "enter");
    carry_out_save(&mut app, &commands);
    assert_eq!(app.prompt.version.id, prompt_id(OLD));
    assert!(!app.prompt.dirty);
}

#[test]
fn restoring_over_unsaved_edits_asks_first() {
    let mut app = app_with_two_versions();
    press(&mut app, "p");
    type_text(&mut app, "我的修改");
    press(&mut app, "esc");
    press(&mut app, "h");
    // The editor's text is the version listed last: two up is v1.
    press(&mut app, "k");
    press(&mut app, "k");
    press(&mut app, "r");
    assert!(matches!(app.top(), Some(Layer::ConfirmRestore { .. })));
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("unsaved changes: restoring v1"), "{text}");
    // Any other key keeps the edit.
    press(&mut app, "n");
    assert!(app.prompt.editor_text().starts_with("我的修改"));
    assert!(matches!(app.top(), Some(Layer::History(_))));
    press(&mut app, "r");
    press(&mut app, "y");
    assert_eq!(app.prompt.editor_text(), OLD);
    assert!(matches!(app.top(), Some(Layer::PromptEditor)));
}

/// Four samples: q01 passes, q02 fails, q03 incomplete, q04 never ran.
fn app_for_batches() -> App {
    app_with(
        vec![
            run("q01", GOOD, RunStatus::Complete),
            run("q02", OVER_BUDGET, RunStatus::Complete),
            run("q03", GOOD, RunStatus::Incomplete),
        ],
        Vec::new(),
        Session::default(),
    )
}

fn samples_of(commands: &[Command]) -> Vec<String> {
    submitted(commands).into_iter().map(|(_, s)| s).collect()
}

#[test]
fn r_with_count_3_on_all_runs_every_filtered_sample_3_times() {
    let mut app = app_for_batches();
    assert!(press(&mut app, "R").is_empty());
    let Some(Layer::RunMany(dialog)) = app.top() else {
        panic!("the R dialog");
    };
    assert_eq!((dialog.count, dialog.which), (1, RunWhich::WithoutRun));
    press(&mut app, "3");
    // ← cycles back from "only without" to "only failing", then "all".
    press(&mut app, "left");
    press(&mut app, "left");
    let Some(Layer::RunMany(dialog)) = app.top() else {
        panic!("the R dialog");
    };
    assert_eq!((dialog.count, dialog.which), (3, RunWhich::All));
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("12 runs will be queued"), "{text}");
    let commands = press(&mut app, "enter");
    let mut samples = samples_of(&commands);
    samples.sort();
    let want: Vec<String> = ["q01", "q02", "q03", "q04"]
        .iter()
        .flat_map(|s| std::iter::repeat_n((*s).to_owned(), 3))
        .collect();
    // Even q01, which has a complete passing run.
    assert_eq!(samples, want);
    assert_eq!(app.queue.total, 12);
    assert!(app.layers.is_empty());
}

#[test]
fn r_only_failing_runs_the_samples_whose_latest_complete_run_fails() {
    let mut app = app_for_batches();
    press(&mut app, "R");
    press(&mut app, "left");
    let Some(Layer::RunMany(dialog)) = app.top() else {
        panic!("the R dialog");
    };
    assert_eq!(dialog.which, RunWhich::Failing);
    assert_eq!(samples_of(&press(&mut app, "enter")), ["q02"]);
    // Only those without a complete run: q03 (incomplete) and q04 (never ran), twice each.
    let mut app = app_for_batches();
    press(&mut app, "R");
    press(&mut app, "2");
    assert_eq!(
        samples_of(&press(&mut app, "enter")),
        ["q03", "q03", "q04", "q04"]
    );
    // The filter narrows what runs.
    let mut app = app_for_batches();
    press(&mut app, "/");
    type_text(&mut app, "tag:zh");
    press(&mut app, "enter");
    press(&mut app, "R");
    press(&mut app, "right");
    assert_eq!(samples_of(&press(&mut app, "enter")), ["q01", "q03"]);
}

#[test]
fn esc_in_the_r_dialog_queues_nothing() {
    let mut app = app_for_batches();
    press(&mut app, "R");
    press(&mut app, "5");
    assert!(press(&mut app, "esc").is_empty());
    assert!(app.layers.is_empty());
    assert_eq!(app.queue.total, 0);
    assert!(app.queue.pending.is_empty());
}

#[test]
fn label_dialog_with_a_cjk_note() {
    snapshot!("label_dialog", || {
        let mut app = app();
        press(&mut app, "p");
        type_text(&mut app, "多想一步。");
        press(&mut app, "ctrl-s");
        press(&mut app, "tab");
        type_text(&mut app, "回答更短，思考跟在后面");
        app
    });
}

#[test]
fn run_dialog() {
    snapshot!("run_dialog", || {
        let mut app = app_for_batches();
        press(&mut app, "R");
        press(&mut app, "2");
        press(&mut app, "left");
        app
    });
}

#[test]
fn history_with_labels() {
    snapshot!("history_with_labels", || {
        let mut app = app_with_two_versions();
        press(&mut app, "h");
        app
    });
}

#[test]
fn a_version_saved_and_never_run_stays_in_the_history_to_be_restored() {
    let mut app = app_with_two_versions();
    // v3: saved, never run.
    press(&mut app, "p");
    type_text(&mut app, "第三版。");
    press(&mut app, "ctrl-s");
    let commands = press(&mut app, "enter");
    carry_out_save(&mut app, &commands);
    let third = app.prompt.version.id.clone();
    press(&mut app, "esc");
    // Back to v1: restored and saved again, so v3 is neither current nor run.
    press(&mut app, "h");
    press(&mut app, "k");
    press(&mut app, "k");
    press(&mut app, "r");
    press(&mut app, "ctrl-s");
    let commands = press(&mut app, "enter");
    carry_out_save(&mut app, &commands);
    assert_eq!(app.prompt.version.id, prompt_id(OLD));
    press(&mut app, "esc");

    press(&mut app, "h");
    let Some(Layer::History(history)) = app.top() else {
        panic!("history open");
    };
    let names: Vec<String> = (0..3).map(|i| history.name(i)).collect();
    assert_eq!(names, ["v1", "v2", "v3"]);
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("not run yet"), "{text}");
    // v3 restores like any other.
    press(&mut app, "j");
    press(&mut app, "j");
    press(&mut app, "r");
    assert!(
        app.prompt.editor_text().starts_with("第三版。"),
        "{}",
        app.prompt.editor_text()
    );
    assert_eq!(prompt_id(&app.prompt.editor_text()), third);
}
