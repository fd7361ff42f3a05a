//! The XOP runtime: the IR (the contract with the compiler), values, and the engines that
//! evaluate compiled policies. It never depends on the compiler: a service that only loads
//! compiled modules carries no parser, checker or editor support.

pub mod bind;
pub mod connectors;
pub mod cost;
pub mod engine;
pub mod interp;
pub mod intrinsics;
pub mod io;
pub mod ir;
pub mod jit;
pub mod module;
pub mod proof;
pub mod reads;
pub mod review;
pub mod sample;
pub mod synth;
pub mod time;
pub mod value;
pub mod zone;
