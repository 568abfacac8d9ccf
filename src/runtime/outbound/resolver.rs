//! A stub resolver for outbound routing: asks the configured recursive resolvers
//! (`[outbound] nameservers`, else those of /etc/resolv.conf) over UDP from a random port with
//! a random id, and over TCP when the answer is truncated (RFC 7766). The messages are
//! hickory-proto's ([`crate::outbound::dns`]); the IO is glommio's, on the calling shard.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpStream, UdpSocket};

use crate::outbound::dns::{self, Answer, DnsError, Question};

/// How long one server gets to answer one try.
const TRY_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries per server.
const TRIES: usize = 2;
/// Largest answer read over UDP (EDNS is not asked for: 512 bytes is the classic limit, and a
/// larger answer comes truncated and is asked again over TCP).
const UDP_MAX: usize = 4096;

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error("no resolver answered ({0})")]
    NoAnswer(String),
}

#[derive(Debug, Clone)]
pub struct Resolver {
    /// What the configuration named (empty: /etc/resolv.conf's), to tell when it changed.
    configured: Vec<SocketAddr>,
    servers: Vec<SocketAddr>,
    /// /etc/hosts as read when this resolver was made.
    hosts: String,
}

impl Resolver {
    /// The configured servers, or those in /etc/resolv.conf (127.0.0.1 when it names none),
    /// and the host file: read once here, not at every lookup (the runner keeps one resolver
    /// per shard and makes a new one when `[outbound] nameservers` changes).
    pub fn new(configured: &[SocketAddr]) -> Resolver {
        let servers = if configured.is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let mut found = parse_resolv_conf(&text);
            if found.is_empty() {
                found.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
            }
            found
        } else {
            configured.to_vec()
        };
        Resolver {
            configured: configured.to_vec(),
            servers,
            hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        }
    }

    /// Whether this resolver was made for the nameservers `configured`.
    pub fn is_for(&self, configured: &[SocketAddr]) -> bool {
        self.configured == configured
    }

    /// Ask about `name`, each server in turn until one answers.
    pub async fn ask(&self, name: &str, question: Question) -> Result<Answer, ResolveError> {
        let mut last = String::from("no servers");
        for server in &self.servers {
            for _ in 0..TRIES {
                match self.ask_one(*server, name, question).await {
                    Ok(answer) => return Ok(answer),
                    // A server's own answer that it failed: try the next server.
                    Err(ResolveError::Dns(DnsError::ServerFailure(e))) => {
                        last = format!("{server}: {e}");
                        break;
                    }
                    Err(ResolveError::Dns(e @ DnsError::BadName(_))) => return Err(e.into()),
                    Err(e) => {
                        tracing::debug!(%server, name, ?question, error = %e, "DNS try failed");
                        last = format!("{server}: {e}");
                    }
                }
            }
        }
        Err(ResolveError::NoAnswer(last))
    }

    /// The addresses of `host` (A, then AAAA); an address literal is itself.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        // A name the host file knows (a smarthost named there, `localhost`) is taken from it,
        // as the system's own lookup would.
        let listed = hosts_file_addresses(&self.hosts, host);
        if !listed.is_empty() {
            return Ok(listed);
        }
        let mut out = Vec::new();
        for q in [Question::A, Question::Aaaa] {
            match self.ask(host, q).await? {
                Answer::Addresses(a) => out.extend(a),
                Answer::NoSuchName => return Ok(Vec::new()),
                _ => {}
            }
        }
        Ok(out)
    }

    async fn ask_one(
        &self,
        server: SocketAddr,
        name: &str,
        question: Question,
    ) -> Result<Answer, ResolveError> {
        let id: u16 = rand::random();
        let query = dns::query(id, name, question)?;
        let io = |e: &dyn std::fmt::Display| ResolveError::NoAnswer(format!("{server}: {e}"));
        let bind = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind).map_err(|e| io(&e))?;
        socket.connect(server).await.map_err(|e| io(&e))?;
        socket.send(&query).await.map_err(|e| io(&e))?;
        let mut buf = vec![0u8; UDP_MAX];
        let deadline = std::time::Instant::now() + TRY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let received = future::or(async { Some(socket.recv(&mut buf).await) }, async {
                glommio::timer::sleep(left).await;
                None
            })
            .await;
            let n = match received {
                None => return Err(ResolveError::NoAnswer(format!("{server}: timed out"))),
                Some(r) => r.map_err(|e| io(&e))?,
            };
            match dns::parse_answer(&buf[..n], id, name, question) {
                // Not ours (a late answer to an earlier try, or spoofing): keep waiting.
                Err(DnsError::Mismatch) | Err(DnsError::Malformed(_)) => continue,
                Err(DnsError::Truncated) => {
                    return self.ask_tcp(server, &query, id, name, question).await
                }
                other => return Ok(other?),
            }
        }
    }

    async fn ask_tcp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &str,
        question: Question,
    ) -> Result<Answer, ResolveError> {
        let io =
            |e: &dyn std::fmt::Display| ResolveError::NoAnswer(format!("{server} over TCP: {e}"));
        let exchange = async {
            let mut tcp = TcpStream::connect_timeout(server, TRY_TIMEOUT)
                .await
                .map_err(|e| io(&e))?;
            let len = u16::try_from(query.len())
                .map_err(|_| ResolveError::NoAnswer("query too long".into()))?;
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(query);
            tcp.write_all(&framed).await.map_err(|e| io(&e))?;
            let mut len = [0u8; 2];
            tcp.read_exact(&mut len).await.map_err(|e| io(&e))?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            tcp.read_exact(&mut answer).await.map_err(|e| io(&e))?;
            Ok(dns::parse_answer(&answer, id, name, question)?)
        };
        future::or(exchange, async {
            glommio::timer::sleep(TRY_TIMEOUT).await;
            Err(ResolveError::NoAnswer(format!(
                "{server} over TCP: timed out"
            )))
        })
        .await
    }
}

/// The addresses a hosts file gives `host` (names compared without case).
fn hosts_file_addresses(text: &str, host: &str) -> Vec<IpAddr> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip = words.next()?.parse::<IpAddr>().ok()?;
            words
                .any(|name| name.eq_ignore_ascii_case(host))
                .then_some(ip)
        })
        .collect()
}

/// The `nameserver` lines of a resolv.conf.
fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names() {
        let text = "127.0.0.1 localhost\n::1 localhost ip6-localhost # loopback\n10.0.0.9 SmartHost smarthost.example.org\n# 10.0.0.8 smarthost\nbogus line\n";
        assert_eq!(hosts_file_addresses(text, "smarthost").len(), 1);
        assert_eq!(hosts_file_addresses(text, "localhost").len(), 2);
        assert!(hosts_file_addresses(text, "other").is_empty());
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# generated\nsearch example.org\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:1\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.0.0.2:53"
                    .parse::<SocketAddr>()
                    .unwrap_or_else(|_| unreachable!()),
                "[fe80::1]:53".parse().unwrap_or_else(|_| unreachable!()),
            ]
        );
    }
}
