//! The keymap: defaults, overrides from config layers, errors located in their files, and how
//! terminal key events match bindings.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use moss_thinking::config::{Layers, Source};
use moss_thinking::tui::keymap::{Action, Keymap, Scope};

fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

fn char_key(c: char) -> KeyEvent {
    press(KeyCode::Char(c), KeyModifiers::NONE)
}

fn with(text: &str) -> Layers {
    let mut layers = Layers::default();
    layers.push(Source::inline("moss.toml", text));
    layers
}

fn load_err(layers: &Layers) -> String {
    Keymap::load(layers).expect_err("invalid").to_string()
}

#[test]
fn defaults_bind_every_action_of_every_scope() {
    let keymap = Keymap::default();
    for scope in Scope::ALL {
        for action in scope.actions() {
            assert!(
                !keymap.keys(*scope, *action).is_empty(),
                "{scope:?} {action:?} has no key"
            );
        }
    }
    for action in Action::ALL {
        assert_eq!(Action::from_name(action.as_str()), Some(*action));
        let bound = Scope::ALL
            .iter()
            .any(|scope| !keymap.keys(*scope, *action).is_empty());
        if action.is_internal() {
            assert!(!bound, "{action:?} is internal but has a key");
            assert!(
                Scope::ALL.iter().all(|s| !s.actions().contains(action)),
                "{action:?} is internal but a scope takes it"
            );
        } else {
            assert!(bound, "{action:?} has no key in any scope");
        }
    }
    assert_eq!(keymap, Keymap::load(&Layers::default()).expect("defaults"));
}

#[test]
fn defaults_are_the_documented_keys() {
    let keymap = Keymap::default();
    let main = |action| keymap.keys(Scope::Main, action);
    assert_eq!(main(Action::Quit), ["q", "Ctrl-C"]);
    assert_eq!(main(Action::RunSelected), ["Enter"]);
    assert_eq!(main(Action::PrevPane), ["Shift-Tab"]);
    assert_eq!(main(Action::Down), ["j", "↓"]);
    assert_eq!(main(Action::PageDown), ["PgDn", "Ctrl-D"]);
    assert_eq!(main(Action::Bottom), ["G", "End"]);
    assert_eq!(main(Action::Cancel), ["Esc"]);
    assert_eq!(keymap.keys(Scope::Editor, Action::Save), ["Ctrl-S"]);
    assert_eq!(keymap.keys(Scope::History, Action::MarkDiff), ["Space"]);
    assert_eq!(keymap.keys(Scope::History, Action::Close), ["Esc", "q"]);
    // Scopes are separate: `q` quits on the main screen and closes the history.
    assert_eq!(
        keymap.action(Scope::Main, char_key('q')),
        Some(Action::Quit)
    );
    assert_eq!(
        keymap.action(Scope::History, char_key('q')),
        Some(Action::Close)
    );
    assert_eq!(keymap.action(Scope::Editor, char_key('q')), None);
    assert_eq!(
        keymap.action(
            Scope::Editor,
            press(KeyCode::Char('s'), KeyModifiers::CONTROL)
        ),
        Some(Action::Save)
    );
    let entries = keymap.entries(Scope::Editor);
    assert_eq!(
        entries,
        [
            (Action::Save, vec!["Ctrl-S".to_owned()]),
            (Action::Close, vec!["Esc".to_owned()]),
            (Action::Undo, vec!["Ctrl-Z".to_owned()]),
            (Action::Redo, vec!["Ctrl-Y".to_owned()]),
        ]
    );
    // The review keys: accept and go on, accept anyway, reject with a reason, undo, bulk.
    assert_eq!(main(Action::Accept), ["a"]);
    assert_eq!(main(Action::AcceptAnyway), ["A"]);
    assert_eq!(main(Action::Reject), ["x"]);
    assert_eq!(main(Action::Undo), ["u"]);
    assert_eq!(main(Action::Bulk), ["b"]);
    assert_eq!(main(Action::ShowQuestion), ["i"]);
}

