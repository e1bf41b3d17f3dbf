//! Domain types parsed once at the edge; handlers never re-check strings.

pub mod email;
pub mod password;
pub mod text;

pub use email::Email;
pub use password::NewPassword;
