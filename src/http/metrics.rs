//! `/metrics`: the node's counters in the Prometheus text exposition format (0.0.4), written
//! by hand. Every refusal reason has a series, zeros included, so a dashboard can tell "never
//! happened" from "not reported". Nothing here names a client.

use std::fmt::Write as _;

use crate::node::Node;
use crate::node::metrics::LATENCY_BUCKETS_US;
use crate::store::StoreError;

/// A label value escaped as the format asks (backslash, double quote, line feed).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Seconds from microseconds, as Prometheus wants them.
fn secs(us: u64) -> String {
    let s = format!("{:.6}", us as f64 / 1e6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The exposition text (reads the store's counters: call on a blocking thread).
pub(super) fn render(node: &Node) -> Result<String, StoreError> {
    let m = node.metrics().snapshot();
    let counts = node.store().counts()?;
    let mut out = String::new();

    family(
        &mut out,
        "tocsin_messages_accepted_total",
        "counter",
        "Messages accepted and stored durably.",
    );
    let _ = writeln!(out, "tocsin_messages_accepted_total {}", m.accepted);
    family(
        &mut out,
        "tocsin_messages_duplicate_total",
        "counter",
        "Messages received that were already stored.",
    );
    let _ = writeln!(out, "tocsin_messages_duplicate_total {}", m.duplicate);
    family(
        &mut out,
        "tocsin_messages_refused_total",
        "counter",
        "Messages refused, by reason code.",
    );
    for (reason, n) in &m.refused {
        let _ = writeln!(
            out,
            "tocsin_messages_refused_total{{reason=\"{}\"}} {n}",
            label(reason.code())
        );
    }
    family(
        &mut out,
        "tocsin_subscribers",
        "gauge",
        "Subscriptions open now, readers and peers together.",
    );
    let _ = writeln!(out, "tocsin_subscribers {}", m.subscribers);

    let peers = node.peers();
    family(
        &mut out,
        "tocsin_peer_connected",
        "gauge",
        "Whether this node's follower of a peer is connected (1) or not (0).",
    );
    for p in &peers {
        let _ = writeln!(
            out,
            "tocsin_peer_connected{{peer=\"{}\"}} {}",
            label(&p.name),
            u8::from(p.connected)
        );
    }
    family(
        &mut out,
        "tocsin_peer_lag",
        "gauge",
        "Entries of a peer's log not yet held here (its head as last seen minus our cursor).",
    );
    for p in &peers {
        let _ = writeln!(
            out,
            "tocsin_peer_lag{{peer=\"{}\"}} {}",
            label(&p.name),
            p.head.saturating_sub(p.cursor)
        );
    }
    family(
        &mut out,
        "tocsin_peer_received_total",
        "counter",
        "Messages delivered by a peer since this node started.",
    );
    for p in &peers {
        let _ = writeln!(
            out,
            "tocsin_peer_received_total{{peer=\"{}\"}} {}",
            label(&p.name),
            p.received
        );
    }

    retry(&mut out, node)?;

    family(
        &mut out,
        "tocsin_store_messages",
        "gauge",
        "Messages held with their content.",
    );
    let _ = writeln!(out, "tocsin_store_messages {}", counts.messages);
    family(
        &mut out,
        "tocsin_store_tombstones",
        "gauge",
        "Ids remembered without content (cancelled, withheld, expired), so replays are refused.",
    );
    let _ = writeln!(out, "tocsin_store_tombstones {}", counts.tombstones);
    family(
        &mut out,
        "tocsin_store_disk_bytes",
        "gauge",
        "Size of the store's files on disk.",
    );
    let _ = writeln!(out, "tocsin_store_disk_bytes {}", counts.disk_bytes);
    family(
        &mut out,
        "tocsin_store_head_seq",
        "gauge",
        "The durable head of the node's log.",
    );
    let _ = writeln!(out, "tocsin_store_head_seq {}", counts.head_seq);
    family(
        &mut out,
        "tocsin_store_flushes_total",
        "counter",
        "Durable flushes of the store (group commit shares one among many messages).",
    );
    let _ = writeln!(out, "tocsin_store_flushes_total {}", node.store().flushes());

    family(
        &mut out,
        "tocsin_ingest_latency_seconds",
        "histogram",
        "Time from receiving a message to its durable acceptance.",
    );
    for (i, n) in m.latency_cumulative.iter().enumerate() {
        let le = LATENCY_BUCKETS_US
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |us| secs(*us));
        let _ = writeln!(
            out,
            "tocsin_ingest_latency_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "tocsin_ingest_latency_seconds_sum {}",
        secs(m.latency_sum_us)
    );
    let _ = writeln!(
        out,
        "tocsin_ingest_latency_seconds_count {}",
        m.latency_cumulative.last().copied().unwrap_or(0)
    );
    Ok(out)
}

/// Federation's retry set: refusals that may change, kept and tried again until they expire.
fn retry(out: &mut String, node: &Node) -> Result<(), StoreError> {
    let c = node.store().retry_counts()?;
    let m = node.metrics().retry.snapshot();
    family(
        out,
        "tocsin_federation_retry_pending",
        "gauge",
        "Messages from peers refused for a reason that may change (from-future, not-admitted), kept to be tried again.",
    );
    let _ = writeln!(out, "tocsin_federation_retry_pending {}", c.pending);
    family(
        out,
        "tocsin_peer_retry_pending",
        "gauge",
        "Messages a peer brought that are kept to be tried again.",
    );
    for p in node.peers() {
        let _ = writeln!(
            out,
            "tocsin_peer_retry_pending{{peer=\"{}\"}} {}",
            label(&p.name),
            p.retry_pending
        );
    }
    let counters = [
        (
            "tocsin_federation_retry_kept_total",
            "Refusals that may change kept for another try.",
            c.kept,
        ),
        (
            "tocsin_federation_retry_attempts_total",
            "Tries of kept messages through the ingest pipeline.",
            m.attempts,
        ),
        (
            "tocsin_federation_retry_stored_total",
            "Kept messages accepted by a try (or found here already).",
            m.stored,
        ),
        (
            "tocsin_federation_retry_refused_total",
            "Kept messages refused for good by a try.",
            m.refused,
        ),
        (
            "tocsin_federation_retry_given_up_total",
            "Kept messages that expired before this node could accept them.",
            m.given_up,
        ),
    ];
    for (name, help, n) in counters {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {n}");
    }
    family(
        out,
        "tocsin_federation_retry_not_kept_total",
        "counter",
        "Refusals that may change not kept, by the bound they met: the whole set full (entries), the peer's share full (peer), dated beyond federation.retry_future_max (horizon).",
    );
    for (limit, n) in [
        ("entries", c.over_entries),
        ("peer", c.over_peer),
        ("horizon", m.beyond_horizon),
    ] {
        let _ = writeln!(
            out,
            "tocsin_federation_retry_not_kept_total{{limit=\"{limit}\"}} {n}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels() {
        assert_eq!(secs(100), "0.0001");
        assert_eq!(secs(1_000_000), "1");
        assert_eq!(secs(2_500), "0.0025");
        assert_eq!(secs(0), "0");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
