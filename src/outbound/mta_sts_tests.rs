#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

// ---- §3.1: the TXT record ------------------------------------------------------------

fn id_of(txt: &[&str]) -> Option<String> {
    sts_record(txt).map(|r| r.id)
}

#[test]
fn the_rfc_record_and_its_spacing_variants() {
    // §3.1's example.
    assert_eq!(
        id_of(&["v=STSv1; id=20160831085700Z;"]).as_deref(),
        Some("20160831085700Z")
    );
    for text in [
        "v=STSv1;id=abc123",
        "v=STSv1 ; id=abc123 ;",
        "v=STSv1;\tid = abc123\t;",
        "v=STSv1; ext-field=some.value; id=abc123; other_one=x",
        "v=STSv1; id=abc123; id=second",
        "v=STSv1; noequals; id=abc123",
    ] {
        assert_eq!(id_of(&[text]).as_deref(), Some("abc123"), "{text:?}");
    }
    assert_eq!(txt_name("example.com."), "_mta-sts.example.com");
}

#[test]
fn invalid_records_are_no_policy() {
    for text in [
        "v=STSv1",
        "v=STSv1;",
        "v=STSv1; ext=1",
        "v=STSv1; id=",
        "v=STSv1; id=abc-123",
        "v=STSv1; id=abc 123",
        "v=STSv1; ID=abc123",
        "v=STSv1; id=abc123=",
        // The first id counts, even when it is the invalid one.
        "v=STSv1; id=bad!; id=good",
    ] {
        assert_eq!(id_of(&[text]), None, "{text:?}");
    }
    let longest = "a".repeat(32);
    assert_eq!(
        id_of(&[format!("v=STSv1; id={longest}").as_str()]),
        Some(longest)
    );
    assert_eq!(
        id_of(&[format!("v=STSv1; id={}", "a".repeat(33)).as_str()]),
        None
    );
}

#[test]
fn exactly_one_sts_record_among_the_txt_records() {
    // Other records are set aside: what is not exactly `v=STSv1` then `;` or the end.
    let others = [
        "v=spf1 -all",
        "v=STSv10; id=ten",
        "V=STSv1; id=upper",
        " v=STSv1; id=leading",
        "v=STSv2; id=two",
        "",
    ];
    let mut txt: Vec<&str> = others.to_vec();
    txt.push("v=STSv1; id=one");
    assert_eq!(id_of(&txt).as_deref(), Some("one"));
    // Two STS records, even the same one twice, are none (§3.1).
    txt.push("v=STSv1; id=two");
    assert_eq!(id_of(&txt), None);
    assert_eq!(id_of(&["v=STSv1; id=x", "v=STSv1; id=x"]), None);
    // An invalid STS record still counts as one.
    assert_eq!(id_of(&["v=STSv1; id=x", "v=STSv1"]), None);
    assert_eq!(id_of(&[]), None);
    assert_eq!(id_of(&others), None);
    // Strings, as dns::Answer::Txt has them, work too.
    assert!(sts_record(&["v=STSv1;id=s".to_string()]).is_some());
}

// ---- §3.2: the policy ----------------------------------------------------------------

/// §3.2's example policy.
const RFC_POLICY: &str = "version: STSv1\r\n\
    mode: enforce\r\n\
    mx: mail.example.com\r\n\
    mx: *.example.net\r\n\
    mx: backupmx.example.com\r\n\
    max_age: 604800\r\n";

fn parse(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text.as_bytes())
}

fn mx(patterns: &[&str]) -> Vec<MxPattern> {
    patterns
        .iter()
        .map(|p| MxPattern::parse(p).unwrap())
        .collect()
}

