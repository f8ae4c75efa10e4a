//! The web gateway: the page people read, Atom and CAP feeds other systems consume, the
//! Prometheus metrics operators watch, and `/healthz` (the only module that names axum).
//!
//! | path | what |
//! |---|---|
//! | `/` | current alerts and calls, newest first, filtered by `country`, `topic`, `kind`, `language`; read in `lang` or the `Accept-Language` choice |
//! | `/m/{id}` | one message in full: every language, history, endorsers, signatures |
//! | `/feed.atom` | Atom 1.0, one entry per current message, same filters |
//! | `/cap/{id}.xml` | an alert, call, update or cancel as an OASIS CAP 1.2 document |
//! | `/cap.atom` | the Atom index of CAP documents |
//! | `/calendar.ics` | iCalendar: the deadlines and action windows of current calls, same filters |
//! | `/metrics` | Prometheus text format |
//! | `/healthz` | `ok` while the node serves |
//!
//! Reads go through a [`snapshot::Snapshot`] made once per durable head; every page and feed
//! carries validators derived from that head (see `cache`), so a reverse proxy or CDN can
//! serve the readers while the node answers its revalidations with 304.
//!
//! Architecture Invariant: readers' view only. Nothing embargoed appears before its time and
//! withdrawn content never appears; client addresses are never logged, kept or shown (the
//! connection caps in `limits` count them in memory while their connections are open).

mod atom;
mod cache;
mod calendar;
mod cap;
mod conn;
mod escape;
mod limits;
mod metrics;
mod page;
mod query;
mod snapshot;
mod tallies;
mod words;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::warn;

use crate::message::{Id, Timestamp};
use crate::node::Node;
use crate::store::StoreError;
use cache::{Clock, Rendered, Validators};
use conn::{Guarded, SendLimits};
use limits::{Admission, Closed, Refusal, Stats};
use query::{BadQuery, Selection};
use snapshot::{Builder, Snapshot, Want};
use words::{Arg, Words};

