//! The small-server profile (`config/small-server.toml`, README "Small server"): the example
//! parses, bounds what it promises, and a node runs with it.

use std::path::Path;

use tocsin::config::Config;

use crate::support::*;

/// The example file, as an operator would copy it.
fn small_server() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/small-server.toml");
    Config::load(Some(&path)).expect("config/small-server.toml loads")
}

#[test]
fn the_example_fits_one_core_and_512_mb() {
    let small = small_server();
    let defaults = Config::default();
    assert!(small.store.read_threads <= 2);
    // The store's cache (sled holds about twice it) and the worst case of every subscriber's
    // queue together stay inside half the 512 MB the README promises (the messages' own
    // share, the gateway and the kernel need the rest).
    let queues_mib = small.limits.max_subscribers * small.limits.subscriber_buffer_kib / 1024;
    assert!(
        2 * small.store.cache_mb as usize + queues_mib <= 256,
        "cache {} MiB + subscriber queues {queues_mib} MiB",
        small.store.cache_mb
    );
    // Only the settings it names differ: the rest is the defaults an operator reads about.
    assert_eq!(small.trust, defaults.trust);
    assert_eq!(small.federation, defaults.federation);
    assert_eq!(small.tls, defaults.tls);
    assert_eq!(small.node, defaults.node);
}

#[tokio::test]
async fn a_node_with_the_small_profile_serves() {
    let small = small_server();
    let node = TestNode::start_with(|c| {
        c.store = small.store.clone();
        let keep = c.limits.clone();
        c.limits = small.limits.clone();
        // The test's lifted publishing limits stay lifted.
        c.limits.publish_per_author_per_second = keep.publish_per_author_per_second;
        c.limits.publish_per_author_burst = keep.publish_per_author_burst;
        c.limits.new_authors_per_minute = keep.new_authors_per_minute;
        c.limits.new_authors_burst = keep.new_authors_burst;
    })
    .await;
    assert_eq!(node.config.store.cache_mb, small.store.cache_mb);
    let mut client = node.client().await;
    let m = sign(alert(&org(41), "Harbour pilots locked out"), &org(41));
    client.publish(m.signed()).await.expect("publishing");
    let got = client.get(m.id()).await.expect("asking").expect("held");
    assert_eq!(got.message.as_ref().map(|s| s.id()), Some(m.id()));
}
