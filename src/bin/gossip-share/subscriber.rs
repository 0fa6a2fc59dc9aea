//! The subscriber thread: NOTIFY for the index data type, then judge every
//! notification: a well-formed index item ([`IndexItem::decode`]) is valid
//! and goes into the index, anything else is invalid (and gossipd holds the
//! peer that sent it to account).

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use gossipd::api::codec::{self, ApiMessage, Direction};

use crate::index::{Applied, SharedIndex};
use crate::index_item::IndexItem;

/// Subscribes on `stream` and validates until the connection ends (an
/// error: serve cannot work without gossip).
pub fn run(
    stream: TcpStream,
    data_type: u16,
    own: SocketAddr,
    index: SharedIndex,
) -> Result<(), String> {
    let mut writer = stream
        .try_clone()
        .map_err(|e| format!("cannot clone the gossip connection: {e}"))?;
    let mut out = Vec::with_capacity(8);
    // NOTIFY and VALIDATION have no data, so they always encode.
    let _ = codec::encode(&ApiMessage::Notify { data_type }, &mut out);
    writer
        .write_all(&out)
        .map_err(|e| format!("subscribing at gossip failed: {e}"))?;
    let mut reader = BufReader::new(stream);
    loop {
        let (msg_id, data) = match codec::read_message(&mut reader, Direction::Gossip) {
            Ok(Some(ApiMessage::Notification { msg_id, data, .. })) => (msg_id, data),
            Ok(Some(other)) => return Err(format!("gossip sent {other:?}")),
            Ok(None) => return Err("gossip closed the connection".into()),
            Err(e) => return Err(format!("reading from gossip failed: {e}")),
        };
        let valid = judge(&data, own, &index);
        out.clear();
        let _ = codec::encode(&ApiMessage::Validation { msg_id, valid }, &mut out);
        writer
            .write_all(&out)
            .map_err(|e| format!("sending a validation failed: {e}"))?;
    }
}

/// Decodes one item and applies it; true when it is well-formed.
fn judge(data: &[u8], own: SocketAddr, index: &SharedIndex) -> bool {
    let item = match IndexItem::decode(data) {
        Ok(item) => item,
        Err(e) => {
            log::warn!("invalid index item ({} bytes): {e}", data.len());
            return false;
        }
    };
    if item.holder == own {
        // Only this process speaks for its own address.
        log::debug!("ignoring an item about this holder: {}", item.name);
        return true;
    }
    if index.lock().apply(&item, Instant::now()) == Applied::Full {
        log::warn!("index full: not keeping {} at {}", item.name, item.holder);
    }
    true
}
