//! One HTTP/1.1 connection as a sans-IO [`Session`]: requests read by the codec, routed, and
//! answered one at a time in order (pipelined requests wait their turn: RFC 9112 §9.3.2),
//! with keep-alive as each request asks.
//!
//! What needs server state goes to the service as a [`WebRequest`] and comes back as a
//! [`WebReply`]; the workspace's sign-in goes to the driver as credentials (the same checks,
//! delays and throttling as every mail protocol's login), never to the service. A plain-HTTP
//! listener's routes take no credential at all.
//!
//! This module never does IO, never reads the clock (the service's reply carries the `Date`)
//! and never names the runtime.

use std::collections::VecDeque;
use std::convert::Infallible;

use crate::session::{
    AuthOutcome, Credentials, Event, Handoff, Output, Overload, Session, SessionConfig,
};

use super::route::{self, Lang, Page, Route, Routed, SignInResult, Site, SIGNIN_COOKIE};
use super::{HttpLimits, Method, Request, RequestReader, Response, ResponseTarget, CONTINUE};

/// The SASL-like mechanism name a workspace sign-in is logged with.
pub const WEB_SIGNIN: &str = "web";

/// The mechanism name of HTTP Basic credentials (RFC 7617) on DAV requests: checked with
/// the `dav` scope.
pub const HTTP_BASIC: &str = "HTTP Basic";

/// The challenge a DAV request without valid credentials gets (RFC 7617 §2).
const CHALLENGE: &str = "Basic realm=\"ringpost\", charset=\"UTF-8\"";

/// Work for the service: a routed request and what it carries besides its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRequest {
    pub route: Route,
    /// The workspace session cookie, if the browser sent one.
    pub session: Option<String>,
    /// A form's CSRF token (`csrf` field), if posted.
    pub csrf: Option<String>,
    pub lang: Lang,
}

/// The service's answer, with the `Date` it was made at (RFC 9110 §6.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebReply {
    pub response: Response,
    pub date: String,
}

/// The request being answered.
#[derive(Debug)]
struct Current {
    head_only: bool,
    keep_alive: bool,
    lang: Lang,
    /// A sign-in handed to the driver: the user name, for the page that follows.
    signing_in: Option<String>,
    /// A DAV request waiting for its credentials' check.
    dav: Option<WebRequest>,
    /// That request as bytes, kept when the connection may be handed to another host
    /// ([`HttpSession::with_handoff`]).
    raw: Option<Vec<u8>>,
}

/// An HTTP/1.1 connection.
#[derive(Debug)]
pub struct HttpSession {
    site: Site,
    reader: RequestReader,
    output: Vec<u8>,
    events: VecDeque<Event<WebRequest>>,
    current: Option<Current>,
    /// No request is taken any more; the connection closes after what is in flight.
    closing: bool,
    requests: u64,
    limit: Option<&'static str>,
    /// Keep each DAV request's bytes until its credentials are checked, so the connection
    /// can be handed to the host that serves the account (a cluster host).
    handoff: bool,
}

impl HttpSession {
    pub fn new(site: Site, limits: HttpLimits) -> HttpSession {
        HttpSession {
            site,
            reader: RequestReader::new(limits),
            output: Vec::new(),
            events: VecDeque::new(),
            current: None,
            closing: false,
            requests: 0,
            limit: None,
            handoff: false,
        }
    }

    /// A session whose DAV requests can be handed to another host of a cluster
    /// ([`Session::handoff`]).
    pub fn with_handoff(mut self) -> HttpSession {
        self.handoff = true;
        self
    }

    /// A connection another host began, continued here where [`Session::handoff`] took it:
    /// the DAV request whose credentials that host checked is taken again from its bytes and
    /// waits for the answer to its login (no second check is asked for).
    pub fn from_handoff(site: Site, limits: HttpLimits, handoff: Handoff) -> Option<HttpSession> {
        let mut session = HttpSession::new(site, limits).with_handoff();
        session.requests = handoff.commands.saturating_sub(1);
        session.handle_input(&handoff.input);
        match session.events.pop_front() {
            Some(Event::Authenticate(_)) if session.events.is_empty() => Some(session),
            _ => None,
        }
    }

    /// Take requests while none is being answered.
    fn advance(&mut self) {
        while self.current.is_none() && !self.closing {
            match self.reader.poll_request() {
                None => {
                    if self.reader.poll_continue() {
                        self.output.extend_from_slice(CONTINUE);
                    }
                    return;
                }
                Some(Err(e)) => {
                    // A configured limit, for the `ringpost::limits` log line.
                    if matches!(e.status, 413 | 414 | 431) {
                        self.limit = Some(e.reason);
                    }
                    let close = e.close || self.reader.is_failed();
                    self.send(&Response::from_error(&e), false, close, None);
                }
                Some(Ok(request)) => {
                    self.requests += 1;
                    self.start(request);
                }
            }
        }
    }

