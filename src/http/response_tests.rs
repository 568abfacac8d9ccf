//! The response encoder: exact bytes for the common shapes.

use super::*;

fn encoded(response: &Response, to: ResponseTarget<'_>) -> String {
    let mut out = Vec::new();
    response.encode(to, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

#[test]
fn a_get_response_has_date_fields_length_and_body() {
    let r = Response::new(200)
        .header("Cache-Control", "no-store")
        .body("text/html; charset=utf-8", "<p>hi</p>");
    let to = ResponseTarget {
        head_only: false,
        close: false,
        date: Some(DATE),
    };
    assert_eq!(
        encoded(&r, to),
        "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nCache-Control: no-store\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n<p>hi</p>"
    );
}

#[test]
fn a_head_response_has_the_get_length_and_no_body() {
    let r = Response::new(200).body("text/plain", "twelve bytes");
    assert_eq!(
        encoded(
            &r,
            ResponseTarget {
                head_only: true,
                ..Default::default()
            }
        ),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
    );
}

#[test]
fn bodiless_statuses_have_no_length_and_no_body() {
    let r = Response::new(204).header("ETag", "\"1\"");
    assert_eq!(
        encoded(&r, ResponseTarget::default()),
        "HTTP/1.1 204 No Content\r\nETag: \"1\"\r\n\r\n"
    );
    let mut r = Response::new(304);
    r.body = b"ignored".to_vec();
    assert_eq!(
        encoded(&r, ResponseTarget::default()),
        "HTTP/1.1 304 Not Modified\r\n\r\n"
    );
    assert_eq!(
        encoded(&Response::new(100), ResponseTarget::default()).as_bytes(),
        CONTINUE
    );
}

#[test]
fn a_closing_error_response_says_connection_close() {
    let to = ResponseTarget {
        head_only: false,
        close: true,
        date: None,
    };
    assert_eq!(
        encoded(&Response::error(400, "Bare LF in the request head"), to),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\nConnection: close\r\n\r\nBare LF in the request head\n"
    );
    let e = HttpError {
        status: 431,
        reason: "Too many header fields",
        close: true,
    };
    assert_eq!(
        encoded(&Response::from_error(&e), to),
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\nConnection: close\r\n\r\nToo many header fields\n"
    );
}

#[test]
fn an_unnamed_status_has_an_empty_reason() {
    assert_eq!(
        encoded(&Response::new(299), ResponseTarget::default()),
        "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn every_listed_status_has_a_reason_phrase() {
    for status in [
        100, 200, 201, 204, 207, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 411, 412, 413,
        414, 415, 417, 422, 423, 424, 429, 431, 500, 501, 503, 505, 507,
    ] {
        assert!(!reason_phrase(status).is_empty(), "{status}");
    }
}

/// CR and LF in a value would split the response: they are dropped in release builds;
/// debug builds assert first.
#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "holds CR/LF"))]
fn cr_and_lf_never_reach_the_wire() {
    let mut r = Response::new(200);
    r.headers.push(("X-Evil", "a\r\nSet-Cookie: x=1".into()));
    assert_eq!(
        encoded(&r, ResponseTarget::default()),
        "HTTP/1.1 200 OK\r\nX-Evil: aSet-Cookie: x=1\r\nContent-Length: 0\r\n\r\n"
    );
}
