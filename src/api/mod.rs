//! The local-module API of SPEC §4: the strict codec, the status extension
//! (types 510/511) and the TCP server.

pub mod codec;
mod server;
pub mod status;

pub use server::{ApiServer, BoundApi};
