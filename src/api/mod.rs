//! The local-module API of SPEC §4.

pub mod codec;
