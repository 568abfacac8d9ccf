//! A throwaway PostgreSQL cluster for the account backend's tests: Debian's server, started
//! as the `postgres` user (it refuses to run as root) in a temporary folder, listening only
//! on a Unix socket there, with `trust` authentication; stopped and removed when dropped.
//! [`Postgres::start_tls`] makes one that also listens on 127.0.0.1 and takes TCP clients
//! over TLS only.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::skipped;

/// One running cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The TCP side's TLS, when started with [`Postgres::start_tls`].
    pub tls: Option<PgTls>,
}

/// How TCP clients must come to a [`Postgres::start_tls`] cluster.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientAuth {
    /// `hostssl … trust`: TLS is enough.
    Trust,
    /// `hostssl … cert`: a client certificate of the test CA whose common name is the user.
    Cert,
}

/// The client's side of a TLS cluster's files (PEM): the CA of the server's certificate (for
/// 127.0.0.1 and localhost), another CA that signed nothing of it, and a client certificate
/// for the user `postgres` with its key.
pub struct PgTls {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A new CA: its certificate and key.
fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

/// A certificate signed by `ca` for `names` (subject alternative names) with common name
/// `cn`: its PEM and its key's.
fn issue(
    ca: &(rcgen::Certificate, rcgen::KeyPair),
    names: &[&str],
    cn: &str,
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.0, &ca.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Debian's server binaries: the newest `/usr/lib/postgresql/<version>/bin` with initdb.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .unwrap()
}

impl Postgres {
    /// Make and start a cluster; `None` (the test returns) when the server is not installed,
    /// unless `RINGPOST_REQUIRE_CLIENTS` is set.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = server_bin() else {
            skipped(&format!(
                "{} needs /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql",
                std::thread::current().name().unwrap_or("a test")
            ));
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_ports(1)[0];
        let pg = Postgres {
            dir,
            bin,
            port,
            tls: None,
        };
        pg.resume();
        Some(pg)
    }

    /// A cluster that also listens on 127.0.0.1 (the same port) with `ssl = on` and a
    /// certificate of a CA of its own, and whose pg_hba.conf takes TCP clients over TLS only
    /// (`hostssl`, as `auth` says); the Unix socket stays as in [`Postgres::start`], for the
    /// tests' own setup. `None` as [`Postgres::start`].
    pub fn start_tls(auth: ClientAuth) -> Option<Postgres> {
        let mut pg = Postgres::start()?;
        pg.stop();
        let data = pg.dir.path().join("data");
        let ca = new_ca("test PostgreSQL CA");
        let server = issue(
            &ca,
            &["127.0.0.1", "localhost"],
            "127.0.0.1",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = issue(
            &ca,
            &["postgres"],
            "postgres",
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        let other = new_ca("another CA");
        // The server's files: owned by postgres, the key readable by it alone (the server
        // refuses a key others may read).
        let owner = std::fs::metadata(&data).unwrap();
        let root = ca.0.pem();
        for (name, text, mode) in [
            ("server.pem", server.0.as_str(), 0o644),
            ("server.key", server.1.as_str(), 0o600),
            ("root.pem", root.as_str(), 0o644),
        ] {
            let path = data.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(
            "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n\
             ssl_ca_file = 'root.pem'\n",
        );
        std::fs::write(&conf, text).unwrap();
        let method = match auth {
            ClientAuth::Trust => "trust",
            ClientAuth::Cert => "cert",
        };
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all all trust\nhostssl all all 127.0.0.1/32 {method}\n"),
        )
        .unwrap();
        // The client's files, beside the data folder.
        let dir = pg.dir.path();
        let tls = PgTls {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        std::fs::write(&tls.ca, ca.0.pem()).unwrap();
        std::fs::write(&tls.other_ca, other.0.pem()).unwrap();
        std::fs::write(&tls.client_cert, &client.0).unwrap();
        std::fs::write(&tls.client_key, &client.1).unwrap();
        pg.tls = Some(tls);
        pg.resume();
        Some(pg)
    }

    /// A libpq connection string for database `dbname` over TCP to 127.0.0.1, with `extra`
    /// (`sslmode=…`, `host=…` to name another host).
    pub fn tcp_connection(&self, dbname: &str, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname} {extra}",
            self.port
        )
    }

    /// For each connection of `application_name`, from `pg_stat_ssl`: whether it is
    /// encrypted, and the subject of its client certificate (empty without one).
    pub fn ssl_of(&self, application_name: &str) -> Vec<(bool, String)> {
        self.client("postgres")
            .query(
                "SELECT s.ssl, coalesce(s.client_dn, '') FROM pg_stat_ssl s
                 JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
                &[&application_name],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// The folder of the server's socket (the `host` of a connection string).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port (the number in the socket's name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq connection string for database `dbname`.
    pub fn connection(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={dbname}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Make a new, empty database.
    pub fn create_database(&self, name: &str) {
        let mut client =
            postgres::Client::connect(&self.connection("postgres"), postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
    }

    /// A client of database `dbname`, for looking at the tables.
    pub fn client(&self, dbname: &str) -> postgres::Client {
        postgres::Client::connect(&self.connection(dbname), postgres::NoTls).unwrap()
    }

    /// Make a login role `name` with `password` that owns `dbname` (made here), and have
    /// the server ask it for the password (SCRAM) instead of trusting it.
    pub fn add_role_with_password(&self, name: &str, password: &str, dbname: &str) {
        let mut client = self.client("postgres");
        client
            .batch_execute(&format!(
                "SET password_encryption = 'scram-sha-256';
                 CREATE ROLE {name} LOGIN PASSWORD '{password}';"
            ))
            .unwrap();
        // Alone: CREATE DATABASE refuses to run in a multi-statement batch's transaction.
        client
            .batch_execute(&format!("CREATE DATABASE {dbname} OWNER {name}"))
            .unwrap();
        let hba = self.dir.path().join("data/pg_hba.conf");
        let old = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("local all {name} scram-sha-256\n{old}")).unwrap();
        let data = self.dir.path().join("data");
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "reload"],
        );
        assert!(out.status.success());
        // A reload is asynchronous: wait until the role is refused without its password.
        let without = format!(
            "host={} port={} user={name} dbname={dbname}",
            self.socket_dir().display(),
            self.port
        );
        for _ in 0..100 {
            if postgres::Client::connect(&without, postgres::NoTls).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("pg_hba.conf was not reloaded");
    }

    /// Stop the server (fast: open connections are cut, as in a crash or restart).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server (again), and wait until it accepts connections.
    pub fn resume(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let listen = if self.tls.is_some() { "127.0.0.1" } else { "" };
        let options = format!(
            "-k {} -p {} -c listen_addresses='{listen}' -c fsync=off",
            self.socket_dir().display(),
            self.port
        );
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
