//! The request reader: exact typed requests, every input also fed byte by byte and split at
//! every point, pipelining, each error status with its close flag, smuggling attempts,
//! `100 Continue`, small limits and bounded memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

type Outcome = Result<Request, HttpError>;

/// Everything the reader yields for `pieces` fed one after the other, checking the memory
/// bound after each read.
fn feed<'a>(limits: HttpLimits, pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Outcome> {
    let mut reader = RequestReader::new(limits);
    let mut out = Vec::new();
    for piece in pieces {
        reader.handle_input(piece);
        while let Some(outcome) = reader.poll_request() {
            out.push(outcome);
        }
        assert!(
            reader.buffered() <= limits.max_head_bytes + limits.max_body_bytes,
            "holds {} bytes",
            reader.buffered()
        );
    }
    out
}

/// What `input` yields, the same whether it comes in one read, byte by byte or split in two
/// at any point.
fn read_with(limits: HttpLimits, input: &[u8]) -> Vec<Outcome> {
    let whole = feed(limits, [input]);
    assert_eq!(
        feed(limits, input.chunks(1)),
        whole,
        "byte by byte differs for {:?}",
        String::from_utf8_lossy(input)
    );
    for at in 1..input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(
            feed(limits, [a, b]),
            whole,
            "split at {at} differs for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

fn read(input: &[u8]) -> Vec<Outcome> {
    read_with(HttpLimits::default(), input)
}

/// The one request `input` holds.
fn one(input: &str) -> Request {
    match read(input.as_bytes()).as_slice() {
        [Ok(request)] => request.clone(),
        other => panic!("expected one request from {input:?}, got {other:?}"),
    }
}

/// The error `input` ends with (after any requests before it).
fn error_with(limits: HttpLimits, input: &[u8]) -> HttpError {
    match read_with(limits, input).last() {
        Some(Err(e)) => *e,
        other => panic!(
            "expected an error from {:?}, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn error(input: &str) -> HttpError {
    error_with(HttpLimits::default(), input.as_bytes())
}

fn h(name: &str, value: &str) -> (String, Vec<u8>) {
    (name.to_string(), value.as_bytes().to_vec())
}

fn small() -> HttpLimits {
    HttpLimits {
        max_head_bytes: 128,
        max_headers: 4,
        max_target_bytes: 32,
        max_body_bytes: 64,
    }
}

#[test]
fn a_get_becomes_its_typed_request() {
    let request = one("GET /dav/calendars/alice/?depth=1&x=%20y HTTP/1.1\r\nHost: mail.example.com\r\nUser-Agent: t/1.0\r\nAccept:  */*  \r\n\r\n");
    assert_eq!(
        request,
        Request {
            method: Method::Get,
            target: "/dav/calendars/alice/?depth=1&x=%20y".into(),
            path: "/dav/calendars/alice/".into(),
            query: Some("depth=1&x=%20y".into()),
            version: Version::Http11,
            headers: vec![
                h("host", "mail.example.com"),
                h("user-agent", "t/1.0"),
                h("accept", "*/*"),
            ],
            body: Vec::new(),
        }
    );
}

#[test]
fn a_post_with_content_length_carries_its_body() {
    let request = one("POST /login HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 23\r\n\r\nuser=al%40ice&pass=a+b!");
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.query, None);
    assert_eq!(request.body, b"user=al%40ice&pass=a+b!");
    assert_eq!(request.form_field("user").as_deref(), Some("al@ice"));
    assert_eq!(request.form_field("pass").as_deref(), Some("a b!"));
}

#[test]
fn a_chunked_put_is_dechunked_and_its_trailers_dropped() {
    let request = one("PUT /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA \t; x\r\n, world!!!\r\n00\r\nChecksum: abc\r\nX-T: 1\r\n\r\n");
    assert_eq!(request.method, Method::Put);
    assert_eq!(request.body, b"hello, world!!!");
    assert_eq!(request.header("transfer-encoding"), Some(&b"chunked"[..]));
    assert_eq!(request.header("checksum"), None);
}

#[test]
fn an_http_1_0_request_needs_no_host() {
    let request = one("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(request.version, Version::Http10);
    assert_eq!(request.headers, Vec::new());
    assert!(!request.keep_alive());
}

#[test]
fn target_forms_split_into_path_and_query() {
    let r = one("GET http://Example.com:8080/a%2Fb?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(
        (r.path.as_str(), r.query.as_deref(), r.host()),
        ("/a%2Fb", Some("q=1"), Some("Example.com:8080"))
    );
    let r = one("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((r.path.as_str(), r.query.as_deref()), ("/", None));
    let r = one("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        (&r.method, r.path.as_str(), r.query.as_deref()),
        (&Method::Options, "*", None)
    );
    let r = one("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((r.path.as_str(), r.query.as_deref()), ("/x", Some("")));
}

#[test]
fn methods_are_typed_and_case_sensitive() {
    for (name, method) in [
        ("HEAD", Method::Head),
        ("DELETE", Method::Delete),
        ("PROPFIND", Method::Propfind),
        ("PROPPATCH", Method::Proppatch),
        ("MKCOL", Method::Mkcol),
        ("MKCALENDAR", Method::Mkcalendar),
        ("REPORT", Method::Report),
        ("COPY", Method::Copy),
        ("MOVE", Method::Move),
        ("LOCK", Method::Lock),
        ("UNLOCK", Method::Unlock),
        ("BREW", Method::Other("BREW".into())),
        ("get", Method::Other("get".into())),
    ] {
        let request = one(&format!("{name} / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!(request.method, method);
        assert_eq!(request.method.as_str(), name);
    }
}

#[test]
fn empty_lines_before_a_request_line_are_ignored() {
    let r = one("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.path, "/");
    // A bare LF is not an empty line.
    assert_eq!(error("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
    // Nor endless: more than a head's worth of them is refused.
    let endless = "\r\n".repeat(65);
    assert_eq!(
        error_with(small(), endless.as_bytes()),
        HttpError {
            status: 400,
            reason: "Too many empty lines",
            close: true
        }
    );
}

#[test]
fn pipelined_requests_come_out_one_by_one_in_order() {
    let input = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPUT /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxyGET /4 HTTP/1.1\r\nHost: h\r\n\r\n";
    let got: Vec<(String, Vec<u8>)> = read(input.as_bytes())
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            (r.path, r.body)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/1".to_string(), b"".to_vec()),
            ("/2".to_string(), b"abc".to_vec()),
            ("/3".to_string(), b"xy".to_vec()),
            ("/4".to_string(), b"".to_vec()),
        ]
    );
}

#[test]
fn a_request_after_an_error_is_never_read() {
    let mut reader = RequestReader::new(HttpLimits::default());
    reader.handle_input(
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert!(matches!(reader.poll_request(), Some(Ok(_))));
    assert_eq!(
        reader.poll_request().map(|r| r.map(|_| ())),
        Some(Err(HttpError {
            status: 505,
            reason: "HTTP version not supported",
            close: true
        }))
    );
    assert_eq!(reader.poll_request(), None);
    assert!(reader.is_failed());
    reader.handle_input(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(reader.poll_request(), None);
    assert_eq!(reader.buffered(), 0);
}

/// Every codec error is fatal: the status and the close flag, per input.
#[test]
fn each_error_has_its_status_and_closes() {
    let cases: &[(&str, u16)] = &[
        // Malformed heads.
        ("GET /\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400),
        ("GET /\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nBad Name: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        // Framing.
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nabcde", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nabcde", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\nabcde", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3,\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400),
        // Too large.
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\n", 413),
        // Expectations.
        ("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
        ("PUT / HTTP/1.0\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx", 417),
        // Coding and method not implemented.
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        // Versions.
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("GET / HTTP/3\r\nHost: h\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\n\r\n", 505),
    ];
    for (input, status) in cases {
        let e = error(input);
        assert_eq!((e.status, e.close), (*status, true), "for {input:?}: {e:?}");
    }
}

#[test]
fn a_long_method_is_not_implemented() {
    let method = "A".repeat(33);
    assert_eq!(
        error(&format!("{method} / HTTP/1.1\r\nHost: h\r\n\r\n")),
        HttpError {
            status: 501,
            reason: "Method not implemented",
            close: true
        }
    );
    // Refused from the method alone, before any line end.
    assert_eq!(error(&method).status, 501);
}

#[test]
fn a_long_target_is_refused_before_the_line_ends() {
    let e = HttpError {
        status: 414,
        reason: "URI too long",
        close: true,
    };
    let limits = small();
    let exactly = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(31));
    assert_eq!(read_with(limits, exactly.as_bytes()).len(), 1);
    let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(32));
    assert_eq!(error_with(limits, long.as_bytes()), e);
    // No line end yet, only one byte past the limit.
    assert_eq!(
        error_with(limits, format!("GET /{}", "a".repeat(32)).as_bytes()),
        e
    );
    // With the default limits, a target of 8 KiB + 1 is refused while the head is short of
    // its 16 KiB.
    let giant = format!("GET /{}", "a".repeat(8192));
    assert_eq!(error(&giant), e);
}

#[test]
fn head_and_field_limits_are_431() {
    let limits = small();
    // 128 bytes of head exactly is fine; 129 is not.
    let fits = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(96));
    assert_eq!(fits.len(), 128);
    assert_eq!(read_with(limits, fits.as_bytes()).len(), 1);
    let over = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(97));
    assert_eq!(
        error_with(limits, over.as_bytes()),
        HttpError {
            status: 431,
            reason: "Request header fields too large",
            close: true
        }
    );
    let four = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(read_with(limits, four.as_bytes()).len(), 1);
    let five = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    assert_eq!(
        error_with(limits, five.as_bytes()),
        HttpError {
            status: 431,
            reason: "Too many header fields",
            close: true
        }
    );
    // Trailers count against the same limits.
    let trailers = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: {}\r\n\r\n",
        "v".repeat(125)
    );
    assert_eq!(error_with(limits, trailers.as_bytes()).status, 431);
    let many = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    assert_eq!(error_with(limits, many.as_bytes()).status, 431);
}

#[test]
fn body_limits_are_413_from_the_declared_length_or_the_running_total() {
    let limits = small();
    let fits = format!(
        "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n{}",
        "b".repeat(64)
    );
    assert_eq!(
        read_with(limits, fits.as_bytes())[0]
            .as_ref()
            .unwrap()
            .body
            .len(),
        64
    );
    // Declared: refused from the head alone.
    assert_eq!(
        error_with(
            limits,
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n"
        ),
        HttpError {
            status: 413,
            reason: "Content too large",
            close: true
        }
    );
    // Chunked: refused at the chunk that goes over, before its data.
    let chunks = format!(
        "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{}\r\n21\r\n",
        "c".repeat(32)
    );
    assert_eq!(error_with(limits, chunks.as_bytes()).status, 413);
    let exactly = format!(
        "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{0}\r\n20\r\n{0}\r\n0\r\n\r\n",
        "c".repeat(32)
    );
    assert_eq!(
        read_with(limits, exactly.as_bytes())[0]
            .as_ref()
            .unwrap()
            .body
            .len(),
        64
    );
}

#[test]
fn a_chunk_size_line_is_bounded() {
    let limits = small();
    let ext = format!(
        "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\nx\r\n0\r\n\r\n",
        "e".repeat(200)
    );
    assert_eq!(
        error_with(limits, ext.as_bytes()),
        HttpError {
            status: 400,
            reason: "Chunk size line too long",
            close: true
        }
    );
}

#[test]
fn continue_is_cued_once_while_the_body_is_awaited() {
    let mut reader = RequestReader::new(HttpLimits::default());
    reader.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
    );
    assert_eq!(reader.poll_request(), None);
    assert!(reader.poll_continue());
    assert!(!reader.poll_continue());
    reader.handle_input(b"he");
    assert_eq!(reader.poll_request(), None);
    assert!(!reader.poll_continue());
    reader.handle_input(b"llo");
    assert_eq!(reader.poll_request().unwrap().unwrap().body, b"hello");
    assert!(!reader.poll_continue());
    assert_eq!(CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn continue_is_not_cued_when_the_body_came_with_the_head() {
    let mut reader = RequestReader::new(HttpLimits::default());
    reader.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(reader.poll_request().unwrap().unwrap().body, b"hello");
    assert!(!reader.poll_continue());
    // Nor without a body, nor for HTTP/1.0 (RFC 9110 §10.1.1), nor for a refused request.
    for input in [
        &b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"[..],
        b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
    ] {
        let mut reader = RequestReader::new(HttpLimits::default());
        reader.handle_input(input);
        while reader.poll_request().is_some() {}
        assert!(
            !reader.poll_continue(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn continue_is_cued_for_a_chunked_body_too() {
    let mut reader = RequestReader::new(HttpLimits::default());
    reader.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(reader.poll_request(), None);
    assert!(reader.poll_continue());
    reader.handle_input(b"0\r\n\r\n");
    assert_eq!(reader.poll_request().unwrap().unwrap().body, b"");
}

#[test]
fn an_endless_header_never_grows_the_buffer_past_the_limit_plus_one_read() {
    let limits = HttpLimits::default();
    let mut reader = RequestReader::new(limits);
    reader.handle_input(b"GET / HTTP/1.1\r\nX: ");
    let read = [b'v'; 1000];
    let mut outcome = None;
    for _ in 0..100 {
        reader.handle_input(&read);
        assert!(reader.buffered() <= limits.max_head_bytes + read.len());
        if let Some(o) = reader.poll_request() {
            outcome = Some(o);
            break;
        }
        assert!(reader.buffered() <= limits.max_head_bytes);
    }
    assert_eq!(outcome.unwrap().unwrap_err().status, 431);
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn an_endless_chunk_never_grows_the_buffer_past_the_body_limit() {
    let limits = small();
    let mut reader = RequestReader::new(limits);
    reader.handle_input(b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut outcome = None;
    for _ in 0..100 {
        reader.handle_input(b"3\r\nabc\r\n");
        if let Some(o) = reader.poll_request() {
            outcome = Some(o);
            break;
        }
        assert!(reader.buffered() <= limits.max_body_bytes);
    }
    assert_eq!(outcome.unwrap().unwrap_err().status, 413);
}

/// Found by the property test: the request-line's own checks ran after the bare-LF check on
/// a complete line, but before it on a partial one, so splits changed the answer.
#[test]
fn a_bad_method_byte_before_a_bare_lf_is_refused_the_same_in_every_split() {
    let e = error_with(small(), b"\0\0\x0b\n");
    assert_eq!(e.reason, "Malformed request line");
}

/// Found by the property test: the target's length was checked before its bytes, so a
/// control byte early in a long target got 414 in one read and 400 byte by byte.
#[test]
fn a_control_byte_early_in_a_long_target_is_refused_at_its_position() {
    let mut input = b"!*A /".to_vec();
    input.extend_from_slice(&[0; 40]);
    assert_eq!(error_with(small(), &input).reason, "Malformed request line");
    let long_method = [b'A'; 40];
    let mut input = long_method.to_vec();
    input[35] = 0;
    assert_eq!(error_with(small(), &input).status, 501);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Arbitrary bytes in arbitrary reads: no panic, memory within the limits after every
    /// read, and the same outcomes as one read.
    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        step in 1usize..40,
    ) {
        let limits = small();
        let whole = feed(limits, [&data[..]]);
        let split = feed(limits, data.chunks(step));
        prop_assert_eq!(split, whole);
    }

    /// Almost-valid requests (a valid request with bytes changed) reach deeper states.
    #[test]
    fn mutated_requests_never_panic_and_split_alike(
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
        step in 1usize..40,
    ) {
        let mut data = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab".to_vec();
        for (at, byte) in flips {
            let at = at % data.len();
            data[at] = byte;
        }
        let limits = small();
        prop_assert_eq!(feed(limits, data.chunks(step)), feed(limits, [&data[..]]));
    }
}
