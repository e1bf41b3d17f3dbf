//! Services shared by every module.

pub mod cache;
pub mod crypto;
pub mod jobs;
pub mod process;
pub mod ratelimit;

/// Job kinds of the platform itself.
pub fn register_jobs(registry: &mut jobs::JobRegistry) {
    registry.register::<jobs::PruneJobs>();
}

/// Every job kind this binary can run.
pub fn job_registry() -> jobs::JobRegistry {
    let mut registry = jobs::JobRegistry::new();
    register_jobs(&mut registry);
    crate::modules::register_jobs(&mut registry);
    registry
}
