//! One key as the keymap knows it: read from a config string (`ctrl-s`, `G`, `backtab`), matched
//! against what crossterm reports, and labelled for the help overlay (`Ctrl-S`, `G`, `Shift-Tab`).
//!
//! Terminals disagree about SHIFT: `?` and `G` may arrive with or without it, `BackTab` usually
//! with it, and under the kitty keyboard protocol `shift-tab` may arrive as `Tab` with SHIFT. A
//! [`Key`] is therefore normalised the same way from both sides: on a character SHIFT is folded
//! into the character (`shift-g` is `G`) and dropped; on Tab it makes `BackTab`. SHIFT stays only
//! on keys that have no shifted character (`shift-up`).

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The modifiers a binding may use. An event that also carries SUPER, HYPER or META matches no
/// binding, rather than passing for the key without them.
const BINDABLE: KeyModifiers = KeyModifiers::CONTROL
    .union(KeyModifiers::ALT)
    .union(KeyModifiers::SHIFT);

/// Keys with names: the config spelling and the label.
const NAMED: &[(&str, KeyCode, &str)] = &[
    ("enter", KeyCode::Enter, "Enter"),
    ("esc", KeyCode::Esc, "Esc"),
    ("tab", KeyCode::Tab, "Tab"),
    ("backtab", KeyCode::BackTab, "Shift-Tab"),
    ("space", KeyCode::Char(' '), "Space"),
    ("up", KeyCode::Up, "↑"),
    ("down", KeyCode::Down, "↓"),
    ("left", KeyCode::Left, "←"),
    ("right", KeyCode::Right, "→"),
    ("home", KeyCode::Home, "Home"),
    ("end", KeyCode::End, "End"),
    ("pageup", KeyCode::PageUp, "PgUp"),
    ("pagedown", KeyCode::PageDown, "PgDn"),
    ("backspace", KeyCode::Backspace, "Backspace"),
    ("delete", KeyCode::Delete, "Del"),
    ("insert", KeyCode::Insert, "Ins"),
];

/// Other spellings that config files may use for named keys.
const ALIASES: &[(&str, &str)] = &[
    ("escape", "esc"),
    ("return", "enter"),
    ("del", "delete"),
    ("ins", "insert"),
    ("pgup", "pageup"),
    ("pgdn", "pagedown"),
];

/// Function keys that can be bound: the ones every terminal sends.
const FUNCTION_KEYS: std::ops::RangeInclusive<u8> = 1..=12;

/// A key and its modifiers, normalised so that every way a terminal may report it compares equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    code: KeyCode,
    modifiers: KeyModifiers,
}

/// A key string that is not a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a key: {reason}")]
pub struct KeyError {
    pub text: String,
    pub reason: String,
}

impl Key {
    #[must_use]
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        let mut modifiers = modifiers & BINDABLE;
        let shift = modifiers.contains(KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if shift { upper(c).unwrap_or(c) } else { c })
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if shift => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Self { code, modifiers }
    }

    /// The key a terminal event stands for. Releases are `None`: crossterm reports them only
    /// where the platform sends them (Windows, or the kitty protocol's event types), and acting on
    /// them would do every action twice. Repeats count as presses, so holding `j` scrolls, as it
    /// does on terminals that cannot tell a repeat from a press.
    #[must_use]
    pub fn from_event(event: KeyEvent) -> Option<Self> {
        if event.kind == KeyEventKind::Release || event.modifiers.intersects(!BINDABLE) {
            return None;
        }
        Some(Self::new(event.code, event.modifiers))
    }

    #[must_use]
    pub fn code(self) -> KeyCode {
        self.code
    }

    #[must_use]
    pub fn modifiers(self) -> KeyModifiers {
        self.modifiers
    }

    /// How the key is shown to the user: `Enter`, `a`, `G`, `Ctrl-S`, `Ctrl-Shift-S`, `PgDn`, `↑`.
    #[must_use]
    pub fn label(self) -> String {
        let mut out = String::new();
        let chorded = self
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            out.push_str("Shift-");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            // With a modifier, letters are shown in capitals as keyboards print them (`Ctrl-S`),
            // so a shifted one must say so.
            KeyCode::Char(c) if chorded && is_shifted_letter(c) => {
                out.push_str("Shift-");
                out.push(c);
            }
            KeyCode::Char(c) if chorded => out.push(capital_of_small_letter(c).unwrap_or(c)),
            KeyCode::Char(c) => out.push(c),
            KeyCode::F(n) => {
                out.push('F');
                out.push_str(&n.to_string());
            }
            code => match NAMED.iter().find(|(_, named, _)| *named == code) {
                Some((_, _, label)) => out.push_str(label),
                None => out.push_str(&code.to_string()),
            },
        }
        out
    }
}

