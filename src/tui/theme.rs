//! Themes: TOML files in `themes/` (compiled in) and in the user's config folder, mapping each
//! screen *role* (`think`, `budget-exceeded`, …) to a style. Widgets ask for roles, never for
//! colours. A bad theme is an error naming its file and line, never a silent fallback.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::config::{ConfigError, Layers, Location, Source};

/// The themes shipped with moss.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The theme used when none is chosen.
pub use crate::config::DEFAULT_THEME;

macro_rules! roles {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// What a piece of the screen means.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        pub enum Role {
            $(#[serde(rename = $name)] $variant),+
        }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$variant),+];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Role::$variant => $name),+
                }
            }
        }
    };
}

roles! {
    Answer => "answer",
    Muted => "muted",
    Think => "think",
    ThinkGutter => "think-gutter",
    BudgetOk => "budget-ok",
    BudgetExceeded => "budget-exceeded",
    Code => "code",
    CodeExecutable => "code-executable",
    ExecResult => "exec-result",
    ExecError => "exec-error",
    Reasoning => "reasoning",
    RulePass => "rule-pass",
    RuleFail => "rule-fail",
    RuleSkip => "rule-skip",
    Selection => "selection",
    Border => "border",
    BorderFocused => "border-focused",
    Title => "title",
    StatusBar => "status-bar",
    ReplayBadge => "replay-badge",
    KeyHint => "key-hint",
    Accepted => "accepted",
    Rejected => "rejected",
    Edited => "edited",
    DiffAdded => "diff-added",
    DiffRemoved => "diff-removed",
    Error => "error",
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A terminal colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// The terminal's own default.
    Reset,
    /// One of the 16 basic colours (0–15) or the 256-colour palette.
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// The 16 basic colours, by the names themes use.
const NAMED: [&str; 16] = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "dark_gray",
    "light_red",
    "light_green",
    "light_yellow",
    "light_blue",
    "light_magenta",
    "light_cyan",
    "white",
];

impl FromStr for Color {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "reset" {
            return Ok(Self::Reset);
        }
        if let Some(index) = NAMED.iter().position(|n| *n == s) {
            #[allow(clippy::cast_possible_truncation)] // 16 names
            return Ok(Self::Indexed(index as u8));
        }
        if let Some(n) = s.strip_prefix("ansi:") {
            return n
                .parse()
                .map(Self::Indexed)
                .map_err(|_| format!("`{s}`: ansi colours are numbered 0 to 255"));
        }
        if let Some(hex) = s.strip_prefix('#')
            && hex.len() == 6
            && let Ok(rgb) = u32::from_str_radix(hex, 16)
        {
            let [_, r, g, b] = rgb.to_be_bytes();
            return Ok(Self::Rgb(r, g, b));
        }
        Err(format!(
            "`{s}` is not a colour: use \"#rrggbb\", \"ansi:N\", \"reset\" or one of {}",
            NAMED.join(", ")
        ))
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Colours and text attributes, as a theme file writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // independent attributes, one TOML key each
pub struct Style {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    #[serde(default)]
    pub bold: bool,
    #[serde(default)]
    pub italic: bool,
    #[serde(default)]
    pub dim: bool,
    #[serde(default)]
    pub underline: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    /// A theme this one starts from; it then only states the roles it changes.
    inherits: Option<String>,
    #[serde(default)]
    roles: BTreeMap<Role, Style>,
}

/// A complete theme: a style for every role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    styles: Vec<Style>,
}

impl Theme {
    #[must_use]
    pub fn style(&self, role: Role) -> Style {
        let index = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
        self.styles.get(index).copied().unwrap_or_default()
    }

