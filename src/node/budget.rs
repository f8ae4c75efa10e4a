//! Publishing budgets against floods: token buckets per client address and per network
//! prefix, and one global bucket for messages by authors the node has never seen.
//!
//! A bucket keyed by the socket address gives every new connection a new burst; these are
//! keyed by what an attacker cannot multiply as cheaply: the IP address (an IPv6 /64, which one
//! host gets whole) and its prefix (an IPv4 /24, an IPv6 /48). Fresh keys cost nothing to make,
//! so a per-author bucket does nothing against them: messages by authors with nothing held
//! here share one global budget, while known authors, roster members and peers are not
//! counted against it. Addresses are only keys here: never logged, never kept beyond the
//! bucket's refill.

use std::net::IpAddr;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LimitsSection;

/// Which budget refused a message: the class of a `rate-limited` refusal, counted apart in
/// `/metrics` (`tocsin_publish_limited_total{limit=…}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// One connection's bucket (`limits.publish_per_connection_*`).
    Connection,
    /// One client address's bucket (`limits.publish_per_address_*`).
    Address,
    /// One network prefix's bucket (`limits.publish_per_prefix_*`).
    Prefix,
    /// One author's bucket (`limits.publish_per_author_*`).
    Author,
    /// The global budget for never-seen authors (`limits.new_authors_*`).
    NewAuthor,
}

impl Limit {
    /// Every class, in the order of the counters.
    pub const ALL: [Limit; 5] = [
        Limit::Connection,
        Limit::Address,
        Limit::Prefix,
        Limit::Author,
        Limit::NewAuthor,
    ];

    /// The label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Connection => "connection",
            Limit::Address => "address",
            Limit::Prefix => "prefix",
            Limit::Author => "author",
            Limit::NewAuthor => "new-author",
        }
    }

    /// Its place in [`Limit::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The detail a refused client reads: what to do about it.
    pub fn detail(self) -> &'static str {
        match self {
            Limit::Connection => {
                "this connection is publishing faster than the node allows; slow down"
            }
            Limit::Address => {
                "this address is publishing faster than the node allows (all its connections together); slow down"
            }
            Limit::Prefix => {
                "this network is publishing faster than the node allows (all its addresses together); slow down"
            }
            Limit::Author => "this author is publishing faster than the node allows; slow down",
            Limit::NewAuthor => {
                "new keys are being limited on this node: too many messages by authors it has never seen; try again in a minute, or ask the operator to add the key to the allow list"
            }
        }
    }
}

/// The two keys of a client address: the address itself (an IPv6 address is cut to its /64,
/// since one host gets a whole /64) and its prefix (an IPv4 /24, an IPv6 /48). An IPv4 address
/// mapped into IPv6 is keyed as IPv4.
pub fn address_keys(ip: IpAddr) -> (IpAddr, IpAddr) {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            (ip, IpAddr::V4((bits & 0xffff_ff00).into()))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (
                IpAddr::V6((bits & !((1u128 << 64) - 1)).into()),
                IpAddr::V6((bits & !((1u128 << 80) - 1)).into()),
            )
        }
    }
}

/// One network may take a quarter of the budget for new keys (one address sending fresh keys
/// in a loop kept every new organisation from posting: 1 of 24 got through).
const NETWORK_SHARE: u32 = 4;

/// How many of something each key holds open now (subscriptions, publish streams or
/// reconciliation sessions, per connection, address or network): taken and given back, a key
/// forgotten once it holds none, so the map follows what is open.
#[derive(Debug)]
pub struct Occupancy<K>(std::collections::HashMap<K, usize>);

impl<K> Default for Occupancy<K> {
    fn default() -> Self {
        Occupancy(std::collections::HashMap::new())
    }
}

impl<K: std::hash::Hash + Eq> Occupancy<K> {
    /// How many `key` holds.
    pub fn held(&self, key: &K) -> usize {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// One more for `key`.
    pub fn take(&mut self, key: K) {
        *self.0.entry(key).or_default() += 1;
    }

    /// One fewer for `key`.
    pub fn give_back(&mut self, key: &K) {
        if let Some(n) = self.0.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.0.remove(key);
            }
        }
    }
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst))
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN)
}

/// The node's publishing budgets for its own clients.
#[derive(Debug)]
pub(super) struct Budget {
    /// Per client address (IPv4, IPv6 /64).
    address: DefaultKeyedRateLimiter<IpAddr>,
    /// Per network prefix (IPv4 /24, IPv6 /48).
    prefix: DefaultKeyedRateLimiter<IpAddr>,
    /// Messages by never-seen authors, from every client together.
    new_authors: DefaultDirectRateLimiter,
    /// The share of it one network (IPv4 /24, IPv6 /48) may take: a quarter.
    new_authors_network: DefaultKeyedRateLimiter<IpAddr>,
}

impl Budget {
    pub(super) fn new(l: &LimitsSection) -> Budget {
        let per_minute = nonzero(l.new_authors_per_minute);
        Budget {
            address: RateLimiter::keyed(quota(
                l.publish_per_address_per_second,
                l.publish_per_address_burst,
            )),
            prefix: RateLimiter::keyed(quota(
                l.publish_per_prefix_per_second,
                l.publish_per_prefix_burst,
            )),
            new_authors: RateLimiter::direct(
                Quota::per_minute(per_minute).allow_burst(nonzero(l.new_authors_burst)),
            ),
            new_authors_network: RateLimiter::keyed(
                Quota::per_minute(nonzero(l.new_authors_per_minute / NETWORK_SHARE))
                    .allow_burst(nonzero(l.new_authors_burst / NETWORK_SHARE)),
            ),
        }
    }

