//! The web gateway under hostile readers, on loopback: slow feed readers, idle keep-alive
//! connections, slowloris headers and many connections from one address or network. The
//! attackers connect from 127.0.0.2 (or from 127.0.1.x, another /24); honest readers from
//! 127.0.0.1, and at least 99 % of their requests must succeed meanwhile. Limits are short and
//! counts small so that each test takes a few seconds.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tocsin::config::Config;
use tocsin::message::*;
use tocsin::rpc::PublishOutcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

/// A connection to `addr` from the loopback address `from`, with a small receive buffer so
/// that a reader that stops reading makes the node's writes wait.
async fn connect_from(from: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let ip: IpAddr = from.parse().expect("an address");
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// One honest `GET path` on a fresh connection from 127.0.0.1: the status and body, or `None`
/// if the request failed (refused, cut off, or no answer within ten seconds).
async fn honest_get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let status = std::str::from_utf8(raw.get(9..12)?).ok()?.parse().ok()?;
        Some((status, raw[end + 4..].to_vec()))
    })
    .await
    .ok()
    .flatten()
}

/// `n` honest `GET /` in a row; how many were answered 200.
async fn honest_reads(addr: SocketAddr, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if matches!(honest_get(addr, "/").await, Some((200, _))) {
            ok += 1;
        }
    }
    ok
}

