//! The AI platform module (feature `ai`): agents, chat over jobs and `/ws/chat`, knowledge
//! bases, usage and budgets. The provider clients have their own tests in the library.

mod chat;
mod knowledge;
mod pages;
mod support;
mod usage;
