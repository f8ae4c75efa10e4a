//! Who may hold the gateway's connections, and what the gateway counts when it refuses or
//! closes one: a cap in all, per client address and per network, so that one address (or one
//! network) can never take every slot and honest readers keep theirs.
//!
//! A client's address is used here only while its connection is open, as a key in memory to
//! count its connections; it is never logged, stored or shown, and its entry is gone when its
//! last connection closes. An IPv6 client is counted by its /64 (a host commonly has a whole
//! one), a network by its /24 (IPv4) or /48 (IPv6); an IPv4-mapped IPv6 address is IPv4.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

/// Why a new connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `http.max_connections` are open.
    Connections,
    /// Its address holds `http.max_connections_per_address`.
    Address,
    /// Its network holds `http.max_connections_per_prefix`.
    Prefix,
}

impl Refusal {
    /// The label in metrics and in the refusal's text.
    pub(super) fn code(self) -> &'static str {
        match self {
            Refusal::Connections => "connections",
            Refusal::Address => "address",
            Refusal::Prefix => "prefix",
        }
    }

    const ALL: [Refusal; 3] = [Refusal::Connections, Refusal::Address, Refusal::Prefix];
}

/// Why an open connection was closed by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// No complete request headers within `http.idle_timeout` (idle keep-alive, slowloris).
    IdleTimeout,
    /// A response not delivered within `http.write_timeout`.
    WriteTimeout,
    /// A client that took less than `http.min_send_rate` over a `http.send_window`.
    SlowReader,
}

impl Closed {
    /// The label in metrics.
    pub(super) fn code(self) -> &'static str {
        match self {
            Closed::IdleTimeout => "idle-timeout",
            Closed::WriteTimeout => "write-timeout",
            Closed::SlowReader => "slow-reader",
        }
    }

    const ALL: [Closed; 3] = [
        Closed::IdleTimeout,
        Closed::WriteTimeout,
        Closed::SlowReader,
    ];
}

/// How often a refusal or closing class is logged at most (with the count since).
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// One class's count since it was last logged.
#[derive(Debug, Default)]
struct Quiet {
    last: Option<Instant>,
    unlogged: u64,
}

impl Quiet {
    /// Notes one event; returns the count to log now, if the interval has passed.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        match self.last {
            Some(t) if now.duration_since(t) < LOG_INTERVAL => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// The gateway's own counters, published on `/metrics`.
#[derive(Debug, Default)]
pub(super) struct Stats {
    refused: [AtomicU64; 3],
    closed: [AtomicU64; 3],
    quiet: Mutex<[Quiet; 6]>,
    /// Pages and feeds rendered (a miss of the render cache).
    pub(super) renders: AtomicU64,
    /// Responses served from the render cache.
    pub(super) cache_hits: AtomicU64,
    /// Feed entries left out because the feed reached `http.max_feed_kib`.
    pub(super) feed_entries_left_out: AtomicU64,
}

impl Stats {
    /// Counts a refused connection, and logs the class once per interval.
    pub(super) fn refused(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.note(i) {
            warn!(
                refused = n,
                cap = why.code(),
                "the web gateway refused connections over a cap (http.max_connections, or per address or network); counted in tocsin_http_refused_total"
            );
        }
    }

    /// Counts a connection closed by a timeout or for reading too slowly, and logs the class
    /// once per interval.
    pub(super) fn closed(&self, why: Closed) {
        let i = Closed::ALL.iter().position(|c| *c == why).unwrap_or(0);
        self.closed[i].fetch_add(1, Ordering::Relaxed);
        // Idle keep-alive connections closing is routine: counted, not logged.
        if why != Closed::IdleTimeout
            && let Some(n) = self.note(3 + i)
        {
            warn!(
                closed = n,
                reason = why.code(),
                "the web gateway closed connections that did not take their responses in time (http.write_timeout, http.min_send_rate); counted in tocsin_http_closed_total"
            );
        }
    }

    fn note(&self, class: usize) -> Option<u64> {
        let mut q = self.quiet.lock().unwrap_or_else(|e| e.into_inner());
        q.get_mut(class).and_then(|q| q.note(Instant::now()))
    }

    /// Refused connections by class.
    pub(super) fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL
            .iter()
            .zip(&self.refused)
            .map(|(r, n)| (r.code(), n.load(Ordering::Relaxed)))
    }

    /// Closed connections by reason.
    pub(super) fn closings(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Closed::ALL
            .iter()
            .zip(&self.closed)
            .map(|(c, n)| (c.code(), n.load(Ordering::Relaxed)))
    }
}

