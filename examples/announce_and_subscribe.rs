//! Two gossip nodes in one process: the second joins through the first,
//! subscribes to a data type, and receives an item the first announces.
//!
//! Run it with `cargo run --example announce_and_subscribe`
//! (`RUST_LOG=info` shows the nodes' logs).

use std::time::{Duration, Instant};

use gossipd::config::Endpoint;
use gossipd::{Config, DataType, Node, Ttl};

/// The data type this example announces and subscribes to.
const GREETING: DataType = DataType(7);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    // Port 0: the system picks free ports, so the example never collides with
    // a running daemon. Node::start binds only the P2P listener; the TCP API
    // is a separate server (gossipd::api::ApiServer) that this example skips.
    let loopback: Endpoint = "127.0.0.1:0".parse()?;
    // Without a hostkey each node makes a temporary identity at start; a
    // light proof of work keeps that instant (real networks use the default).
    let first_config = Config {
        p2p_address: loopback.clone(),
        pow_difficulty: 8,
        ..Config::default()
    };
    let first = Node::start(&first_config)?;

    let second_config = Config {
        p2p_address: loopback,
        bootstrapper: Some(Endpoint::from(first.p2p_address())),
        pow_difficulty: 8,
        ..Config::default()
    };
    let second = Node::start(&second_config)?;
    println!(
        "node A {} on {}, node B {} on {} (joining through A)",
        first.peer_id(),
        first.p2p_address(),
        second.peer_id(),
        second.p2p_address()
    );

    // A client of node B subscribed to GREETING (what GOSSIP NOTIFY does).
    let subscriber = second.subscribe(GREETING);

    // The nodes need a moment to connect, and an item announced before that
    // reaches nobody; so announce again until one arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    let notification = loop {
        first.announce(Ttl(0), GREETING, b"hello from node A")?;
        match subscriber
            .notifications()
            .recv_timeout(Duration::from_millis(200))
        {
            Ok(n) => break n,
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => return Err(format!("no notification within 10 s: {e}").into()),
        }
    };
    println!(
        "node B got msg_id={} type={} data={:?}",
        notification.msg_id.0,
        notification.data_type.0,
        String::from_utf8_lossy(&notification.data)
    );
    assert_eq!(notification.data_type, GREETING);
    assert_eq!(&notification.data[..], b"hello from node A");

    // Judge it valid (GOSSIP VALIDATION): only then does node B spread it
    // further (it has no other neighbour here, so nothing more happens).
    subscriber.validate(notification.msg_id, true)?;
    println!("node B's neighbours: {:?}", second.neighbours());

    drop(subscriber);
    second.shutdown();
    first.shutdown();
    println!("both nodes stopped");
    Ok(())
}
