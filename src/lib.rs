//! gossipd: a gossip daemon for peer-to-peer networks, as a library.
//!
//! Every host of a peer-to-peer network runs one node. Local modules talk to
//! it (over the TCP API of [`api`], or in-process through [`Client`]): they
//! announce items, subscribe to data types, receive notifications and judge
//! each item valid or invalid. Between hosts the nodes keep a partial view of
//! the network and spread every item to every reachable host.
//!
//! # Layout
//!
//! | module | job |
//! | --- | --- |
//! | [`proto`] | the protocol core: events in, actions out, time passed in |
//! | [`node`] | [`Node`] and the node thread that drives the core |
//! | [`net`] | P2P listener, dialing, a reader and a writer thread per peer |
//! | [`transport`] | framing and handshake: the byte stream under the core |
//! | [`wire`] | P2P messages ↔ bytes |
//! | [`api`] | the local-module API: codec, server, client threads |
//! | [`client`] | [`Client`], one local module's session |
//! | [`subscriptions`] | data type → subscribed clients |
//! | [`config`], [`options`] | the INI config file and the command line |
//! | [`sim`] | thousands of protocol cores in one process under simulated time |
//!
//! # Threads
//!
//! One `node` thread owns the protocol core; a `p2p-listener` and an
//! `api-listener` thread accept connections; each peer connection has a
//! reader and a writer thread, and so has each API client. They are joined by
//! bounded crossbeam channels; docs/ARCHITECTURE.md lists every channel with
//! its bound and what happens when it is full.
//!
//! # Example
//!
//! ```no_run
//! use gossipd::{Config, Node, DataType, Ttl};
//!
//! let node = Node::start(&Config::default()).expect("start");
//! let sub = node.subscribe(DataType(7));
//! node.announce(Ttl(0), DataType(7), b"hello").expect("announce");
//! for n in sub.notifications().iter() {
//!     sub.validate(n.msg_id, true).expect("validate");
//! }
//! ```

pub mod api;
pub mod client;
pub mod config;
pub mod identity;
pub mod net;
pub mod node;
pub mod options;
pub mod proto;
pub mod sim;
pub mod subscriptions;
pub mod transport;
pub mod wire;

pub use client::{Client, ClientError, Notification};
pub use config::Config;
pub use node::{NeighbourInfo, Node, NodeStats, StartError};
pub use proto::{DataType, MsgId, PeerId, Ttl};
