//! Several ringpost hosts on loopback forming one cluster: one real etcd holding the map, one
//! real PostgreSQL holding the account directory they share, the internal link over mutual
//! TLS with certificates made by `ringpost cluster ca` / `cluster cert`, one certificate for
//! the clients on every host (as behind one DNS name).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ringpost::cluster::etcd::admin::Admin;
use ringpost::cluster::NodeName;
use ringpost::config::{ClusterConfig, Replication};

use super::etcd::{wait_until, Etcd};
use super::pg::Postgres;

/// How long a host may take to reach a state the test waits for.
pub const LIMIT: Duration = Duration::from_secs(60);

/// `ringpost args…`, which must succeed: its output.
pub fn ringpost(args: &[&str]) -> String {
    let out = Command::new(super::BIN).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ringpost {args:?}: {text}");
    text
}

/// The cluster CA and every node's certificate, made as the README says.
pub fn certificates(dir: &Path, nodes: &[&str]) -> PathBuf {
    let ca = dir.join("ca");
    let out = ringpost(&["cluster", "ca", ca.to_str().unwrap()]);
    assert!(out.contains("ca.pem"), "{out}");
    for node in nodes {
        let out = ringpost(&["cluster", "cert", node, "--ca", ca.to_str().unwrap()]);
        assert!(out.contains(&format!("{node}.pem")), "{out}");
    }
    ca
}

/// A cluster config for the test's own etcd client (not a host).
pub fn observer(etcd: &Etcd) -> ClusterConfig {
    observer_of(etcd.endpoints())
}

/// [`observer`] reaching only the etcd members at `endpoints`.
pub fn observer_of(endpoints: Vec<String>) -> ClusterConfig {
    ClusterConfig {
        node: "observer".into(),
        name: "main".into(),
        etcd: endpoints,
        advertise: "127.0.0.1:9".parse().unwrap(),
        replicas: 0,
        replication: Replication::Sync,
        lease_ttl: Duration::from_secs(1),
        tls: None,
        etcd_tls: None,
    }
}

/// Whether the SMTP listener at `address` accepts `user` as a recipient (its directory
/// knows the account).
pub fn accepts_recipient(address: SocketAddr, user: &str) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    // The last line of each reply.
    let mut reply = |command: Option<&str>| -> String {
        if let Some(c) = command {
            writer.write_all(c.as_bytes()).unwrap();
        }
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0
                || line.as_bytes().get(3) != Some(&b'-')
            {
                return line;
            }
        }
    };
    reply(None);
    reply(Some("EHLO test.example.org\r\n"));
    reply(Some("MAIL FROM:<probe@example.org>\r\n"));
    let answer = reply(Some(&format!("RCPT TO:<{user}>\r\n")));
    reply(Some("QUIT\r\n"));
    answer.starts_with("250")
}

/// Where a host runs: a network namespace ([`super::netns::Net`]) and its address there, on
/// which every listener of the host (the internal one too) is bound.
#[derive(Clone)]
pub struct Place {
    pub netns: String,
    pub ip: IpAddr,
}

/// Which etcd members each host reaches, and which the test's own client (the admin) does,
/// and where each host runs.
pub struct Reach {
    /// Each node's `[cluster] etcd`, in the order of the nodes.
    pub hosts: Vec<Vec<String>>,
    /// The admin's endpoints.
    pub admin: Vec<String>,
    /// Each node's network namespace (`None`: the test's own, on 127.0.0.1).
    pub places: Vec<Option<Place>>,
}

impl Reach {
    /// Every host reaches the first member, the admin every member; the hosts on loopback.
    pub fn first_member(etcd: &Etcd, nodes: usize) -> Reach {
        Reach {
            hosts: vec![vec![etcd.endpoints()[0].clone()]; nodes],
            admin: etcd.endpoints(),
            places: vec![None; nodes],
        }
    }

    /// Host i in `net`'s namespace i, beside etcd member i (started with
    /// [`Etcd::start_in`]), reaching every member as a real deployment does (its own
    /// first); the admin reaches every member over the bridge.
    pub fn in_namespaces(net: &super::netns::Net, etcd: &Etcd) -> Reach {
        let endpoints = etcd.endpoints();
        let n = net.hosts.len();
        Reach {
            hosts: (0..n)
                .map(|i| (0..n).map(|k| endpoints[(i + k) % n].clone()).collect())
                .collect(),
            admin: endpoints,
            places: net
                .hosts
                .iter()
                .map(|h| {
                    Some(Place {
                        netns: h.ns.clone(),
                        ip: h.ip.parse().unwrap(),
                    })
                })
                .collect(),
        }
    }
}

/// Hosts of one cluster, and what their clients need.
pub struct Cluster {
    pub hosts: Vec<super::Server>,
    pub nodes: Vec<NodeName>,
    pub admin: Admin,
    /// The clients' CA bundle (the hosts' one self-signed certificate).
    pub bundle: PathBuf,
    /// Every host's ports, as JSON for the Python clients.
    pub ports: String,
    /// What each host's `[cluster]`, `[accounts]` and `[tls]` sections say.
    setup: Setup,
    _dir: tempfile::TempDir,
}