    fn start(&mut self, request: Request) {
        let lang = request
            .header("accept-language")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map_or(Lang::En, Lang::from_accept_language);
        let head_only = request.method == Method::Head;
        let keep_alive = request.keep_alive();
        let answer = |status: u16, text: &str| Response::error(status, text);
        // A method we do not implement anywhere (RFC 9110 §15.6.2), and a POST or PUT that
        // says nothing of its length (RFC 9110 §15.5.12): answered here, the connection stays.
        if let Method::Other(_) = request.method {
            return self.send(
                &answer(501, "Not Implemented"),
                head_only,
                !keep_alive,
                None,
            );
        }
        let sized = request.header("content-length").is_some()
            || request.header("transfer-encoding").is_some();
        if matches!(request.method, Method::Post | Method::Put) && !sized {
            return self.send(
                &answer(411, "Length Required"),
                head_only,
                !keep_alive,
                None,
            );
        }
        match route::route(&self.site, &request) {
            Routed::NotFound => self.send(&answer(404, "Not Found"), head_only, !keep_alive, None),
            Routed::MethodNotAllowed { allow } => self.send(
                &answer(405, "Method Not Allowed").header("Allow", allow),
                head_only,
                !keep_alive,
                None,
            ),
            Routed::Redirect { status, location } => self.send(
                &answer(
                    status,
                    if location.starts_with("https://") {
                        "Moved to HTTPS"
                    } else {
                        super::response::reason_phrase(status)
                    },
                )
                .header("Location", location),
                head_only,
                !keep_alive,
                None,
            ),
            Routed::To(Route::Workspace(Page::SignIn { username, password })) => {
                self.current = Some(Current {
                    head_only,
                    keep_alive,
                    lang,
                    signing_in: Some(username.clone()),
                    dav: None,
                    raw: None,
                });
                // The form's token must match the cookie set with the form (login CSRF).
                let token = request.form_field("csrf").unwrap_or_default();
                let fresh = !token.is_empty() && request.cookie(SIGNIN_COOKIE) == Some(&token);
                if fresh && !username.is_empty() {
                    self.events.push_back(Event::Authenticate(Credentials {
                        username,
                        password,
                        mechanism: WEB_SIGNIN,
                    }));
                } else {
                    let ok = if fresh {
                        SignInResult::Failed
                    } else {
                        SignInResult::StaleForm
                    };
                    self.signed_in(ok);
                }
            }
            Routed::To(route @ Route::Dav(_)) => {
                // Every DAV request names its credentials (HTTP Basic, over TLS only: this
                // route exists on HTTPS listeners alone); a missing or malformed one is
                // challenged without asking anyone.
                let Some((username, password)) = basic_credentials(&request) else {
                    return self.send(
                        &answer(401, "Unauthorized").header("WWW-Authenticate", CHALLENGE),
                        head_only,
                        !keep_alive,
                        None,
                    );
                };
                self.current = Some(Current {
                    head_only,
                    keep_alive,
                    lang,
                    signing_in: None,
                    dav: Some(WebRequest {
                        route,
                        session: None,
                        csrf: None,
                        lang,
                    }),
                    raw: self.handoff.then(|| request.encode()),
                });
                self.events.push_back(Event::Authenticate(Credentials {
                    username,
                    password,
                    mechanism: HTTP_BASIC,
                }));
            }
            Routed::To(route) => {
                self.current = Some(Current {
                    head_only,
                    keep_alive,
                    lang,
                    signing_in: None,
                    dav: None,
                    raw: None,
                });
                let csrf = (request.method == Method::Post)
                    .then(|| request.form_field("csrf"))
                    .flatten();
                self.events.push_back(Event::Request(WebRequest {
                    route,
                    session: request.cookie(route::SESSION_COOKIE).map(str::to_string),
                    csrf,
                    lang,
                }));
            }
        }
    }

    /// The sign-in's outcome goes to the service, which starts a session (or says why not).
    fn signed_in(&mut self, ok: SignInResult) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let username = current.signing_in.take().unwrap_or_default();
        let lang = current.lang;
        self.events.push_back(Event::Request(WebRequest {
            route: Route::Workspace(Page::SignedIn { username, ok }),
            session: None,
            csrf: None,
            lang,
        }));
    }

    fn send(&mut self, response: &Response, head_only: bool, close: bool, date: Option<&str>) {
        let close = close || self.closing;
        response.encode(
            ResponseTarget {
                head_only,
                close,
                date,
            },
            &mut self.output,
        );
        if close && !self.closing {
            self.closing = true;
            self.events.push_back(Event::Close);
        }
    }

    /// Stop taking requests and close once the one in flight (if any) is answered.
    fn close_soon(&mut self) {
        if !self.closing {
            self.closing = true;
            if self.current.is_none() {
                self.events.push_back(Event::Close);
            }
        }
    }

    /// Whether part of a request has arrived and waits for the rest (the driver's request
    /// deadline runs meanwhile: `[http] request_secs`).
    pub fn request_in_progress(&self) -> bool {
        self.current.is_none() && !self.closing && self.reader.buffered() > 0
    }
}

