//! Breaking in on a streaming run in the workbench: `I`, the interjection typed, the run cut
//! and answered as a new turn, and the turns shown apart. Pure `update` and screens.

#[macro_use]
#[path = "support/workbench.rs"]
mod workbench;

use std::time::Duration;

use moss_thinking::run::{Interruption, RunEvent, RunStatus, ServiceEvent};
use moss_thinking::tui::app::{App, Layer};
use moss_thinking::tui::update::Command;
use workbench::{app, press, press_and_start, run, screen, service, type_text};

/// What the teacher said before the user broke in (a think left open), and after.
const CUT: &str = "天空是蓝色的，因为瑞利散射。\n<think>再补充一下日落时";
const AFTER: &str = "好的，简单地说：空气把蓝光散射得最多，所以天空是蓝色的。";
const SAID: &str = "换个简单点的说法";

fn text(app: &mut App, key: u64, text: &str) {
    service(
        app,
        ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(900),
            event: RunEvent::Text {
                text: text.to_owned(),
                system: false,
            },
        },
    );
}

/// A run of q01 streaming `CUT`, broken in on with `SAID`, then streaming `AFTER`.
fn interrupted() -> (App, u64, Vec<Command>) {
    let mut app = app();
    let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
        panic!("a run starts");
    };
    text(&mut app, key, CUT);
    press(&mut app, "I");
    type_text(&mut app, SAID);
    let commands = press(&mut app, "enter");
    service(
        &mut app,
        ServiceEvent::Run {
            key,
            elapsed: Duration::from_millis(950),
            event: RunEvent::Interrupted {
                at: CUT.len(),
                text: SAID.to_owned(),
            },
        },
    );
    text(&mut app, key, AFTER);
    (app, key, commands)
}

#[test]
fn i_opens_a_line_and_enter_breaks_in_with_what_was_typed() {
    let mut app = app();
    // Nothing streams: nothing to break in on.
    press(&mut app, "I");
    assert!(app.layers.is_empty());
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("nothing is streaming"))
    );

    let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
        panic!("a run starts");
    };
    text(&mut app, key, CUT);
    // The key holds the stream where it is while the user types.
    let held = press(&mut app, "I");
    assert!(
        matches!(held.as_slice(), [Command::Hold { .. }]),
        "{held:?}"
    );
    assert!(matches!(app.layers.last(), Some(Layer::Interject { .. })));
    type_text(&mut app, SAID);
    let shown = screen(&mut app, 100, 30);
    assert!(
        shown.contains("Interrupt q01") && shown.contains(SAID),
        "{shown}"
    );
    // Esc lets the run go on.
    let released = press(&mut app, "esc");
    assert!(
        matches!(released.as_slice(), [Command::Release { .. }]),
        "{released:?}"
    );
    assert!(app.layers.is_empty());

    let (_, _, commands) = interrupted();
    let sent: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Interrupt { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [SAID]);
}

#[test]
fn the_turns_show_apart_while_streaming_and_once_saved() {
    let (mut app, key, _) = interrupted();
    let live = screen(&mut app, 100, 30);
    assert!(live.contains(&format!("› {SAID}")), "{live}");
    // The cut think stays in the first turn; the answer after the interjection is a turn of
    // its own, not more of that think.
    let Some(active) = app.active.get(&key) else {
        panic!("still streaming");
    };
    assert_eq!(active.live.turns().len(), 1);
    let kinds: Vec<_> = active
        .live
        .transcript()
        .segments
        .iter()
        .map(|s| s.kind.as_str())
        .collect();
    assert_eq!(kinds, ["answer", "think", "answer"]);

    // Saved: the stored run, with its interruption, shows the same turns.
    let mut record = run("q01", &format!("{CUT}{AFTER}"), RunStatus::Complete);
    record.interruptions = vec![Interruption {
        at: CUT.len(),
        text: SAID.to_owned(),
    }];
    service(
        &mut app,
        ServiceEvent::Saved {
            key,
            run: Box::new(record),
            stored: Ok(()),
        },
    );
    let saved = screen(&mut app, 100, 30);
    assert!(saved.contains(&format!("› {SAID}")), "{saved}");
    assert!(saved.contains("空气把蓝光散射得最多"), "{saved}");
}

#[test]
fn interrupted_screens() {
    snapshot!("interrupted", || interrupted().0);
    snapshot!("interject_line", || {
        let mut app = app();
        let Some((key, _)) = press_and_start(&mut app, "enter").first().cloned() else {
            panic!("a run starts");
        };
        text(&mut app, key, CUT);
        press(&mut app, "I");
        type_text(&mut app, SAID);
        app
    });
}