    /// Takes one message from the address's and its prefix's buckets; the class that refused
    /// it otherwise. The address is checked first, so one busy address does not spend its
    /// neighbours' prefix budget once it is over its own.
    pub(super) fn spend_address(&self, ip: IpAddr) -> Result<(), Limit> {
        let (address, prefix) = address_keys(ip);
        if self.address.check_key(&address).is_err() {
            return Err(Limit::Address);
        }
        if self.prefix.check_key(&prefix).is_err() {
            return Err(Limit::Prefix);
        }
        Ok(())
    }

    /// Takes one message from the budget for never-seen authors, and from the share of it
    /// the client's network may take (`None`: no address known, no share).
    pub(super) fn spend_new_author(&self, client: Option<IpAddr>) -> Result<(), Limit> {
        if let Some(ip) = client
            && self
                .new_authors_network
                .check_key(&address_keys(ip).1)
                .is_err()
        {
            return Err(Limit::NewAuthor);
        }
        self.new_authors.check().map_err(|_| Limit::NewAuthor)
    }

    /// Forgets buckets that are full again, so memory follows the active addresses.
    pub(super) fn forget_idle(&self) {
        self.new_authors_network.retain_recent();
        self.new_authors_network.shrink_to_fit();
        self.address.retain_recent();
        self.address.shrink_to_fit();
        self.prefix.retain_recent();
        self.prefix.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(address: u32, prefix: u32, new: u32) -> LimitsSection {
        LimitsSection {
            publish_per_address_per_second: 1,
            publish_per_address_burst: address,
            publish_per_prefix_per_second: 1,
            publish_per_prefix_burst: prefix,
            new_authors_per_minute: 1,
            new_authors_burst: new,
            ..LimitsSection::default()
        }
    }

    #[test]
    fn keys_are_the_address_and_its_prefix() {
        let k = |s: &str| address_keys(s.parse().unwrap());
        assert_eq!(
            k("192.0.2.77"),
            ("192.0.2.77".parse().unwrap(), "192.0.2.0".parse().unwrap())
        );
        // An IPv6 host is its /64; its network its /48.
        assert_eq!(
            k("2001:db8:1:2:3:4:5:6"),
            (
                "2001:db8:1:2::".parse().unwrap(),
                "2001:db8:1::".parse().unwrap()
            )
        );
        assert_eq!(k("::ffff:192.0.2.9"), k("192.0.2.9"));
    }

    #[test]
    fn the_address_budget_is_shared_by_every_connection_of_an_address() {
        let b = Budget::new(&limits(3, 100, 1));
        // Any port (any connection) of one address draws on the same bucket.
        for _ in 0..3 {
            assert_eq!(b.spend_address("198.51.100.4".parse().unwrap()), Ok(()));
        }
        assert_eq!(
            b.spend_address("198.51.100.4".parse().unwrap()),
            Err(Limit::Address)
        );
        // Another address has its own.
        assert_eq!(b.spend_address("198.51.100.5".parse().unwrap()), Ok(()));
        // IPv6 addresses in one /64 are one host.
        for i in 0..3 {
            assert_eq!(
                b.spend_address(format!("2001:db8::{i}").parse().unwrap()),
                Ok(())
            );
        }
        assert_eq!(
            b.spend_address("2001:db8::ffff".parse().unwrap()),
            Err(Limit::Address)
        );
    }

    #[test]
    fn the_prefix_budget_bounds_many_addresses_of_one_network() {
        let b = Budget::new(&limits(100, 5, 1));
        let spent: Vec<_> = (1..=8)
            .map(|i| b.spend_address(format!("203.0.113.{i}").parse().unwrap()))
            .collect();
        assert_eq!(spent.iter().filter(|r| r.is_ok()).count(), 5);
        assert_eq!(spent[7], Err(Limit::Prefix));
        assert_eq!(b.spend_address("203.0.114.1".parse().unwrap()), Ok(()));
    }

    #[test]
    fn the_new_author_budget_is_global() {
        let b = Budget::new(&limits(100, 100, 2));
        assert_eq!(b.spend_new_author(None), Ok(()));
        assert_eq!(b.spend_new_author(None), Ok(()));
        assert_eq!(b.spend_new_author(None), Err(Limit::NewAuthor));
    }

    /// One address sending fresh keys in a loop took every token: 1 of 24 new organisations
    /// got through. A network takes a quarter; the rest is left for the others.
    #[test]
    fn one_network_takes_a_quarter_of_the_new_author_budget() {
        let b = Budget::new(&limits(100, 100, 40));
        let ip = |s: &str| Some(s.parse().unwrap());
        let from_one: Vec<_> = (0..40)
            .map(|i| b.spend_new_author(ip(&format!("203.0.113.{}", i % 8))))
            .collect();
        assert_eq!(from_one.iter().filter(|r| r.is_ok()).count(), 10);
        // Other networks still have the rest.
        for i in 0..10 {
            assert_eq!(
                b.spend_new_author(ip(&format!("198.51.{i}.7"))),
                Ok(()),
                "network {i}"
            );
        }
    }
}
