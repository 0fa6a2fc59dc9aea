//! The harness shared by the real-process tests: start `gossipd` nodes on
//! loopback (always port 0, addresses parsed from their logs), talk to them
//! through an API client written from SPEC §4, and wait on conditions with
//! deadlines. Nodes log at `info` unless `GOSSIPD_TEST_LOG` names another
//! `RUST_LOG` filter; a failing test prints each node's last log lines.
//!
//! Each test binary uses only part of the harness, hence the allows.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod network;
pub mod process;
pub mod proxy;
pub mod share;
pub mod subscribers;
pub mod verbose;
pub mod views;

pub use client::{Client, MAX_DATA, Notification, Recv, summary};
pub use network::{Network, Shape, after, unique};
pub use process::{Node, NodeConfig, Process, TempDir, run_to_exit};
pub use proxy::{ConnReport, Proxy};
pub use subscribers::Subscribers;
pub use verbose::{HANDSHAKE_LOG, VerboseNode};
pub use views::{LogEvent, Peer, parse_line, peer_ids, poll, views};
