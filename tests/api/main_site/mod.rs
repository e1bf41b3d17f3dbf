//! The main site module: marketing pages, the lead pipeline, contact inquiries, the staff
//! dashboard, Stripe billing, and a real browser driving the forms and the dashboard.

mod admin;
mod billing;
mod browser;
mod inquiries;
mod leads;
mod leads_staff;
mod pages;
mod support;
mod webhooks;
