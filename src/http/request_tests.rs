//! Request helpers: headers, keep-alive, host, cookies, query parameters, form fields and
//! percent-decoding, on hand-built requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn request(version: Version, headers: &[(&str, &str)], body: &str) -> Request {
    Request {
        method: Method::Get,
        target: "/p?a=1&b=x+y%21&c&d=%FF&e=%zz&a=2&n%61me=v".into(),
        path: "/p".into(),
        query: Some("a=1&b=x+y%21&c&d=%FF&e=%zz&a=2&n%61me=v".into()),
        version,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn headers_are_found_by_any_case_in_order() {
    let r = request(
        Version::Http11,
        &[("x-a", "1"), ("host", "h"), ("x-a", "2")],
        "",
    );
    assert_eq!(r.header("X-A"), Some(&b"1"[..]));
    assert_eq!(r.headers_named("x-A").collect::<Vec<_>>(), [b"1", b"2"]);
    assert_eq!(r.header("x-b"), None);
    assert_eq!(r.host(), Some("h"));
}

#[test]
fn keep_alive_follows_the_version_and_connection_options() {
    type Fields = &'static [(&'static str, &'static str)];
    let cases: &[(Version, Fields, bool)] = &[
        (Version::Http11, &[], true),
        (Version::Http11, &[("connection", "close")], false),
        (Version::Http11, &[("connection", "Upgrade, CLOSE")], false),
        (
            Version::Http11,
            &[("connection", "keep-alive"), ("connection", " close ")],
            false,
        ),
        (Version::Http11, &[("connection", "closed")], true),
        (Version::Http10, &[], false),
        (Version::Http10, &[("connection", "Keep-Alive")], true),
        (Version::Http10, &[("connection", "te,keep-alive")], true),
        (
            Version::Http10,
            &[("connection", "keep-alive, close")],
            false,
        ),
    ];
    for (version, headers, expected) in cases {
        assert_eq!(
            request(*version, headers, "").keep_alive(),
            *expected,
            "{version:?} {headers:?}"
        );
    }
}

#[test]
fn cookies_are_read_from_every_cookie_field() {
    let r = request(
        Version::Http11,
        &[
            ("cookie", "a=1; session=abc%20d;  b = 2 "),
            ("cookie", "q=\"quoted\";empty=;bad=\u{e9}"),
            ("cookie", "session=second"),
        ],
        "",
    );
    assert_eq!(r.cookie("session"), Some("abc%20d"));
    assert_eq!(r.cookie("a"), Some("1"));
    assert_eq!(r.cookie("b"), Some("2"));
    assert_eq!(r.cookie("q"), Some("quoted"));
    assert_eq!(r.cookie("empty"), Some(""));
    assert_eq!(r.cookie("bad"), Some("\u{e9}"));
    assert_eq!(r.cookie("Session"), None);
    assert_eq!(r.cookie("missing"), None);
    let mut latin1 = request(Version::Http11, &[], "");
    latin1.headers.push(("cookie".into(), b"x=\xff".to_vec()));
    assert_eq!(latin1.cookie("x"), None);
}

#[test]
fn query_parameters_are_decoded() {
    let r = request(Version::Http11, &[], "");
    assert_eq!(r.query_param("a").as_deref(), Some("1"));
    assert_eq!(r.query_param("b").as_deref(), Some("x y!"));
    assert_eq!(r.query_param("c").as_deref(), Some(""));
    assert_eq!(r.query_param("name").as_deref(), Some("v"));
    // Not UTF-8, not a valid escape, absent.
    assert_eq!(r.query_param("d"), None);
    assert_eq!(r.query_param("e"), None);
    assert_eq!(r.query_param("z"), None);
    let mut none = r.clone();
    none.query = None;
    assert_eq!(none.query_param("a"), None);
}

#[test]
fn form_fields_need_the_urlencoded_content_type() {
    let form = "user=al%40ice&pass=p+w%3D&note=%E2%82%AC";
    let r = request(
        Version::Http11,
        &[(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )],
        form,
    );
    assert_eq!(r.form_field("user").as_deref(), Some("al@ice"));
    assert_eq!(r.form_field("pass").as_deref(), Some("p w="));
    assert_eq!(r.form_field("note").as_deref(), Some("\u{20ac}"));
    assert_eq!(r.form_field("a"), None);
    let json = request(
        Version::Http11,
        &[("content-type", "application/json")],
        form,
    );
    assert_eq!(json.form_field("user"), None);
    let untyped = request(Version::Http11, &[], form);
    assert_eq!(untyped.form_field("user"), None);
    assert!(untyped.form_fields("user").is_empty());
    // Checkboxes repeat a field: every value, in order.
    let boxes = request(
        Version::Http11,
        &[("content-type", "application/x-www-form-urlencoded")],
        "scope=imap&name=x&scope=smtp&scope=%FF&scope=dav",
    );
    assert_eq!(boxes.form_fields("scope"), ["imap", "smtp", "dav"]);
}

#[test]
fn paths_are_percent_decoded_strictly() {
    assert_eq!(
        percent_decode_path("/a%20b/c+d").as_deref(),
        Some("/a b/c+d")
    );
    assert_eq!(
        percent_decode_path("/%E2%82%ac").as_deref(),
        Some("/\u{20ac}")
    );
    assert_eq!(percent_decode_path("/a%2Fb").as_deref(), Some("/a/b"));
    assert_eq!(percent_decode_path("/%"), None);
    assert_eq!(percent_decode_path("/%4"), None);
    assert_eq!(percent_decode_path("/%g0"), None);
    assert_eq!(percent_decode_path("/%ff"), None);
    assert_eq!(percent_decode_path("").as_deref(), Some(""));
}