/// What a refused connection is told before it is closed (written without waiting: a client
/// that does not read it loses nothing but the reason).
fn refusal_text(why: Refusal) -> String {
    let body = format!(
        "busy: too many connections ({}); try again later\n",
        match why {
            Refusal::Connections => "in all",
            Refusal::Address => "from your address",
            Refusal::Prefix => "from your network",
        }
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 10\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serves the gateway on `listener` until the node begins shutting down, then lets open
/// requests finish (the caller bounds how long it waits).
///
/// Each connection takes a slot by its address (see `limits`); hyper closes it when a
/// request's headers do not come within `http.idle_timeout` of waiting for them, and after
/// `http.keep_alive_max` it is closed once its current response is sent. Its socket fails a
/// response that is not taken fast enough (see `conn`).
pub async fn serve(node: Node, listener: TcpListener) {
    let cfg = node.config().http.clone();
    let base = public_base(&node, &listener);
    let gw = Gateway::new(node.clone(), base);
    let stats = gw.inner.stats.clone();
    let router = router(gw);
    let admission = Arc::new(Admission::new(
        cfg.max_connections,
        cfg.max_connections_per_address,
        cfg.max_connections_per_prefix,
    ));
    let send = SendLimits::new(cfg.write_timeout, cfg.send_window, cfg.min_send_rate);
    // Every connection task holds a sender; when the last is dropped, all have ended.
    let (running, mut all_ended) = mpsc::channel::<()>(1);
    let stopped = node.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                // The address is used only to count this client's connections while they are
                // open (see `limits`): never logged or kept.
                Ok((stream, peer)) => {
                    let slot = match admission.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(why) => {
                            stats.refused(why);
                            let _ = stream.try_write(refusal_text(why).as_bytes());
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(cfg.idle_timeout);
                    let io = Guarded::new(stream, send, stats.clone());
                    let conn = builder.serve_connection(
                        TokioIo::new(io),
                        TowerToHyperService::new(router.clone()),
                    );
                    let stats = stats.clone();
                    let stopped = node.stopped();
                    let lifetime = tokio::time::sleep(cfg.keep_alive_max);
                    let running = running.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let _running = running;
                        tokio::pin!(conn, stopped, lifetime);
                        let mut closing = false;
                        loop {
                            tokio::select! {
                                ended = conn.as_mut() => {
                                    if let Err(e) = ended
                                        && e.is_timeout()
                                    {
                                        // hyper's header read timeout; our own write limits
                                        // counted themselves in `conn`.
                                        stats.closed(Closed::IdleTimeout);
                                    }
                                    break;
                                }
                                // Node shutdown or the keep-alive lifetime: finish the
                                // current response, then close.
                                _ = &mut stopped, if !closing => {
                                    conn.as_mut().graceful_shutdown();
                                    closing = true;
                                }
                                _ = &mut lifetime, if !closing => {
                                    conn.as_mut().graceful_shutdown();
                                    closing = true;
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait a little rather than spin.
                    warn!(error = %e, "the web gateway could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    drop(running);
    let _ = all_ended.recv().await;
}

/// The gateway's public base URL, without a trailing slash.
fn public_base(node: &Node, listener: &TcpListener) -> String {
    let configured = &node.config().http.public_url;
    if !configured.is_empty() {
        return configured.clone();
    }
    match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(_) => format!("http://{}", node.config().http.listen),
    }
}

fn router(gw: Gateway) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/m/{id}", get(detail))
        .route("/feed.atom", get(feed))
        .route("/cap.atom", get(cap_index))
        .route("/cap/{file}", get(cap_document))
        .route("/calendar.ics", get(calendar_feed))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/style.css", get(style))
        .route("/page.js", get(script))
        .fallback(not_found)
        .with_state(gw)
}

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
struct Gateway {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    node: Node,
    /// The public base URL for absolute links.
    base: String,
    /// The incremental state. One request brings it up to the head, on the store's read pool;
    /// the others wait for the lock on the runtime, holding no read thread.
    builder: Arc<tokio::sync::Mutex<Builder>>,
    /// The views made at the latest head.
    views: RwLock<Views>,
    /// When each state was first served, for `Last-Modified`.
    clock: Clock,
    /// Rendered pages and feeds, shared by their readers.
    rendered: Rendered,
    /// The gateway's counters.
    stats: Arc<Stats>,
}

/// Why a request failed on the node's side.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if let Failure::Store(StoreError::Busy { .. }) = &self {
            // The store's read threads stayed busy (see `store::Reads`): nothing is wrong, and
            // a cache in front may serve a stale copy meanwhile.
            let mut r = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: the node is reading all it can; try again later\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            no_store(&mut r);
            return r;
        }
        let Failure::Store(e) = &self;
        if e.is_unavailable() {
            // The store cannot be read now (it reopens after a failed write, which it logs
            // itself, or is closing; a read failed on a failing disk, logged here): the reader
            // is asked to come back.
            if matches!(e, StoreError::Io { .. }) {
                warn!(error = %self, "the web gateway could not read the store");
            }
            let mut r = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable: the node's store cannot be read just now; try again later\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            no_store(&mut r);
            return r;
        }
        // Logged for the operator; the reader gets no paths or database details.
        warn!(error = %self, "the web gateway could not answer");
        let mut r = plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; try again later\n",
        );
        no_store(&mut r);
        r
    }
}

/// What a response is, for its caching headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// The HTML page.
    Page,
    /// Feeds, CAP documents and message pages.
    Feed,
}

/// One response to a reader: status, body, and the validators it carries.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    validators: Validators,
    freshness: Freshness,
    /// The response depended on `Accept-Language`.
    vary_language: bool,
}

const HTML: &str = "text/html; charset=utf-8";
const ATOM: &str = "application/atom+xml; charset=utf-8";
const CAP: &str = "application/cap+xml; charset=utf-8";
const CALENDAR: &str = "text/calendar; charset=utf-8";