    /// A theme by name: a file in `user_dir` (`NAME.toml`) wins over the built-in of that name.
    ///
    /// # Errors
    /// An unknown name, an unreadable file, or an invalid theme (with file and line).
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_inner(name, user_dir, &mut Vec::new())
    }

    /// The theme `[workbench] theme` names. A name that is neither built in nor a file in
    /// `user_dir` is reported at the line of the configuration that set it.
    ///
    /// # Errors
    /// As [`Theme::load`].
    pub fn configured(
        layers: &Layers,
        name: &str,
        user_dir: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let in_user_dir = user_dir.is_some_and(|dir| dir.join(format!("{name}.toml")).is_file());
        if !in_user_dir && !BUILT_IN.iter().any(|(n, _)| *n == name) {
            let location = layers
                .value_location(&["workbench", "theme"])
                .unwrap_or_else(|| Location {
                    path: PathBuf::from("<built-in defaults>"),
                    line: 1,
                    column: 1,
                });
            let looked_in = user_dir.map_or_else(String::new, |dir| {
                format!(", nor {}", dir.join(format!("{name}.toml")).display())
            });
            return Err(ConfigError::Invalid {
                location,
                message: format!(
                    "no theme `{name}`: not built in ({}){looked_in}",
                    built_in_names()
                ),
            });
        }
        Self::load(name, user_dir)
    }

    /// `loading` holds the user theme files being loaded, outermost first: a user file that
    /// inherits its own name (`dark.toml` with `inherits = "dark"`) gets the built-in.
    fn load_inner(
        name: &str,
        user_dir: Option<&Path>,
        loading: &mut Vec<PathBuf>,
    ) -> Result<Self, ConfigError> {
        if let Some(path) = user_dir.map(|dir| dir.join(format!("{name}.toml")))
            && path.is_file()
            && !loading.contains(&path)
        {
            let source = Source::read(&path)?;
            loading.push(path);
            return Self::parse(&source, user_dir, loading);
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(
                &Source::inline(format!("themes/{n}.toml"), *text),
                user_dir,
                loading,
            ),
            None if !loading.is_empty() => {
                let chain: Vec<String> = loading.iter().map(|p| p.display().to_string()).collect();
                Err(invalid(
                    loading.last().cloned().unwrap_or_default(),
                    &format!(
                        "themes inherit from each other in a loop ({} → {name})",
                        chain.join(" → ")
                    ),
                ))
            }
            None => Err(invalid(
                PathBuf::from(name),
                &format!("no such theme (built in: {})", built_in_names()),
            )),
        }
    }

    fn parse(
        source: &Source,
        user_dir: Option<&Path>,
        loading: &mut Vec<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let file: ThemeFile = source.parse()?;
        let name = file.name.unwrap_or_else(|| {
            source
                .path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        });
        let mut styles = match &file.inherits {
            Some(base) => Self::load_inner(base, user_dir, loading)?.styles,
            None => {
                let missing: Vec<&str> = Role::ALL
                    .iter()
                    .filter(|r| !file.roles.contains_key(r))
                    .map(|r| r.as_str())
                    .collect();
                if !missing.is_empty() {
                    return Err(invalid(
                        source.path.clone(),
                        &format!(
                            "missing roles {} (or set `inherits` to a theme to start from)",
                            missing.join(", ")
                        ),
                    ));
                }
                vec![Style::default(); Role::ALL.len()]
            }
        };
        for (role, style) in file.roles {
            if let Some(i) = Role::ALL.iter().position(|r| *r == role) {
                styles[i] = style;
            }
        }
        Ok(Self { name, styles })
    }
}

