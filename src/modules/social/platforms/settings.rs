//! The adapters' settings live in `crate::config::social` (they must compile without the
//! `social` feature, like every other section of `Settings`); re-exported here.

pub use crate::config::social::platforms::*;
