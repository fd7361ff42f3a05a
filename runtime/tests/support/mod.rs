//! Helpers shared by test binaries.
pub mod json_inputs;
