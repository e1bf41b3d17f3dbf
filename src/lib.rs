//! SmartFlow: a business-automation platform in one binary.
//!
//! The crate is a library so integration tests can boot the real application on a random port;
//! `main.rs` only parses the command line.

#[cfg(not(any(feature = "main", feature = "ai", feature = "social", feature = "social-ai")))]
compile_error!(
    "SmartFlow needs at least one module feature: build with `--features main`, `ai`, `social` \
     or `social-ai` (the default build enables all four)."
);

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod modules;
pub mod openapi;
pub mod platform;
pub mod state;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;
