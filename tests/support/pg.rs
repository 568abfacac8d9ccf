//! A throwaway PostgreSQL cluster for the account backend's tests: Debian's server, started
//! as the `postgres` user (it refuses to run as root) in a temporary folder, listening only
//! on a Unix socket there, with `trust` authentication; stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::skipped;

/// One running cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
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
        let pg = Postgres { dir, bin, port };
        pg.resume();
        Some(pg)
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
        let options = format!(
            "-k {} -p {} -c listen_addresses='' -c fsync=off",
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
