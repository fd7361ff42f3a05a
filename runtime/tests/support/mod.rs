//! Helpers shared by test binaries.
pub mod json_decisions;
pub mod json_inputs;