/// The settings every host of a test cluster shares.
struct Setup {
    /// The etcd members a host added later reaches.
    etcd: Vec<String>,
    postgres: String,
    replicas: usize,
    replication: String,
    ca: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
}

impl Setup {
    /// The config sections of host `node`, its internal listener on `advertise`, reaching
    /// the etcd members `etcd`.
    fn extra(&self, node: &str, advertise: SocketAddr, etcd: &[String]) -> String {
        let etcd = etcd
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[auth]\nfailure_delay_ms = 50\n\
             [accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n\
             [cluster]\nnode = \"{node}\"\netcd = [{etcd}]\n\
             advertise = \"{advertise}\"\nreplicas = {}\n\
             replication = \"{}\"\nlease_ttl = 2\n\
             ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            self.tls_cert.display(),
            self.tls_key.display(),
            self.postgres,
            self.replicas,
            self.replication,
            self.ca.join("ca.pem").display(),
            self.ca.join(format!("{node}.pem")).display(),
            self.ca.join(format!("{node}.key")).display(),
        )
    }

    /// Host `node` in `place` (or on loopback), its internal listener on `port` there.
    fn host(&self, node: &str, port: u16, etcd: &[String], place: Option<&Place>) -> super::Server {
        let ip = place.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |p| p.ip);
        super::Server::start(super::Options {
            extra: self.extra(node, SocketAddr::new(ip, port), etcd),
            http: true,
            add_users: false,
            bind: place.map(|p| p.ip),
            netns: place.map(|p| p.netns.clone()),
            ..Default::default()
        })
    }
}

impl Cluster {
    /// Make the map over `nodes` with `replicas` copies (`ringpost cluster init`'s work),
    /// start one host per node with `[cluster] replicas` and `replication`, add alice and
    /// bob once (the directory is shared), and wait until every host holds its lease.
    pub fn start(
        etcd: &Etcd,
        pg: &Postgres,
        database: &str,
        nodes: &[&str],
        replicas: usize,
        replication: &str,
    ) -> Cluster {
        let reach = Reach::first_member(etcd, nodes.len());
        Cluster::start_with(pg, database, nodes, replicas, replication, &reach)
    }

