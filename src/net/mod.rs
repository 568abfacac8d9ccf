//! Listeners and the connection driver: the only place that touches sockets.
//!
//! Every shard binds every configured listener (SO_REUSEPORT: the kernel spreads accepted
//! connections over the shards), sets TCP_NODELAY on each accepted socket (PLATFORM.md: a TLS
//! handshake takes 25–30 ms without it) and runs [`driver::serve_connection`] for it.

mod driver;
mod limits;
mod transport;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::TcpListener;

pub use driver::{resume_connection, MovedConnection, ShardState};
pub use limits::{ConnectionLimits, Permit, Refusal};
pub use transport::{TlsInfo, Transport};

use crate::accounts::AccountStore;
use crate::config::{Config, Listener};

/// What every shard shares, read-only (and `Send + Sync`).
pub struct ServerContext {
    pub config: Config,
    pub tls: Arc<rustls::ServerConfig>,
    pub accounts: Arc<AccountStore>,
    pub limits: Arc<ConnectionLimits>,
}

/// Connections currently served by this shard, for draining at shutdown.
#[derive(Clone, Default)]
pub struct ActiveConnections(Rc<Cell<usize>>);

impl ActiveConnections {
    pub fn count(&self) -> usize {
        self.0.get()
    }
    pub(crate) fn enter(&self) -> ActiveGuard {
        self.0.set(self.0.get() + 1);
        ActiveGuard(self.0.clone())
    }
}

/// Counts one connection while it lives.
pub(crate) struct ActiveGuard(Rc<Cell<usize>>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Bind every configured listener on this shard (SO_REUSEPORT is always set by glommio).
pub fn bind_all(config: &Config) -> io::Result<Vec<(Listener, TcpListener)>> {
    config
        .listeners
        .iter()
        .map(|l| {
            TcpListener::bind(l.address)
                .map(|sock| (l.clone(), sock))
                .map_err(|e| {
                    io::Error::other(format!(
                        "cannot listen on {} ({}): {e}",
                        l.address,
                        l.protocol.name()
                    ))
                })
        })
        .collect()
}

/// Accept connections on `socket` until the shard shuts down.
pub async fn accept_loop(listener: Listener, socket: TcpListener, state: Rc<ShardState>) {
    loop {
        let accepted = future::or(async { Some(socket.accept().await) }, async {
            state.shutdown.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        match accepted {
            Ok(tcp) => {
                let Ok(peer) = tcp.peer_addr() else { continue };
                // Without TCP_NODELAY a TLS handshake stalls on delayed ACKs.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                let idle = state.server.config.timeouts.idle(listener.protocol);
                // A client that stops reading must not hold a write forever.
                let _ = tcp.set_write_timeout(Some(idle));
                let guard = state.active.enter();
                let state = state.clone();
                let listener = listener.clone();
                glommio::spawn_local(async move {
                    driver::serve_connection(tcp, peer, listener, state).await;
                    drop(guard);
                })
                .detach();
            }
            Err(e) => {
                // Out of file descriptors or a transient accept error: back off briefly
                // instead of spinning.
                tracing::warn!(address = %listener.address, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
