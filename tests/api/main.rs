//! Integration tests: one binary, the real application on a random port, real PostgreSQL and
//! Redis. Run with `cargo test` (see README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "ai")]
mod ai;
mod bench_scripts;
mod cli;
mod client_address;
mod config;
mod database;
mod errors;
mod events;
mod health;
mod helpers;
mod http_body;
mod http_head;
mod identity;
mod jobs;
mod live;
#[cfg(feature = "main")]
mod main_site;
mod modules;
mod openapi;
mod pages;
mod platform;
mod robustness;
#[cfg(feature = "social")]
mod social;
mod uploads;
