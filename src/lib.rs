//! moss-thinking: build and curate think-while-speaking distillation data.

pub mod dataset;
pub mod transcript;
