//! Logs go to a file in the data folder: stdout is the screen. (Stub.)
