//! Entering and leaving the terminal; a panic restores it before the message prints; handing the
//! terminal to the user's editor and taking it back.

use std::ffi::OsString;
use std::io::{self, Stdout, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::Show;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::{Position, Rect};

/// The workbench's terminal.
pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// The editor when neither `$VISUAL` nor `$EDITOR` names one.
pub const DEFAULT_EDITOR: &str = "vi";

/// Whether the screen is ours (raw mode, alternate screen, mouse, paste): [`restore`] undoes
/// only what is in place, so the panic hook, a normal exit and a [`suspend`] may all call it.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Raw mode, the alternate screen, mouse capture and bracketed paste. When a step fails, the
/// steps before it are undone.
///
/// # Errors
/// When the terminal refuses a step (stdout is not a terminal, for one).
pub fn init() -> io::Result<Tui> {
    enter()?;
    Terminal::new(CrosstermBackend::new(io::stdout())).inspect_err(|_| {
        let _ = restore();
    })
}

fn enter() -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )
    .inspect_err(|_| {
        let _ = restore();
    })
}

/// Gives the terminal back as it was: cursor shown, main screen, no mouse capture, no bracketed
/// paste, cooked mode. Does nothing when the screen is not ours, so calling it twice is safe.
/// Every step is tried even when one fails.
///
/// # Errors
/// The first step that failed.
pub fn restore() -> io::Result<()> {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    let mut stdout = io::stdout();
    let screen = execute!(
        stdout,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
    let raw = disable_raw_mode();
    let flushed = stdout.flush();
    screen.and(raw).and(flushed)
}

/// Wraps the current panic hook so that a panic first restores the terminal: otherwise the
/// message would print into the alternate screen, in raw mode, and vanish with it. Install it
/// before [`init`].
///
/// A panic inside a contained run ([`crate::run::panic_is_contained`]) is caught and recorded
/// as a failed run while the workbench goes on: the hook leaves the terminal alone and only
/// logs it (printing would scribble over the screen).
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if crate::run::panic_is_contained() {
            tracing::error!(%info, "a run panicked; it is recorded as failed");
            return;
        }
        let _ = restore();
        previous(info);
    }));
}

/// Hands the terminal to another program (the same as [`restore`]).
///
/// # Errors
/// As [`restore`].
pub fn suspend() -> io::Result<()> {
    restore()
}

/// Takes the terminal back after [`suspend`] and clears it, so that the next draw paints every
/// cell: the program that had it may have left anything on the screen.
///
/// # Errors
/// As [`init`].
pub fn resume(terminal: &mut Tui) -> io::Result<()> {
    enter()?;
    repaint(terminal)
}

/// Makes the next draw paint every cell after another program had the screen: clears it and
/// forgets what ratatui thinks is on it. Unlike `Terminal::clear`, this asks the terminal
/// nothing: that one reads the cursor position, whose answer arrives as input, and input is not
/// being read while the terminal was handed over (the read would time out and fail).
///
/// # Errors
/// When the terminal's size cannot be read or the screen cannot be cleared.
pub fn repaint<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    terminal.resize(Rect::from((Position::ORIGIN, size)))
}

/// Lets the user edit `text` in their editor (see [`editor_command`]) and returns the new text.
///
/// The terminal is suspended while the editor runs and resumed after; the caller must clear its
/// [`Tui`] (`terminal.clear()`) before the next draw, and must stop reading terminal events while
/// the editor runs, or they would steal the editor's keys.
///
/// # Errors
/// As [`run_editor`], or when the terminal cannot be suspended or taken back.
pub fn edit_externally(text: &str) -> io::Result<String> {
    let command = editor_command(std::env::var_os("VISUAL"), std::env::var_os("EDITOR"));
    suspend()?;
    let edited = run_editor(&command, text);
    let resumed = enter();
    let edited = edited?;
    resumed?;
    Ok(edited)
}

/// The editor to run and where its name came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorCommand {
    /// The program and its arguments.
    pub words: Vec<String>,
    /// `$VISUAL`, `$EDITOR`, or the default, for error messages.
    pub from: &'static str,
}

/// `$VISUAL`, else `$EDITOR`, else [`DEFAULT_EDITOR`]; an empty or blank value counts as unset.
/// The value is split on whitespace, so it may carry arguments (`code --wait`); a program whose
/// path holds spaces cannot be named this way.
#[must_use]
pub fn editor_command(visual: Option<OsString>, editor: Option<OsString>) -> EditorCommand {
    let words = |value: Option<OsString>| {
        let value = value?;
        let words: Vec<String> = value
            .to_string_lossy()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        (!words.is_empty()).then_some(words)
    };
    if let Some(words) = words(visual) {
        return EditorCommand {
            words,
            from: "$VISUAL",
        };
    }
    if let Some(words) = words(editor) {
        return EditorCommand {
            words,
            from: "$EDITOR",
        };
    }
    EditorCommand {
        words: vec![DEFAULT_EDITOR.to_owned()],
        from: "the default editor",
    }
}

