//! Keys → actions, per scope. The defaults are `keymap.toml`, compiled in; the `[keys.SCOPE]`
//! tables of the config layers override them action by action: an action a layer names gets
//! exactly the keys it gives there, and `[]` unbinds it.
//!
//! Every mistake (an unknown scope or action, an action that does nothing in a scope, a string
//! that is not a key, one key bound to two actions) is an error naming the file and line of the
//! entry at fault.

mod key;

use std::collections::{BTreeMap, HashMap};

use crossterm::event::KeyEvent;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, Layers, Location, Source, SourceKind};

pub use key::{Key, KeyError};

/// The default bindings.
pub const DEFAULT_KEYMAP: &str = include_str!("keymap.toml");

/// What errors in the default bindings are located in.
const DEFAULT_KEYMAP_PATH: &str = "<built-in keymap>";

/// Actions the workbench raises itself (ticks, run results); binding them to a key would let a
/// key fake them. None exist yet.
const INTERNAL: &[Action] = &[];

macro_rules! actions {
    ($($variant:ident => $name:literal, $description:literal;)+) => {
        /// Something the user can ask for with a key. Names are `snake_case` in TOML.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($variant),+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name),+
                }
            }

            /// The action named `name` in TOML.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Action> {
                Action::ALL.iter().copied().find(|action| action.as_str() == name)
            }

            /// One line for the help overlay.
            #[must_use]
            pub fn description(self) -> &'static str {
                match self {
                    $(Action::$variant => $description),+
                }
            }
        }
    };
}

actions! {
    Quit => "quit", "Quit (asks first if runs or prompt edits would be lost)";
    Help => "help", "Show or hide this help";
    NextPane => "next_pane", "Focus the next pane";
    PrevPane => "prev_pane", "Focus the previous pane";
    Down => "down", "Next sample / scroll down";
    Up => "up", "Previous sample / scroll up";
    PageDown => "page_down", "Page down";
    PageUp => "page_up", "Page up";
    Top => "top", "First sample / top of the transcript";
    Bottom => "bottom", "Last sample / end of the transcript (follow)";
    NextSample => "next_sample", "Next sample, whatever pane has focus";
    PrevSample => "prev_sample", "Previous sample, whatever pane has focus";
    RunSelected => "run_selected", "Run the selected sample";
    RunAll => "run_all", "Run the samples shown: N runs each, of all, the failing or those without a run";
    Cancel => "cancel", "Cancel the selected sample's run, or clear the queue";
    Interrupt => "interrupt", "Break in on the streaming run: type what the user says; the teacher answers it as a new turn";
    Regenerate => "regenerate", "Run the selected sample again";
    Accept => "accept", "Accept the output (its edited text when edited) and go to the next unreviewed";
    AcceptAnyway => "accept_anyway", "Accept an output that fails a rule, knowingly (recorded as such)";
    Reject => "reject", "Reject the output, with a reason, and go to the next unreviewed";
    Undo => "undo", "Undo the last decision (main screen) or the last change (editors)";
    Redo => "redo", "Redo the change undone (editors)";
    Bulk => "bulk", "Accept or reject the filtered samples in bulk (asks first)";
    ShowQuestion => "show_question", "Show the whole question, line breaks kept";
    Edit => "edit", "Edit the output in the app before accepting";
    EditExternal => "edit_external", "Edit the output in $EDITOR";
    Export => "export", "Export accepted outputs";
    Filter => "filter", "Filter samples by text or state";
    ToggleReasoning => "toggle_reasoning", "Show or hide hidden reasoning";
    PromptEditor => "prompt_editor", "Edit the teacher prompt";
    PromptHistory => "prompt_history", "Prompt versions, their pass rates and diffs";
    Save => "save", "Save (prompt or edited output)";
    Close => "close", "Close the editor or view";
    MarkDiff => "mark_diff", "Mark a prompt version to diff against";
    RunList => "run_list", "Every run of the selected sample, newest first";
    SideBySide => "side_by_side", "Two runs of the sample side by side, segment by segment";
    Grid => "grid", "The grid: filtered samples × variants (prompt version, teacher)";
    Left => "left", "Left (the previous column)";
    Right => "right", "Right (the next column)";
    Open => "open", "Open the highlighted run or cell";
    MarkRun => "mark_run", "Mark the run to compare with another";
    ChooseLeft => "choose_left", "Choose the left run: accept it over the right one";
    ChooseRight => "choose_right", "Choose the right run: accept it over the left one";
    ChooseAnyway => "choose_anyway", "The next choice accepts the run even if it fails a rule";
    Sort => "sort", "Sort: sample order / the column's score / difference to the first column";
    OnlyFlips => "only_flips", "Only the samples whose pass status differs from the first column";
    Restore => "restore", "Restore the highlighted version's text into the prompt editor (unsaved)";
    Demo => "demo", "Presentation mode: the selected sample's transcript full screen, played as it streamed";
    PauseResume => "pause", "Pause or resume the playback";
    Faster => "faster", "Play faster (×1.5)";
    Slower => "slower", "Play slower (÷1.5)";
    AutoPlay => "auto_play", "Auto-play: at the end of a run, move on to the next sample";
    Restart => "restart", "Play the run again from its start";
}

