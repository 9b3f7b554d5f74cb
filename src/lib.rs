//! moss-thinking: build and curate think-while-speaking distillation data.
//!
//! The library is the whole pipeline; the `moss` binary is a thin front over it.

pub mod atomic_file;
pub mod check;
pub mod compare;
pub mod config;
pub mod curate;
pub mod dataset;
pub mod exec;
pub mod export;
pub mod generate;
pub mod prompt;
pub mod run;
pub mod signals;
pub mod source;
pub mod store;
pub mod teacher;
pub mod transcript;
pub mod tui;

/// Serializes a `Duration` as whole milliseconds.
pub(crate) mod serde_duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
