//! Integration tests: one binary, the real application on a random port, real PostgreSQL and
//! Redis. Run with `cargo test` (see README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "ai")]
mod ai;
mod config;
mod errors;
mod events;
mod health;
mod helpers;
mod identity;
mod jobs;
mod modules;
mod openapi;
mod pages;
mod platform;
mod uploads;
