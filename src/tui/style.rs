//! Theme roles as ratatui styles: widgets ask for a role, never for a colour.

use ratatui::style::{Color, Modifier, Style};

use crate::tui::theme::{self, Role, Theme};

/// The ratatui style of `role` in `theme`.
#[must_use]
pub fn style(theme: &Theme, role: Role) -> Style {
    convert(theme.style(role))
}

/// A theme style as a ratatui style.
#[must_use]
pub fn convert(s: theme::Style) -> Style {
    let mut style = Style::default();
    if let Some(fg) = s.fg {
        style = style.fg(color(fg));
    }
    if let Some(bg) = s.bg {
        style = style.bg(color(bg));
    }
    let mut modifiers = Modifier::empty();
    if s.bold {
        modifiers |= Modifier::BOLD;
    }
    if s.italic {
        modifiers |= Modifier::ITALIC;
    }
    if s.dim {
        modifiers |= Modifier::DIM;
    }
    if s.underline {
        modifiers |= Modifier::UNDERLINED;
    }
    style.add_modifier(modifiers)
}

fn color(c: theme::Color) -> Color {
    match c {
        theme::Color::Reset => Color::Reset,
        theme::Color::Indexed(i) => Color::Indexed(i),
        theme::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_keep_their_colours_and_modifiers() {
        let theme = Theme::load("dark", None).expect("built-in theme");
        let exceeded = style(&theme, Role::BudgetExceeded);
        assert_eq!(exceeded.bg, Some(Color::Rgb(0xbf, 0x61, 0x6a)));
        assert!(exceeded.add_modifier.contains(Modifier::BOLD));
        assert!(
            style(&theme, Role::Think)
                .add_modifier
                .contains(Modifier::ITALIC)
        );
    }
}
