//! `/metrics`: the node's counters in the Prometheus text exposition format (0.0.4), written
//! by hand. Every refusal reason has a series, zeros included, so a dashboard can tell "never
//! happened" from "not reported". Nothing here names a client.
//!
//! Architecture Invariant: this page is public, so the store's figures on it are what readers
//! can see. A message under embargo moves none of them before its release: it is counted as
//! accepted, and among the messages, at its release; the head is the readers' head. Figures
//! that move with every write whatever it holds (the store's size on disk, its flushes) are
//! not published here at all.

use std::fmt::Write as _;

use std::sync::atomic::Ordering;

use crate::node::Node;
use crate::node::metrics::LATENCY_BUCKETS_US;
use crate::store::StoreError;

use super::limits::Stats;

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

/// A store read's answer, or `None` when the store cannot be read now (it reopens after a
/// failed write); other errors are errors.
fn unless_unavailable<T>(read: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_unavailable() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The exposition text (reads the store's counters: call on the store's read pool).
pub(super) fn render(node: &Node) -> Result<String, StoreError> {
    let m = node.metrics().snapshot();
    let mut out = String::new();

    family(
        &mut out,
        "tocsin_messages_accepted_total",
        "counter",
        "Messages accepted and stored durably (one under embargo from its release).",
    );
    let _ = writeln!(out, "tocsin_messages_accepted_total {}", m.accepted);
    family(
        &mut out,
        "tocsin_messages_duplicate_total",
        "counter",
        "Messages received that were already stored (copies of one under embargo are not counted).",
    );
    let _ = writeln!(out, "tocsin_messages_duplicate_total {}", m.duplicate);
    family(
        &mut out,
        "tocsin_unknown_kind_messages_total",
        "counter",
        "Messages accepted of a kind this version does not know (a newer version's): stored and relayed verbatim, never shown. Among tocsin_messages_accepted_total; one that came under embargo is not counted here.",
    );
    let _ = writeln!(out, "tocsin_unknown_kind_messages_total {}", m.unknown_kind);
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
        "tocsin_publish_limited_total",
        "counter",
        "Publishes refused rate-limited, by the budget that refused them: connection, address (IPv4, IPv6 /64), prefix (IPv4 /24, IPv6 /48), author, new-author (authors never seen here).",
    );
    for (limit, n) in &m.limited {
        let _ = writeln!(
            out,
            "tocsin_publish_limited_total{{limit=\"{}\"}} {n}",
            label(limit.as_str())
        );
    }
    family(
        &mut out,
        "tocsin_subscribers",
        "gauge",
        "Subscriptions open now, readers and peers together.",
    );
    let _ = writeln!(out, "tocsin_subscribers {}", m.subscribers);
    let (refused, stalled) = node.metrics().subscriptions.snapshot();
    family(
        &mut out,
        "tocsin_subscriptions_refused_total",
        "counter",
        "Subscriptions refused (rate-limited) by a cap: the node's, the readers' share of it, per address, per connection.",
    );
    for (cap, n) in crate::node::metrics::SubscriptionMetrics::CAPS
        .iter()
        .zip(refused)
    {
        let _ = writeln!(
            out,
            "tocsin_subscriptions_refused_total{{cap=\"{cap}\"}} {n}"
        );
    }
    family(
        &mut out,
        "tocsin_subscriptions_stalled_total",
        "counter",
        "Subscriptions ended because their queue stayed full past limits.subscriber_stall (told where to resume).",
    );
    let _ = writeln!(out, "tocsin_subscriptions_stalled_total {stalled}");

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
    family(
        &mut out,
        "tocsin_federation_log_changes_total",
        "counter",
        "Times a peer's log changed (restored from a backup, wiped, copied back) and was followed again from its start, since this node started.",
    );
    for p in &peers {
        let _ = writeln!(
            out,
            "tocsin_federation_log_changes_total{{peer=\"{}\"}} {}",
            label(&p.name),
            p.log_changes
        );
    }

    reconciliations(&mut out, node, &peers);

    retry(&mut out, node)?;
    connections(&mut out, node);

    store_gauges(&mut out, node)?;

    family(
        &mut out,
        "tocsin_store_writable",
        "gauge",
        "1 while the store takes new messages; 0 while its disk is below the free-space reserve or it reopens after a failed write.",
    );
    let _ = writeln!(
        out,
        "tocsin_store_writable {}",
        u8::from(node.store().writable().is_ok())
    );
    family(
        &mut out,
        "tocsin_store_write_failures_total",
        "counter",
        "Messages the store could not take (disk below its reserve, a failed write); each is also refused as unavailable.",
    );
    let _ = writeln!(
        out,
        "tocsin_store_write_failures_total {}",
        m.store_write_failures
    );
    family(
        &mut out,
        "tocsin_store_reopened_total",
        "counter",
        "Times the store reopened itself after a failed write.",
    );
    let _ = writeln!(
        out,
        "tocsin_store_reopened_total {}",
        node.store().reopened()
    );
    let reads = node.reads().stats();
    family(
        &mut out,
        "tocsin_store_reads_running",
        "gauge",
        "Store reads running now on the read threads (store.read_threads), this scrape's own included.",
    );
    let _ = writeln!(out, "tocsin_store_reads_running {}", reads.running);
    family(
        &mut out,
        "tocsin_store_reads_queued",
        "gauge",
        "Store reads waiting for a read thread now.",
    );
    let _ = writeln!(out, "tocsin_store_reads_queued {}", reads.queued);
    family(
        &mut out,
        "tocsin_store_reads_busy_total",
        "counter",
        "Store reads refused unavailable because no read thread was free within store.read_wait.",
    );
    let _ = writeln!(out, "tocsin_store_reads_busy_total {}", reads.busy);

    let integrity = node.store().integrity();
    family(
        &mut out,
        "tocsin_store_damaged_total",
        "counter",
        "Stored messages found damaged on read (body not matching its id, or missing), once per damage: never served.",
    );
    let _ = writeln!(
        out,
        "tocsin_store_damaged_total {}",
        integrity.damaged_total
    );
    family(
        &mut out,
        "tocsin_store_repaired_total",
        "counter",
        "Damaged or dropped messages replaced by a good copy from a peer.",
    );
    let _ = writeln!(
        out,
        "tocsin_store_repaired_total {}",
        integrity.repaired_total
    );
    family(
        &mut out,
        "tocsin_store_wanted",
        "gauge",
        "Messages this node cannot serve until a peer gives a good copy.",
    );
    let _ = writeln!(out, "tocsin_store_wanted {}", integrity.wanted);

    family(
        &mut out,
        "tocsin_ingest_latency_seconds",
        "histogram",
        "Time from receiving a message to its durable acceptance (messages under embargo are not observed).",
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

/// The web gateway's own figures: connections it refused or closed, and its render cache.
pub(super) fn gateway(out: &mut String, stats: &Stats, cache_bytes: usize) {
    family(
        out,
        "tocsin_http_refused_total",
        "counter",
        "HTTP connections refused on arrival, by the cap they met: http.max_connections (connections), per address (address) or per network (prefix).",
    );
    for (cap, n) in stats.refusals() {
        let _ = writeln!(out, "tocsin_http_refused_total{{cap=\"{cap}\"}} {n}");
    }
    family(
        out,
        "tocsin_http_closed_total",
        "counter",
        "HTTP connections closed by the gateway: no request within http.idle_timeout (idle-timeout), a response not delivered within http.write_timeout (write-timeout), read below http.min_send_rate (slow-reader).",
    );
    for (reason, n) in stats.closings() {
        let _ = writeln!(out, "tocsin_http_closed_total{{reason=\"{reason}\"}} {n}");
    }
    let counters = [
        (
            "tocsin_http_renders_total",
            "Pages and feeds rendered (not found in the render cache).",
            stats.renders.load(Ordering::Relaxed),
        ),
        (
            "tocsin_http_render_cache_hits_total",
            "Responses served from a body already rendered for another reader.",
            stats.cache_hits.load(Ordering::Relaxed),
        ),
        (
            "tocsin_http_feed_entries_left_out_total",
            "Feed entries left out of a rendering because the feed reached http.max_feed_kib.",
            stats.feed_entries_left_out.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, n) in counters {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {n}");
    }
    family(
        out,
        "tocsin_http_render_cache_bytes",
        "gauge",
        "Bytes of rendered bodies held by the render cache (http.render_cache_mib).",
    );
    let _ = writeln!(out, "tocsin_http_render_cache_bytes {cache_bytes}");
}

/// What the store holds. While it reopens after a failed write, what it holds cannot be
/// counted: these gauges are left out and the rest (tocsin_store_writable 0 among them) still
/// answers.
fn store_gauges(out: &mut String, node: &Node) -> Result<(), StoreError> {
    let Some(counts) = unless_unavailable(node.store().counts())? else {
        return Ok(());
    };
    family(
        out,
        "tocsin_store_messages",
        "gauge",
        "Messages held with their content that readers can see (none under embargo).",
    );
    let _ = writeln!(
        out,
        "tocsin_store_messages {}",
        counts.messages.saturating_sub(counts.embargoed)
    );
    family(
        out,
        "tocsin_store_tombstones",
        "gauge",
        "Ids remembered without content (cancelled, withheld, expired), so replays are refused.",
    );
    let _ = writeln!(out, "tocsin_store_tombstones {}", counts.tombstones);
    family(
        out,
        "tocsin_store_reports",
        "gauge",
        "Action reports that count in tallies here (released; not withdrawn, withheld or expired).",
    );
    let _ = writeln!(out, "tocsin_store_reports {}", counts.reports);
    if let Some(keys) = unless_unavailable(node.store().key_counts())? {
        family(
            out,
            "tocsin_keys_rotated",
            "gauge",
            "Keys ended here by a rotation in force: signed by the recovery key their commitment names, with a successor that carries on.",
        );
        let _ = writeln!(out, "tocsin_keys_rotated {}", keys.rotated);
        family(
            out,
            "tocsin_keys_revoked",
            "gauge",
            "Keys ended here without a rotation in force (by a revocation).",
        );
        let _ = writeln!(out, "tocsin_keys_revoked {}", keys.revoked);
        family(
            out,
            "tocsin_key_commitments",
            "gauge",
            "Keys with a recovery commitment held here (their own, or one a rotation made for its successor).",
        );
        let _ = writeln!(out, "tocsin_key_commitments {}", keys.committed);
    }
    family(
        out,
        "tocsin_store_head_seq",
        "gauge",
        "The last seq of the node's log that readers can see (an embargoed arrival does not move it).",
    );
    let _ = writeln!(out, "tocsin_store_head_seq {}", counts.reader_head_seq);
    Ok(())
}

/// Federation's retry set: refusals that may change, kept and tried again until they expire.
fn retry(out: &mut String, node: &Node) -> Result<(), StoreError> {
    let Some(c) = unless_unavailable(node.store().retry_counts())? else {
        return Ok(());
    };
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

/// The gRPC port's edge: connections open by slot, and what its limits refused or closed.
fn connections(out: &mut String, node: &Node) {
    use crate::node::metrics::ConnRefusal;
    use std::sync::atomic::Ordering::Relaxed;
    let c = &node.metrics().connections;
    family(
        out,
        "tocsin_connections_open",
        "gauge",
        "gRPC connections open now: in the public slots, in the slots reserved for authenticated peers, and still in their handshake (no slot yet).",
    );
    for (class, n) in [
        ("public", c.open_public.load(Relaxed)),
        ("peer", c.open_peer.load(Relaxed)),
        ("handshake", c.handshaking.load(Relaxed)),
    ] {
        let _ = writeln!(out, "tocsin_connections_open{{class=\"{class}\"}} {n}");
    }
    family(
        out,
        "tocsin_connections_refused_total",
        "counter",
        "gRPC connections refused or closed by the node's limits, by reason: rate, per-address, prefix, capacity, handshake-timeout, handshake-failed, idle, streams (closed for opening calls far past its budget).",
    );
    for class in ConnRefusal::ALL
        .into_iter()
        .filter(|c| *c != ConnRefusal::Stream)
    {
        let _ = writeln!(
            out,
            "tocsin_connections_refused_total{{reason=\"{}\"}} {}",
            class.label(),
            c.refused_count(class)
        );
    }
    family(
        out,
        "tocsin_grpc_calls_refused_total",
        "counter",
        "gRPC calls (HTTP/2 streams) refused rate-limited before any service ran: over limits.streams_per_connection_*.",
    );
    let _ = writeln!(
        out,
        "tocsin_grpc_calls_refused_total{{reason=\"rate-limited\"}} {}",
        c.refused_count(ConnRefusal::Stream)
    );
    family(
        out,
        "tocsin_tls_handshakes_refused_total",
        "counter",
        "TLS handshakes on the gRPC port that failed, by cause: untrusted-client-ca (a client certificate from a CA not in tls.client_ca), client-cert-expired, bad-client-cert, node-cert-refused (the client does not trust the node's CA), plaintext, no-common-protocol, timeout, closed (by the client), other.",
    );
    for cause in crate::node::metrics::TlsCause::ALL {
        let _ = writeln!(
            out,
            "tocsin_tls_handshakes_refused_total{{cause=\"{}\"}} {}",
            cause.label(),
            c.tls_refused.count(cause)
        );
    }
}

/// Reconciliations this node ran with its peers, and sessions it served to others.
fn reconciliations(out: &mut String, node: &Node, peers: &[crate::node::PeerStatus]) {
    use crate::node::ReconcileOutcome;
    family(
        out,
        "tocsin_reconcile_runs_total",
        "counter",
        "Reconciliations with a peer since this node started, by how they ended (unsupported: the peer is an older version).",
    );
    for p in peers {
        for outcome in ReconcileOutcome::ALL {
            let _ = writeln!(
                out,
                "tocsin_reconcile_runs_total{{peer=\"{}\",outcome=\"{}\"}} {}",
                label(&p.name),
                outcome.label(),
                p.reconciled.runs[outcome as usize]
            );
        }
    }
    family(
        out,
        "tocsin_reconcile_differences_total",
        "counter",
        "Messages a reconciliation found one side held and the other lacked: we_lacked (the peer had them), they_lacked (this node had them).",
    );
    for p in peers {
        for (side, n) in [
            ("we_lacked", p.reconciled.we_lacked),
            ("they_lacked", p.reconciled.they_lacked),
        ] {
            let _ = writeln!(
                out,
                "tocsin_reconcile_differences_total{{peer=\"{}\",side=\"{side}\"}} {n}",
                label(&p.name)
            );
        }
    }
    family(
        out,
        "tocsin_reconcile_fetched_total",
        "counter",
        "Of what this node lacked: stored here, refused here (with a counted reason), or not fetched because the id is known here already (withdrawn, expired, arrived meanwhile).",
    );
    for p in peers {
        for (result, n) in [
            ("stored", p.reconciled.fetched),
            ("refused", p.reconciled.refused),
            ("already_here", p.reconciled.already_here),
        ] {
            let _ = writeln!(
                out,
                "tocsin_reconcile_fetched_total{{peer=\"{}\",result=\"{result}\"}} {n}",
                label(&p.name)
            );
        }
    }
    family(
        out,
        "tocsin_reconcile_last_timestamp_seconds",
        "gauge",
        "When the last reconciliation with a peer ended, Unix seconds (absent before the first).",
    );
    for p in peers {
        if let Some(last) = &p.last_reconcile {
            let _ = writeln!(
                out,
                "tocsin_reconcile_last_timestamp_seconds{{peer=\"{}\"}} {}",
                label(&p.name),
                last.at.0 / 1000
            );
        }
    }
    family(
        out,
        "tocsin_reconcile_sessions_served_total",
        "counter",
        "Reconciliation sessions this node served to other nodes, by how they ended (busy: refused for limits.reconcile_sessions; failed: malformed, a bound reached, or the node failing).",
    );
    let served = node.metrics().reconcile_served.snapshot();
    for (outcome, n) in crate::node::metrics::ServedMetrics::OUTCOMES
        .iter()
        .zip(served)
    {
        let _ = writeln!(
            out,
            "tocsin_reconcile_sessions_served_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
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