    /// [`Cluster::start`] with each host (and the admin) reaching the etcd members `reach`
    /// gives it.
    pub fn start_with(
        pg: &Postgres,
        database: &str,
        nodes: &[&str],
        replicas: usize,
        replication: &str,
        reach: &Reach,
    ) -> Cluster {
        assert_eq!(reach.hosts.len(), nodes.len(), "one endpoint list per node");
        assert_eq!(reach.places.len(), nodes.len(), "one place per node");
        pg.create_database(database);
        let dir = tempfile::tempdir().unwrap();
        let ca = certificates(dir.path(), nodes);
        let mut admin = Admin::connect(&observer_of(reach.admin.clone())).unwrap();
        let names: Vec<NodeName> = nodes.iter().map(|n| NodeName::new(n).unwrap()).collect();
        assert!(admin.init(&names, replicas).unwrap(), "the map is new");
        // Behind one name, and at every address a client reaches a host at.
        let mut alt_names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        alt_names.extend(reach.places.iter().flatten().map(|p| p.ip.to_string()));
        let pair = rcgen::generate_simple_self_signed(alt_names).unwrap();
        let (tls_cert, tls_key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
        std::fs::write(&tls_cert, pair.cert.pem()).unwrap();
        std::fs::write(&tls_key, pair.key_pair.serialize_pem()).unwrap();
        let setup = Setup {
            etcd: reach.hosts[0].clone(),
            postgres: pg.connection(database),
            replicas,
            replication: replication.to_string(),
            ca,
            tls_cert: tls_cert.clone(),
            tls_key,
        };
        let advertise = super::free_ports(nodes.len());
        let hosts: Vec<super::Server> = nodes
            .iter()
            .zip(&advertise)
            .zip(&reach.hosts)
            .zip(&reach.places)
            .map(|(((node, port), endpoints), place)| {
                setup.host(node, *port, endpoints, place.as_ref())
            })
            .collect();
        for (user, pass) in [super::ALICE, super::BOB] {
            let out = hosts[1].cli(&["user", "add", user], Some(pass));
            assert!(out.status.success(), "{out:?}");
        }
        // Each host reads the shared directory again within a second or so.
        for host in &hosts {
            wait_until("every host to know alice and bob", LIMIT, || {
                [super::ALICE, super::BOB]
                    .iter()
                    .all(|(user, _)| accepts_recipient(host.listen["smtp"], user))
            });
        }
        wait_until("every host to hold its lease", LIMIT, || {
            // (An error is a leader change of a multi-member etcd: read again.)
            admin.snapshot().is_ok_and(|snapshot| {
                names
                    .iter()
                    .all(|n| snapshot.members.get(n).is_some_and(|a| a.is_some()))
            })
        });
        let ports = ports_json(&hosts);
        Cluster {
            hosts,
            nodes: names,
            admin,
            bundle: tls_cert,
            ports,
            setup,
            _dir: dir,
        }
    }

    /// Start one more host, `node` (not placed in the map: `cluster add-node` places it),
    /// with a certificate from the cluster's CA, and wait until it holds its lease and knows
    /// the users.
    pub fn add_host(&mut self, node: &str) {
        let ca = self.setup.ca.to_str().unwrap().to_string();
        let out = ringpost(&["cluster", "cert", node, "--ca", &ca]);
        assert!(out.contains(&format!("{node}.pem")), "{out}");
        let port = super::free_ports(1)[0];
        let host = self.setup.host(node, port, &self.setup.etcd, None);
        let name = NodeName::new(node).unwrap();
        wait_until("the new host to know alice and bob", LIMIT, || {
            [super::ALICE, super::BOB]
                .iter()
                .all(|(user, _)| accepts_recipient(host.listen["smtp"], user))
        });
        wait_until("the new host to hold its lease", LIMIT, || {
            self.admin
                .snapshot()
                .is_ok_and(|snapshot| snapshot.members.get(&name).is_some_and(|a| a.is_some()))
        });
        self.hosts.push(host);
        self.nodes.push(name);
        self.ports = ports_json(&self.hosts);
    }

    /// Run a Python client against every host (argv: ports cafile hosts-json args…); on a
    /// failure every host's log is printed before the panic goes on.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let mut argv = vec![self.ports.as_str()];
        argv.extend_from_slice(args);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.hosts[0].python_with_ca(script, self.bundle.to_str().unwrap(), &argv)
        }));
        match run {
            Ok(out) => out,
            Err(e) => {
                self.dump_logs();
                std::panic::resume_unwind(e);
            }
        }
    }

    /// [`Cluster::python`] in the background (while the test does other things).
    pub fn python_in_background(&self, script: &str, args: &[&str]) -> Background {
        self.python_in_background_in(None, script, args)
    }

    /// [`Cluster::python_in_background`] in network namespace `netns` (`ip netns exec`), or
    /// the test's own.
    pub fn python_in_background_in(
        &self,
        netns: Option<&str>,
        script: &str,
        args: &[&str],
    ) -> Background {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(script);
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
        // `ip netns exec` execs python: the child is the client itself.
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "python3"]);
                c
            }
            None => Command::new("python3"),
        };
        let child = command
            .arg(path)
            .arg("{}")
            .arg(&self.bundle)
            .arg(&self.ports)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Background {
            child,
            out,
            err,
            _dir: dir,
        }
    }

    /// Wait until `check` (asked with the test's etcd client) is `Ok`; if it never is within
    /// [`LIMIT`], print every host's log and the last reason it gave, then fail.
    pub fn wait_or_dump(
        &mut self,
        what: &str,
        mut check: impl FnMut(&mut Admin) -> Result<(), String>,
    ) {
        let mut why = String::new();
        let admin = &mut self.admin;
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(what, LIMIT, || match check(admin) {
                Ok(()) => true,
                Err(e) => {
                    why = e;
                    false
                }
            })
        }));
        if let Err(e) = waited {
            self.dump_logs();
            eprintln!("{what}: {why}");
            std::panic::resume_unwind(e);
        }
    }

    /// Print every host's log (for a failing test).
    /// The hosts' logs show a session relayed to another host and one continued there
    /// (a client reached a host that does not serve its account).
    pub fn assert_sessions_relayed(&self) {
        let logs: Vec<String> = self.hosts.iter().map(|h| h.log()).collect();
        assert!(
            logs.iter()
                .any(|l| l.contains("session continued on another host")),
            "no session was relayed"
        );
        assert!(
            logs.iter()
                .any(|l| l.contains("session continued here from another host")),
            "no session was continued"
        );
    }

    pub fn dump_logs(&self) {
        for (node, host) in self.nodes.iter().zip(&self.hosts) {
            eprintln!("--- {node}\n{}", host.log());
        }
    }
}

/// Every host's ports, as JSON for the Python clients.
fn ports_json(hosts: &[super::Server]) -> String {
    let ports: Vec<serde_json::Value> = hosts
        .iter()
        .map(|h| {
            let mut ports = serde_json::to_value(&h.ports).unwrap();
            // A host off loopback: the address its clients reach it at (loopback by default).
            let ip = h.listen["smtp"].ip();
            if !ip.is_loopback() {
                ports["host"] = ip.to_string().into();
            }
            ports
        })
        .collect();
    serde_json::to_string(&ports).unwrap()
}

/// A client process running in the background ([`Cluster::python_in_background`]); killed
/// when dropped before it ended (a failing test leaves none behind).
pub struct Background {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

impl Background {
    /// Whether it has ended.
    pub fn is_finished(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for it to end: its output, or why it failed.
    pub fn join(mut self) -> Result<String, String> {
        let status = self.child.wait().map_err(|e| e.to_string())?;
        let stdout = std::fs::read_to_string(&self.out).unwrap_or_default();
        if status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{stdout}\n--- stderr ({status})\n{}",
                std::fs::read_to_string(&self.err).unwrap_or_default()
            ))
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