#[test]
fn terminal_events_match_with_and_without_shift() {
    let keymap = Keymap::default();
    for modifiers in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
        let action = |code| keymap.action(Scope::Main, press(code, modifiers));
        assert_eq!(
            action(KeyCode::Char('?')),
            Some(Action::Help),
            "{modifiers:?}"
        );
        assert_eq!(
            action(KeyCode::Char('G')),
            Some(Action::Bottom),
            "{modifiers:?}"
        );
        assert_eq!(
            action(KeyCode::Char('N')),
            Some(Action::PrevSample),
            "{modifiers:?}"
        );
        assert_eq!(
            action(KeyCode::BackTab),
            Some(Action::PrevPane),
            "{modifiers:?}"
        );
    }
    let action = |code, modifiers| keymap.action(Scope::Main, press(code, modifiers));
    assert_eq!(
        action(KeyCode::Char('g'), KeyModifiers::SHIFT),
        Some(Action::Bottom)
    );
    assert_eq!(
        action(KeyCode::Char('g'), KeyModifiers::NONE),
        Some(Action::Top)
    );
    assert_eq!(
        action(KeyCode::Tab, KeyModifiers::SHIFT),
        Some(Action::PrevPane)
    );
    assert_eq!(
        action(KeyCode::Tab, KeyModifiers::NONE),
        Some(Action::NextPane)
    );
    assert_eq!(
        action(KeyCode::Char('d'), KeyModifiers::CONTROL),
        Some(Action::PageDown)
    );
    assert_eq!(action(KeyCode::Char('d'), KeyModifiers::NONE), None);

    let mut release = char_key('a');
    release.kind = KeyEventKind::Release;
    assert_eq!(keymap.action(Scope::Main, release), None);
}

#[test]
fn a_layer_replaces_the_keys_of_the_actions_it_names() {
    let mut layers = with("[keys.main]\naccept = [\"y\", \"ctrl-a\"]\n");
    let keymap = Keymap::load(&layers).expect("valid");
    assert_eq!(keymap.keys(Scope::Main, Action::Accept), ["y", "Ctrl-A"]);
    assert_eq!(keymap.action(Scope::Main, char_key('a')), None);
    assert_eq!(
        keymap.action(Scope::Main, char_key('y')),
        Some(Action::Accept)
    );
    assert_eq!(keymap.keys(Scope::Main, Action::Reject), ["x"]);

    // A later layer wins for the actions it names, and frees keys an earlier one used.
    layers.push(Source::inline(
        "cli.toml",
        "[keys.main]\naccept = [\"a\"]\nreject = [\"y\"]\n",
    ));
    let keymap = Keymap::load(&layers).expect("valid");
    assert_eq!(
        keymap.action(Scope::Main, char_key('y')),
        Some(Action::Reject)
    );
    assert_eq!(
        keymap.action(
            Scope::Main,
            press(KeyCode::Char('a'), KeyModifiers::CONTROL)
        ),
        None
    );
    // Overrides are per scope.
    assert_eq!(keymap.keys(Scope::History, Action::Down), ["j", "↓"]);
}

#[test]
fn an_empty_list_unbinds_and_frees_the_key() {
    let layers = with("[keys.main]\nedit_external = []\nedit = [\"E\"]\n");
    let keymap = Keymap::load(&layers).expect("valid");
    assert!(keymap.keys(Scope::Main, Action::EditExternal).is_empty());
    assert_eq!(
        keymap.action(Scope::Main, char_key('E')),
        Some(Action::Edit)
    );
    assert_eq!(keymap.action(Scope::Main, char_key('e')), None);
    let entries = keymap.entries(Scope::Main);
    assert!(entries.contains(&(Action::EditExternal, Vec::new())));
}