impl Action {
    /// Raised by the workbench itself, never by a key.
    #[must_use]
    pub fn is_internal(self) -> bool {
        INTERNAL.contains(&self)
    }
}

/// Where a key is read: each scope has its own bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The main screen: samples, live view, rules.
    Main,
    /// The prompt editor and the output editor (other keys go to the text).
    Editor,
    /// The prompt history view.
    History,
    /// A sample's run list.
    Runs,
    /// Two runs side by side.
    Compare,
    /// Samples × variants.
    Grid,
    /// Presentation mode.
    Demo,
}

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Scope::Main,
        Scope::Editor,
        Scope::History,
        Scope::Runs,
        Scope::Compare,
        Scope::Grid,
        Scope::Demo,
    ];

    /// The name of its table: `[keys.main]`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Editor => "editor",
            Self::History => "history",
            Self::Runs => "runs",
            Self::Compare => "compare",
            Self::Grid => "grid",
            Self::Demo => "demo",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == name)
    }

    /// The actions this scope acts on, in the order the help lists them. Binding any other is an
    /// error: the key would do nothing there.
    #[must_use]
    pub fn actions(self) -> &'static [Action] {
        use Action as A;
        match self {
            Self::Main => &[
                A::Quit,
                A::Help,
                A::NextPane,
                A::PrevPane,
                A::Down,
                A::Up,
                A::PageDown,
                A::PageUp,
                A::Top,
                A::Bottom,
                A::NextSample,
                A::PrevSample,
                A::RunSelected,
                A::RunAll,
                A::Cancel,
                A::Interrupt,
                A::Regenerate,
                A::Accept,
                A::AcceptAnyway,
                A::Reject,
                A::Undo,
                A::Bulk,
                A::Edit,
                A::EditExternal,
                A::Export,
                A::Filter,
                A::ToggleReasoning,
                A::PromptEditor,
                A::PromptHistory,
                A::ShowQuestion,
                A::RunList,
                A::SideBySide,
                A::Grid,
                A::Demo,
            ],
            Self::Editor => &[A::Save, A::Close, A::Undo, A::Redo],
            Self::History => &[
                A::Down,
                A::Up,
                A::PageDown,
                A::PageUp,
                A::MarkDiff,
                A::Restore,
                A::Close,
                A::Help,
            ],
            Self::Runs => &[
                A::Down,
                A::Up,
                A::Open,
                A::MarkRun,
                A::SideBySide,
                A::Close,
                A::Help,
            ],
            Self::Compare => &[
                A::Down,
                A::Up,
                A::PageDown,
                A::PageUp,
                A::NextSample,
                A::PrevSample,
                A::ChooseLeft,
                A::ChooseRight,
                A::ChooseAnyway,
                A::Close,
                A::Help,
            ],
            Self::Grid => &[
                A::Down,
                A::Up,
                A::Left,
                A::Right,
                A::PageDown,
                A::PageUp,
                A::Sort,
                A::OnlyFlips,
                A::Open,
                A::Close,
                A::Help,
            ],
            Self::Demo => &[
                A::PauseResume,
                A::Faster,
                A::Slower,
                A::NextSample,
                A::PrevSample,
                A::AutoPlay,
                A::Restart,
                A::Close,
                A::Help,
            ],
        }
    }
}