/// The config spelling, which [`Key::from_str`] reads back.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        let chorded = !self.modifiers.is_empty();
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            // `ctrl-S` would read as Ctrl+S, which it is not.
            KeyCode::Char(c) if chorded && is_shifted_letter(c) => {
                write!(f, "shift-{}", lower(c).unwrap_or(c))
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            code => match NAMED.iter().find(|(_, named, _)| *named == code) {
                Some((name, _, _)) => f.write_str(name),
                None => write!(f, "{}", code.to_string().to_lowercase()),
            },
        }
    }
}

impl FromStr for Key {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let fail = |reason: String| KeyError {
            text: text.to_owned(),
            reason,
        };
        // The last `-` separates the key, unless the key is `-` itself (`-`, `ctrl--`).
        let (prefix, name) = if text == "-" {
            ("", "-")
        } else if let Some(prefix) = text.strip_suffix("--") {
            (prefix, "-")
        } else {
            text.rsplit_once('-').unwrap_or(("", text))
        };
        if name.is_empty() {
            return Err(fail("a key must follow the last `-`".to_owned()));
        }
        let mut modifiers = KeyModifiers::NONE;
        if text.len() > name.len() {
            for word in prefix.split('-') {
                let modifier = match word.to_ascii_lowercase().as_str() {
                    "ctrl" | "control" => KeyModifiers::CONTROL,
                    "alt" => KeyModifiers::ALT,
                    "shift" => KeyModifiers::SHIFT,
                    "" => return Err(fail("a modifier is missing before a `-`".to_owned())),
                    other => {
                        return Err(fail(format!(
                            "unknown modifier `{other}` (use ctrl-, alt- or shift-)"
                        )));
                    }
                };
                if modifiers.contains(modifier) {
                    return Err(fail(format!("`{word}` is given twice")));
                }
                modifiers |= modifier;
            }
        }
        let code = parse_code(name).map_err(fail)?;
        if modifiers.contains(KeyModifiers::SHIFT)
            && let KeyCode::Char(c) = code
            && lower(c).is_none()
            && upper(c).is_none()
        {
            return Err(fail(format!(
                "shift- only goes with letters and named keys; write the character shift \
                 gives instead (`{c}` matches whether or not the terminal reports shift)"
            )));
        }
        Ok(Self::new(code, modifiers))
    }
}

fn parse_code(name: &str) -> Result<KeyCode, String> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if !can_be_typed(c) {
            return Err(format!("{c:?} cannot be typed as a key"));
        }
        return Ok(KeyCode::Char(c));
    }
    let lowered = name.to_ascii_lowercase();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == lowered)
        .map_or(lowered.as_str(), |(_, name)| name);
    if let Some((_, code, _)) = NAMED.iter().find(|(named, _, _)| *named == canonical) {
        return Ok(*code);
    }
    if let Some(n) = canonical
        .strip_prefix('f')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| FUNCTION_KEYS.contains(n))
    {
        return Ok(KeyCode::F(n));
    }
    let names: Vec<&str> = NAMED.iter().map(|(name, _, _)| *name).collect();
    Err(format!(
        "unknown key `{name}`: use one character, or one of {}, f{}–f{}",
        names.join(", "),
        FUNCTION_KEYS.start(),
        FUNCTION_KEYS.end()
    ))
}

