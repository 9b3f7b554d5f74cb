//! Comparing prompt versions (and teachers) honestly: per-sample scores, intervals, a paired
//! test over samples, the samples that flipped, and what interleaving is for, measured.
//!
//! `batch` makes the runs a comparison lacks (through `generate`) and judges them; the rest is
//! pure: the runs come in, numbers go out.

pub mod batch;
pub mod metrics;
pub mod report;
pub mod stats;

pub use batch::{CompareOptions, Comparison, VariantSpec, compare};
pub use metrics::{Interleaving, interleaving, interleaving_of};
pub use report::{JudgedRun, MeasuresReport, Report, Variant, render, report};
pub use stats::{Paired, Score, paired, wilson};
