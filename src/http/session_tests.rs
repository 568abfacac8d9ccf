//! The HTTP session through its sans-IO contract: exact bytes out, typed events, fed whole,
//! byte by byte and at every split point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::session::{AuthOutcome, Event, Output, Session};

use super::route::{Lang, Page, Route, SignInResult, Site};
use super::session::{HttpSession, WebReply, WebRequest, WEB_SIGNIN};
use super::{HttpLimits, Response};

const DATE: &str = "Sat, 05 Dec 2026 12:00:00 GMT";

fn https() -> HttpSession {
    HttpSession::new(
        Site::Https {
            workspace: true,
            dav: true,
        },
        HttpLimits::default(),
    )
}

fn drain(s: &mut HttpSession) -> (Vec<u8>, Vec<Event<WebRequest>>) {
    let mut out = Vec::new();
    s.poll_output(&mut out);
    let mut events = Vec::new();
    while let Some(e) = s.poll_event() {
        events.push(e);
    }
    (out, events)
}

fn reply(s: &mut HttpSession, response: Response) -> Vec<u8> {
    let mut out = Output::default();
    s.handle_reply(
        WebReply {
            response,
            date: DATE.into(),
        },
        &mut out,
    );
    let mut bytes = out.to_vec();
    s.poll_output(&mut bytes);
    bytes
}

fn request_of(event: &Event<WebRequest>) -> &WebRequest {
    match event {
        Event::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

const TWO: &[u8] = b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\nAccept-Language: de-DE, en;q=0.5\r\n\r\n";

/// Feed `input` in pieces; the events seen before any reply.
fn feed(pieces: &[&[u8]]) -> (HttpSession, Vec<Event<WebRequest>>) {
    let (s, events, _) = feed_out(pieces);
    (s, events)
}

/// [`feed`], with the bytes the session sent meanwhile.
fn feed_out(pieces: &[&[u8]]) -> (HttpSession, Vec<Event<WebRequest>>, Vec<u8>) {
    let mut s = https();
    let mut events = Vec::new();
    let mut sent = Vec::new();
    for piece in pieces {
        s.handle_input(piece);
        let (out, more) = drain(&mut s);
        sent.extend(out);
        events.extend(more);
    }
    (s, events, sent)
}

#[test]
fn pipelined_requests_are_answered_one_at_a_time_in_order() {
    let (mut s, events) = feed(&[TWO]);
    // Only the first is handed over; the second waits for its reply.
    assert_eq!(events.len(), 1);
    assert_eq!(
        request_of(&events[0]).route,
        Route::Workspace(Page::Stylesheet)
    );
    assert_eq!(request_of(&events[0]).lang, Lang::En);
    let out = reply(&mut s, Response::new(200).body("text/css", "a{}"));
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 12:00:00 GMT\r\nContent-Type: text/css\r\nContent-Length: 3\r\n\r\na{}"
    );
    let (_, events) = drain(&mut s);
    assert_eq!(events.len(), 1);
    let second = request_of(&events[0]);
    assert_eq!(second.route, Route::Workspace(Page::Home));
    assert_eq!(second.lang, Lang::De);
    // HEAD: the fields of a GET, no body.
    let out = reply(&mut s, Response::new(200).body("text/html", "<p>"));
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 12:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n"
    );
    assert_eq!(s.commands(), 2);
    assert!(!s.request_in_progress());
}

#[test]
fn every_split_point_gives_the_same_events() {
    let (_, whole) = feed(&[TWO]);
    for at in 1..TWO.len() {
        let (_, split) = feed(&[&TWO[..at], &TWO[at..]]);
        assert_eq!(split, whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = TWO.chunks(1).collect();
    assert_eq!(feed(&bytes).1, whole);
}

#[test]
fn a_partial_request_is_in_progress_until_complete() {
    let (mut s, events) = feed(&[b"GET /style.css HTTP/1.1\r\nHo"]);
    assert!(events.is_empty());
    assert!(s.request_in_progress());
    s.handle_request_timeout();
    let (out, events) = drain(&mut s);
    assert!(
        out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
        "{out:?}"
    );
    assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
    assert_eq!(events, vec![Event::Close]);
    assert_eq!(s.take_limit(), Some("request time"));
}

#[test]
fn connection_close_and_http_1_0_close_after_the_reply() {
    for request in [
        &b"GET /style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /style.css HTTP/1.0\r\n\r\n",
    ] {
        let (mut s, events) = feed(&[request]);
        assert_eq!(events.len(), 1);
        let out = reply(&mut s, Response::new(204));
        assert!(String::from_utf8_lossy(&out).contains("Connection: close\r\n"));
        // Nothing after a close is read.
        assert_eq!(drain(&mut s).1, vec![Event::Close]);
    }
}

#[test]
fn a_framing_error_is_answered_and_closes() {
    let (mut s, events, out) = feed_out(&[b"GET / HTTP/1.1\r\n\r\n"]);
    assert_eq!(events, vec![Event::Close]);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    // Not a configured limit: nothing for the limits log.
    assert_eq!(s.take_limit(), None);
    // A limit is reported.
    let (mut s, _, out) = feed_out(&[format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000)).as_bytes()]);
    assert!(out.starts_with(b"HTTP/1.1 414 URI Too Long\r\n"));
    assert!(s.take_limit().is_some());
}

