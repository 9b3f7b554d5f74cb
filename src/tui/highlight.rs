//! Code highlighting with syntect. (Stub.)
