//! Comparing prompt versions (and teachers) honestly: per-sample scores, intervals, a paired
//! test over samples, the samples that flipped, and what interleaving is for, measured.
//!
//! Everything here is pure: the runs come in, numbers go out.

pub mod metrics;
pub mod report;
pub mod stats;

pub use metrics::{Interleaving, interleaving};
pub use report::{JudgedRun, Report, Variant, render, report};
pub use stats::{Paired, Score, paired, wilson};
