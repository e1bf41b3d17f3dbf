//! Each module's own `GET /api/<module>/info`, mounted inside the module's scope.

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Module;

#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleInfo {
    /// `main`, `ai`, `social` or `social-ai`.
    pub module: String,
    pub description: String,
    pub version: String,
    /// Always `ok` when the module answers; it is only mounted when enabled.
    pub status: String,
}

impl ModuleInfo {
    pub fn new(module: Module, description: &str) -> Self {
        ModuleInfo {
            module: module.as_str().into(),
            description: description.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            status: "ok".into(),
        }
    }
}