#[test]
fn the_rfc_policy_with_crlf_lf_or_both() {
    let expected = Policy {
        mode: Mode::Enforce,
        mx: mx(&["mail.example.com", "*.example.net", "backupmx.example.com"]),
        max_age: 604_800,
    };
    assert_eq!(parse(RFC_POLICY), Ok(expected.clone()));
    let lf = RFC_POLICY.replace("\r\n", "\n");
    assert_eq!(parse(&lf), Ok(expected.clone()));
    let mixed = RFC_POLICY.replacen("\r\n", "\n", 2);
    assert_eq!(parse(&mixed), Ok(expected.clone()));
    // No final line end, a byte order mark, blank lines.
    assert_eq!(parse(RFC_POLICY.trim_end()), Ok(expected.clone()));
    assert_eq!(
        parse(&format!("\u{feff}{RFC_POLICY}")),
        Ok(expected.clone())
    );
    assert_eq!(
        parse(&RFC_POLICY.replace("\r\n", "\r\n\r\n")),
        Ok(expected.clone())
    );
    let shown: Vec<String> = expected.mx.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        ["mail.example.com", "*.example.net", "backupmx.example.com"]
    );
}

#[test]
fn blanks_unknown_keys_and_repeated_fields() {
    let text = "  version :  STSv1 \t\n\
        mode:testing\n\
        mx:  MX1.Example.COM.  \n\
        x-extension: whatever: with colons\n\
        not a field at all\n\
        max_age:0\n";
    assert_eq!(
        parse(text),
        Ok(Policy {
            mode: Mode::Testing,
            mx: mx(&["mx1.example.com"]),
            max_age: 0,
        })
    );
    // The first version, mode and max_age count; the later ones are ignored.
    let text = "version: STSv1\nversion: STSv2\nmode: enforce\nmode: none\n\
        mx: a.example\nmax_age: 10\nmax_age: nonsense\n";
    let policy = parse(text).unwrap();
    assert_eq!((policy.mode, policy.max_age), (Mode::Enforce, 10));
    // mode none needs no mx.
    assert_eq!(
        parse("version: STSv1\nmode: none\nmax_age: 86400\n"),
        Ok(Policy {
            mode: Mode::None,
            mx: vec![],
            max_age: 86_400
        })
    );
}