/// Bindings per scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    /// Each action's keys in the order the config gives them (the first is the one hints show).
    bindings: BTreeMap<(Scope, Action), Vec<Key>>,
    by_key: HashMap<(Scope, Key), Action>,
}

impl Keymap {
    /// The defaults with the `[keys]` tables of every configuration file layer over them.
    /// Prompt front matter layers are skipped: they only carry rules.
    ///
    /// # Errors
    /// The first mistake, located in its file: a layer that is not valid TOML or whose `[keys]`
    /// has the wrong shape, an unknown scope or action, an action bound in a scope it does
    /// nothing in, an internal action, a string that is not a key, or a key that ends up bound to
    /// two actions of one scope (both are named).
    pub fn load(layers: &Layers) -> Result<Self, ConfigError> {
        let mut bindings = Bindings::new();
        bindings.apply(0, &Source::inline(DEFAULT_KEYMAP_PATH, DEFAULT_KEYMAP))?;
        for (index, source) in layers.sources().iter().enumerate() {
            if source.kind == SourceKind::Config {
                bindings.apply(index + 1, source)?;
            }
        }
        bindings.check_clashes()?;
        let mut by_key = HashMap::new();
        for ((scope, action), keys) in &bindings.keys {
            for (key, _) in keys {
                by_key.insert((*scope, *key), *action);
            }
        }
        Ok(Self {
            bindings: bindings
                .keys
                .into_iter()
                .map(|(at, keys)| (at, keys.into_iter().map(|(key, _)| key).collect()))
                .collect(),
            by_key,
        })
    }

    /// The action bound to `key` in `scope`; see [`Key::from_event`] for which events count.
    #[must_use]
    pub fn action(&self, scope: Scope, key: KeyEvent) -> Option<Action> {
        let key = Key::from_event(key)?;
        self.by_key.get(&(scope, key)).copied()
    }

    /// The keys bound to `action` in `scope`, as shown to the user (`Enter`, `a`, `Ctrl-S`).
    #[must_use]
    pub fn keys(&self, scope: Scope, action: Action) -> Vec<String> {
        self.bindings
            .get(&(scope, action))
            .map(|keys| keys.iter().map(|key| key.label()).collect())
            .unwrap_or_default()
    }

    /// Every action of `scope` with its key labels, in help order; unbound actions have none.
    #[must_use]
    pub fn entries(&self, scope: Scope) -> Vec<(Action, Vec<String>)> {
        scope
            .actions()
            .iter()
            .map(|action| (*action, self.keys(scope, *action)))
            .collect()
    }
}

impl Default for Keymap {
    /// The compiled-in bindings.
    fn default() -> Self {
        // Only `keymap.toml`, compiled in, is read here, and a test loads it: no user input can
        // make this fail.
        Self::load(&Layers::default()).expect("the built-in keymap is valid")
    }
}

/// The shape of `[keys]` in a layer; the rest of the file is not looked at.
#[derive(Deserialize)]
struct KeysLayer {
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, ScopeTable>,
}

/// One `[keys.SCOPE]` table: action name → key strings, each with where it is written.
type ScopeTable = BTreeMap<Spanned<String>, Vec<Spanned<String>>>;

/// Where a binding was written, to report clashes and to tell which came last.
#[derive(Clone, Debug)]
struct Origin {
    /// 0 for the defaults, then each layer in order.
    layer: usize,
    at: usize,
    location: Location,
    /// As written, which may not be the key's usual spelling (`shift-tab` for `backtab`).
    text: String,
}

