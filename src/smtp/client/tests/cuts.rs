//! The server's bytes cut anywhere give the same client bytes and events (the two cases
//! where timing changes the meaning — bytes behind a reply that nothing was asked after, and
//! behind the 220 to STARTTLS — are tested whole in `opening` and `transaction`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

/// Scripts whose server bytes may be cut anywhere: every cut gives the same bytes and events.
fn cuttable() -> Vec<(ClientConfig, String)> {
    vec![
        (
            relay(TlsPolicy::Required),
            format!(
                "{GREETING}
                 C: EHLO client.example.org
                 S: 250-smarthost.example.net
                 S: 250-AUTH LOGIN
                 S: 250 STARTTLS
                 C: STARTTLS
                 S: 220 go ahead
                 E: starttls
                 D: tls
                 C: EHLO client.example.org
                 S: 250-smarthost.example.net
                 S: 250-PIPELINING
                 S: 250-ENHANCEDSTATUSCODES
                 S: 250 AUTH LOGIN
                 C: AUTH LOGIN
                 S: 334 VXNlcm5hbWU6
                 C: cmVsYXlAZXhhbXBsZS5vcmc=
                 S: 334 UGFzc3dvcmQ6
                 C: czNjcmV0
                 S: 235 2.7.0 ok
                 E: ready
                 M: Hello
                 D: send from:<a@example.org> to:<x@example.net> to:<y@example.net>
                 C: MAIL FROM:<a@example.org>
                 C: RCPT TO:<x@example.net>
                 C: RCPT TO:<y@example.net>
                 C: DATA
                 S: 250-2.1.0 sender
                 S: 250 2.1.0 ok
                 S: 550-5.1.1 no
                 S: 550 5.1.1 such user
                 S: 250 2.1.5 ok
                 S: 354 go
                 C: Hello
                 C: .
                 S: 250 2.0.0 queued
                 E: done failed 550 [5.1.1] no such user | delivered 250 [2.0.0] queued
                 E: ready
                 D: quit
                 C: QUIT
                 S: 221 2.0.0 bye
                 E: closed"
            ),
        ),
        (
            plain(),
            format!(
                "{}
                 M: one
                 D: send from:<a@example.org> to:<x@example.net>
                 C: MAIL FROM:<a@example.org>
                 S: 250 ok
                 C: RCPT TO:<x@example.net>
                 S: 250 ok
                 C: BDAT 5 LAST
                 C: one
                 S: 452 full
                 E: done deferred 452 full
                 C: RSET
                 S: 250 ok
                 E: ready
                 D: send from:<a@example.org> to:<x@example.net>
                 C: MAIL FROM:<a@example.org>
                 T: 250 ok\\r\\n
                 C: RCPT TO:<x@example.net>
                 T: 421 bye\\n
                 E: done deferred 421 bye
                 E: closed ServerClosing 421 bye",
                opened(&["CHUNKING"])
            ),
        ),
    ]
}

#[test]
fn the_cuttable_scripts_pass_at_the_fixed_cuts() {
    for (config, script) in cuttable() {
        replay(config, &script);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn server_bytes_cut_anywhere_give_the_same_bytes_and_events(
        lengths in proptest::collection::vec(1usize..48, 1..24),
        which in 0usize..2,
    ) {
        let (config, script) = cuttable().swap_remove(which);
        run(config, &script, &Cut::Lengths(lengths));
    }
}
