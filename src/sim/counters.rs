//! What the simulated network carried and lost: messages by kind, dials,
//! links, and the anomalies the engine saw.

use std::mem::Discriminant;

use crate::proto::Message;

/// Messages sent, counted per kind.
///
/// The kind is the [`Message`] variant, told apart by its discriminant and
/// named after its `Debug` form the first time it is seen, so variants the
/// protocol adds later are counted without the simulator knowing them.
#[derive(Clone, Debug, Default)]
pub struct MessageKinds {
    kinds: Vec<(Discriminant<Message>, String, u64)>,
}

impl MessageKinds {
    /// Counts one `msg`.
    pub fn count(&mut self, msg: &Message) {
        let d = std::mem::discriminant(msg);
        match self.kinds.iter_mut().find(|(k, _, _)| *k == d) {
            Some((_, _, n)) => *n += 1,
            None => self.kinds.push((d, kind_name(msg), 1)),
        }
    }

    /// (kind, messages) in the order kinds were first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.kinds.iter().map(|(_, name, n)| (name.as_str(), *n))
    }

    /// Messages of the kind named `name`.
    pub fn get(&self, name: &str) -> u64 {
        self.iter().find(|(k, _)| *k == name).map_or(0, |(_, n)| n)
    }

    /// Messages of every kind.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }
}

/// The variant's name: its `Debug` form up to the first character that
/// cannot be part of a name.
fn kind_name(msg: &Message) -> String {
    let debug = format!("{msg:?}");
    debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Totals of one simulation since it started.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Messages handed to the network, by kind.
    pub sent: MessageKinds,
    /// Messages that reached a node and were handed to its core.
    pub delivered: u64,
    /// Messages lost to [`super::SimConfig::loss`] (each broke its link).
    pub lost: u64,
    /// Messages a core sent to a peer it holds no usable link to (none, or
    /// a broken one): dropped at once.
    pub unsendable: u64,
    /// Messages dropped on arrival: at an end already closed (as TCP
    /// resets them) or across a partition.
    pub dropped: u64,
    /// Dials started (`Action::Connect`).
    pub dials: u64,
    /// Dials that ended in `DialFailed`.
    pub dials_failed: u64,
    /// Links opened (dials that reached a live, reachable node).
    pub links_opened: u64,
    /// Links broken by loss or a partition.
    pub links_broken: u64,
    /// `Action::Ban`s emitted.
    pub bans: u64,
    /// `Action::DropClient`s emitted: a client was found too slow, which
    /// the simulated client, answering every notification, never should be.
    pub dropped_clients: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_per_variant() {
        let mut kinds = MessageKinds::default();
        kinds.count(&Message::GetPeers);
        kinds.count(&Message::Peers(vec!["10.0.0.1:7000".parse().unwrap()]));
        kinds.count(&Message::Peers(vec![]));
        kinds.count(&Message::GetPeers);
        kinds.count(&Message::GetPeers);
        let counted: Vec<(&str, u64)> = kinds.iter().collect();
        assert_eq!(counted, vec![("GetPeers", 3), ("Peers", 2)]);
        assert_eq!(kinds.get("Peers"), 2);
        assert_eq!(kinds.get("Item"), 0);
        assert_eq!(kinds.total(), 5);
    }
}
