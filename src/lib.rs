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
//! Two nodes on loopback, the second joining through the first; an item
//! announced at the first arrives at the second, whose subscriber judges it
//! valid (so the second would spread it further). Port 0 lets the system pick
//! free ports; the light `pow_difficulty` keeps the nodes' temporary
//! identities quick to make (a real host has a `hostkey` file instead).
//!
//! ```rust
//! use std::time::{Duration, Instant};
//!
//! use gossipd::config::Endpoint;
//! use gossipd::{Config, DataType, Node, Ttl};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config {
//!     p2p_address: "127.0.0.1:0".parse()?,
//!     pow_difficulty: 8,
//!     ..Config::default()
//! };
//! let first = Node::start(&config)?;
//! let second = Node::start(&Config {
//!     bootstrapper: Some(Endpoint::from(first.p2p_address())),
//!     ..config
//! })?;
//! let subscriber = second.subscribe(DataType(7));
//!
//! // Joining takes a moment: announce until an item arrives.
//! let deadline = Instant::now() + Duration::from_secs(20);
//! let notification = loop {
//!     first.announce(Ttl(0), DataType(7), b"hello")?;
//!     match subscriber.notifications().recv_timeout(Duration::from_millis(200)) {
//!         Ok(notification) => break notification,
//!         Err(e) if Instant::now() >= deadline => return Err(e.into()),
//!         Err(_) => continue,
//!     }
//! };
//! assert_eq!(&notification.data[..], b"hello");
//! subscriber.validate(notification.msg_id, true)?;
//! second.shutdown();
//! first.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! The daemon, `gossipd`, is this plus [`api::ApiServer`] (the TCP API for
//! modules in other processes) and the command line of [`options`].

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
