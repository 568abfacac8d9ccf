//! Live administration: `ringpost who`, `kick`, `stats` and `queue list|show|delete` asked of
//! the running server over its control socket, with real clients connected; and what the
//! same commands do once it has stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server};

#[test]
fn who_kick_stats_and_the_queue_while_clients_are_connected() {
    let mut server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n".into(),
        log: "info",
        ..Options::default()
    });
    let config = server.config.to_str().unwrap().to_string();
    server.python("admin.py", &[support::BIN, &config]);
    assert!(server.terminate().success());
    let log = server.log();
    assert_eq!(
        log.matches("session ended by the administrator").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("deleted from the queue by the administrator"),
        "{log}"
    );

    // Stopped: the queue is read from the store; who, kick and stats need the server.
    let out = server.cli(&["queue", "list"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 queued\n");
    for args in [&["who"][..], &["kick", "alice@example.com"], &["stats"]] {
        let out = server.cli(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no server is running on"), "{args:?}: {err}");
    }
}