/// Headers every response carries: no sniffing, no referrer to the sites readers follow
/// links to, and a policy under which even an escaping bug could not run a script.
fn harden(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = (status, text.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    harden(r.headers_mut());
    r
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

impl Gateway {
    fn new(node: Node, base: String) -> Gateway {
        Gateway {
            inner: Arc::new(Shared {
                base,
                builder: Arc::new(tokio::sync::Mutex::new(Builder::default())),
                views: RwLock::new(Views::default()),
                clock: Clock::default(),
                rendered: Rendered::new(
                    node.config()
                        .http
                        .render_cache_mib
                        .saturating_mul(1024 * 1024),
                ),
                stats: Arc::new(Stats::default()),
                node,
            }),
        }
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The largest feed, in bytes.
    fn max_feed_bytes(&self) -> usize {
        self.node().config().http.max_feed_kib.saturating_mul(1024)
    }

    fn node(&self) -> &Node {
        &self.inner.node
    }

    fn base(&self) -> &str {
        &self.inner.base
    }

    fn max_items(&self) -> usize {
        self.node().config().http.max_items
    }

    /// The snapshot of `want` for the store's durable head now: made on the store's read pool
    /// if the head moved or one of the view's times passed since it was made (concurrent
    /// requests wait for the one that makes it).
    async fn view(&self, want: Want) -> Result<Arc<Snapshot>, Failure> {
        let key = want.key();
        if let Some(s) = self.cached_view(&key) {
            return Ok(s);
        }
        let mut builder = Arc::clone(&self.inner.builder).lock_owned().await;
        if let Some(s) = self.cached_view(&key) {
            return Ok(s);
        }
        let gw = self.clone();
        // The lock goes with the read: a request that gives up before its read starts lets
        // the next one make the snapshot.
        let snap = self
            .node()
            .reads()
            .run(move |_| {
                let now = gw.node().now();
                builder.advance(gw.node(), now)?;
                let snap = Arc::new(builder.view(gw.node(), &want, now)?);
                let mut views = gw.inner.views.write().unwrap_or_else(|e| e.into_inner());
                if views.head != snap.head || views.by_key.len() >= VIEWS_MAX {
                    views.by_key.clear();
                    views.head = snap.head;
                }
                views
                    .by_key
                    .insert(key, (snap.clone(), snap.valid_until(now)));
                Ok::<_, StoreError>(snap)
            })
            .await?;
        Ok(snap)
    }

    /// The view under `key`, if it was made at the durable head and none of its times passed.
    fn cached_view(&self, key: &str) -> Option<Arc<Snapshot>> {
        let head = self.node().store().head();
        let now = self.node().now();
        let views = self.inner.views.read().unwrap_or_else(|e| e.into_inner());
        if views.head < head {
            return None;
        }
        views
            .by_key
            .get(key)
            .filter(|(_, until)| now.0 < *until)
            .map(|(snap, _)| snap.clone())
    }

    /// The validators of a response showing `snap` at `now` for `path` with `key` (the
    /// canonical query and language preferences). They name the readers' state (the last
    /// seq readers were shown, not the durable head), so an arrival under embargo leaves
    /// them as they were.
    fn validators(&self, snap: &Snapshot, now: Timestamp, path: &str, key: &str) -> Validators {
        let epoch = snap.epoch(now);
        let state = format!("{}:{}:{:x}", snap.visible, epoch, snap.digest);
        Validators {
            etag: cache::etag(&[
                self.node().node_key().as_bytes(),
                env!("CARGO_PKG_VERSION").as_bytes(),
                self.base().as_bytes(),
                state.as_bytes(),
                path.as_bytes(),
                key.as_bytes(),
            ]),
            last_modified: self
                .inner
                .clock
                .last_modified((snap.visible, epoch), SystemTime::now()),
        }
    }

    /// Turns a reply into a response: 304 when the request's validators match, else the body,
    /// with validators and caching headers either way. The body is rendered only when it is
    /// sent: neither a 304 nor an answer to HEAD renders it. A `200` body is rendered once per
    /// ETag and shared by every reader of it (`cache::Rendered`).
    async fn respond(
        &self,
        req_headers: &HeaderMap,
        method: &Method,
        reply: Reply,
        render: impl FnOnce() -> String,
    ) -> Response {
        let ok = reply.status == StatusCode::OK;
        let unchanged = ok && cache::not_modified(req_headers, &reply.validators);
        let mut r = if unchanged {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let body = if method == Method::HEAD {
                Body::empty()
            } else if ok {
                let (body, rendered) = self
                    .inner
                    .rendered
                    .get_or_render(&reply.validators.etag, render)
                    .await;
                let counter = if rendered {
                    &self.stats().renders
                } else {
                    &self.stats().cache_hits
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Body::from(body)
            } else {
                Body::from(render())
            };
            let mut r = Response::new(body);
            *r.status_mut() = reply.status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(reply.content_type),
            );
            r
        };
        let h = r.headers_mut();
        harden(h);
        let max_age = match reply.freshness {
            Freshness::Page => self.node().config().http.page_max_age,
            Freshness::Feed => self.node().config().http.feed_max_age,
        };
        let cache_control = if ok || unchanged {
            format!("public, max-age={}", max_age.as_secs())
        } else {
            // Errors are not kept: a 404 for an embargoed message must not outlive the embargo.
            "no-cache".to_string()
        };
        if let Ok(v) = HeaderValue::from_str(&cache_control) {
            h.insert(header::CACHE_CONTROL, v);
        }
        if ok {
            if let Ok(v) = HeaderValue::from_str(&reply.validators.etag) {
                h.insert(header::ETAG, v);
            }
            if let Some(lm) = reply.validators.last_modified
                && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(lm))
            {
                h.insert(header::LAST_MODIFIED, v);
            }
        }
        if reply.vary_language {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
        }
        r
    }
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// The reader's language preferences for a page that is not a view (an error page): the
/// query's `lang` if it reads, else `Accept-Language`.
fn reader_preferences(req: &Request) -> Vec<String> {
    Selection::parse(req.uri().query())
        .unwrap_or_default()
        .preferences(accept_language(req.headers()))
}

/// The reader's language choice and preferences, cut to what can change what `snap` shows
/// (`query::effective_preferences`): a `lang` or an `Accept-Language` naming no language here
/// is no view of its own, to render and keep apart (a `lang` that matches none is dropped,
/// and the header decides).
///
/// Also what they pick here, the key of the view's rendering (`Snapshot::language_key`).
fn reader_languages(
    mut sel: Selection,
    headers: &HeaderMap,
    snap: &snapshot::Snapshot,
    now: Timestamp,
) -> (Selection, Vec<String>, String) {
    let known = snap.known_languages();
    sel.lang = sel.lang.take().and_then(|l| {
        query::effective_preferences(&[l], &known)
            .into_iter()
            .next()
            .filter(|l| l != query::NONE_HERE)
    });
    let prefs = query::effective_preferences(&sel.preferences(accept_language(headers)), &known);
    let key = snap.language_key(&prefs, now);
    (sel, prefs, key)
}

/// A query the page cannot serve: what was wrong (the reason stays English: it names
/// parameters and values as typed), in a page in the reader's language.
fn bad_query(e: BadQuery, headers: &HeaderMap) -> Response {
    let prefs = query::parse_accept_language(accept_language(headers).unwrap_or_default());
    let mut r = (
        StatusCode::BAD_REQUEST,
        page::error_page(
            Words::choose(&prefs),
            "bad-request-title",
            "bad-request-text",
            &[("problem", Arg::Text(&e.0))],
        ),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    // In the reader's language.
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    harden(r.headers_mut());
    no_store(&mut r);
    r
}

async fn index(State(gw): State<Gateway>, req: Request) -> Result<Response, Failure> {
    selection_view(
        gw,
        req,
        "/",
        HTML,
        Freshness::Page,
        page::index,
        Selection::clone,
    )
    .await
}

async fn detail(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let Ok(id) = id.parse::<Id>() else {
        return Ok(not_found(req).await);
    };
    let sel = match Selection::parse(req.uri().query()) {
        Ok(s) => s.lang_only(),
        Err(e) => return Ok(bad_query(e, req.headers())),
    };
    let snap = gw.view(Want::Item(id)).await?;
    let now = gw.node().now();
    let (sel, prefs, languages) = reader_languages(sel, req.headers(), &snap, now);
    if let Some(item) = snap.item_for(&id)
        && item.id() != id
    {
        // An update's page is its original's, where the whole history is.
        return Ok(redirect(&sel.href(&format!("/m/{}", item.id()))));
    }
    if let Some(note) = snap.cancels.get(&id) {
        return Ok(redirect(&sel.href(&format!("/m/{}", note.target))));
    }
    let key = format!("{}|{}|{}", id, languages, relative_tick(now));
    let validators = gw.validators(&snap, now, "/m", &key);
    let words = Words::choose(&prefs);
    let reply = |status| Reply {
        status,
        content_type: HTML,
        validators,
        freshness: Freshness::Feed,
        vary_language: sel.lang.is_none(),
    };
    if let Some(item) = snap.items.get(&id).filter(|i| i.live(now)) {
        return Ok(gw
            .respond(req.headers(), req.method(), reply(StatusCode::OK), || {
                page::detail(&gw, &snap, item, &sel, &prefs, now)
            })
            .await);
    }
    let state = gw.node().reads().get(&id).await?;
    let (status, body) = match state {
        Some(s) if s.cancelled && s.message.is_none() => (
            StatusCode::GONE,
            page::withdrawn(words, &id, &s.cancel_reason),
        ),
        // Withdrawn content, as a cancelled message's and its CAP document's are (`410 Gone`),
        // saying why: its author's key ended before it was made.
        Some(s) if s.message.is_none() && s.withheld.is_some() => (
            StatusCode::GONE,
            page::withheld(
                words,
                &snap,
                &id,
                &s.author,
                s.withheld.as_deref().unwrap_or_default(),
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            page::error_page(words, "not-found-title", "not-found-message", &[]),
        ),
    };
    Ok(gw
        .respond(req.headers(), req.method(), reply(status), || body)
        .await)
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    harden(r.headers_mut());
    r
}

async fn feed(State(gw): State<Gateway>, req: Request) -> Result<Response, Failure> {
    selection_view(
        gw,
        req,
        "/feed.atom",
        ATOM,
        Freshness::Feed,
        atom::feed,
        Selection::clone,
    )
    .await
}

async fn cap_index(State(gw): State<Gateway>, req: Request) -> Result<Response, Failure> {
    let render = atom::cap_index;
    selection_view(
        gw,
        req,
        "/cap.atom",
        ATOM,
        Freshness::Feed,
        render,
        Selection::clone,
    )
    .await
}

async fn calendar_feed(State(gw): State<Gateway>, req: Request) -> Result<Response, Failure> {
    let render = calendar::calendar;
    let walked = calendar::walked;
    selection_view(
        gw,
        req,
        "/calendar.ics",
        CALENDAR,
        Freshness::Feed,
        render,
        walked,
    )
    .await
}

/// How a view of the current items is drawn: the page, a feed, the CAP index, the calendar.
type Render = fn(&Gateway, &Snapshot, &Selection, &[String], Timestamp) -> String;

/// The views made at one head, by [`Want::key`], each with the time (ms) it holds until.
#[derive(Debug, Default)]
struct Views {
    head: u64,
    by_key: HashMap<String, (Arc<Snapshot>, u64)>,
}

/// Views kept per head, at most (a reader can ask for many filter combinations).
const VIEWS_MAX: usize = 256;

/// A view of the current items under the query's filters, in the reader's languages: one
/// snapshot of the items `walked` (the query's selection, as the view reads it) selects,
/// validators for `path` with the canonical query and the languages, a conditional request
/// answered without rendering.
async fn selection_view(
    gw: Gateway,
    req: Request,
    path: &str,
    content_type: &'static str,
    freshness: Freshness,
    render: Render,
    walked: fn(&Selection) -> Selection,
) -> Result<Response, Failure> {
    let sel = match Selection::parse(req.uri().query()) {
        Ok(s) => s,
        Err(e) => return Ok(bad_query(e, req.headers())),
    };
    let snap = gw
        .view(Want::Listing {
            sel: walked(&sel),
            limit: gw.max_items(),
            facets: content_type == HTML,
        })
        .await?;
    let now = gw.node().now();
    let (sel, prefs, languages) = reader_languages(sel, req.headers(), &snap, now);
    let mut key = format!("{}|{}", sel.to_query(), languages);
    if content_type == HTML {
        // The page says how long ago and how soon, in words.
        let _ = write!(key, "|{}", relative_tick(now));
    }
    let validators = gw.validators(&snap, now, path, &key);
    Ok(gw
        .respond(
            req.headers(),
            req.method(),
            Reply {
                status: StatusCode::OK,
                content_type,
                validators,
                freshness,
                vary_language: sel.lang.is_none(),
            },
            || render(&gw, &snap, &sel, &prefs, now),
        )
        .await)
}

async fn cap_document(
    State(gw): State<Gateway>,
    Path(file): Path<String>,
    req: Request,
) -> Result<Response, Failure> {
    let Some(id) = file.strip_suffix(".xml").and_then(|s| s.parse::<Id>().ok()) else {
        return Ok(not_found(req).await);
    };
    let snap = gw.view(Want::Item(id)).await?;
    let now = gw.node().now();
    let validators = gw.validators(&snap, now, "/cap", &id.to_hex());
    let doc = match (snap.item_for(&id), snap.cancels.get(&id)) {
        (Some(item), _) if item.live(now) => cap::document(&gw, &snap, item, &id, now),
        (_, Some(note)) => Some(cap::cancel_document(note)),
        _ => None,
    };
    let (status, body) = match doc {
        Some(d) => (StatusCode::OK, d),
        None => {
            let state = gw.node().reads().get(&id).await?;
            let withheld = state.as_ref().and_then(|s| s.withheld.clone());
            let gone = state.is_some_and(|s| s.message.is_none());
            let status = if gone {
                StatusCode::GONE
            } else {
                StatusCode::NOT_FOUND
            };
            let mut r = plain(
                status,
                match (gone, withheld) {
                    (true, Some(why)) => format!("withheld: {why}\n"),
                    (true, None) => "withdrawn by its author\n".to_string(),
                    (false, _) => "no current alert or call with this id\n".to_string(),
                },
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(r);
        }
    };
    Ok(gw
        .respond(
            req.headers(),
            req.method(),
            Reply {
                status,
                content_type: CAP,
                validators,
                freshness: Freshness::Feed,
                vary_language: false,
            },
            || body,
        )
        .await)
}

async fn metrics_text(State(gw): State<Gateway>) -> Result<Response, Failure> {
    let node = gw.node().clone();
    let gateway = gw.clone();
    let text = gw
        .node()
        .reads()
        .run(move |_| {
            let mut text = metrics::render(&node)?;
            metrics::gateway(&mut text, gateway.stats(), gateway.inner.rendered.bytes());
            Ok::<_, StoreError>(text)
        })
        .await?;
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    harden(r.headers_mut());
    no_store(&mut r);
    Ok(r)
}

async fn healthz(State(gw): State<Gateway>) -> Response {
    let node = gw.node().clone();
    let problem = gw
        .node()
        .reads()
        .run(move |_| Ok::<_, StoreError>(node.store_problem()))
        .await
        .unwrap_or_else(|_| Some("the store could not be asked".to_string()));
    let mut r = if gw.node().is_shutting_down() {
        plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if let Some(problem) = problem {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not accepting messages: {problem}\n"),
        )
    } else {
        plain(StatusCode::OK, "ok\n")
    };
    no_store(&mut r);
    r
}

/// The page's script: local times beside the UTC ones (see `page::SCRIPT`).
async fn script() -> Response {
    let mut r = page::SCRIPT.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    harden(r.headers_mut());
    r
}

async fn style() -> Response {
    let mut r = page::STYLE.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    harden(r.headers_mut());
    r
}

/// The minute a page was rendered in, part of its ETag: a page says "in 3 hours" and "2
/// minutes ago", so a rendered page is shared for at most the minute it is true in.
fn relative_tick(now: Timestamp) -> u64 {
    now.0 / 60_000
}

async fn not_found(req: Request) -> Response {
    let prefs = reader_preferences(&req);
    let mut r = (
        StatusCode::NOT_FOUND,
        page::error_page(
            Words::choose(&prefs),
            "not-found-title",
            "not-found-address",
            &[],
        ),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    harden(r.headers_mut());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    r
}
