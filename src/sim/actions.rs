//! Carrying out what a core asks for (send, dial, close, deliver, ban),
//! as the daemon's driver would, and keeping each node's timer set.

use std::sync::Arc;

use rand::RngExt;

use super::engine::{CLIENT, Sim};
use super::ids::{ItemIx, NodeIx, node_of};
use super::input::{Input, NetInput};
use super::links::LinkId;
use super::node::Delivery;
use crate::proto::{Action, Event, ItemId, Message, MsgId, PeerId};

impl Sim {
    /// Hands `event` to `node`'s core, then carries out what it asks for.
    pub(super) fn handle(&mut self, node: NodeIx, event: Event) {
        let now = self.instant();
        let Some(core) = self.nodes[node].core.as_mut() else {
            return;
        };
        core.handle(event, now);
        self.after_event(node);
    }

    /// Carries out every queued action of `node`, then sets its timer.
    pub(super) fn after_event(&mut self, node: NodeIx) {
        while let Some(action) = self.nodes[node].core.as_mut().and_then(|c| c.poll_action()) {
            self.execute(node, action);
        }
        self.reschedule(node);
    }

    fn execute(&mut self, node: NodeIx, action: Action) {
        match action {
            Action::Send { to, msg } => self.send(node, to, msg),
            Action::Connect {
                addr,
                high_priority,
            } => {
                self.counters.dials += 1;
                let latency = self.draw_latency();
                let dial = Input::DialArrives {
                    addr,
                    high_priority,
                    latency,
                };
                self.push(self.now + latency, node, dial);
            }
            Action::Disconnect(peer) => {
                if let Some(link) = node_of(&peer).and_then(|p| self.links.current(node, p)) {
                    self.close_link_end(node, link);
                }
            }
            Action::Deliver {
                item, msg_id, data, ..
            } => self.deliver(node, item, msg_id, &data),
            Action::Ban { peer, .. } => {
                self.counters.bans += 1;
                self.close_all_to(node, &peer);
            }
            Action::DropClient { .. } => {
                self.counters.dropped_clients += 1;
                self.nodes[node].client_gone = true;
            }
        }
    }

    /// Sets `node`'s timer to its core's next deadline, unless already set
    /// for that time. Older timers stay queued and are skipped as stale.
    fn reschedule(&mut self, node: NodeIx) {
        let Some(core) = self.nodes[node].core.as_mut() else {
            return;
        };
        let due = core.poll_timeout();
        let due = self.offset(due).max(self.now);
        if self.nodes[node].timer != Some(due) {
            self.nodes[node].timer = Some(due);
            self.push(due, node, Input::Timer);
        }
    }

    /// Sends `msg` from `from` to `to` on `from`'s current link to it.
    /// Dropped without a link or on a broken one; with the loss
    /// probability it is lost and breaks the link.
    fn send(&mut self, from: NodeIx, to: PeerId, msg: Message) {
        self.counters.sent.count(&msg);
        let Some((to, link)) = node_of(&to).and_then(|t| Some((t, self.links.current(from, t)?)))
        else {
            self.counters.unsendable += 1;
            return;
        };
        let Some(l) = self.links.get(link) else {
            self.counters.unsendable += 1;
            return;
        };
        let latency = l.latency;
        if l.broken || !self.reachable(from, to) {
            self.counters.unsendable += 1;
            return;
        }
        if self.config.loss > 0.0 && self.rng.random_bool(self.config.loss.min(1.0)) {
            self.counters.lost += 1;
            self.break_link(link);
            return;
        }
        let hops = match &msg {
            Message::Item(item) => item_of(&item.data).and_then(|ix| self.hops(from, ix)),
            _ => None,
        };
        let input = Input::Net(NetInput::Message {
            from,
            link,
            msg,
            hops,
        });
        self.push(self.now + latency, to, input);
    }

    /// Makes `link` `node`'s current link to `peer`, closing the one it
    /// replaces.
    pub(super) fn set_current(&mut self, node: NodeIx, peer: NodeIx, link: LinkId) {
        if let Some(old) = self.links.set_current(node, peer, link) {
            self.close_link_end(node, old);
        }
    }

    /// Closes `node`'s end of `link`; the other end hears of it one latency
    /// later.
    pub(super) fn close_link_end(&mut self, node: NodeIx, link: LinkId) {
        let Some(closed) = self.links.close_end(link, node) else {
            return;
        };
        if closed.other_open {
            let down = Input::Net(NetInput::LinkDown { from: node, link });
            self.push(self.now + closed.latency, closed.other, down);
        }
    }

    /// Closes every link end `node` holds to `peer` (a ban).
    fn close_all_to(&mut self, node: NodeIx, peer: &PeerId) {
        let Some(peer) = node_of(peer) else {
            return;
        };
        let to_peer: Vec<LinkId> = (self.links.open_ends(node).iter())
            .copied()
            .filter(|l| self.links.get(*l).is_some_and(|l| l.other(node) == peer))
            .collect();
        for link in to_peer {
            self.close_link_end(node, link);
        }
    }

    /// Breaks `link`: nothing more goes over it, and each open end hears
    /// it is gone one latency later.
    pub(super) fn break_link(&mut self, link: LinkId) {
        if !self.links.break_link(link) {
            return;
        }
        self.counters.links_broken += 1;
        let Some(l) = self.links.get(link) else {
            return;
        };
        let (ends, open, latency) = (l.ends, l.open, l.latency);
        for side in 0..2 {
            if open[side] {
                let down = NetInput::LinkDown {
                    from: ends[1 - side],
                    link,
                };
                self.push(self.now + latency, ends[side], Input::Net(down));
            }
        }
    }

    /// The client gets the item and calls it valid after the verdict
    /// delay; a dropped client gets nothing.
    fn deliver(&mut self, node: NodeIx, item: ItemId, msg_id: MsgId, data: &Arc<[u8]>) {
        let now = self.instant();
        let n = &mut self.nodes[node];
        let clients = if n.client_gone {
            Vec::new()
        } else {
            if let Some(ix) = item_of(data) {
                let from = self.receiving.map(|(from, _)| from);
                let hops = self.receiving.and_then(|(_, h)| h).map(|h| h + 1);
                n.deliveries.push(Delivery {
                    item: ix,
                    at: self.now,
                    from,
                    hops,
                });
                if from.is_some()
                    && let Some(a) = self.items.get_mut(ix)
                {
                    a.first_copies += 1;
                }
            }
            vec![CLIENT]
        };
        let answer = !clients.is_empty();
        if let Some(core) = n.core.as_mut() {
            core.handle(Event::Notified { item, clients }, now);
        }
        if answer {
            let verdict = Input::Verdict { msg_id };
            self.push(self.now + self.config.verdict_delay, node, verdict);
        }
    }

    /// A latency drawn from the configured range.
    fn draw_latency(&mut self) -> std::time::Duration {
        let range = self.config.latency;
        if range.max <= range.min {
            return range.min;
        }
        let (min, max) = (range.min.as_micros(), range.max.as_micros());
        let us = self.rng.random_range(min..=max);
        std::time::Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }
}

/// The item index an announced item's data carries (see
/// [`Sim::announce`]).
pub(super) fn item_of(data: &[u8]) -> Option<ItemIx> {
    let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
    usize::try_from(u64::from_be_bytes(bytes)).ok()
}
