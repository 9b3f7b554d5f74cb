//! The pure update.