#[test]
fn unknown_paths_and_methods_are_answered_without_the_service() {
    let (_, events, out) = feed_out(&[
        b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\nPUT /signin HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    ]);
    assert!(events.is_empty(), "{events:?}");
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
    assert!(
        text.contains(
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nAllow: GET, HEAD, POST\r\n"
        ),
        "{text}"
    );
}

fn sign_in(cookie: &str, field: &str) -> Vec<u8> {
    let body = format!("username=Alice%40Example.com&password=p%26ss+word&csrf={field}");
    format!(
        "POST /signin HTTP/1.1\r\nHost: a\r\nCookie: __Host-ringpost-signin={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_sign_in_goes_to_the_driver_then_to_the_service() {
    let (mut s, events) = feed(&[&sign_in("tok", "tok")]);
    let [Event::Authenticate(credentials)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(credentials.username, "Alice@Example.com");
    assert_eq!(credentials.password.expose(), "p&ss word");
    assert_eq!(credentials.mechanism, WEB_SIGNIN);
    s.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    let (_, events) = drain(&mut s);
    assert_eq!(
        request_of(&events[0]).route,
        Route::Workspace(Page::SignedIn {
            username: "Alice@Example.com".into(),
            ok: SignInResult::Ok
        })
    );
}

#[test]
fn a_sign_in_without_its_cookie_token_never_reaches_the_driver() {
    for (cookie, field) in [("tok", "other"), ("tok", ""), ("", "")] {
        let (_, events) = feed(&[&sign_in(cookie, field)]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            request_of(&events[0]).route,
            Route::Workspace(Page::SignedIn {
                username: "Alice@Example.com".into(),
                ok: SignInResult::StaleForm
            })
        );
    }
}

#[test]
fn plain_http_redirects_and_takes_no_credential() {
    let mut s = HttpSession::new(
        Site::Redirect {
            https_base: "https://mail.example.com".into(),
        },
        HttpLimits::default(),
    );
    s.handle_input(&sign_in("tok", "tok"));
    s.handle_input(b"GET /settings/security?a=b HTTP/1.1\r\nHost: a\r\n\r\n");
    let (out, events) = drain(&mut s);
    assert!(events.is_empty(), "{events:?}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(
            "HTTP/1.1 308 Permanent Redirect\r\nContent-Type: text/plain; charset=utf-8\r\nLocation: https://mail.example.com/signin\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("HTTP/1.1 301 Moved Permanently\r\nContent-Type: text/plain; charset=utf-8\r\nLocation: https://mail.example.com/settings/security?a=b\r\n"),
        "{text}"
    );
    // Public discovery documents are served there too.
    s.handle_input(b"GET /.well-known/autoconfig/mail/config-v1.1.xml HTTP/1.1\r\nHost: a\r\n\r\n");
    let (_, events) = drain(&mut s);
    assert_eq!(
        request_of(&events[0]).route,
        Route::Autoconfig { email: None }
    );
}

#[test]
fn the_metrics_listener_serves_metrics_only() {
    let mut s = HttpSession::new(Site::Metrics, HttpLimits::default());
    s.handle_input(
        b"GET /signin HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let (out, events) = drain(&mut s);
    assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    assert_eq!(request_of(&events[0]).route, Route::Metrics);
}

#[test]
fn unknown_methods_get_501_and_unsized_posts_411_and_the_connection_stays() {
    let (_, events, out) = feed_out(&[
        b"BREW /style.css HTTP/1.1\r\nHost: a\r\n\r\nPOST /signin HTTP/1.1\r\nHost: a\r\n\r\nGET /style.css HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{text}"
    );
    assert!(text.contains("HTTP/1.1 411 Length Required\r\n"), "{text}");
    assert!(!text.contains("Connection: close"), "{text}");
    assert_eq!(
        request_of(&events[0]).route,
        Route::Workspace(Page::Stylesheet)
    );
}

#[test]
fn dav_requests_are_challenged_then_checked_by_the_driver() {
    let (mut s, events, out) = feed_out(&[
        b"PROPFIND /SOGo/dav/ HTTP/1.1\r\nHost: a\r\nDepth: 0\r\nContent-Length: 0\r\n\r\n",
    ]);
    assert!(events.is_empty(), "{events:?}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 401 Unauthorized\r\n")
            && text.contains("WWW-Authenticate: Basic realm=\"ringpost\", charset=\"UTF-8\"\r\n"),
        "{text}"
    );
    // alice@example.com:pa:ss
    s.handle_input(b"PROPFIND /SOGo/dav/ HTTP/1.1\r\nHost: a\r\nDepth: 1\r\nAuthorization: Basic YWxpY2VAZXhhbXBsZS5jb206cGE6c3M=\r\nContent-Length: 0\r\n\r\n");
    let (_, events) = drain(&mut s);
    let [Event::Authenticate(credentials)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(credentials.username, "alice@example.com");
    assert_eq!(credentials.password.expose(), "pa:ss");
    assert_eq!(credentials.mechanism, super::session::HTTP_BASIC);
    // Refused: challenged again, the connection stays.
    s.handle_auth(AuthOutcome::Failure);
    let (out, events) = drain(&mut s);
    assert!(out.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
    assert!(events.is_empty());
    // Accepted: the request goes to the service.
    s.handle_input(b"OPTIONS /SOGo/dav/ HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2VAZXhhbXBsZS5jb206cGE6c3M=\r\n\r\n");
    let _ = drain(&mut s);
    s.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    let (_, events) = drain(&mut s);
    let Route::Dav(dav) = &request_of(&events[0]).route else {
        panic!("{events:?}");
    };
    assert_eq!(dav.path, "/SOGo/dav/");
}

#[test]
fn accept_language_picks_german_or_english() {
    for (value, lang) in [
        ("de", Lang::De),
        ("de-AT,de;q=0.9,en;q=0.8", Lang::De),
        ("en-US,en;q=0.9,de;q=0.8", Lang::En),
        ("fr, de;q=0.5", Lang::De),
        ("fr", Lang::En),
        ("de;q=0, en;q=0.1", Lang::En),
        ("*", Lang::En),
        ("de;q=1.5", Lang::En),
    ] {
        assert_eq!(Lang::from_accept_language(value), lang, "{value}");
    }
}

/// A DAV request whose credentials one cluster host checked is continued by the host that
/// serves the account: taken again from its bytes there (a chunked body arrives whole, with
/// its length), waiting for the login's answer, followed by what was pipelined behind it.
#[test]
fn a_dav_request_is_handed_over_with_its_body_and_what_follows() {
    let mut a = https().with_handoff();
    // alice@example.com:pa:ss, a chunked PUT with a pipelined OPTIONS behind it.
    a.handle_input(b"PUT /SOGo/dav/alice@example.com/Contacts/personal/x.vcf HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2VAZXhhbXBsZS5jb206cGE6c3M=\r\nContent-Type: text/vcard\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nBEGIN\r\n0\r\n\r\nOPTIONS /SOGo/dav/ HTTP/1.1\r\nHost: a\r\n\r\n");
    let (_, events) = drain(&mut a);
    assert!(
        matches!(&events[..], [Event::Authenticate(_)]),
        "{events:?}"
    );
    let handoff = a.handoff().expect("a DAV request waiting for its login");
    let text = String::from_utf8_lossy(&handoff.input).into_owned();
    assert!(
        text.contains("content-length: 5\r\n\r\nBEGINOPTIONS /SOGo/dav/"),
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );

    let site = Site::Https {
        workspace: true,
        dav: true,
    };
    let mut b = HttpSession::from_handoff(site, HttpLimits::default(), handoff).unwrap();
    let (out, events) = drain(&mut b);
    assert!(out.is_empty() && events.is_empty(), "{events:?}");
    b.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    let (_, events) = drain(&mut b);
    let Route::Dav(dav) = &request_of(&events[0]).route else {
        panic!("{events:?}");
    };
    assert!(dav.path.ends_with("/x.vcf"), "{}", dav.path);
    assert_eq!(dav.body, b"BEGIN");

    // Without with_handoff nothing is kept, and nothing can be handed over.
    let mut plain = https();
    plain.handle_input(b"OPTIONS /SOGo/dav/ HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2VAZXhhbXBsZS5jb206cGE6c3M=\r\n\r\n");
    let _ = drain(&mut plain);
    assert_eq!(plain.handoff(), None);
}
