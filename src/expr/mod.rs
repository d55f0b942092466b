//! Expressions of the job language: JMESPath with RDI's custom functions, and SQL evaluated by SQLite.

mod calls;
mod digest;
mod entries;
mod expression;
mod functions;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod fuzz_tests;
mod jmes;
mod sql;
mod text;
mod time;

pub use expression::{ExprError, Expression, Language};
