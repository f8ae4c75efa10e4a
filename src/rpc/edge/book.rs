//! The edge's bookkeeping, with no I/O and no clock: how many connections each address and
//! prefix holds, how many handshakes are under way, and which slots are taken.
//!
//! A connection is booked at accept (against its address, its prefix and the handshakes
//! under way), and takes a slot only when its handshake is done: a public one, or for a peer
//! that authenticated with a client certificate, a reserved one first. A peer's connection
//! then stops counting against its address and prefix, so strangers sharing its network
//! cannot hold it out once it is in.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::node::metrics::ConnRefusal;

/// The caps the book enforces (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Public slots.
    pub(crate) public: usize,
    /// Slots only authenticated peers may use.
    pub(crate) peer: usize,
    /// Connections per address, handshakes included.
    pub(crate) per_address: usize,
    /// Connections per /24 or /48, handshakes included.
    pub(crate) per_prefix: usize,
    /// Handshakes under way at once, from everyone.
    pub(crate) handshakes: usize,
}

/// Where a booked connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Accepted; its handshake is under way; it holds no slot.
    Handshaking,
    /// Open in a slot. `counted`: whether it still counts against its address and prefix
    /// (an authenticated peer's connection does not).
    Open {
        /// Which slots it holds.
        slot: Slot,
        /// Whether it counts against its address and prefix.
        counted: bool,
    },
}

/// The two pools of slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `limits.max_connections`, for everyone.
    Public,
    /// `limits.peer_connections`, for authenticated peers only.
    Peer,
}