fn built_in_names() -> String {
    BUILT_IN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn invalid(path: PathBuf, message: &str) -> ConfigError {
    ConfigError::Invalid {
        location: Location {
            path,
            line: 1,
            column: 1,
        },
        message: message.to_owned(),
    }
}

/// Where user themes live: `themes/` in the config folder for moss.
#[must_use]
pub fn user_theme_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "moss").map(|d| d.config_dir().join("themes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_styles_every_role() {
        for (name, _) in BUILT_IN {
            let theme = Theme::load(name, None).expect("built-in theme loads");
            assert_eq!(&theme.name, name);
            assert_ne!(
                theme.style(Role::Think),
                theme.style(Role::Answer),
                "{name}: thinks must look different from answers"
            );
            assert_ne!(
                theme.style(Role::BudgetExceeded),
                theme.style(Role::BudgetOk),
                "{name}"
            );
        }
    }

    #[test]
    fn colours_parse_in_every_notation() {
        assert_eq!("#ff8000".parse(), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!("light_red".parse(), Ok(Color::Indexed(9)));
        assert_eq!("ansi:208".parse(), Ok(Color::Indexed(208)));
        assert_eq!("reset".parse(), Ok(Color::Reset));
        assert!("#ff80".parse::<Color>().is_err());
        assert!("ansi:300".parse::<Color>().is_err());
        assert!("teal".parse::<Color>().is_err());
    }

    #[test]
    fn user_themes_override_and_inherit() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("mine.toml"),
            "inherits = \"light\"\n[roles]\nthink = { fg = \"#123456\" }\n",
        )
        .expect("write");
        // A user theme may take a built-in's name and start from it.
        std::fs::write(
            dir.path().join("dark.toml"),
            "inherits = \"dark\"\n[roles]\nthink = { fg = \"red\" }\n",
        )
        .expect("write");
        let dark = Theme::load("dark", Some(dir.path())).expect("loads");
        assert_eq!(dark.style(Role::Think).fg, Some(Color::Indexed(1)));
        assert_eq!(
            dark.style(Role::Answer),
            Theme::load("dark", None)
                .expect("built-in")
                .style(Role::Answer)
        );
        let theme = Theme::load("mine", Some(dir.path())).expect("loads");
        let light = Theme::load("light", None).expect("loads");
        assert_eq!(theme.name, "mine");
        assert_eq!(
            theme.style(Role::Think).fg,
            Some(Color::Rgb(0x12, 0x34, 0x56))
        );
        assert_eq!(theme.style(Role::Answer), light.style(Role::Answer));
    }

    #[test]
    fn bad_themes_name_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "inherits = \"dark\"\n[roles]\nthink = { fg = \"teal\" }\n",
        )
        .expect("write");
        let err = Theme::load("bad", Some(dir.path()))
            .expect_err("bad colour")
            .to_string();
        assert!(err.contains("bad.toml:3:"), "{err}");
        assert!(err.contains("teal"), "{err}");

        std::fs::write(&path, "[roles]\nthinking = { fg = \"red\" }\n").expect("write");
        let err = Theme::load("bad", Some(dir.path()))
            .expect_err("unknown role")
            .to_string();
        assert!(err.contains("bad.toml:2:"), "{err}");

        std::fs::write(&path, "[roles]\nthink = { fg = \"red\" }\n").expect("write");
        let err = Theme::load("bad", Some(dir.path()))
            .expect_err("incomplete")
            .to_string();
        assert!(err.contains("missing roles answer"), "{err}");

        std::fs::write(dir.path().join("a.toml"), "inherits = \"b\"\n").expect("write");
        std::fs::write(dir.path().join("b.toml"), "inherits = \"a\"\n").expect("write");
        let err = Theme::load("a", Some(dir.path()))
            .expect_err("loop")
            .to_string();
        assert!(
            err.contains("b.toml:1:1: themes inherit from each other in a loop"),
            "{err}"
        );

        let err = Theme::load("nope", None).expect_err("unknown").to_string();
        assert!(err.contains("dark, light, high-contrast"), "{err}");
    }

    #[test]
    fn the_configured_theme_is_found_or_reported_at_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("mine.toml"), "inherits = \"light\"\n").expect("write");
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[workbench]\nconcurrency = 2\ntheme = \"mine\"\n",
        ));
        let config = layers.resolve().expect("valid");
        let theme = Theme::configured(&layers, &config.workbench.theme, Some(dir.path()))
            .expect("user theme");
        assert_eq!(theme.name, "mine");

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "user.toml",
            "[workbench]\ntheme = \"solarized\"\n",
        ));
        layers.push(Source::inline(
            "moss.toml",
            "[workbench]\nconcurrency = 2\n",
        ));
        let config = layers.resolve().expect("valid");
        let err = Theme::configured(&layers, &config.workbench.theme, Some(dir.path()))
            .expect_err("no such theme")
            .to_string();
        assert!(
            err.starts_with("user.toml:2:9: no theme `solarized`"),
            "{err}"
        );
        assert!(err.contains("high-contrast"), "{err}");
        assert!(err.contains("solarized.toml"), "{err}");

        let theme = Theme::configured(&Layers::default(), DEFAULT_THEME, None).expect("built in");
        assert_eq!(theme.name, DEFAULT_THEME);
    }
}
