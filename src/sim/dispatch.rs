//! Handling one due input: timers and verdicts go straight to the core;
//! network inputs pass through the node's net queue, which holds them while
//! the core's validation window is full.

use std::net::SocketAddr;
use std::time::Duration;

use super::actions::item_of;
use super::engine::{CLIENT, Sim};
use super::ids::{NodeIx, addr_of, node_at, peer_of};
use super::input::{Input, NetInput, Scheduled};
use super::links::LinkId;
use crate::proto::{Event, Message};

impl Sim {
    /// Handles one input that came due now.
    pub(super) fn dispatch(&mut self, Scheduled { node, input }: Scheduled) {
        if matches!(input, Input::Verdict { .. }) {
            self.verdicts_pending -= 1;
        }
        if !self.is_alive(node) {
            if input.carries_item() {
                self.items_in_flight -= 1;
            }
            return;
        }
        match input {
            Input::Timer => self.on_timer(node),
            Input::Verdict { msg_id } => {
                let verdict = Event::Validation {
                    client: CLIENT,
                    msg_id,
                    valid: true,
                };
                self.handle(node, verdict);
            }
            Input::DialArrives {
                addr,
                high_priority,
                latency,
            } => self.on_dial_arrives(node, addr, high_priority, latency),
            Input::Net(net) => self.net_input(node, net),
        }
        self.drain_held(node);
    }

    fn on_timer(&mut self, node: NodeIx) {
        if self.nodes[node].timer != Some(self.now) {
            return;
        }
        self.nodes[node].timer = None;
        let now = self.instant();
        if let Some(core) = self.nodes[node].core.as_mut() {
            core.handle_timeout(now);
        }
        self.after_event(node);
    }

    /// Hands a network input to the node's core, or holds it behind the
    /// ones already held while the validation window is full.
    fn net_input(&mut self, node: NodeIx, input: NetInput) {
        let n = &self.nodes[node];
        let window_open = n.core.as_ref().is_some_and(|c| c.wants_items());
        if window_open && n.held.is_empty() {
            self.on_net(node, input);
        } else {
            self.nodes[node].held.push_back(input);
        }
    }

    /// Hands held inputs to the core while its window has room.
    pub(super) fn drain_held(&mut self, node: NodeIx) {
        loop {
            let n = &mut self.nodes[node];
            if !n.core.as_ref().is_some_and(|c| c.wants_items()) {
                return;
            }
            let Some(input) = n.held.pop_front() else {
                return;
            };
            self.on_net(node, input);
        }
    }

    fn on_net(&mut self, node: NodeIx, input: NetInput) {
        match input {
            NetInput::Accepted {
                dialer,
                high_priority,
                link,
            } => self.on_accepted(node, dialer, high_priority, link),
            NetInput::DialDone { addr, target, link } => {
                self.on_dial_done(node, addr, target, link)
            }
            NetInput::DialFailed { addr } => {
                self.counters.dials_failed += 1;
                self.handle(node, Event::DialFailed { addr });
            }
            NetInput::Message {
                from,
                link,
                msg,
                hops,
            } => self.on_message(node, from, link, msg, hops),
            NetInput::LinkDown { from, link } => self.on_link_down(node, from, link),
        }
    }

    /// A dial by `dialer` reaches `addr`: a live, reachable node takes it
    /// (a new link, or the link the two already share whole); a dead one
    /// resets it (DialFailed after the way back); an unreachable or unknown
    /// address never answers (DialFailed at the dial timeout).
    fn on_dial_arrives(
        &mut self,
        dialer: NodeIx,
        addr: SocketAddr,
        high_priority: bool,
        latency: Duration,
    ) {
        let target = node_at(&addr).filter(|t| *t < self.nodes.len());
        let Some(target) = target.filter(|t| self.reachable(dialer, *t)) else {
            let started = self.now - latency;
            let at = self.now.max(started + self.config.dial_timeout);
            self.push(at, dialer, Input::Net(NetInput::DialFailed { addr }));
            return;
        };
        if target == dialer || !self.is_alive(target) {
            let failed = Input::Net(NetInput::DialFailed { addr });
            self.push(self.now + latency, dialer, failed);
            return;
        }
        let (link, back) = match self.links.shared(dialer, target) {
            Some(link) => (link, self.links.get(link).map_or(latency, |l| l.latency)),
            None => {
                self.counters.links_opened += 1;
                (self.links.open(dialer, target, latency), latency)
            }
        };
        let done = Input::Net(NetInput::DialDone { addr, target, link });
        self.push(self.now + back, dialer, done);
        let accepted = NetInput::Accepted {
            dialer,
            high_priority,
            link,
        };
        self.net_input(target, accepted);
        self.drain_held(target);
    }

    fn on_accepted(&mut self, node: NodeIx, dialer: NodeIx, high_priority: bool, link: LinkId) {
        if !self.links.is_open_at(link, node) {
            return;
        }
        self.set_current(node, dialer, link);
        let up = Event::PeerUp {
            peer: peer_of(dialer),
            addr: addr_of(dialer),
            dialed: None,
            high_priority,
        };
        self.handle(node, up);
    }

    /// The dialer hears its dial was taken; if the link broke meanwhile the
    /// dial failed after all (the core is owed exactly one answer).
    fn on_dial_done(&mut self, node: NodeIx, addr: SocketAddr, target: NodeIx, link: LinkId) {
        if !self.links.is_open_at(link, node) {
            self.counters.dials_failed += 1;
            self.handle(node, Event::DialFailed { addr });
            return;
        }
        self.set_current(node, target, link);
        let up = Event::PeerUp {
            peer: peer_of(target),
            addr: addr_of(target),
            dialed: Some(addr),
            high_priority: false,
        };
        self.handle(node, up);
    }

    /// A message arrives: handed to the core if this end of its link is
    /// still open and the sender reachable, dropped otherwise. An item
    /// announced through [`Sim::announce`] is counted as a copy of it, and
    /// while the core handles it the engine knows who sent it and from how
    /// many hops (`hops`: the sender's own count), which the delivery it
    /// may cause records.
    fn on_message(
        &mut self,
        node: NodeIx,
        from: NodeIx,
        link: LinkId,
        msg: Message,
        hops: Option<u32>,
    ) {
        let item = match &msg {
            Message::Item(item) => {
                self.items_in_flight -= 1;
                Some(item_of(&item.data))
            }
            _ => None,
        };
        if !self.links.is_open_at(link, node) || !self.reachable(node, from) {
            self.counters.dropped += 1;
            return;
        }
        self.counters.delivered += 1;
        if let Some(Some(a)) = item.map(|ix| ix.and_then(|ix| self.items.get_mut(ix))) {
            a.copies += 1;
        }
        self.receiving = item.map(|_| (from, hops));
        self.handle(
            node,
            Event::Received {
                from: peer_of(from),
                msg,
            },
        );
        self.receiving = None;
    }

    /// The other end closed, or the link broke: this end closes too, and the
    /// core hears the peer is down if this was its current link.
    fn on_link_down(&mut self, node: NodeIx, from: NodeIx, link: LinkId) {
        let Some(closed) = self.links.close_end(link, node) else {
            return;
        };
        if closed.was_current {
            self.handle(
                node,
                Event::PeerDown {
                    peer: peer_of(from),
                },
            );
        }
    }
}
