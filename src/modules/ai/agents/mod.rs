//! Agents: the seed's `smartflow_ai.agents` with a typed, versioned configuration.

pub mod config;
pub mod repo;
pub mod routes;