/// The caps, and the connections each address and network holds now.
#[derive(Debug)]
pub(super) struct Admission {
    max_total: usize,
    per_address: usize,
    per_prefix: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    addresses: HashMap<IpAddr, usize>,
    prefixes: HashMap<IpAddr, usize>,
}

/// A connection's place; dropping it gives the place back.
#[derive(Debug)]
pub(super) struct Slot {
    admission: Arc<Admission>,
    address: IpAddr,
    prefix: IpAddr,
}

/// The address and network a client is counted under.
fn keys(ip: IpAddr) -> (IpAddr, IpAddr) {
    fn v6(ip: Ipv6Addr, bits: u32) -> IpAddr {
        let mask = u128::MAX << (128 - bits);
        IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask))
    }
    match ip.to_canonical() {
        IpAddr::V4(a) => (
            IpAddr::V4(a),
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & 0xffff_ff00)),
        ),
        IpAddr::V6(a) => (v6(a, 64), v6(a, 48)),
    }
}

impl Admission {
    pub(super) fn new(max_total: usize, per_address: usize, per_prefix: usize) -> Admission {
        Admission {
            max_total,
            per_address,
            per_prefix,
            open: Mutex::new(Open::default()),
        }
    }

    /// A place for a connection from `ip`, or why there is none.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let (address, prefix) = keys(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.max_total {
            return Err(Refusal::Connections);
        }
        if open.addresses.get(&address).copied().unwrap_or(0) >= self.per_address {
            return Err(Refusal::Address);
        }
        if open.prefixes.get(&prefix).copied().unwrap_or(0) >= self.per_prefix {
            return Err(Refusal::Prefix);
        }
        open.total += 1;
        *open.addresses.entry(address).or_default() += 1;
        *open.prefixes.entry(prefix).or_default() += 1;
        Ok(Slot {
            admission: self.clone(),
            address,
            prefix,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let open = &mut *open;
        open.total = open.total.saturating_sub(1);
        for (map, key) in [
            (&mut open.addresses, self.address),
            (&mut open.prefixes, self.prefix),
        ] {
            // Forget an address as soon as it holds nothing.
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_and_one_network_are_capped_and_others_still_admitted() {
        let a = Arc::new(Admission::new(10, 2, 3));
        let s1 = a.admit(ip("192.0.2.1")).unwrap();
        let _s2 = a.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(a.admit(ip("192.0.2.1")).unwrap_err(), Refusal::Address);
        // The same address written as IPv4-mapped IPv6 is the same client.
        assert_eq!(
            a.admit(ip("::ffff:192.0.2.1")).unwrap_err(),
            Refusal::Address
        );
        let _s3 = a.admit(ip("192.0.2.9")).unwrap();
        assert_eq!(a.admit(ip("192.0.2.77")).unwrap_err(), Refusal::Prefix);
        let _s4 = a.admit(ip("198.51.100.1")).unwrap();
        drop(s1);
        let _s5 = a.admit(ip("192.0.2.77")).unwrap();
        assert_eq!(a.open(), 4);
    }

    #[test]
    fn ipv6_counts_a_host_by_its_64_and_a_network_by_its_48() {
        let a = Arc::new(Admission::new(10, 1, 2));
        let _h = a.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            a.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refusal::Address
        );
        let _h2 = a.admit(ip("2001:db8:1:3::1")).unwrap();
        assert_eq!(a.admit(ip("2001:db8:1:4::1")).unwrap_err(), Refusal::Prefix);
        assert!(a.admit(ip("2001:db8:2::1")).is_ok());
    }

    #[test]
    fn the_total_cap_and_forgetting_addresses() {
        let a = Arc::new(Admission::new(2, 2, 2));
        let s1 = a.admit(ip("192.0.2.1")).unwrap();
        let s2 = a.admit(ip("198.51.100.1")).unwrap();
        assert_eq!(
            a.admit(ip("203.0.113.1")).unwrap_err(),
            Refusal::Connections
        );
        drop((s1, s2));
        let open = a.open.lock().unwrap();
        assert_eq!(open.total, 0);
        assert!(open.addresses.is_empty() && open.prefixes.is_empty());
    }

    #[test]
    fn a_class_is_logged_once_per_interval_with_its_count() {
        let mut q = Quiet::default();
        let t = Instant::now();
        assert_eq!(q.note(t), Some(1));
        assert_eq!(q.note(t + Duration::from_secs(1)), None);
        assert_eq!(q.note(t + Duration::from_secs(2)), None);
        assert_eq!(q.note(t + LOG_INTERVAL + Duration::from_secs(1)), Some(3));
    }
}
