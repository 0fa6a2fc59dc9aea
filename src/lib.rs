//! gossipd: a gossip daemon for peer-to-peer networks, as a library.
#![doc = "(crate documentation is completed with the node module)"]

pub mod api;
pub mod config;
pub mod options;
pub mod proto;
pub mod wire;
