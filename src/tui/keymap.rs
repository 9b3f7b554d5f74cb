//! Keys → actions, per scope. Defaults are `keymap.toml`, compiled in; the `[keys]` tables of the
//! config layers override them binding by binding. (Stub: the types are final.)

use crossterm::event::KeyEvent;

macro_rules! actions {
    ($($variant:ident => $name:literal, $description:literal;)+) => {
        /// Something the user can ask for with a key. Names are snake_case in TOML.
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
    Quit => "quit", "Quit (asks first while runs are in flight)";
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
    RunAll => "run_all", "Run every sample shown (the filtered set) through the queue";
    Cancel => "cancel", "Cancel the selected sample's run, or clear the queue";
    Regenerate => "regenerate", "Run the selected sample again";
    Accept => "accept", "Accept the output (its edited text when edited)";
    Reject => "reject", "Reject the output";
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
}

/// Bindings per scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    _private: (),
}

impl Keymap {
    /// The action bound to `key` in `scope`.
    #[must_use]
    pub fn action(&self, scope: Scope, key: KeyEvent) -> Option<Action> {
        let _ = (scope, key);
        None
    }

    /// The keys bound to `action` in `scope`, as shown to the user (`Enter`, `a`, `Ctrl-S`).
    #[must_use]
    pub fn keys(&self, scope: Scope, action: Action) -> Vec<String> {
        let _ = (scope, action);
        Vec::new()
    }
}

impl Default for Keymap {
    fn default() -> Self {
        Self { _private: () }
    }
}
