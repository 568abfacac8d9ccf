//! The one connection driver: runs any protocol session over plaintext, STARTTLS or implicit
//! TLS, and does everything a session cannot do itself: IO, TLS handshakes, password checks off
//! the shard, the failure delay, idle and handshake timeouts, and shutdown.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::TcpStream;
use glommio::timer::sleep;

use super::limits::Refusal;
use super::transport::Transport;
use super::ServerContext;
use crate::config::{Listener, Protocol};
use crate::imap::ImapSession;
use crate::pop3::Pop3Session;
use crate::session::{
    AuthOutcome, DeliveryOutcome, Event, RecipientStatus, Session, SessionConfig, TlsMode,
};
use crate::shard::Shutdown;
use crate::smtp::{SmtpKind, SmtpSession};

/// Plaintext read from the transport at once.
const READ_BUF: usize = 16 * 1024;

/// What one shard's connections share.
pub struct ShardState {
    pub server: Arc<ServerContext>,
    pub shutdown: Shutdown,
}

enum Wake {
    Input(io::Result<usize>),
    Idle,
    Shutdown,
}

/// Serve one accepted connection to the end.
pub async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    listener: Listener,
    state: Rc<ShardState>,
) {
    let server = state.server.clone();
    let _permit = match server.limits.admit(peer.ip()) {
        Ok(p) => p,
        Err(refusal) => {
            refuse(tcp, &listener, &server.config.hostname, refusal).await;
            return;
        }
    };
    let mut transport = Transport::plain(tcp);
    if listener.tls == TlsMode::Implicit && !handshake(&mut transport, &server).await {
        transport.close().await;
        return;
    }
    let session_config = SessionConfig {
        hostname: server.config.hostname.clone(),
        tls_mode: listener.tls,
        limits: server.config.limits.clone(),
        local_domains: server.config.local_domains.clone(),
    };
    let tls_active = transport.is_tls();
    let mut session: Box<dyn Session> = match listener.protocol {
        Protocol::Imap => Box::new(ImapSession::new(session_config, tls_active)),
        Protocol::Pop3 => Box::new(Pop3Session::new(session_config, tls_active)),
        Protocol::Submission => Box::new(SmtpSession::new(
            session_config,
            SmtpKind::Submission,
            tls_active,
        )),
        Protocol::Smtp => Box::new(SmtpSession::new(
            session_config,
            SmtpKind::Inbound,
            tls_active,
        )),
    };
    let idle = server.config.timeouts.idle(listener.protocol);
    let mut out = Vec::with_capacity(4096);
    let mut buf = vec![0u8; READ_BUF];
    let mut shutdown_sent = false;
    loop {
        session.poll_output(&mut out);
        if !out.is_empty() {
            if transport.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if let Some(event) = session.poll_event() {
            match event {
                Event::StartTls => {
                    if !handshake(&mut transport, &server).await {
                        break;
                    }
                    session.handle_tls_established();
                }
                Event::Authenticate(credentials) => {
                    let outcome = verify(&server, credentials).await;
                    if outcome == AuthOutcome::Failure {
                        // Slow down guessing; the same delay for every kind of failure.
                        sleep(server.config.auth_failure_delay).await;
                    }
                    session.handle_auth(outcome);
                }
                Event::CheckRecipient(address) => {
                    let status = match server.accounts.lookup(&address) {
                        Ok(Some(account)) => RecipientStatus::Local {
                            account: account.into_string(),
                        },
                        Ok(None) => RecipientStatus::UnknownLocal,
                        Err(e) => {
                            tracing::error!(error = %e, "account database unavailable");
                            RecipientStatus::TemporaryFailure
                        }
                    };
                    session.handle_recipient(status);
                }
                Event::Deliver(_delivery) => {
                    // The message store is not wired in yet: refuse temporarily rather than
                    // acknowledge a message that is not on disk.
                    session.handle_delivery(DeliveryOutcome::TemporaryFailure);
                }
                Event::Close => break,
            }
            continue;
        }
        if state.shutdown.is_fired() && !shutdown_sent {
            shutdown_sent = true;
            session.handle_shutdown();
            continue;
        }
        let read = transport.read(&mut buf);
        let idle_timer = async {
            sleep(idle).await;
            Wake::Idle
        };
        let stop = async {
            if shutdown_sent {
                future::pending::<()>().await;
            }
            state.shutdown.wait().await;
            Wake::Shutdown
        };
        let wake = future::or(
            async { Wake::Input(read.await) },
            future::or(idle_timer, stop),
        )
        .await;
        match wake {
            Wake::Input(Ok(0)) | Wake::Input(Err(_)) => return,
            Wake::Input(Ok(n)) => session.handle_input(&buf[..n]),
            Wake::Idle => session.handle_idle_timeout(),
            Wake::Shutdown => {
                shutdown_sent = true;
                session.handle_shutdown();
            }
        }
    }
    transport.close().await;
}

/// TLS handshake bounded by the configured timeout. `false`: failed or timed out.
async fn handshake(transport: &mut Transport, server: &ServerContext) -> bool {
    let timeout = server.config.timeouts.tls_handshake;
    let result = future::or(
        async { Some(transport.handshake(server.tls.clone()).await) },
        async {
            sleep(timeout).await;
            None
        },
    )
    .await;
    match result {
        Some(Ok(())) => true,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            false
        }
        None => {
            tracing::debug!("TLS handshake timed out");
            false
        }
    }
}

/// Check a password on the executor's blocking pool: argon2 takes tens of milliseconds and
/// must not stall every other connection of the shard.
async fn verify(
    server: &Arc<ServerContext>,
    credentials: crate::session::Credentials,
) -> AuthOutcome {
    let accounts = server.accounts.clone();
    glommio::executor()
        .spawn_blocking(move || {
            accounts.verify(&credentials.username, credentials.password.expose())
        })
        .await
}

/// Tell a connection over the limits why it is refused (in plaintext listeners' protocol
/// language), then close. Implicit-TLS connections are closed without a handshake: under
/// overload a handshake is the most expensive thing we could do.
async fn refuse(tcp: TcpStream, listener: &Listener, hostname: &str, refusal: Refusal) {
    let why = match refusal {
        Refusal::ServerFull => "Too many connections",
        Refusal::TooManyFromIp => "Too many connections from your address",
    };
    let mut transport = Transport::plain(tcp);
    if listener.tls != TlsMode::Implicit {
        let reply = match listener.protocol {
            Protocol::Imap => format!("* BYE [UNAVAILABLE] {why}\r\n"),
            Protocol::Pop3 => format!("-ERR [SYS/TEMP] {why}\r\n"),
            Protocol::Submission | Protocol::Smtp => {
                format!("421 4.7.0 {hostname} {why}, try again later\r\n")
            }
        };
        let _ = future::or(
            async { transport.write_all(reply.as_bytes()).await },
            async {
                sleep(Duration::from_secs(5)).await;
                Ok(())
            },
        )
        .await;
    }
    transport.close().await;
}
