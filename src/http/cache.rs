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
//!
//! The ETag also keys the render cache ([`Rendered`]): a body rendered once is shared, as
//! `Bytes`, by every reader of the same view and state, however many and however slow, and
//! readers arriving while it is being rendered wait for that one rendering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

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

/// The most bodies the render cache keeps, whatever their size (each costs a map entry).
const MAX_RENDERED: usize = 1024;

/// Rendered bodies by ETag, bounded in bytes; the least recently used go first.
#[derive(Debug)]
pub(super) struct Rendered {
    budget: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Entry>,
    /// The bytes of the bodies in `map`.
    bytes: usize,
    /// A counter for recency.
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    body: Arc<OnceCell<Bytes>>,
    /// Its length once rendered and counted; 0 before.
    bytes: usize,
    used: u64,
}

impl Rendered {
    /// A cache of at most `budget` bytes.
    pub(super) fn new(budget: usize) -> Rendered {
        Rendered {
            budget,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The body for `key`: the cached one, or `render`'s (run once however many ask at once).
    /// The flag says whether this call rendered it.
    pub(super) async fn get_or_render(
        &self,
        key: &str,
        render: impl FnOnce() -> String,
    ) -> (Bytes, bool) {
        let cell = {
            let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            e.tick += 1;
            let tick = e.tick;
            if !e.map.contains_key(key) && e.map.len() >= MAX_RENDERED {
                e.evict_one();
            }
            let entry = e.map.entry(key.to_string()).or_insert_with(|| Entry {
                body: Arc::new(OnceCell::new()),
                bytes: 0,
                used: tick,
            });
            entry.used = tick;
            entry.body.clone()
        };
        let mut rendered = false;
        let body = cell
            .get_or_init(|| {
                rendered = true;
                async move { Bytes::from(render()) }
            })
            .await
            .clone();
        if rendered {
            let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = e.map.get_mut(key)
                && Arc::ptr_eq(&entry.body, &cell)
                && entry.bytes == 0
            {
                entry.bytes = body.len();
                e.bytes += body.len();
                while e.bytes > self.budget {
                    if !e.evict_one() {
                        break;
                    }
                }
            }
        }
        (body, rendered)
    }

    /// The bytes held now.
    pub(super) fn bytes(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

impl Entries {
    /// Drops the least recently used entry; false if there was none.
    fn evict_one(&mut self) -> bool {
        let oldest = self
            .map
            .iter()
            .min_by_key(|(_, v)| v.used)
            .map(|(k, _)| k.clone());
        match oldest.and_then(|k| self.map.remove(&k)) {
            Some(gone) => {
                self.bytes -= gone.bytes;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn a_body_is_rendered_once_and_shared() {
        let cache = Rendered::new(1024);
        let (a, fresh) = cache.get_or_render("k", || "x".repeat(100)).await;
        assert!(fresh);
        let (b, fresh) = cache
            .get_or_render("k", || unreachable!("rendered twice"))
            .await;
        assert!(!fresh);
        // The same buffer, not a copy.
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(cache.bytes(), 100);
    }

    #[tokio::test]
    async fn readers_arriving_together_wait_for_one_rendering() {
        let cache = Arc::new(Rendered::new(1 << 20));
        let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (cache, renders) = (cache.clone(), renders.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_render("feed", || {
                        renders.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        "feed".to_string()
                    })
                    .await
                    .0
            }));
        }
        for t in tasks {
            assert_eq!(&t.await.unwrap()[..], b"feed");
        }
        assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_cache_keeps_to_its_budget_dropping_the_least_recently_used() {
        let cache = Rendered::new(250);
        cache.get_or_render("a", || "a".repeat(100)).await;
        cache.get_or_render("b", || "b".repeat(100)).await;
        // "a" is used again, so "b" is the one to go.
        cache.get_or_render("a", || unreachable!()).await;
        cache.get_or_render("c", || "c".repeat(100)).await;
        assert_eq!(cache.bytes(), 200);
        assert!(!cache.get_or_render("a", || "a".repeat(100)).await.1);
        assert!(cache.get_or_render("b", || "b".repeat(100)).await.1);
        assert!(cache.bytes() <= 250);
        // A body bigger than the whole budget is served but not kept.
        let (big, _) = cache.get_or_render("big", || "z".repeat(1000)).await;
        assert_eq!(big.len(), 1000);
        assert!(cache.bytes() <= 250);
    }

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
