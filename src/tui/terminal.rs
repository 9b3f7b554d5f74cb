//! Entering and leaving the terminal; a panic restores it before the message prints.
//! (Stub.)