impl Session for HttpSession {
    type Request = WebRequest;
    type Reply = WebReply;
    type Notice = Infallible;

    fn overloaded(_config: &SessionConfig, why: Overload) -> String {
        let text = why.text();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n{text}\n",
            text.len() + 1
        )
    }

    fn handle_input(&mut self, input: &[u8]) {
        if self.closing {
            return;
        }
        self.reader.handle_input(input);
        self.advance();
    }

    fn handle_tls_established(&mut self) {}

    fn handle_auth(&mut self, outcome: AuthOutcome) {
        if let Some(request) = self.current.as_mut().and_then(|c| c.dav.take()) {
            let (head_only, keep_alive) = self
                .current
                .as_ref()
                .map_or((false, false), |c| (c.head_only, c.keep_alive));
            let refusal = match outcome {
                AuthOutcome::Success { .. } => {
                    self.events.push_back(Event::Request(request));
                    return;
                }
                AuthOutcome::Failure | AuthOutcome::Continue(_) => {
                    Response::error(401, "Unauthorized").header("WWW-Authenticate", CHALLENGE)
                }
                AuthOutcome::TemporaryFailure => {
                    Response::error(503, "Service Unavailable").header("Retry-After", "5")
                }
            };
            self.current = None;
            self.send(&refusal, head_only, !keep_alive, None);
            self.advance();
            return;
        }
        let ok = match outcome {
            AuthOutcome::Success { .. } => SignInResult::Ok,
            AuthOutcome::Failure | AuthOutcome::Continue(_) => SignInResult::Failed,
            AuthOutcome::TemporaryFailure => SignInResult::Unavailable,
        };
        self.signed_in(ok);
    }

    fn handle_reply(&mut self, reply: WebReply, out: &mut Output) {
        let Some(current) = self.current.take() else {
            return;
        };
        self.send(
            &reply.response,
            current.head_only,
            !current.keep_alive,
            Some(&reply.date),
        );
        if self.closing {
            if !self.events.iter().any(|e| matches!(e, Event::Close)) {
                self.events.push_back(Event::Close);
            }
        } else {
            self.advance();
        }
        out.bytes_mut().append(&mut self.output);
    }

    fn handle_notice(&mut self, notice: Infallible) {
        match notice {}
    }

    fn handle_idle_timeout(&mut self) {
        // Between requests a server may close at any time (RFC 9112 §9.5); mid-request the
        // client hears why.
        if self.request_in_progress() {
            self.send(&Response::error(408, "Request Timeout"), false, true, None);
        } else {
            self.close_soon();
        }
    }

    fn handle_shutdown(&mut self) {
        self.close_soon();
    }

    fn handle_revoked(&mut self) {
        self.closing = true;
        self.events.push_back(Event::Close);
    }

    /// The connection closes (after the request in progress): the client's next one is
    /// routed to the host that serves the account now.
    fn handle_moved(&mut self) {
        self.handle_revoked();
    }

    fn commands(&self) -> u64 {
        self.requests
    }

    fn take_limit(&mut self) -> Option<&'static str> {
        self.limit.take()
    }

    fn handle_keepalive(&mut self) {}

    fn request_in_progress(&self) -> bool {
        HttpSession::request_in_progress(self)
    }

    fn handle_request_timeout(&mut self) {
        self.limit = Some("request time");
        self.send(&Response::error(408, "Request Timeout"), false, true, None);
    }

    fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.output);
    }

    fn poll_event(&mut self) -> Option<Event<WebRequest>> {
        self.events.pop_front()
    }

    fn handoff(&mut self) -> Option<Handoff> {
        let current = self.current.as_ref()?;
        current.dav.as_ref()?;
        let raw = current.raw.as_ref()?;
        if !self.output.is_empty() || !self.events.is_empty() {
            return None;
        }
        let mut input = raw.clone();
        input.extend_from_slice(self.reader.unconsumed()?);
        Some(Handoff {
            tag: Vec::new(),
            mechanism: HTTP_BASIC.to_string(),
            auth_failures: 0,
            commands: self.requests,
            compressing: false,
            input,
        })
    }
}

/// The user name and password of an `Authorization: Basic` field (RFC 7617 §2: base64 of
/// `user:password`, UTF-8), if it is one.
fn basic_credentials(request: &Request) -> Option<(String, crate::session::Secret<String>)> {
    use base64::Engine as _;
    let value = std::str::from_utf8(request.header("authorization")?).ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((
        user.to_string(),
        crate::session::Secret::new(password.to_string()),
    ))
}