/// Control characters and whitespace other than a space are what keys *do*, not keys.
fn can_be_typed(c: char) -> bool {
    !c.is_control() && (c == ' ' || !c.is_whitespace())
}

/// `c` in capitals, when that is one other character.
fn upper(c: char) -> Option<char> {
    single(c.to_uppercase()).filter(|u| *u != c)
}

/// `c` in small letters, when that is one other character.
fn lower(c: char) -> Option<char> {
    single(c.to_lowercase()).filter(|l| *l != c)
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// A capital that shift makes from a small letter, and that shift- on that letter gives back.
fn is_shifted_letter(c: char) -> bool {
    lower(c).is_some_and(|l| upper(l) == Some(c))
}

/// The capital of a small letter whose capital leads back to it: other characters (`ſ`, `ǅ`)
/// keep their own form in labels, so no two keys share one.
fn capital_of_small_letter(c: char) -> Option<char> {
    upper(c).filter(|u| lower(*u) == Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(text: &str) -> Key {
        text.parse().expect(text)
    }

    fn event(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn labels_are_what_the_help_shows() {
        for (text, label) in [
            ("enter", "Enter"),
            ("a", "a"),
            ("G", "G"),
            ("ctrl-s", "Ctrl-S"),
            ("ctrl-S", "Ctrl-Shift-S"),
            ("esc", "Esc"),
            ("tab", "Tab"),
            ("backtab", "Shift-Tab"),
            ("space", "Space"),
            ("pagedown", "PgDn"),
            ("pageup", "PgUp"),
            ("up", "↑"),
            ("shift-left", "Shift-←"),
            ("ctrl-alt-x", "Ctrl-Alt-X"),
            ("alt-?", "Alt-?"),
            ("f5", "F5"),
            ("delete", "Del"),
            ("ctrl--", "Ctrl--"),
        ] {
            assert_eq!(key(text).label(), label, "{text}");
        }
    }

    #[test]
    fn spellings_of_one_key_are_one_key() {
        for (a, b) in [
            ("shift-tab", "backtab"),
            ("shift-g", "G"),
            ("SHIFT-G", "G"),
            ("Ctrl-s", "ctrl-s"),
            ("control-s", "ctrl-s"),
            ("ctrl-shift-s", "ctrl-S"),
            ("alt-ctrl-x", "ctrl-alt-x"),
            ("Enter", "return"),
            ("escape", "esc"),
            ("PgDn", "pagedown"),
            (" ", "space"),
            ("F12", "f12"),
        ] {
            assert_eq!(key(a), key(b), "{a} = {b}");
        }
        assert_ne!(key("g"), key("G"));
        assert_ne!(key("ctrl-s"), key("ctrl-S"));
        assert_ne!(key("tab"), key("backtab"));
    }

    #[test]
    fn bad_key_strings_say_what_is_wrong() {
        for (text, says) in [
            ("", "a key must follow"),
            ("ctrl-", "a key must follow"),
            ("-x", "modifier is missing"),
            ("ctrl--x", "modifier is missing"),
            ("hyper-x", "unknown modifier `hyper`"),
            ("ctrl-ctrl-x", "given twice"),
            ("enterr", "unknown key `enterr`"),
            ("f13", "f1–f12"),
            ("f0", "unknown key"),
            ("shift-?", "write the character shift gives"),
            ("shift-1", "write the character shift gives"),
            ("\t", "cannot be typed"),
        ] {
            let err = text.parse::<Key>().expect_err(text);
            assert_eq!(err.text, text);
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn terminal_reports_with_or_without_shift_match_the_binding() {
        let question = key("?");
        for modifiers in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            let pressed = Key::from_event(event(KeyCode::Char('?'), modifiers));
            assert_eq!(pressed, Some(question), "{modifiers:?}");
            let pressed = Key::from_event(event(KeyCode::Char('G'), modifiers));
            assert_eq!(pressed, Some(key("G")), "{modifiers:?}");
            let pressed = Key::from_event(event(KeyCode::BackTab, modifiers));
            assert_eq!(pressed, Some(key("backtab")), "{modifiers:?}");
        }
        // kitty's protocol reports the base key with SHIFT.
        let pressed = Key::from_event(event(KeyCode::Char('g'), KeyModifiers::SHIFT));
        assert_eq!(pressed, Some(key("G")));
        let pressed = Key::from_event(event(KeyCode::Tab, KeyModifiers::SHIFT));
        assert_eq!(pressed, Some(key("backtab")));
        let pressed = Key::from_event(event(KeyCode::Char('g'), KeyModifiers::NONE));
        assert_eq!(pressed, Some(key("g")));
        // Shift on a key without a shifted character is part of the key.
        let pressed = Key::from_event(event(KeyCode::Up, KeyModifiers::SHIFT));
        assert_eq!(pressed, Some(key("shift-up")));
        assert_ne!(pressed, Some(key("up")));
    }

    #[test]
    fn releases_and_unbindable_modifiers_match_nothing() {
        let mut release = event(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(Key::from_event(release), None);
        let mut repeat = event(KeyCode::Char('j'), KeyModifiers::NONE);
        repeat.kind = KeyEventKind::Repeat;
        assert_eq!(Key::from_event(repeat), Some(key("j")));
        let super_q = event(KeyCode::Char('q'), KeyModifiers::SUPER);
        assert_eq!(Key::from_event(super_q), None);
    }

    fn any_code() -> impl Strategy<Value = KeyCode> {
        prop_oneof![
            // Arrows typed as characters would look like the arrow keys; no keyboard has them.
            any::<char>()
                .prop_filter("typed", |c| can_be_typed(*c) && !"←↑→↓".contains(*c))
                .prop_map(KeyCode::Char),
            proptest::sample::select(NAMED.iter().map(|(_, code, _)| *code).collect::<Vec<_>>()),
            FUNCTION_KEYS.prop_map(KeyCode::F),
        ]
    }

    fn any_modifiers() -> impl Strategy<Value = KeyModifiers> {
        (0..8u8).prop_map(|bits| {
            let mut modifiers = KeyModifiers::NONE;
            for (bit, modifier) in [
                (1, KeyModifiers::CONTROL),
                (2, KeyModifiers::ALT),
                (4, KeyModifiers::SHIFT),
            ] {
                if bits & bit != 0 {
                    modifiers |= modifier;
                }
            }
            modifiers
        })
    }

    proptest! {
        #[test]
        fn every_key_reads_back_from_its_config_spelling(
            code in any_code(),
            modifiers in any_modifiers(),
        ) {
            let key = Key::new(code, modifiers);
            let text = key.to_string();
            prop_assert_eq!(text.parse::<Key>(), Ok(key), "{}", text);
        }

        /// Checked against the keys a label could be mistaken for: the same character in
        /// other cases, every named key, and every mix of modifiers on each.
        #[test]
        fn different_keys_have_different_labels(code in any_code()) {
            let mut codes: Vec<KeyCode> = NAMED.iter().map(|(_, code, _)| *code).collect();
            codes.extend(FUNCTION_KEYS.map(KeyCode::F));
            codes.push(code);
            if let KeyCode::Char(c) = code {
                let cases = c.to_uppercase().chain(c.to_lowercase());
                let round = c.to_uppercase().flat_map(char::to_lowercase);
                codes.extend(cases.chain(round).map(KeyCode::Char));
            }
            let mut labels: std::collections::HashMap<String, Key> =
                std::collections::HashMap::new();
            for code in codes {
                for bits in 0..8u8 {
                    let mut modifiers = KeyModifiers::NONE;
                    modifiers.set(KeyModifiers::CONTROL, bits & 1 != 0);
                    modifiers.set(KeyModifiers::ALT, bits & 2 != 0);
                    modifiers.set(KeyModifiers::SHIFT, bits & 4 != 0);
                    let key = Key::new(code, modifiers);
                    if let Some(other) = labels.insert(key.label(), key) {
                        prop_assert_eq!(other, key, "{}", key.label());
                    }
                }
            }
        }
    }
}