struct Bindings {
    keys: BTreeMap<(Scope, Action), Vec<(Key, Origin)>>,
}

impl Bindings {
    fn new() -> Self {
        Self {
            keys: BTreeMap::new(),
        }
    }

    fn apply(&mut self, layer: usize, source: &Source) -> Result<(), ConfigError> {
        let parsed: KeysLayer = source.parse()?;
        for (scope_name, actions) in parsed.keys {
            let scope = Scope::from_name(scope_name.get_ref()).ok_or_else(|| {
                invalid(
                    source,
                    scope_name.span().start,
                    format!(
                        "unknown key scope `{}` (scopes: {})",
                        scope_name.get_ref(),
                        Scope::ALL
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            for (action_name, texts) in actions {
                let action = bindable(scope, action_name.get_ref())
                    .map_err(|message| invalid(source, action_name.span().start, message))?;
                let mut keys: Vec<(Key, Origin)> = Vec::with_capacity(texts.len());
                for text in texts {
                    let at = text.span().start;
                    let key: Key = text
                        .get_ref()
                        .parse()
                        .map_err(|e: KeyError| invalid(source, at, e.to_string()))?;
                    if keys.iter().all(|(bound, _)| *bound != key) {
                        let origin = Origin {
                            layer,
                            at,
                            location: source.locate(at),
                            text: text.into_inner(),
                        };
                        keys.push((key, origin));
                    }
                }
                self.keys.insert((scope, action), keys);
            }
        }
        Ok(())
    }

    /// One key, two actions: reported at whichever of the two was written last, since that is
    /// the binding that made the clash.
    fn check_clashes(&self) -> Result<(), ConfigError> {
        for scope in Scope::ALL {
            let mut bound: Vec<(&Key, &Origin, Action)> = self
                .keys
                .iter()
                .filter(|((s, _), _)| s == scope)
                .flat_map(|((_, action), keys)| {
                    keys.iter().map(move |(key, origin)| (key, origin, *action))
                })
                .collect();
            bound.sort_by_key(|(_, origin, _)| (origin.layer, origin.at));
            let mut seen: HashMap<Key, (Action, &Origin)> = HashMap::new();
            for (key, origin, action) in bound {
                if let Some((other, first)) = seen.get(key) {
                    return Err(ConfigError::Invalid {
                        location: origin.location.clone(),
                        message: format!(
                            "`{}` in [keys.{}] is bound to both `{}` (at {}) and `{}`; give \
                             one of them other keys, or [] to unbind it",
                            origin.text,
                            scope.as_str(),
                            other.as_str(),
                            first.location,
                            action.as_str()
                        ),
                    });
                }
                seen.insert(*key, (action, origin));
            }
        }
        Ok(())
    }
}

/// The action `name`, when it may be bound in `scope`.
fn bindable(scope: Scope, name: &str) -> Result<Action, String> {
    let names = |actions: &[Action]| {
        actions
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(action) = Action::from_name(name) else {
        return Err(format!(
            "unknown action `{name}` in [keys.{}] (actions there: {})",
            scope.as_str(),
            names(scope.actions())
        ));
    };
    if action.is_internal() {
        return Err(format!(
            "`{name}` is raised by the workbench itself and cannot be bound to a key"
        ));
    }
    if scope.actions().contains(&action) {
        return Ok(action);
    }
    let elsewhere: Vec<String> = Scope::ALL
        .iter()
        .filter(|s| s.actions().contains(&action))
        .map(|s| format!("[keys.{}]", s.as_str()))
        .collect();
    Err(format!(
        "`{name}` does nothing in [keys.{}]; it can be bound in {}",
        scope.as_str(),
        elsewhere.join(" and ")
    ))
}

fn invalid(source: &Source, at: usize, message: String) -> ConfigError {
    ConfigError::Invalid {
        location: source.locate(at),
        message,
    }
}
