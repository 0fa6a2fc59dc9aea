//! The subscription map: which local clients get items of which data type.
//!
//! Written by client threads (a NOTIFY, a client leaving) and read by the node
//! thread for every new item, so it sits behind a `parking_lot` `RwLock`: many
//! cheap reads, rare short writes, never held across blocking I/O or a
//! blocking send (delivery uses `try_send`).

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::RwLock;

use crate::client::Notification;
use crate::proto::{ClientId, DataType};

/// Called when the node disconnects a client whose queue overflowed, to close
/// whatever carries its notifications (the API server shuts its socket).
pub type KickHook = Box<dyn Fn() + Send + Sync>;

struct Entry {
    tx: Sender<Notification>,
    kick: Option<KickHook>,
}

#[derive(Default)]
struct Registry {
    clients: HashMap<ClientId, Entry>,
    by_type: HashMap<DataType, Vec<ClientId>>,
}

/// Outcome of one delivery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Clients that were handed the notification.
    pub notified: Vec<ClientId>,
    /// Clients whose queue was full: they were removed and kicked.
    pub overflowed: Vec<ClientId>,
}

/// A shared handle on the subscription map.
#[derive(Clone, Default)]
pub struct Subscriptions {
    registry: Arc<RwLock<Registry>>,
}

impl Subscriptions {
    /// Registers a client and the sending side of its notification queue.
    pub fn register(&self, client: ClientId, tx: Sender<Notification>, kick: Option<KickHook>) {
        self.registry
            .write()
            .clients
            .insert(client, Entry { tx, kick });
    }

    /// Subscribes a registered client to a data type; twice changes nothing.
    pub fn subscribe(&self, client: ClientId, data_type: DataType) {
        let mut reg = self.registry.write();
        if !reg.clients.contains_key(&client) {
            return;
        }
        let subs = reg.by_type.entry(data_type).or_default();
        if !subs.contains(&client) {
            subs.push(client);
        }
    }

    /// Removes a client and all its subscriptions; true if it was there.
    pub fn unregister(&self, client: ClientId) -> bool {
        self.remove(client).is_some()
    }

    /// Removes a client and runs its kick hook (the node disconnects it).
    pub fn kick(&self, client: ClientId) {
        if let Some(Entry {
            kick: Some(kick), ..
        }) = self.remove(client)
        {
            kick();
        }
    }

    /// Number of subscribers of a data type.
    pub fn subscribers(&self, data_type: DataType) -> usize {
        self.registry
            .read()
            .by_type
            .get(&data_type)
            .map_or(0, Vec::len)
    }

    /// Hands a notification to every subscriber of its type without blocking.
    /// A subscriber whose queue is full is removed and its kick hook called.
    pub fn deliver(&self, n: &Notification) -> Delivery {
        let mut delivery = Delivery::default();
        {
            let reg = self.registry.read();
            let Some(subs) = reg.by_type.get(&n.data_type) else {
                return delivery;
            };
            for client in subs {
                let Some(entry) = reg.clients.get(client) else {
                    continue;
                };
                match entry.tx.try_send(n.clone()) {
                    Ok(()) => delivery.notified.push(*client),
                    Err(TrySendError::Full(_)) => delivery.overflowed.push(*client),
                    // Its receiver is gone: the client is leaving and will unregister.
                    Err(TrySendError::Disconnected(_)) => {}
                }
            }
        }
        for client in &delivery.overflowed {
            if let Some(Entry {
                kick: Some(kick), ..
            }) = self.remove(*client)
            {
                kick();
            }
        }
        delivery
    }

    fn remove(&self, client: ClientId) -> Option<Entry> {
        let mut reg = self.registry.write();
        let entry = reg.clients.remove(&client)?;
        reg.by_type.retain(|_, subs| {
            subs.retain(|c| *c != client);
            !subs.is_empty()
        });
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Hlc, MsgId, PeerId};
    use crossbeam_channel::bounded;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn note(data_type: u16) -> Notification {
        Notification {
            msg_id: MsgId(1),
            data_type: DataType(data_type),
            data: Arc::from(&b"hi"[..]),
            origin: PeerId::from_u64(9),
            seq: 1,
            hlc: Hlc(1),
        }
    }

    #[test]
    fn only_subscribers_of_the_type_are_notified() {
        let subs = Subscriptions::default();
        let (tx1, rx1) = bounded(4);
        let (tx2, rx2) = bounded(4);
        subs.register(ClientId(1), tx1, None);
        subs.register(ClientId(2), tx2, None);
        subs.subscribe(ClientId(1), DataType(7));
        subs.subscribe(ClientId(1), DataType(7));
        subs.subscribe(ClientId(2), DataType(8));
        let d = subs.deliver(&note(7));
        assert_eq!(d.notified, vec![ClientId(1)]);
        assert_eq!(rx1.len(), 1);
        assert_eq!(rx2.len(), 0);
    }

    #[test]
    fn a_full_queue_removes_and_kicks_the_client() {
        let subs = Subscriptions::default();
        let (tx, _rx) = bounded(1);
        let kicked = Arc::new(AtomicBool::new(false));
        let flag = kicked.clone();
        let hook: KickHook = Box::new(move || flag.store(true, Ordering::SeqCst));
        subs.register(ClientId(1), tx, Some(hook));
        subs.subscribe(ClientId(1), DataType(7));
        assert_eq!(subs.deliver(&note(7)).notified, vec![ClientId(1)]);
        let d = subs.deliver(&note(7));
        assert_eq!(d.overflowed, vec![ClientId(1)]);
        assert!(kicked.load(Ordering::SeqCst));
        assert_eq!(subs.subscribers(DataType(7)), 0);
    }

    #[test]
    fn unregistering_ends_every_subscription() {
        let subs = Subscriptions::default();
        let (tx, _rx) = bounded(1);
        subs.register(ClientId(1), tx, None);
        subs.subscribe(ClientId(1), DataType(7));
        subs.subscribe(ClientId(1), DataType(9));
        assert!(subs.unregister(ClientId(1)));
        assert_eq!(
            subs.subscribers(DataType(7)) + subs.subscribers(DataType(9)),
            0
        );
        assert!(!subs.unregister(ClientId(1)));
    }
}
