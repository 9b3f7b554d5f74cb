//! moss-thinking: build and curate think-while-speaking distillation data.
//!
//! The library is the whole pipeline; the `moss` binary is a thin front over it.

pub mod check;
pub mod config;
pub mod dataset;
pub mod prompt;
pub mod theme;
pub mod transcript;
