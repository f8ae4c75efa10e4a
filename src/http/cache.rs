//! HTTP caching: validators derived from the readers' state of the store, and the 304 decision.
//!
//! A response's ETag hashes the node's key, the last seq the snapshot showed readers (an
//! arrival under embargo moves the durable head, never this), the
//! snapshot's time epoch (embargoes ended and expiries passed), the path and canonical query,
//! and the reader's language preferences. It changes whenever anything a reader could see
//! changes, and costs a hash to compute: a conditional request is answered without rendering.
//! ETags are weak: they name a state of the store, not a byte string.
//!
//! `Last-Modified` is when this gateway first served that state, to the second. It is left out
//! while that second lasts, so two states can never share a date (HTTP dates have no finer
//! grain): a reader holding date D got it after D's second ended, so any later state is dated
//! after D.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};
use sha2::{Digest, Sha256};

/// The validators of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Validators {
    /// `W/"…"`.
    pub(super) etag: String,
    /// When the state was first served; `None` during that second.
    pub(super) last_modified: Option<SystemTime>,
}

/// A weak ETag over `parts` (each length-prefixed, so parts cannot run into each other).
pub(super) fn etag(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"tocsin-http-v1");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    format!("W/\"{}\"", hex::encode(&digest[..16]))
}

/// A time cut to whole seconds.
fn floor_secs(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Remembers when the latest state was first served.
#[derive(Debug, Default)]
pub(super) struct Clock {
    seen: Mutex<Option<((u64, usize), SystemTime)>>,
}

impl Clock {
    /// The `Last-Modified` for a response showing `state` (head, epoch) at `now`.
    pub(super) fn last_modified(&self, state: (u64, usize), now: SystemTime) -> Option<SystemTime> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let first = match *seen {
            Some((s, t)) if s == state => t,
            // A request that began before a newer state was recorded: no date (never move back).
            Some((s, _)) if s > state => return None,
            _ => {
                *seen = Some((state, now));
                now
            }
        };
        let first = floor_secs(first);
        (first < floor_secs(now)).then_some(first)
    }
}

/// Whether a conditional request may be answered 304: `If-None-Match` (weak comparison) when
/// present, else `If-Modified-Since`.
pub(super) fn not_modified(headers: &HeaderMap, v: &Validators) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if let Some(inm) = headers.get(IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return false;
        };
        let ours = bare(&v.etag);
        return inm.split(',').any(|t| t.trim() == "*" || bare(t) == ours);
    }
    match (headers.get(IF_MODIFIED_SINCE), v.last_modified) {
        (Some(ims), Some(lm)) => ims
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
            .is_some_and(|ims| lm <= ims),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: axum::http::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn etags_separate_their_parts() {
        assert_ne!(etag(&[b"ab", b"c"]), etag(&[b"a", b"bc"]));
        assert_eq!(etag(&[b"x"]), etag(&[b"x"]));
        assert!(etag(&[b"x"]).starts_with("W/\""));
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let v = Validators {
            etag: etag(&[b"s"]),
            last_modified: Some(t),
        };
        assert!(not_modified(&headers(IF_NONE_MATCH, &v.etag), &v));
        let strong = v.etag.trim_start_matches("W/").to_string();
        assert!(not_modified(
            &headers(IF_NONE_MATCH, &format!("\"x\", {strong}")),
            &v
        ));
        assert!(not_modified(&headers(IF_NONE_MATCH, "*"), &v));
        assert!(!not_modified(&headers(IF_NONE_MATCH, "W/\"other\""), &v));
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(&headers(IF_MODIFIED_SINCE, &date), &v));
        let earlier = httpdate::fmt_http_date(t - Duration::from_secs(1));
        assert!(!not_modified(&headers(IF_MODIFIED_SINCE, &earlier), &v));
        let mut both = headers(IF_NONE_MATCH, "W/\"other\"");
        both.insert(IF_MODIFIED_SINCE, HeaderValue::from_str(&date).unwrap());
        assert!(!not_modified(&both, &v));
        let no_date = Validators {
            last_modified: None,
            ..v
        };
        assert!(!not_modified(&headers(IF_MODIFIED_SINCE, &date), &no_date));
    }

    #[test]
    fn a_date_is_given_only_once_its_second_is_over() {
        let c = Clock::default();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_800_000_000_200);
        assert_eq!(c.last_modified((1, 0), t0), None);
        let later = t0 + Duration::from_millis(900);
        let lm = c.last_modified((1, 0), later).unwrap();
        assert_eq!(lm, UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        // A new state in a later second gets a later date.
        let t2 = t0 + Duration::from_secs(5);
        assert_eq!(c.last_modified((2, 0), t2), None);
        assert!(
            c.last_modified((2, 0), t2 + Duration::from_secs(1))
                .unwrap()
                > lm
        );
        // An older state after a newer one gets no date.
        assert_eq!(c.last_modified((1, 0), t2 + Duration::from_secs(2)), None);
    }
}
