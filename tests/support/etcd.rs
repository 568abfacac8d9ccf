//! Throwaway etcd for the cluster tests: Debian's `etcd-server` on free loopback ports in a
//! temporary folder, one member or a three-member cluster, each member killable and
//! restartable on the same ports and data.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_ports, have};

struct Member {
    name: String,
    /// Its address: 127.0.0.1, or its network namespace's.
    host: String,
    client: u16,
    peer: u16,
    /// The network namespace it runs in (`ip netns exec`), if any.
    netns: Option<String>,
    child: Option<Child>,
}

pub struct Etcd {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    cluster: String,
    /// Clients reach the members over TLS, with client certificates, when set.
    pub tls: Option<TlsFiles>,
}

/// A test etcd's TLS: its own CA, the members' certificate (for 127.0.0.1) and a client
/// certificate, every file PEM.
pub struct TlsFiles {
    pub ca: PathBuf,
    server: (PathBuf, PathBuf),
    pub client: (PathBuf, PathBuf),
}

impl TlsFiles {
    fn make(dir: &std::path::Path) -> TlsFiles {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test etcd CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        let issue = |names: Vec<String>, name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            let (c, k) = (
                dir.join(format!("{name}.pem")),
                dir.join(format!("{name}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            (c, k)
        };
        let server = issue(vec!["127.0.0.1".into(), "localhost".into()], "member");
        let client = issue(vec!["ringpost".into()], "client");
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        TlsFiles {
            ca: ca_path,
            server,
            client,
        }
    }
}

impl Etcd {
    /// One member, or `None` (reported as skipped) when etcd is not installed.
    pub fn start() -> Option<Etcd> {
        Etcd::start_members(1)
    }

    /// `n` members forming one cluster, each on its own two loopback ports.
    pub fn start_members(n: usize) -> Option<Etcd> {
        if !have("etcd", "etcd-server") || !have("etcdctl", "etcd-client") {
            return None;
        }
        let ports = free_ports(2 * n);
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                host: "127.0.0.1".into(),
                client: ports[2 * i],
                peer: ports[2 * i + 1],
                netns: None,
                child: None,
            })
            .collect();
        Some(Etcd::launch(members, false))
    }

    /// One member that clients reach only over TLS with a certificate of its CA
    /// (`--client-cert-auth`), or `None` as [`Etcd::start`].
    pub fn start_tls() -> Option<Etcd> {
        if !have("etcd", "etcd-server") || !have("etcdctl", "etcd-client") {
            return None;
        }
        let ports = free_ports(2);
        let member = Member {
            name: "m0".into(),
            host: "127.0.0.1".into(),
            client: ports[0],
            peer: ports[1],
            netns: None,
            child: None,
        };
        Some(Etcd::launch(vec![member], true))
    }

    /// One member in each of `net`'s namespaces, on its address there.
    pub fn start_in(net: &super::netns::Net) -> Option<Etcd> {
        if !have("etcd", "etcd-server") || !have("etcdctl", "etcd-client") {
            return None;
        }
        let members: Vec<Member> = net
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| Member {
                name: format!("m{i}"),
                host: h.ip.clone(),
                client: 2379,
                peer: 2380,
                netns: Some(h.ns.clone()),
                child: None,
            })
            .collect();
        Some(Etcd::launch(members, false))
    }

    fn launch(members: Vec<Member>, tls: bool) -> Etcd {
        let n = members.len();
        let cluster = members
            .iter()
            .map(|m| format!("{}=http://{}:{}", m.name, m.host, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let dir = tempfile::tempdir().unwrap();
        let tls = tls.then(|| TlsFiles::make(dir.path()));
        let mut etcd = Etcd {
            dir,
            members,
            cluster,
            tls,
        };
        for i in 0..n {
            etcd.spawn(i);
        }
        etcd.wait_healthy();
        etcd
    }

    fn spawn(&mut self, i: usize) {
        let m = &self.members[i];
        let data = self.dir.path().join(&m.name);
        let log = std::fs::File::create(self.log_path(i)).unwrap();
        let client = format!("{}://{}:{}", self.scheme(), m.host, m.client);
        let peer = format!("http://{}:{}", m.host, m.peer);
        let mut command = match &m.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "etcd"]);
                c
            }
            None => Command::new("etcd"),
        };
        let child = command
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "ringpost-test"])
            // Fast elections keep a member's loss short in tests.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            // A member cut off by the network (netns) campaigns meanwhile; back, it must not
            // depose the leader the others kept (etcd 3.5 makes this the default).
            .args(if m.netns.is_some() {
                &["--pre-vote"][..]
            } else {
                &[][..]
            })
            .args(self.tls.iter().flat_map(|t| {
                [
                    "--cert-file".into(),
                    t.server.0.display().to_string(),
                    "--key-file".into(),
                    t.server.1.display().to_string(),
                    "--trusted-ca-file".into(),
                    t.ca.display().to_string(),
                    "--client-cert-auth".into(),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.members[i].child = Some(child);
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].name))
    }

    /// Every member's log, for a failing test's message.
    pub fn logs(&self) -> String {
        (0..self.members.len())
            .map(|i| std::fs::read_to_string(self.log_path(i)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The client URLs of every member (`http://127.0.0.1:PORT`, `https://` with TLS).
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("{}://{}:{}", self.scheme(), m.host, m.client))
            .collect()
    }

    /// The running members' client URLs.
    fn running_endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("{}://{}:{}", self.scheme(), m.host, m.client))
            .collect()
    }

    /// Wait (bounded) until the running members answer a linearizable read.
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.etcdctl_output(&["get", "/health-probe"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not start:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn etcdctl_output(&self, args: &[&str]) -> std::process::Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!(
                "--endpoints={}",
                self.running_endpoints().join(",")
            ))
            .args(["--dial-timeout=1s", "--command-timeout=2s"])
            .args(self.tls.iter().flat_map(|t| {
                [
                    format!("--cacert={}", t.ca.display()),
                    format!("--cert={}", t.client.0.display()),
                    format!("--key={}", t.client.1.display()),
                ]
            }))
            .args(args)
            .output()
            .unwrap()
    }

    /// Run etcdctl against the running members; its standard output (panics on failure).
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let out = self.etcdctl_output(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Make member `i` the leader (`etcdctl move-leader`; it returns once it leads).
    pub fn move_leader(&self, i: usize) {
        let list: serde_json::Value =
            serde_json::from_str(&self.etcdctl(&["member", "list", "-w", "json"])).unwrap();
        let id = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == self.members[i].name.as_str())
            .and_then(|m| m["ID"].as_u64())
            .unwrap_or_else(|| panic!("no member {} in {list}", self.members[i].name));
        self.etcdctl(&["move-leader", &format!("{id:x}")]);
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start member `i` again on its ports and data.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        // Appends to its log rather than losing the first life's.
        let previous = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        std::fs::write(self.dir.path().join(format!("m{i}.log.1")), previous).unwrap();
        self.spawn(i);
        self.wait_healthy();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Poll `check` every 50 ms until it is true; panic naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
