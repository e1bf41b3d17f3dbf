//! The usage ledger, monthly budgets and workspace provider keys.

pub mod ledger;
pub mod routes;
