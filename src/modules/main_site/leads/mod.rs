//! The lead pipeline: public submissions, staff management, CSV export.

pub mod export;
pub mod model;
pub mod repo;
pub mod routes;
pub mod service;
pub mod submit;