#[test]
fn malformed_policies_say_why() {
    let cases: &[(&str, PolicyError)] = &[
        (
            "mode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::MissingVersion,
        ),
        (
            "Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::MissingVersion,
        ),
        (
            "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::BadVersion("STSv2".into()),
        ),
        (
            "version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::BadVersion("stsv1".into()),
        ),
        (
            "version: STSv1\nmx: a.example\nmax_age: 1\n",
            PolicyError::MissingMode,
        ),
        (
            "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
            PolicyError::BadMode("Enforce".into()),
        ),
        (
            "version: STSv1\nmode: reject\nmx: a.example\nmax_age: 1\n",
            PolicyError::BadMode("reject".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\n",
            PolicyError::MissingMaxAge,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
            PolicyError::BadMaxAge("31557601".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n",
            PolicyError::BadMaxAge("00000000001".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: +5\n",
            PolicyError::BadMaxAge("+5".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
            PolicyError::BadMaxAge("-1".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1 0\n",
            PolicyError::BadMaxAge("1 0".into()),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n",
            PolicyError::BadMaxAge(String::new()),
        ),
        (
            "version: STSv1\nmode: enforce\nmax_age: 1\n",
            PolicyError::NoMx,
        ),
        (
            "version: STSv1\nmode: testing\nmax_age: 1\n",
            PolicyError::NoMx,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: mail..example.com\nmax_age: 1\n",
            PolicyError::BadMx("mail..example.com".into()),
        ),
        // A line ending in a lone CR is not a line end: the version is then "STSv1\rmode…".
        (
            "version: STSv1\rmode: enforce\rmx: a.example\rmax_age: 1\r",
            PolicyError::BadVersion("STSv1\rmode: enforce\rmx: a.example\rmax_age: 1".into()),
        ),
    ];
    for (text, error) in cases {
        assert_eq!(parse(text).as_ref(), Err(error), "{text:?}");
    }
    assert_eq!(
        parse("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n")
            .map(|p| p.max_age),
        Ok(MAX_AGE_LIMIT)
    );
    assert_eq!(
        Policy::parse(b"version: STSv1\xff\n"),
        Err(PolicyError::NotUtf8)
    );
    assert_eq!(
        PolicyError::BadMaxAge("31557601".into()).to_string(),
        "bad max_age \"31557601\" (expected seconds, at most 31557600)"
    );
    // Values in errors are cut short.
    let long = format!(
        "version: STSv1\nmode: {}\nmx: a.example\nmax_age: 1\n",
        "x".repeat(1000)
    );
    let error = parse(&long).unwrap_err().to_string();
    assert!(error.len() < 200 && error.contains('…'), "{error}");
}

#[test]
fn bad_mx_patterns() {
    for bad in [
        "",
        "*",
        "*.",
        ".example.com",
        "mail..example.com",
        "mail.example.com..",
        "mail.*.example.com",
        "**.example.com",
        "*.*.example.com",
        "mail example.com",
        "mail.exa/mple.com",
        "mäil.example.com",
    ] {
        assert_eq!(
            MxPattern::parse(bad),
            Err(PolicyError::BadMx(bad.into())),
            "{bad:?}"
        );
    }
    assert!(MxPattern::parse(&format!("{}.example", "a".repeat(63))).is_ok());
    assert!(MxPattern::parse(&format!("{}.example", "a".repeat(64))).is_err());
    assert!(MxPattern::parse("*.example.net").unwrap().is_wildcard());
    assert!(!MxPattern::parse("mx_1.example.net").unwrap().is_wildcard());
}

#[test]
fn the_size_bound() {
    let filler = |total: usize| {
        let mut text = RFC_POLICY.to_string();
        text.push_str("x-pad: ");
        while text.len() < total - 1 {
            text.push('.');
        }
        text.push('\n');
        text
    };
    let exact = filler(MAX_POLICY_BYTES);
    assert_eq!(exact.len(), MAX_POLICY_BYTES);
    assert!(parse(&exact).is_ok());
    let over = filler(MAX_POLICY_BYTES + 1);
    assert_eq!(parse(&over), Err(PolicyError::TooLarge));
}

// ---- §4.1: MX matching ---------------------------------------------------------------

#[test]
fn mx_matching_as_section_4_1_says() {
    let wildcard = MxPattern::parse("*.example.com").unwrap();
    assert!(wildcard.matches("mail.example.com"));
    assert!(wildcard.matches("MAIL.Example.Com."));
    assert!(!wildcard.matches("example.com"));
    assert!(!wildcard.matches("a.b.example.com"));
    assert!(!wildcard.matches(".example.com"));
    assert!(!wildcard.matches("mail.example.com.evil"));
    assert!(!wildcard.matches("mailexample.com"));
    assert!(!wildcard.matches(""));

    let exact = MxPattern::parse("Mail.Example.com.").unwrap();
    assert!(exact.matches("mail.example.com"));
    assert!(exact.matches("MAIL.EXAMPLE.COM."));
    assert!(!exact.matches("xmail.example.com"));
    assert!(!exact.matches("a.mail.example.com"));
    assert!(!exact.matches("example.com"));
    assert!(!exact.matches("mail.example.com.."));

    let policy = parse(RFC_POLICY).unwrap();
    for host in [
        "mail.example.com",
        "mx1.example.net",
        "backupmx.example.com.",
    ] {
        assert!(policy.permits(host), "{host}");
    }
    for host in [
        "example.net",
        "a.b.example.net",
        "other.example.com",
        "mail.example.org",
    ] {
        assert!(!policy.permits(host), "{host}");
    }
}

// ---- §5.1: the cache -----------------------------------------------------------------

const NOW: i64 = 1_767_225_600;

fn policy(mode: Mode, max_age: u32) -> Policy {
    Policy {
        mode,
        mx: mx(&["*.example.com"]),
        max_age,
    }
}

fn record(id: &str) -> StsRecord {
    StsRecord { id: id.into() }
}

#[test]
fn cached_entries_expire_after_max_age() {
    let c = Cached::new(policy(Mode::Enforce, 3600), "id1", NOW);
    assert_eq!((c.fetched, c.expires), (NOW, NOW + 3600));
    assert!(c.is_fresh(NOW + 3599));
    assert!(!c.is_fresh(NOW + 3600));
    let zero = Cached::new(policy(Mode::Enforce, 0), "id1", NOW);
    assert!(!zero.is_fresh(NOW));
}

#[test]
fn nothing_cached() {
    assert_eq!(decide(None, None, NOW), Decision::NoPolicy);
    assert_eq!(
        decide(None, Some(&record("a")), NOW),
        Decision::Fetch { fallback: None }
    );
}

#[test]
fn a_fresh_cached_policy() {
    let c = Cached::new(policy(Mode::Enforce, 30 * 86_400), "a", NOW);
    let later = NOW + 3600;
    // Same id: applied as it is.
    assert_eq!(
        decide(Some(&c), Some(&record("a")), later),
        Decision::UseCached {
            policy: &c.policy,
            refresh: false
        }
    );
    // A new id: fetch, the cached policy to fall back on.
    assert_eq!(
        decide(Some(&c), Some(&record("b")), later),
        Decision::Fetch {
            fallback: Some(&c.policy)
        }
    );
    // No record (or the lookup failed): the cached policy still applies (§3.1, §10.2).
    assert_eq!(
        decide(Some(&c), None, later),
        Decision::UseCached {
            policy: &c.policy,
            refresh: false
        }
    );
}

#[test]
fn an_expired_cached_policy_is_no_policy() {
    let c = Cached::new(policy(Mode::Enforce, 3600), "a", NOW);
    let end = c.expires;
    assert_eq!(decide(Some(&c), None, end), Decision::NoPolicy);
    assert_eq!(decide(Some(&c), None, end + 86_400), Decision::NoPolicy);
    // Even with the same id, it is fetched again, with nothing to fall back on.
    assert_eq!(
        decide(Some(&c), Some(&record("a")), end),
        Decision::Fetch { fallback: None }
    );
    assert_eq!(
        decide(Some(&c), Some(&record("b")), end),
        Decision::Fetch { fallback: None }
    );
}

#[test]
fn a_cached_policy_of_mode_none_is_no_policy() {
    let c = Cached::new(policy(Mode::None, 86_400), "a", NOW);
    assert_eq!(
        decide(Some(&c), Some(&record("a")), NOW),
        Decision::NoPolicy
    );
    assert_eq!(decide(Some(&c), None, NOW), Decision::NoPolicy);
    // A new id: fetch, with no policy to fall back on.
    assert_eq!(
        decide(Some(&c), Some(&record("b")), NOW),
        Decision::Fetch { fallback: None }
    );
    // Testing counts as a policy.
    let t = Cached::new(policy(Mode::Testing, 86_400), "a", NOW);
    assert!(matches!(
        decide(Some(&t), Some(&record("a")), NOW),
        Decision::UseCached { .. }
    ));
}

#[test]
fn refresh_after_a_day_or_half_a_short_lifetime() {
    let long = Cached::new(policy(Mode::Enforce, MAX_AGE_LIMIT), "a", NOW);
    let due = |c: &Cached, now: i64, r: Option<&StsRecord>| match decide(Some(c), r, now) {
        Decision::UseCached { refresh, .. } => refresh,
        other => panic!("{other:?}"),
    };
    let a = record("a");
    assert!(!due(&long, NOW + REFRESH_AFTER - 1, Some(&a)));
    assert!(due(&long, NOW + REFRESH_AFTER, Some(&a)));
    // Without a record there is no id to file a refreshed policy under.
    assert!(!due(&long, NOW + REFRESH_AFTER, None));
    let short = Cached::new(policy(Mode::Enforce, 3600), "a", NOW);
    assert!(!due(&short, NOW + 1799, Some(&a)));
    assert!(due(&short, NOW + 1800, Some(&a)));
}

// ---- §4, §5: the plan ----------------------------------------------------------------

fn targets(plan: &Plan) -> Vec<(&str, Requirement)> {
    match plan {
        Plan::Try { targets, .. } => targets
            .iter()
            .map(|t| (t.host.as_str(), t.requirement))
            .collect(),
        Plan::Defer { reason } => panic!("deferred: {reason}"),
    }
}

const HOSTS: [&str; 3] = ["mx1.example.com", "mx.evil.test", "mx2.example.com"];

#[test]
fn without_a_policy_every_host_as_before() {
    let expected = vec![
        ("mx1.example.com", Requirement::None),
        ("mx.evil.test", Requirement::None),
        ("mx2.example.com", Requirement::None),
    ];
    for p in [None, Some(&policy(Mode::None, 1))] {
        let got = plan(&HOSTS, p);
        assert_eq!(targets(&got), expected);
        assert!(matches!(got, Plan::Try { would_fail, .. } if would_fail.is_empty()));
    }
}

#[test]
fn enforce_keeps_the_permitted_hosts_in_order_with_verified_tls() {
    let enforce = policy(Mode::Enforce, 1);
    let got = plan(&HOSTS, Some(&enforce));
    assert_eq!(
        targets(&got),
        [
            ("mx1.example.com", Requirement::VerifiedTls),
            ("mx2.example.com", Requirement::VerifiedTls),
        ]
    );
    assert!(matches!(got, Plan::Try { would_fail, .. } if would_fail.is_empty()));
}

#[test]
fn enforce_with_no_permitted_host_defers() {
    let enforce = policy(Mode::Enforce, 1);
    assert_eq!(
        plan(&["mx.evil.test", "backup.evil.test"], Some(&enforce)),
        Plan::Defer {
            reason: "MTA-STS policy (enforce) permits none of the MX hosts mx.evil.test, \
                     backup.evil.test (mx: *.example.com)"
                .into()
        }
    );
    let none: [&str; 0] = [];
    assert!(matches!(plan(&none, Some(&enforce)), Plan::Defer { .. }));
    // Many patterns are not all listed.
    let many = Policy {
        mode: Mode::Enforce,
        mx: (0..40)
            .map(|i| MxPattern::parse(&format!("mx{i}.example.org")).unwrap())
            .collect(),
        max_age: 1,
    };
    match plan(&["mx.evil.test"], Some(&many)) {
        Plan::Defer { reason } => {
            assert!(reason.ends_with("mx4.example.org and 35 more)"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn testing_tries_every_host_and_reports_the_others() {
    let testing = policy(Mode::Testing, 1);
    let got = plan(&HOSTS, Some(&testing));
    assert_eq!(
        targets(&got),
        [
            ("mx1.example.com", Requirement::ReportTls),
            ("mx.evil.test", Requirement::None),
            ("mx2.example.com", Requirement::ReportTls),
        ]
    );
    let Plan::Try { would_fail, .. } = got else {
        panic!()
    };
    assert_eq!(
        would_fail,
        ["MTA-STS policy (testing): MX host mx.evil.test is not permitted (mx: *.example.com)"]
    );
}

// ---- §3.3: the HTTPS fetch -----------------------------------------------------------

#[test]
fn the_request() {
    assert_eq!(
        String::from_utf8(request("Example.COM.").unwrap()).unwrap(),
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\n\
         Host: mta-sts.example.com\r\n\
         User-Agent: ringpost\r\n\
         Accept: text/plain\r\n\
         Accept-Encoding: identity\r\n\
         Connection: close\r\n\
         \r\n"
    );
    assert_eq!(policy_host("example.com").unwrap(), "mta-sts.example.com");
    for bad in [
        "",
        ".",
        "a..b",
        "example.com\r\nX-Evil: 1",
        "exa mple.com",
        "example.com/x",
        "[192.0.2.1]",
    ] {
        assert_eq!(
            request(bad),
            Err(FetchError::BadDomain(bad.into())),
            "{bad:?}"
        );
    }
    // mta-sts. and the domain together are over 253 characters.
    let long = format!("{}.com", vec!["a".repeat(60); 4].join("."));
    assert!(policy_host(&long[8..]).is_ok() && policy_host(&long).is_err());
}

fn response(head: &str, body: &[u8]) -> Vec<u8> {
    let mut r = head.replace('\n', "\r\n").into_bytes();
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

fn rfc_policy() -> Policy {
    parse(RFC_POLICY).unwrap()
}

/// Every proper prefix of `whole` needs more (and is an error at EOF); all of it gives the
/// policy.
fn assert_whole_and_no_less(whole: &[u8]) {
    for cut in 0..whole.len() {
        let part = &whole[..cut];
        assert_eq!(read_response(part), Progress::NeedMore, "cut at {cut}");
        assert!(read_response_at_eof(part).is_err(), "cut at {cut}");
    }
    assert_eq!(read_response(whole), Progress::Done(Ok(rfc_policy())));
    assert_eq!(read_response_at_eof(whole), Ok(rfc_policy()));
}

#[test]
fn content_length_split_at_every_byte() {
    let whole = response(
        &format!(
            "HTTP/1.1 200 OK\nContent-Type: text/plain; charset=utf-8\nContent-Length: {}\n",
            RFC_POLICY.len()
        ),
        RFC_POLICY.as_bytes(),
    );
    assert_whole_and_no_less(&whole);
    // Bytes after the body are not looked at.
    let mut more = whole.clone();
    more.extend_from_slice(b"garbage");
    assert_eq!(read_response(&more), Progress::Done(Ok(rfc_policy())));
    // Short at EOF: truncated.
    let cut = &whole[..whole.len() - 3];
    assert_eq!(
        read_response_at_eof(cut),
        Err(FetchError::Truncated(cut.len()))
    );
}

fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).min(rest.len());
        // Upper-case hex, and an extension on some chunks.
        if n.is_multiple_of(2) {
            wire.extend_from_slice(format!("{n:X};name=value\r\n").as_bytes());
        } else {
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        wire.extend_from_slice(&rest[..n]);
        wire.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    wire.extend_from_slice(b"0\r\n");
    wire
}

#[test]
fn chunked_split_at_every_byte() {
    let head = "HTTP/1.1 200 OK\nContent-Type: text/plain\nTransfer-Encoding: chunked\n";
    let mut body = chunked(RFC_POLICY.as_bytes(), &[1, 16, 7, 64]);
    body.extend_from_slice(b"\r\n");
    let whole = response(head, &body);
    assert_whole_and_no_less(&whole);

    // With trailer fields.
    let mut body = chunked(RFC_POLICY.as_bytes(), &[40]);
    body.extend_from_slice(b"X-Trailer: 1\r\nX-Other: 2\r\n\r\n");
    assert_whole_and_no_less(&response(head, &body));

    // One chunk, and Transfer-Encoding winning over a Content-Length.
    let mut body = chunked(RFC_POLICY.as_bytes(), &[1000]);
    body.extend_from_slice(b"\r\n");
    let head = "HTTP/1.1 200 OK\nContent-Length: 5\nContent-Type: text/plain\n\
                Transfer-Encoding: Chunked\n";
    assert_eq!(
        read_response(&response(head, &body)),
        Progress::Done(Ok(rfc_policy()))
    );
}

#[test]
fn malformed_chunks() {
    let head = "HTTP/1.1 200 OK\nContent-Type: text/plain\nTransfer-Encoding: chunked\n";
    for (body, error) in [
        (&b"zz\r\n"[..], FetchError::Chunked("bad size")),
        (b"\r\n", FetchError::Chunked("bad size")),
        (b" 5\r\nhello\r\n", FetchError::Chunked("bad size")),
        (b"5\nhello\r\n", FetchError::Chunked("bad size")),
        (
            b"5\r\nhelloXY",
            FetchError::Chunked("no CRLF after a chunk"),
        ),
        (b"5\r\nhelloX", FetchError::Chunked("no CRLF after a chunk")),
        (
            b"5\r\nhello\rX",
            FetchError::Chunked("no CRLF after a chunk"),
        ),
        (b"ffffffffffffffffff\r\n", FetchError::Chunked("bad size")),
        (b"10001\r\n", FetchError::BodyTooLarge),
    ] {
        assert_eq!(
            read_response(&response(head, body)),
            Progress::Done(Err(error)),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Chunks adding up to more than the bound fail at the size line that crosses it,
    // before its data.
    let mut body = format!("8000\r\n{}\r\n", "a".repeat(0x8000)).into_bytes();
    body.extend_from_slice(b"8001\r\n");
    assert_eq!(
        read_response(&response(head, &body)),
        Progress::Done(Err(FetchError::BodyTooLarge))
    );
    let mut body = format!("8000\r\n{}\r\n", "a".repeat(0x8000)).into_bytes();
    body.extend_from_slice(b"8000\r\n");
    assert_eq!(read_response(&response(head, &body)), Progress::NeedMore);
    // Endless chunk extensions or trailers hit the response bound.
    let endless = format!("1;{}", "x".repeat(MAX_RESPONSE_BYTES));
    assert_eq!(
        read_response(&response(head, endless.as_bytes())),
        Progress::Done(Err(FetchError::ResponseTooLarge))
    );
    let trailers = format!("0\r\n{}", "X-T: 1\r\n".repeat(MAX_RESPONSE_BYTES / 8));
    assert_eq!(
        read_response(&response(head, trailers.as_bytes())),
        Progress::Done(Err(FetchError::ResponseTooLarge))
    );
}

#[test]
fn until_close() {
    let whole = response(
        "HTTP/1.0 200 OK\nContent-Type: TEXT/PLAIN\n",
        RFC_POLICY.as_bytes(),
    );
    for cut in 0..=whole.len() {
        assert_eq!(read_response(&whole[..cut]), Progress::NeedMore);
    }
    assert_eq!(read_response_at_eof(&whole), Ok(rfc_policy()));
    // Closed inside the header.
    assert_eq!(
        read_response_at_eof(b"HTTP/1.1 200 OK\r\nContent-"),
        Err(FetchError::Truncated(25))
    );
    assert_eq!(read_response_at_eof(b""), Err(FetchError::Truncated(0)));
    // Over the bound, without waiting for the close.
    let big = response(
        "HTTP/1.1 200 OK\nContent-Type: text/plain\n",
        &vec![b'a'; MAX_POLICY_BYTES + 1],
    );
    assert_eq!(
        read_response(&big),
        Progress::Done(Err(FetchError::BodyTooLarge))
    );
    assert_eq!(read_response_at_eof(&big), Err(FetchError::BodyTooLarge));
}

#[test]
fn redirects_and_other_statuses() {
    let redirect = response(
        "HTTP/1.1 301 Moved Permanently\nLocation: https://evil.test/\nContent-Type: text/plain\n",
        RFC_POLICY.as_bytes(),
    );
    // As soon as the header is in: the status decides.
    let head_only = &redirect[..redirect.len() - RFC_POLICY.len()];
    let error = FetchError::Redirect(301);
    assert_eq!(read_response(head_only), Progress::Done(Err(error.clone())));
    assert_eq!(
        error.to_string(),
        "HTTP 301: redirects are not followed (RFC 8461 §3.3)"
    );
    for code in [302, 303, 307, 308] {
        let r = response(&format!("HTTP/1.1 {code} Found\n"), b"");
        assert_eq!(
            read_response(&r),
            Progress::Done(Err(FetchError::Redirect(code)))
        );
    }
    let r = response("HTTP/1.1 404 Not Found\nContent-Type: text/html\n", b"");
    let Progress::Done(Err(error)) = read_response(&r) else {
        panic!()
    };
    assert_eq!(error, FetchError::Status(404, "Not Found".into()));
    assert_eq!(error.to_string(), "HTTP 404 Not Found (expected 200)");
    let r = response("HTTP/1.1 204 No Content\n", b"");
    assert!(matches!(
        read_response(&r),
        Progress::Done(Err(FetchError::Status(204, _)))
    ));
}

#[test]
fn header_checks() {
    let done_err = |head: &str| match read_response(&response(head, RFC_POLICY.as_bytes())) {
        Progress::Done(Err(e)) => e,
        other => panic!("{head:?}: {other:?}"),
    };
    let ok = |head: &str| {
        assert_eq!(
            read_response(&response(head, RFC_POLICY.as_bytes())),
            Progress::Done(Ok(rfc_policy())),
            "{head:?}"
        )
    };
    let len = RFC_POLICY.len();
    ok(&format!(
        "HTTP/1.1 200 OK\ncontent-type: Text/Plain ; charset=\"utf-8\"\ncontent-length: {len}\n"
    ));
    ok(&format!(
        "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {len}\n\
         Content-Length: {len}\nContent-Encoding: identity\n"
    ));
    assert_eq!(
        done_err(&format!(
            "HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: {len}\n"
        )),
        FetchError::ContentType("text/html".into())
    );
    assert_eq!(
        done_err(&format!(
            "HTTP/1.1 200 OK\nContent-Type: text/plainx\nContent-Length: {len}\n"
        )),
        FetchError::ContentType("text/plainx".into())
    );
    assert_eq!(
        done_err(&format!("HTTP/1.1 200 OK\nContent-Length: {len}\n")),
        FetchError::ContentType("missing".into())
    );
    assert_eq!(
        done_err(&format!(
            "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Type: text/html\n\
             Content-Length: {len}\n"
        )),
        FetchError::ContentType("text/html".into())
    );
    assert_eq!(
        done_err("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Encoding: gzip\n"),
        FetchError::Unsupported("Content-Encoding gzip".into())
    );
    assert_eq!(
        done_err("HTTP/1.1 200 OK\nContent-Type: text/plain\nTransfer-Encoding: gzip, chunked\n"),
        FetchError::Unsupported("Transfer-Encoding gzip, chunked".into())
    );
    for bad in ["+5", "5a", "", "-1", "1 2"] {
        assert_eq!(
            done_err(&format!(
                "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {bad}\n"
            )),
            FetchError::ContentLength(bad.into()),
            "{bad:?}"
        );
    }
    assert_eq!(
        done_err(&format!(
            "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {len}\nContent-Length: 5\n"
        )),
        FetchError::ContentLength("5".into())
    );
    // A length over the bound fails at once, before any body.
    for big in ["65537", "99999999999999999999999"] {
        assert_eq!(
            read_response(&response(
                &format!("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {big}\n"),
                b""
            )),
            Progress::Done(Err(FetchError::BodyTooLarge)),
            "{big}"
        );
    }
    // Garbage instead of HTTP.
    assert!(matches!(
        read_response(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        Progress::Done(Err(FetchError::Malformed(_)))
    ));
    // A policy that is no policy.
    let body = b"<html>oops</html>";
    assert_eq!(
        read_response(&response(
            &format!(
                "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: {}\n",
                body.len()
            ),
            body
        )),
        Progress::Done(Err(FetchError::Policy(PolicyError::MissingVersion)))
    );
}

#[test]
fn the_header_bound() {
    let mut endless = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Filler: ".to_vec();
    endless.resize(MAX_HEADER_BYTES + 1, b'a');
    assert_eq!(
        read_response(&endless[..MAX_HEADER_BYTES]),
        Progress::NeedMore
    );
    // Not yet ended, already too long.
    assert_eq!(
        read_response(&endless),
        Progress::Done(Err(FetchError::HeaderTooLarge))
    );
    // Ended, but too long all the same.
    let mut long = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: ".to_vec();
    long.resize(MAX_HEADER_BYTES + 10, b'a');
    long.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        read_response(&long),
        Progress::Done(Err(FetchError::HeaderTooLarge))
    );
    // More than the 64 fields kept.
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    assert!(matches!(
        read_response(&many),
        Progress::Done(Err(FetchError::Malformed(_)))
    ));
}

proptest! {
    /// Nothing received, however odd, makes the reader panic or look past its bounds.
    #[test]
    fn any_bytes_are_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_response(&bytes);
        let _ = read_response_at_eof(&bytes);
        let _ = Policy::parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = sts_record(&[text.as_ref()]);
    }

    /// Any body in any chunking decodes to itself.
    #[test]
    fn chunking_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let mut wire = chunked(&body, &sizes);
        wire.extend_from_slice(b"\r\n");
        prop_assert_eq!(dechunk(&wire), Ok(Some(body)));
    }
}