/// The network an address belongs to for the per-prefix cap: its /24 (IPv4) or /48 (IPv6).
pub(crate) fn prefix(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

/// The counts, under the edge's lock.
#[derive(Debug)]
pub(crate) struct Book {
    caps: Caps,
    per_address: HashMap<IpAddr, usize>,
    per_prefix: HashMap<IpAddr, usize>,
    /// Handshakes under way.
    pub(crate) handshaking: usize,
    /// Public slots taken.
    pub(crate) public: usize,
    /// Reserved slots taken.
    pub(crate) peer: usize,
}

impl Book {
    /// An empty book.
    pub(crate) fn new(caps: Caps) -> Book {
        Book {
            caps,
            per_address: HashMap::new(),
            per_prefix: HashMap::new(),
            handshaking: 0,
            public: 0,
            peer: 0,
        }
    }

    /// Books a new connection from `ip` for its handshake, or says which cap refuses it.
    pub(crate) fn admit(&mut self, ip: IpAddr) -> Result<(), ConnRefusal> {
        let ip = ip.to_canonical();
        if self.per_address.get(&ip).copied().unwrap_or(0) >= self.caps.per_address {
            return Err(ConnRefusal::PerAddress);
        }
        if self.per_prefix.get(&prefix(ip)).copied().unwrap_or(0) >= self.caps.per_prefix {
            return Err(ConnRefusal::Prefix);
        }
        if self.handshaking >= self.caps.handshakes {
            return Err(ConnRefusal::Capacity);
        }
        *self.per_address.entry(ip).or_default() += 1;
        *self.per_prefix.entry(prefix(ip)).or_default() += 1;
        self.handshaking += 1;
        Ok(())
    }

    /// A handshake from `ip` is done: the connection takes a slot (a peer's reserved one
    /// first), or is refused `capacity` and stays booked as handshaking until it is released.
    pub(crate) fn open(&mut self, ip: IpAddr, peer: bool) -> Result<Stage, ConnRefusal> {
        let slot = if peer && self.peer < self.caps.peer {
            Slot::Peer
        } else if self.public < self.caps.public {
            Slot::Public
        } else {
            return Err(ConnRefusal::Capacity);
        };
        self.handshaking = self.handshaking.saturating_sub(1);
        match slot {
            Slot::Peer => self.peer += 1,
            Slot::Public => self.public += 1,
        }
        if peer {
            self.uncount(ip);
        }
        Ok(Stage::Open {
            slot,
            counted: !peer,
        })
    }

    /// A connection from `ip` at `stage` is gone.
    pub(crate) fn release(&mut self, ip: IpAddr, stage: Stage) {
        match stage {
            Stage::Handshaking => {
                self.handshaking = self.handshaking.saturating_sub(1);
                self.uncount(ip);
            }
            Stage::Open { slot, counted } => {
                match slot {
                    Slot::Peer => self.peer = self.peer.saturating_sub(1),
                    Slot::Public => self.public = self.public.saturating_sub(1),
                }
                if counted {
                    self.uncount(ip);
                }
            }
        }
    }

    /// How many connections `ip` holds against its cap.
    #[cfg(test)]
    pub(crate) fn held_by(&self, ip: IpAddr) -> usize {
        self.per_address
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }

    fn uncount(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        // Entries at zero are removed, so the maps follow the addresses connected now.
        for (map, key) in [
            (&mut self.per_address, ip),
            (&mut self.per_prefix, prefix(ip)),
        ] {
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Caps {
        Caps {
            public: 3,
            peer: 2,
            per_address: 2,
            per_prefix: 3,
            handshakes: 10,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_are_slash_24_and_slash_48_and_mapped_addresses_are_ipv4() {
        assert_eq!(prefix(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(prefix(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(prefix(ip("2001:db8:aa:bb::1")), ip("2001:db8:aa::"));
        assert_ne!(prefix(ip("198.51.100.1")), prefix(ip("198.51.101.1")));
    }

    #[test]
    fn an_address_and_its_prefix_are_capped_and_freed_on_release() {
        let mut b = Book::new(caps());
        assert_eq!(b.admit(ip("192.0.2.1")), Ok(()));
        assert_eq!(b.admit(ip("::ffff:192.0.2.1")), Ok(()));
        assert_eq!(b.admit(ip("192.0.2.1")), Err(ConnRefusal::PerAddress));
        // Another address of the same /24 is in, then the /24 is full.
        assert_eq!(b.admit(ip("192.0.2.2")), Ok(()));
        assert_eq!(b.admit(ip("192.0.2.3")), Err(ConnRefusal::Prefix));
        // Another /24 is not touched.
        assert_eq!(b.admit(ip("192.0.3.1")), Ok(()));
        b.release(ip("192.0.2.1"), Stage::Handshaking);
        assert_eq!(b.held_by(ip("192.0.2.1")), 1);
        assert_eq!(b.admit(ip("192.0.2.3")), Ok(()));
        assert_eq!(b.handshaking, 4);
    }

    #[test]
    fn slots_are_taken_after_the_handshake_and_peers_have_their_own() {
        let mut b = Book::new(Caps {
            per_address: 100,
            per_prefix: 100,
            ..caps()
        });
        let stranger = ip("203.0.113.9");
        for _ in 0..5 {
            b.admit(stranger).unwrap();
        }
        // Five handshakes under way hold no slot; three of them get the public slots.
        for _ in 0..3 {
            assert!(matches!(
                b.open(stranger, false),
                Ok(Stage::Open {
                    slot: Slot::Public,
                    counted: true
                })
            ));
        }
        assert_eq!(b.open(stranger, false), Err(ConnRefusal::Capacity));
        // A peer still gets in, to the reserve, and stops counting against its address.
        let peer = ip("198.51.100.7");
        b.admit(peer).unwrap();
        let stage = b.open(peer, true).unwrap();
        assert_eq!(
            stage,
            Stage::Open {
                slot: Slot::Peer,
                counted: false
            }
        );
        assert_eq!(b.held_by(peer), 0);
        b.release(peer, stage);
        assert_eq!(b.peer, 0);
        // The refused stranger's handshake is released as handshaking.
        b.release(stranger, Stage::Handshaking);
        b.release(stranger, Stage::Handshaking);
        assert_eq!(b.handshaking, 0);
        assert_eq!(b.held_by(stranger), 3);
    }

    #[test]
    fn peers_use_public_slots_when_their_reserve_is_full_and_handshakes_are_capped() {
        let mut b = Book::new(Caps {
            per_address: 100,
            per_prefix: 100,
            handshakes: 4,
            ..caps()
        });
        let peer = ip("198.51.100.7");
        for _ in 0..4 {
            b.admit(peer).unwrap();
        }
        assert_eq!(b.admit(peer), Err(ConnRefusal::Capacity));
        let slots: Vec<_> = (0..4)
            .map(|_| match b.open(peer, true) {
                Ok(Stage::Open { slot, .. }) => slot,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(slots, [Slot::Peer, Slot::Peer, Slot::Public, Slot::Public]);
        assert_eq!((b.peer, b.public, b.handshaking), (2, 2, 0));
    }
}
