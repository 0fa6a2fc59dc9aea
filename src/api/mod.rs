//! The local-module API of SPEC §4: the strict codec and the TCP server.

pub mod codec;
mod server;

pub use server::{ApiServer, BoundApi};
