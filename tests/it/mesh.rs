//! Ten nodes in a seeded, random-ish mesh whose links fail and come back: every node follows
//! two or three others through a loopback proxy per link; in each round a burst of alerts
//! starts spreading, links are cut in the middle of it so that the mesh splits, alerts
//! published then reach only their own side, every other round a node restarts, and the links
//! come back one by one. Once every link is back, all ten hold the same ids, each stored once,
//! by following and by the reconciliation each follower runs when it reconnects.
//!
//! Every choice (the topology, which links fail, where alerts are published, the order links
//! come back) comes from one fixed seed, so a failure can be run again as it was; the waits
//! are for conditions, each bounded by [`PATIENCE`].

use std::collections::BTreeSet;

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;

use crate::support::*;

/// Nodes in the mesh.
const NODES: usize = 10;

/// The seed of every choice the test makes.
const SEED: u64 = 0x70C5_1A11_2026_0010;

/// Rounds of cutting, publishing and healing.
const ROUNDS: usize = 5;

/// A small seeded generator (SplitMix64): the same mesh and the same failures on every run,
/// without a dependency for it.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A link between two nodes, the smaller index first.
type Link = (usize, usize);

fn link(a: usize, b: usize) -> Link {
    (a.min(b), a.max(b))
}

/// The mesh: a ring through the nodes in a shuffled order (connected, every node linked to
/// two), and chords between nodes that still have two links (some then have three). Returns
/// the links and the ring's order.
fn topology(seeded: &mut Seeded) -> (Vec<Link>, Vec<usize>) {
    let mut ring: Vec<usize> = (0..NODES).collect();
    seeded.shuffle(&mut ring);
    let mut links: BTreeSet<Link> = (0..NODES)
        .map(|i| link(ring[i], ring[(i + 1) % NODES]))
        .collect();
    let mut degree = [2usize; NODES];
    for _ in 0..NODES {
        let (a, b) = (seeded.below(NODES), seeded.below(NODES));
        if a != b && degree[a] < 3 && degree[b] < 3 && links.insert(link(a, b)) {
            degree[a] += 1;
            degree[b] += 1;
        }
    }
    (links.into_iter().collect(), ring)
}

/// Which part of the mesh each node is in when `down` links are cut (the smallest node index
/// of its part).
fn parts(links: &[Link], down: &BTreeSet<Link>) -> [usize; NODES] {
    let mut part: [usize; NODES] = std::array::from_fn(|i| i);
    // Relabel until nothing changes: at most NODES passes over a dozen links.
    loop {
        let mut changed = false;
        for &(a, b) in links.iter().filter(|l| !down.contains(l)) {
            let lowest = part[a].min(part[b]);
            for end in [a, b] {
                if part[end] != lowest {
                    part[end] = lowest;
                    changed = true;
                }
            }
        }
        if !changed {
            return part;
        }
    }
}

/// Cuts or heals both directions of a link.
fn set_link(mesh: &Mesh, (a, b): Link, up: bool) {
    for direction in [(a, b), (b, a)] {
        let proxy = &mesh.links[&direction];
        if up { proxy.heal() } else { proxy.cut() }
    }
}

/// Whether `follower` has a subscription open to `peer` (always through the proxy of their
/// link).
fn follows_now(mesh: &Mesh, follower: usize, peer: usize) -> bool {
    mesh.nodes[follower]
        .server()
        .node()
        .peers()
        .iter()
        .any(|p| p.name == format!("n{peer}") && p.connected)
}

/// Waits until neither end of a cut link follows the other: from then on, nothing crosses it.
async fn wait_link_down(mesh: &Mesh, (a, b): Link) {
    wait_until(&format!("the link n{a}–n{b} to be down"), || {
        let down = !follows_now(mesh, a, b) && !follows_now(mesh, b, a);
        async move { down }
    })
    .await;
}

/// Whether node `at` holds the message `id`.
fn holds(mesh: &Mesh, at: usize, id: &Id) -> bool {
    let store = mesh.nodes[at].server().node().store();
    store.get(id).expect("reading the store").is_some()
}

