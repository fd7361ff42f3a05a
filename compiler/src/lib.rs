//! The XOP compiler: source text to checked, typed programs, with diagnostics as values.
//!
//! Pipeline: [`lexer`] → [`parse`] (lalrpop, with error recovery) → [`resolve`] (names,
//! imports) → [`types`] (types and absence). Each phase is a salsa query of [`db`], so the
//! command line and the language server share one incremental engine.

pub mod ast;
pub mod check;
pub mod codes;
pub mod compliance;
pub mod db;
pub mod diagnostic;
pub mod format;
pub mod ide;
pub mod inlining;
pub mod lexer;
pub mod logic;
pub mod lower;
pub mod nesting;
pub mod parse;
pub mod precedence;
pub mod render;
pub mod resolve;
pub mod span;
pub mod types;
