//! Services shared by every module.

pub mod cache;
pub mod crypto;
pub mod process;
pub mod ratelimit;