/// Publishes a new alert by one of five fictional unions on node `at`.
async fn publish(mesh: &Mesh, at: usize, n: usize, headline: &str) -> Id {
    let key = org(100 + (n % 5) as u8);
    let m = sign(alert(&key, &format!("{headline} (bulletin {n})")), &key);
    let got = mesh.nodes[at]
        .client()
        .await
        .publish(m.signed())
        .await
        .expect("publishing");
    assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
    m.id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_whose_links_fail_at_random_converge_once_the_links_are_back() {
    let mut seeded = Seeded(SEED);
    let (links, ring) = topology(&mut seeded);
    let degrees: Vec<usize> = (0..NODES)
        .map(|i| links.iter().filter(|&&(a, b)| a == i || b == i).count())
        .collect();
    assert!(degrees.iter().all(|d| (2..=3).contains(d)), "{degrees:?}");
    assert!(degrees.contains(&3), "no chord in {links:?}");

    let mut mesh = Mesh::start(NODES, &links).await;
    let mut published = BTreeSet::new();
    let mut n = 0;
    for round in 0..ROUNDS {
        // A burst that starts spreading, and the links cut in the middle of it: subscriptions
        // drop with deliveries in flight.
        let origin = seeded.below(NODES);
        for _ in 0..4 {
            published
                .insert(publish(&mesh, origin, n, "Hospital porters of Greywater walk out").await);
            n += 1;
        }
        // The mesh splits around an arc of two to four nodes of the ring; one more link inside
        // a side fails too, and may split it further.
        let start = seeded.below(NODES);
        let arc: BTreeSet<usize> = (0..2 + seeded.below(3))
            .map(|i| ring[(start + i) % NODES])
            .collect();
        let mut down: BTreeSet<Link> = links
            .iter()
            .filter(|(a, b)| arc.contains(a) != arc.contains(b))
            .copied()
            .collect();
        down.insert(links[seeded.below(links.len())]);
        for &l in &down {
            set_link(&mesh, l, false);
        }
        for &l in &down {
            wait_link_down(&mesh, l).await;
        }
        let part = parts(&links, &down);
        assert!(
            part.iter().any(|&p| p != part[0]),
            "round {round}: the mesh did not split"
        );

        // Every other round, a node restarts while the mesh is split: its followers resume
        // from durable cursors.
        if round % 2 == 1 {
            let restarted = seeded.below(NODES);
            mesh.restart(restarted).await;
        }

        // Alerts that reach only their own part while the links are down.
        let mut partial = Vec::new();
        for _ in 0..3 + seeded.below(3) {
            let at = seeded.below(NODES);
            let id = publish(&mesh, at, n, "Tram drivers of Oldhaven locked out").await;
            n += 1;
            published.insert(id);
            partial.push((id, at));
        }
        for &(id, at) in &partial {
            let side: Vec<usize> = (0..NODES).filter(|&j| part[j] == part[at]).collect();
            wait_until(
                &format!("round {round}: an alert to reach its part"),
                || {
                    let all = side.iter().all(|&j| holds(&mesh, j, &id));
                    async move { all }
                },
            )
            .await;
            for j in (0..NODES).filter(|&j| part[j] != part[at]) {
                assert!(
                    !holds(&mesh, j, &id),
                    "round {round}: node {j} got an alert across a cut link"
                );
            }
        }

        // The links come back one at a time, an alert published between each.
        let mut coming_back: Vec<Link> = down.into_iter().collect();
        seeded.shuffle(&mut coming_back);
        for l in coming_back {
            set_link(&mesh, l, true);
            let at = seeded.below(NODES);
            published.insert(publish(&mesh, at, n, "Cleaners of Brightwick win a raise").await);
            n += 1;
        }
    }

    let total = published.len() as u64;
    assert_eq!(total, n as u64, "every alert is new");
    mesh.wait_all_have(total).await;
    for (i, node) in mesh.nodes.iter().enumerate() {
        assert_eq!(held(node).await, published, "node {i}: another set of ids");
        let counts = node.server().node().store().counts().expect("counts");
        assert_eq!(
            (counts.messages, counts.head_seq),
            (total, total),
            "node {i}: each alert stored once"
        );
    }
    // Every link is followed again both ways, and its last reconciliation ran to the end.
    wait_until("every follower to reconnect and reconcile", || {
        let settled = mesh.nodes.iter().all(|node| {
            node.server().node().peers().iter().all(|p| {
                p.connected
                    && p.last_reconcile
                        .as_ref()
                        .is_some_and(|r| r.error.is_empty())
            })
        });
        async move { settled }
    })
    .await;
}