#[test]
fn prompt_front_matter_binds_no_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.md");
    std::fs::write(&path, "+++\n[keys.main]\nquit = [\"Q\"]\n+++\nbody\n").expect("write");
    let mut layers = Layers::default();
    layers.push_file(&path).expect("read");
    let keymap = Keymap::load(&layers).expect("valid");
    assert_eq!(keymap.keys(Scope::Main, Action::Quit), ["q", "Ctrl-C"]);
}

#[test]
fn each_mistake_names_its_file_and_line() {
    for (text, at, says) in [
        (
            "[keys.mian]\nquit = [\"q\"]\n",
            "moss.toml:1:7: ",
            "unknown key scope `mian` (scopes: main, editor, history, runs, compare, grid, demo)",
        ),
        (
            "[keys.main]\nquit = [\"q\"]\nqiut = [\"Q\"]\n",
            "moss.toml:3:1: ",
            "unknown action `qiut` in [keys.main]",
        ),
        (
            "[keys.main]\nsave = [\"ctrl-s\"]\n",
            "moss.toml:2:1: ",
            "`save` does nothing in [keys.main]; it can be bound in [keys.editor]",
        ),
        (
            "[keys.history]\nclose = [\"esc\",\n  \"ctrl-qq\"]\n",
            "moss.toml:3:3: ",
            "`ctrl-qq` is not a key: unknown key `qq`",
        ),
        ("[keys.main]\nquit = \"q\"\n", "moss.toml:2:8: ", ""),
        ("[keys]\nmain = 3\n", "moss.toml:2:8: ", ""),
    ] {
        let err = load_err(&with(text));
        assert!(err.starts_with(at), "{text:?}: {err}");
        assert!(err.contains(says), "{text:?}: {err}");
    }
}

#[test]
fn a_key_bound_twice_names_both_actions() {
    // Against a default: reported at the user's line, naming the default's.
    let err = load_err(&with("[keys.main]\n\naccept = [\"y\", \"x\"]\n"));
    assert!(err.starts_with("moss.toml:3:16: "), "{err}");
    assert!(
        err.contains("`x` in [keys.main] is bound to both `reject` (at <built-in keymap>:"),
        "{err}"
    );
    assert!(err.contains("and `accept`"), "{err}");

    // Two spellings of one key in one file: reported at the second.
    let err = load_err(&with(
        "[keys.history]\nup = [\"backtab\"]\ndown = [\"shift-tab\"]\n",
    ));
    assert!(err.starts_with("moss.toml:3:9: "), "{err}");
    assert!(err.contains("`shift-tab` in [keys.history]"), "{err}");
    assert!(err.contains("`up` (at moss.toml:2:7)"), "{err}");
    assert!(err.contains("`down`"), "{err}");

    // Across layers: reported in the later file.
    let mut layers = with("[keys.editor]\nsave = [\"f2\"]\n");
    layers.push(Source::inline(
        "user.toml",
        "[keys.editor]\nclose = [\"F2\"]\n",
    ));
    let err = load_err(&layers);
    assert!(err.starts_with("user.toml:2:10: "), "{err}");
    assert!(err.contains("`save` (at moss.toml:2:9)"), "{err}");

    // The same key twice for one action is no clash; other scopes are not looked at.
    let keymap = Keymap::load(&with(
        "[keys.main]\nquit = [\"q\", \"q\"]\n[keys.editor]\nclose = [\"q\"]\n",
    ))
    .expect("valid");
    assert_eq!(keymap.keys(Scope::Main, Action::Quit), ["q"]);
}

#[test]
fn every_scope_name_is_accepted_by_the_configuration() {
    for scope in Scope::ALL {
        let name = scope.as_str();
        assert_eq!(Scope::from_name(name), Some(*scope));
        let layers = with(&format!("[keys.{name}]\n"));
        layers.resolve().expect(name);
        Keymap::load(&layers).expect(name);
    }
}
