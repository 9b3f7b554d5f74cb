//! Workbench state.