/// Writes `text` to a temporary `.md` file, runs `command` on it, waits, and reads the file back.
/// Touches no terminal state: the editor inherits stdin, stdout and stderr as they are.
///
/// # Errors
/// When the editor cannot be started or exits with a failure (the message names the command and
/// where it came from), or its file cannot be read back. When the editor fails after changing
/// the file, or leaves text that is not UTF-8, the file is kept and the message says where.
pub fn run_editor(command: &EditorCommand, text: &str) -> io::Result<String> {
    let shown = command.words.join(" ");
    let Some((program, args)) = command.words.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no editor", command.from),
        ));
    };
    let file = tempfile::Builder::new()
        .prefix("moss-edit-")
        .suffix(".md")
        .tempfile()?;
    std::fs::write(file.path(), text)?;
    let status = Command::new(program)
        .args(args)
        .arg(file.path())
        .status()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start the editor `{shown}` (from {}): {e}",
                    command.from
                ),
            )
        })?;
    let edited = std::fs::read(file.path());
    if !status.success() {
        let changed = edited.as_ref().is_ok_and(|bytes| bytes != text.as_bytes());
        let kept = if changed {
            format!("; your changes are kept in {}", keep(file)?.display())
        } else {
            "; nothing was changed".to_owned()
        };
        return Err(io::Error::other(format!(
            "the editor `{shown}` (from {}) failed ({status}){kept}",
            command.from
        )));
    }
    match String::from_utf8(edited?) {
        Ok(edited) => Ok(edited),
        Err(_) => {
            let path = keep(file)?;
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the editor left text that is not UTF-8; it is kept in {}",
                    path.display()
                ),
            ))
        }
    }
}

/// Keeps the temporary file past its handle, so the user's text survives the error.
fn keep(file: tempfile::NamedTempFile) -> io::Result<PathBuf> {
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A shell script standing in for an editor. It is run through `sh` rather than executed:
    /// executing a file that was just written races with other tests' forks ("text file busy").
    #[cfg(unix)]
    fn script(dir: &Path, body: &str) -> String {
        let path = dir.join("editor.sh");
        std::fs::write(&path, format!("{body}\n")).expect("write script");
        path.display().to_string()
    }

    fn command(words: &[&str]) -> EditorCommand {
        EditorCommand {
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            from: "$EDITOR",
        }
    }

    #[test]
    fn visual_wins_then_editor_then_vi_and_values_split_on_whitespace() {
        let os = |s: &str| Some(OsString::from(s));
        let chosen = editor_command(os("code --wait"), os("nano"));
        assert_eq!(chosen.words, ["code", "--wait"]);
        assert_eq!(chosen.from, "$VISUAL");
        let chosen = editor_command(os("  "), os(" emacs  -nw "));
        assert_eq!(chosen.words, ["emacs", "-nw"]);
        assert_eq!(chosen.from, "$EDITOR");
        let chosen = editor_command(None, os(""));
        assert_eq!(chosen.words, [DEFAULT_EDITOR]);
    }

    #[cfg(unix)]
    #[test]
    fn the_editor_edits_the_file_and_its_text_comes_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Takes its arguments as an editor would: options first, the file last.
        let editor = script(
            dir.path(),
            "[ \"$1\" = --wait ] || exit 3\ncase \"$2\" in *.md) ;; *) exit 4;; esac\n\
             printf '改好了: ' > \"$2.new\"; cat \"$2\" >> \"$2.new\"; mv \"$2.new\" \"$2\"",
        );
        let edited =
            run_editor(&command(&["sh", &editor, "--wait"]), "思考 think\n").expect("edits");
        assert_eq!(edited, "改好了: 思考 think\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_editor_says_which_command_and_keeps_changed_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let editor = script(dir.path(), "exit 1");
        let err = run_editor(&command(&["sh", &editor]), "text").expect_err("fails");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("the editor `sh {editor}` (from $EDITOR) failed")),
            "{message}"
        );
        assert!(message.ends_with("nothing was changed"), "{message}");

        let editor = script(dir.path(), "echo half-done >> \"$1\"; exit 2");
        let err = run_editor(&command(&["sh", &editor]), "text\n").expect_err("fails");
        let message = err.to_string();
        let kept = message
            .split_once("your changes are kept in ")
            .map(|(_, path)| path.to_owned())
            .expect(&message);
        assert_eq!(
            std::fs::read_to_string(&kept).expect("kept"),
            "text\nhalf-done\n"
        );
        std::fs::remove_file(kept).expect("clean up");
    }

    #[test]
    fn a_missing_editor_names_the_command() {
        let err =
            run_editor(&command(&["moss-no-such-editor", "-w"]), "text").expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .starts_with("cannot start the editor `moss-no-such-editor -w` (from $EDITOR)"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn text_that_is_not_utf8_is_an_error_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let editor = script(dir.path(), "printf '\\377\\376' > \"$1\"");
        let err = run_editor(&command(&["sh", &editor]), "text").expect_err("not UTF-8");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let message = err.to_string();
        let kept = message
            .split_once("it is kept in ")
            .map(|(_, path)| path.to_owned())
            .expect(&message);
        assert_eq!(std::fs::read(&kept).expect("kept"), [0xff, 0xfe]);
        std::fs::remove_file(kept).expect("clean up");
    }
}
