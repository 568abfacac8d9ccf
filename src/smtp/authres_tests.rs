#![allow(clippy::unwrap_used)]

use super::*;

fn results() -> AuthResults {
    AuthResults {
        spf: SpfCheck {
            result: Verdict::Pass,
            mail_from: "alice@sender.test".into(),
            helo: "mx.sender.test".into(),
        },
        dkim: vec![DkimCheck {
            result: Verdict::Pass,
            domain: "sender.test".into(),
            selector: "s2026".into(),
        }],
        dmarc: Some(DmarcCheck {
            result: Verdict::Pass,
            from_domain: "sender.test".into(),
            policy: DmarcPolicy::Reject,
        }),
        arc: Verdict::None,
    }
}

#[test]
fn header_names_every_method() {
    assert_eq!(
        results().header("mx.example.com"),
        "Authentication-Results: mx.example.com;\r\n\
         \tspf=pass smtp.mailfrom=alice@sender.test;\r\n\
         \tdkim=pass header.d=sender.test header.s=s2026;\r\n\
         \tdmarc=pass header.from=sender.test policy.dmarc=reject;\r\n\
         \tarc=none\r\n"
    );
}

#[test]
fn header_without_signatures_null_sender_and_odd_values() {
    let mut r = results();
    r.spf.mail_from = String::new();
    r.spf.helo = "bad helo;\r\nX-Injected: 1".into();
    r.dkim.clear();
    r.dmarc = Some(DmarcCheck {
        result: Verdict::None,
        from_domain: "sender.test".into(),
        policy: DmarcPolicy::None,
    });
    assert_eq!(
        r.header("mx.example.com"),
        "Authentication-Results: mx.example.com;\r\n\
         \tspf=pass smtp.helo=\"bad helo;X-Injected: 1\";\r\n\
         \tdkim=none;\r\n\
         \tdmarc=none header.from=sender.test;\r\n\
         \tarc=none\r\n"
    );
}

#[test]
fn unavailable_is_temperror_and_never_refused() {
    let r = AuthResults::unavailable("a@b.test", "h.test");
    assert_eq!(
        r.header("mx"),
        "Authentication-Results: mx;\r\n\tspf=temperror smtp.mailfrom=a@b.test;\r\n\
         \tdkim=temperror;\r\n\tdmarc=temperror;\r\n\tarc=temperror\r\n"
    );
    assert_eq!(r.refusal(true, true), None);
}

#[test]
fn refusals_follow_the_policies() {
    let mut r = results();
    assert_eq!(r.refusal(true, true), None);
    r.spf.result = Verdict::Fail;
    assert_eq!(r.refusal(true, false), None);
    assert_eq!(r.refusal(false, true), Some(PolicyRefusal::Spf));
    if let Some(d) = r.dmarc.as_mut() {
        d.result = Verdict::Fail;
    }
    assert_eq!(r.refusal(false, false), None);
    assert_eq!(r.refusal(true, false), Some(PolicyRefusal::Dmarc));
    if let Some(d) = r.dmarc.as_mut() {
        d.policy = DmarcPolicy::Quarantine;
    }
    assert_eq!(r.refusal(true, false), None);
    assert_eq!(
        r.summary(),
        (
            "fail".to_string(),
            "pass:sender.test".to_string(),
            "fail:sender.test".to_string(),
            "none"
        )
    );
}

#[test]
fn forged_results_for_our_name_are_removed() {
    let message = b"Authentication-Results: MX.Example.COM.; dkim=pass\r\n\
        Subject: hi\r\n\
        Authentication-Results: (comment) mx.example.com;\r\n\
        \tspf=pass smtp.mailfrom=x@y\r\n\
        Authentication-Results: other.example.net; spf=fail\r\n\
        authentication-results:\"mx.example.com\"; dmarc=pass\r\n\
        From: a@b\r\n\
        \r\n\
        Authentication-Results: mx.example.com; in the body, kept\r\n";
    let stripped = strip_forged(message, "mx.example.com").unwrap();
    assert_eq!(
        String::from_utf8(stripped).unwrap(),
        "Subject: hi\r\n\
         Authentication-Results: other.example.net; spf=fail\r\n\
         From: a@b\r\n\
         \r\n\
         Authentication-Results: mx.example.com; in the body, kept\r\n"
    );
}

#[test]
fn nothing_to_remove_copies_nothing() {
    let message = b"Authentication-Results: mx.example.community; spf=pass\r\n\
        Subject: x\r\n\r\nbody\r\n";
    assert_eq!(strip_forged(message, "mx.example.com"), None);
    assert_eq!(strip_forged(b"", "mx.example.com"), None);
    assert_eq!(strip_forged(b"no header at all", "mx.example.com"), None);
}