/// The value of one series on `/metrics` (its full name with labels).
async fn metric(addr: SocketAddr, series: &str) -> u64 {
    let (status, body) = honest_get(addr, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("UTF-8");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

fn gateway(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

/// Alerts whose descriptions are `description`, published in one go.
async fn publish_alerts(node: &TestNode, n: usize, description: &str) -> Vec<Message> {
    let mut client = node.client().await;
    let mut out = Vec::new();
    for i in 0..n {
        let key = org(100 + (i % 50) as u8);
        let mut b = alert(&key, &format!("Arrests at the Eastport docks, report {i}"));
        if let Content::Alert(a) = &mut b.content {
            a.info[0].description = description.to_string();
        }
        let m = sign(b, &key);
        match client.publish(m.signed()).await.expect("publishing") {
            PublishOutcome::Accepted { .. } => {}
            other => panic!("expected acceptance, got {other:?}"),
        }
        out.push(m);
    }
    out
}

/// Short limits: a lagging reader must take 4 KiB a second over windows of 300 ms.
fn short_limits(c: &mut Config) {
    c.http.max_connections = 64;
    c.http.max_connections_per_address = 8;
    c.http.max_connections_per_prefix = 64;
    c.http.idle_timeout = Duration::from_millis(400);
    c.http.send_window = Duration::from_millis(300);
    c.http.min_send_rate = 4096;
    c.http.write_timeout = Duration::from_secs(5);
}

#[tokio::test]
async fn slow_feed_readers_from_one_address_leave_honest_readers_served() {
    let node = TestNode::start_with(|c| {
        short_limits(c);
        c.http.max_feed_kib = 8192;
    })
    .await;
    let addr = gateway(&node);
    // A feed of over 6 MB (texts that escape to five times their size): more than loopback's
    // socket buffers hold (MB-sized, where a real network's are tens of KB), so a reader that
    // stops reading makes the node's writes wait.
    publish_alerts(&node, 80, &"&".repeat(16_000)).await;
    assert_eq!(honest_get(addr, "/feed.atom").await.map(|r| r.0), Some(200));

    // Twenty slow readers from one address: each asks for the feed, reads a few bytes, stalls.
    let mut attackers = Vec::new();
    for _ in 0..20 {
        let Ok(mut s) = connect_from("127.0.0.2", addr).await else {
            continue;
        };
        let _ = s
            .write_all(b"GET /feed.atom HTTP/1.1\r\nHost: tocsin\r\n\r\n")
            .await;
        let mut first = [0u8; 16];
        let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut first)).await;
        attackers.push(s);
    }
    let honest = honest_reads(addr, 100).await;
    assert!(honest >= 99, "only {honest} of 100 honest reads succeeded");
    // The address got its eight slots and no more; the stalled readers are cut off.
    assert!(metric(addr, "tocsin_http_refused_total{cap=\"address\"}").await >= 1);
    wait_until("the stalled feed readers to be cut off", || async {
        metric(addr, "tocsin_http_closed_total{reason=\"slow-reader\"}").await >= 8
    })
    .await;
    // The 20 requests for one feed state were rendered once between them at most.
    assert!(metric(addr, "tocsin_http_render_cache_hits_total").await >= 8);
    drop(attackers);
}

#[tokio::test]
async fn idle_keep_alive_connections_and_slowloris_headers_are_closed() {
    let node = TestNode::start_with(short_limits).await;
    let addr = gateway(&node);
    publish_alerts(&node, 3, "Police detained four leaders at dawn.").await;

    let (mut kept_alive, mut slowloris) = (Vec::new(), Vec::new());
    for i in 0..16 {
        let Ok(mut s) = connect_from("127.0.0.2", addr).await else {
            continue;
        };
        if i % 2 == 0 {
            // Keep-alive: one request, then silence.
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: tocsin\r\n\r\n")
                .await;
            kept_alive.push(s);
        } else {
            // Slowloris: the start of a request, never finished.
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: toc").await;
            slowloris.push(s);
        }
    }
    let trickle = tokio::spawn(async move {
        // A header line every 100 ms, for two seconds.
        for _ in 0..20 {
            for s in slowloris.iter_mut() {
                let _ = s.write_all(b"X-A: b\r\n").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        slowloris
    });
    let honest = honest_reads(addr, 100).await;
    assert!(honest >= 99, "only {honest} of 100 honest reads succeeded");
    assert!(metric(addr, "tocsin_http_refused_total{cap=\"address\"}").await >= 1);
    wait_until("idle and slowloris connections to be closed", || async {
        metric(addr, "tocsin_http_closed_total{reason=\"idle-timeout\"}").await >= 8
    })
    .await;
    // Every attacker connection is closed by the node (`within` fails the test otherwise).
    kept_alive.extend(within("the slowloris task", trickle).await.unwrap());
    for s in kept_alive.iter_mut() {
        let mut rest = Vec::new();
        let _ = within("the node to close the connection", s.read_to_end(&mut rest)).await;
    }
    // Once they are gone, the address is served again.
    let mut s = connect_from("127.0.0.2", addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    within("a read after the attack", s.read_to_end(&mut raw))
        .await
        .unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn one_network_is_capped_as_a_whole_and_refusals_say_why() {
    let node = TestNode::start_with(|c| {
        short_limits(c);
        c.http.max_connections_per_address = 4;
        c.http.max_connections_per_prefix = 12;
        c.http.idle_timeout = Duration::from_secs(20);
    })
    .await;
    let addr = gateway(&node);
    // Eight addresses of one /24 (127.0.1.0/24), four connections each, all idle.
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for host in 2..10 {
        for _ in 0..4 {
            let from = format!("127.0.1.{host}");
            if let Ok(s) = connect_from(&from, addr).await {
                held.push(s);
            }
        }
    }
    wait_until(
        "the network's connections beyond its cap to be refused",
        || async { metric(addr, "tocsin_http_refused_total{cap=\"prefix\"}").await >= 20 },
    )
    .await;
    // A refused connection is told why before it is closed.
    for s in held.iter_mut() {
        let mut raw = Vec::new();
        if tokio::time::timeout(Duration::from_millis(200), s.read_to_end(&mut raw))
            .await
            .is_ok()
            && !raw.is_empty()
        {
            refused.push(String::from_utf8_lossy(&raw).to_string());
        }
    }
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|r| r.starts_with("HTTP/1.1 503") && r.contains("from your network")),
        "{refused:?}"
    );
    // Another network (127.0.0.1) is not touched by the first one's cap.
    let honest = honest_reads(addr, 100).await;
    assert!(honest >= 99, "only {honest} of 100 honest reads succeeded");
}

#[tokio::test]
async fn a_quote_heavy_feed_stays_under_its_byte_cap_and_readers_share_one_rendering() {
    let node = TestNode::start_with(|c| c.http.max_feed_kib = 256).await;
    let addr = gateway(&node);
    // Texts full of quotes and ampersands, near the description limit.
    let description = "\"&".repeat(8_000);
    let msgs = publish_alerts(&node, 40, &description).await;
    let renders_before = metric(addr, "tocsin_http_renders_total").await;
    let mut readers = Vec::new();
    for _ in 0..20 {
        readers.push(tokio::spawn(
            async move { honest_get(addr, "/feed.atom").await },
        ));
    }
    let mut bodies = Vec::new();
    for r in readers {
        let (status, body) = r.await.unwrap().expect("the feed is served");
        assert_eq!(status, 200);
        bodies.push(body);
    }
    let feed = String::from_utf8(bodies[0].clone()).unwrap();
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert!(feed.len() <= 256 * 1024, "the feed is {} bytes", feed.len());
    assert!(feed.ends_with("</feed>\n"));
    // The newest are in, the oldest left out, and counted.
    let newest = msgs.last().unwrap().id();
    assert!(feed.contains(&format!("urn:tocsin:message:{newest}")));
    assert!(!feed.contains(&format!("urn:tocsin:message:{}", msgs[0].id())));
    assert!(metric(addr, "tocsin_http_feed_entries_left_out_total").await >= 1);
    // Each entry carries the text once, quotes unescaped.
    let entries = feed.matches("<entry>").count();
    assert!(entries >= 4, "{entries} entries");
    assert_eq!(feed.matches(&"\"&amp;".repeat(8_000)).count(), entries);
    assert!(!feed.contains("<summary") && !feed.contains("&quot;"));
    // Twenty readers of one state: one rendering between them.
    assert_eq!(
        metric(addr, "tocsin_http_renders_total").await - renders_before,
        1
    );
}

/// Long texts made `/` as large as every item's text together (4.6 MB for 250 alerts of
/// 16 KiB); and a made-up `Accept-Language` or `lang` on each request made a rendering of its
/// own (1.4 GB held by 512 slow readers with headers of their own).
#[tokio::test]
async fn a_page_of_long_texts_stays_under_its_cap_and_made_up_languages_share_one_rendering() {
    let node = TestNode::start_with(|c| c.http.max_feed_kib = 256).await;
    let addr = gateway(&node);
    // What to do, full of quotes and ampersands (escaped, 4,000 bytes are 22,000 on the page).
    let mut client = node.client().await;
    for i in 0..40usize {
        let key = org(100 + (i % 50) as u8);
        let mut b = alert(&key, &format!("Arrests at the Eastport docks, report {i}"));
        if let Content::Alert(a) = &mut b.content {
            a.info[0].instruction = "\"&".repeat(2000);
        }
        client.publish(sign(b, &key).signed()).await.unwrap();
    }
    let renders_before = metric(addr, "tocsin_http_renders_total").await;
    let page = crate::http::get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.len() <= 300 * 1024,
        "the page is {} bytes",
        page.body.len()
    );
    // The newest are in, the oldest left out, and counted.
    assert!(
        page.body
            .contains("Arrests at the Eastport docks, report 39")
    );
    assert!(
        !page
            .body
            .contains("Arrests at the Eastport docks, report 0<")
    );
    assert!(metric(addr, "tocsin_http_feed_entries_left_out_total").await >= 1);

    for i in 0..20 {
        let made_up = format!("zz-x{i:06}");
        let r = if i % 2 == 0 {
            crate::http::get_with(addr, "/", &[("accept-language", &made_up)]).await
        } else {
            crate::http::get(addr, &format!("/?lang={made_up}")).await
        };
        assert_eq!(r.status, 200);
    }
    // Two renderings for the 21 (it was 21): no language asked for (a made-up `lang` is
    // dropped), and one asked for that is not here (the page then says so beside each item);
    // three if the page's minute turned meanwhile.
    let renders = metric(addr, "tocsin_http_renders_total").await - renders_before;
    assert!(renders <= 3, "{renders} renderings");
    // Real languages in every order: a view per language picked (the page's own here, every
    // text being English), not per order (every order of the eight shipped ones was one).
    let before = metric(addr, "tocsin_http_renders_total").await;
    let langs = ["fr", "es", "ru", "ar"];
    let mut orders = 0;
    for a in 0..4usize {
        for b in 0..4usize {
            for c in 0..4usize {
                if a == b || a == c || b == c {
                    continue;
                }
                let d = 6 - a - b - c;
                let header = [langs[a], langs[b], langs[c], langs[d]].join(",");
                let r = crate::http::get_with(addr, "/", &[("accept-language", &header)]).await;
                assert_eq!(r.status, 200);
                orders += 1;
            }
        }
    }
    assert_eq!(orders, 24);
    let renders = metric(addr, "tocsin_http_renders_total").await - before;
    assert!(
        renders <= 5,
        "{renders} renderings for 24 orders of 4 languages"
    );
    // A language the page or the texts are in is still a view of its own.
    let fr = crate::http::get_with(addr, "/", &[("accept-language", "fr-CA")]).await;
    assert_eq!(fr.status, 200);
    assert!(
        fr.body.contains("<html lang=\"fr\""),
        "the page is in French"
    );
}
