//! The workbench: an interactive terminal app over the same Job → Run pipeline as `generate`.
//!
//! [`update::update`] is pure: it turns a [`update::Msg`] into state changes and
//! [`update::Command`]s; the runner executes commands (runs, journal appends, exports) and feeds
//! their results back as messages; views only draw the state.

pub mod app;
pub mod demo;
pub mod effects;
pub mod grid;
pub mod highlight;
pub mod history;
pub mod keymap;
pub mod live;
pub mod logging;
pub mod markdown;
pub mod runner;
pub mod runs;
pub mod side;
pub mod style;
pub mod terminal;
pub(crate) mod text;
pub mod theme;
pub mod update;
pub mod view;
