//! `[accounts]`: where the account database lives: the flat file `data_dir/accounts` (the
//! default, as before the section existed) or a PostgreSQL database that several hosts share.
//!
//! This module only checks the settings; it never connects and never reads the password file
//! (the account store does both when it opens). It does read the TLS files, so a missing or
//! broken certificate is an error at start; [`PostgresSettings::tls_config`] reads them again
//! at every connection, so renewed ones are taken without a restart.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::{ConfigError, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAccounts {
    backend: String,
    postgres: Option<String>,
    postgres_password_file: Option<PathBuf>,
    postgres_connect_timeout_secs: u64,
    postgres_ca: Option<PathBuf>,
    postgres_cert: Option<PathBuf>,
    postgres_key: Option<PathBuf>,
}

impl Default for RawAccounts {
    fn default() -> Self {
        RawAccounts {
            backend: "file".into(),
            postgres: None,
            postgres_password_file: None,
            postgres_connect_timeout_secs: 5,
            postgres_ca: None,
            postgres_cert: None,
            postgres_key: None,
        }
    }
}

/// `[accounts]`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccountsBackend {
    /// `data_dir/accounts`, written by `ringpost user` under a lock (the default).
    #[default]
    File,
    Postgres(PostgresSettings),
}

/// How to reach the PostgreSQL account database.
///
/// TLS follows the connection string's `sslmode`: `disable` never asks for it, `prefer` (the
/// default) uses it when the server offers it and `ca` or `client_cert` is set (else plain
/// text), `require` connects only with it. A Unix socket
/// never carries TLS (as with libpq). Whenever TLS is used the server's certificate must
/// chain to `ca` and name the host (libpq's `verify-full`): there is no unverified TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// A libpq-style connection string (`host=… user=… dbname=…`) or a
    /// `postgresql://` URL. May hold a password, but `password_file` is the better place.
    pub connection: String,
    /// A file whose first line is the password (read at every connection, so it can be
    /// rotated); else `RINGPOST_POSTGRES_PASSWORD` from the environment, else the password of
    /// `connection`, if any.
    pub password_file: Option<PathBuf>,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// A PEM file of the CAs the server's certificate must chain to (`postgres_ca`); `None`:
    /// the system's roots.
    pub ca: Option<PathBuf>,
    /// This host's client certificate and its key, PEM (`postgres_cert`, `postgres_key`),
    /// for a server that asks for one (`hostssl … cert`, or `clientcert=verify-full`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A TLS file of `[accounts]` that cannot be used: the key it was set by and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFileError {
    /// `postgres_ca`, `postgres_cert` or `postgres_key`.
    pub key: &'static str,
    pub message: String,
}

impl std::fmt::Display for TlsFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "accounts.{}: {}", self.key, self.message)
    }
}

impl PostgresSettings {
    /// The TLS client configuration for the account database, read from the files now: the
    /// roots of `ca` (else the system's), the client certificate if any, ring as the
    /// provider (as every other TLS of ours).
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, TlsFileError> {
        let fail = |key: &'static str, path: &Path, why: String| TlsFileError {
            key,
            message: format!("{}: {why}", path.display()),
        };
        let certificates = |key: &'static str, path: &Path| {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| fail(key, path, format!("cannot read it as PEM: {e}")))?;
            if certs.is_empty() {
                return Err(fail(key, path, "holds no PEM certificate".into()));
            }
            Ok(certs)
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                for cert in certificates("postgres_ca", path)? {
                    roots
                        .add(cert)
                        .map_err(|e| fail("postgres_ca", path, format!("not a CA: {e}")))?;
                }
            }
            None => {
                // Those that do not parse are skipped, as for the smarthost; none at all
                // shows at connect time as an unknown issuer.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsFileError {
                key: "postgres_ca",
                message: e.to_string(),
            })?
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates("postgres_cert", cert)?;
                let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    fail("postgres_key", key, format!("not a PEM private key: {e}"))
                })?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    fail(
                        "postgres_key",
                        key,
                        format!("cannot be used with postgres_cert: {e}"),
                    )
                })?
            }
        };
        // What libpq 17 offers; servers before 17 ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }
}

impl std::fmt::Debug for PostgresSettings {
    // The connection string may hold a password: never in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("connection", &"..")
            .field("password_file", &self.password_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("ca", &self.ca)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

pub(super) fn check_accounts(
    raw: &RawAccounts,
    resolve: &dyn Fn(&Path) -> PathBuf,
    invalid: &Invalid,
) -> Result<AccountsBackend, ConfigError> {
    match raw.backend.as_str() {
        "file" => {
            let postgres_only = [
                ("postgres", raw.postgres.is_some()),
                (
                    "postgres_password_file",
                    raw.postgres_password_file.is_some(),
                ),
                ("postgres_ca", raw.postgres_ca.is_some()),
                ("postgres_cert", raw.postgres_cert.is_some()),
                ("postgres_key", raw.postgres_key.is_some()),
            ];
            if let Some((key, _)) = postgres_only.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    &format!("accounts.{key}"),
                    "set only with backend = \"postgres\"".into(),
                ));
            }
            Ok(AccountsBackend::File)
        }
        "postgres" => {
            let Some(connection) = raw.postgres.as_deref().map(str::trim) else {
                return Err(invalid(
                    "accounts.postgres",
                    "missing: backend = \"postgres\" needs a connection string".into(),
                ));
            };
            if connection.contains("sslmode=verify") {
                return Err(invalid(
                    "accounts.postgres",
                    "sslmode=verify-ca and verify-full are not taken: use sslmode=require, \
                     with which ringpost verifies the certificate and the host name as \
                     verify-full does"
                        .into(),
                ));
            }
            let parsed = postgres::Config::from_str(connection).map_err(|e| {
                invalid(
                    "accounts.postgres",
                    format!("not a PostgreSQL connection string or URL: {e}"),
                )
            })?;
            if parsed.get_hosts().is_empty() {
                return Err(invalid(
                    "accounts.postgres",
                    "names no host (host=… or a URL's host; a folder for a Unix socket)".into(),
                ));
            }
            if parsed.get_dbname().is_none() {
                return Err(invalid("accounts.postgres", "names no dbname".into()));
            }
            if !(1..=60).contains(&raw.postgres_connect_timeout_secs) {
                return Err(invalid(
                    "accounts.postgres_connect_timeout_secs",
                    format!(
                        "{} is not between 1 and 60",
                        raw.postgres_connect_timeout_secs
                    ),
                ));
            }
            let client_cert = match (&raw.postgres_cert, &raw.postgres_key) {
                (None, None) => None,
                (Some(cert), Some(key)) => Some((resolve(cert), resolve(key))),
                (Some(_), None) => {
                    return Err(invalid(
                        "accounts.postgres_key",
                        "missing: postgres_cert and postgres_key go together (this host's \
                         client certificate and its key)"
                            .into(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(invalid(
                        "accounts.postgres_cert",
                        "missing: postgres_cert and postgres_key go together (this host's \
                         client certificate and its key)"
                            .into(),
                    ))
                }
            };
            let settings = PostgresSettings {
                connection: connection.to_string(),
                password_file: raw.postgres_password_file.as_deref().map(resolve),
                connect_timeout: Duration::from_secs(raw.postgres_connect_timeout_secs),
                ca: raw.postgres_ca.as_deref().map(resolve),
                client_cert,
            };
            // The files are read again at each connection; a broken one is refused now.
            if settings.ca.is_some() || settings.client_cert.is_some() {
                settings
                    .tls_config()
                    .map_err(|e| invalid(&format!("accounts.{}", e.key), e.message))?;
            }
            Ok(AccountsBackend::Postgres(settings))
        }
        other => Err(invalid(
            "accounts.backend",
            format!("{other:?} is neither \"file\" nor \"postgres\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tests::MINIMAL;
    use super::super::Config;
    use super::*;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{MINIMAL}{extra}"),
            Path::new("/etc/ringpost/ringpost.toml"),
        )
    }

    fn err(extra: &str) -> String {
        parse(extra).unwrap_err().to_string()
    }

    #[test]
    fn file_is_the_default() {
        assert_eq!(parse("").unwrap().accounts, AccountsBackend::File);
        assert_eq!(
            parse("[accounts]\nbackend = \"file\"\n").unwrap().accounts,
            AccountsBackend::File
        );
    }

    #[test]
    fn postgres_takes_a_connection_string_or_url_and_a_password_file() {
        let config = parse(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=db.internal user=ringpost dbname=mail\"\npostgres_password_file = \"pg-password\"\n",
        )
        .unwrap();
        assert_eq!(
            config.accounts,
            AccountsBackend::Postgres(PostgresSettings {
                connection: "host=db.internal user=ringpost dbname=mail".into(),
                password_file: Some(PathBuf::from("/etc/ringpost/pg-password")),
                connect_timeout: Duration::from_secs(5),
                ca: None,
                client_cert: None,
            })
        );
        let url = parse(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"postgresql://ringpost@db.internal/mail\"\npostgres_connect_timeout_secs = 2\n",
        )
        .unwrap();
        let AccountsBackend::Postgres(settings) = url.accounts else {
            panic!("not postgres");
        };
        assert_eq!(settings.connect_timeout, Duration::from_secs(2));
        // Never the connection string (it may hold a password) in a debug print.
        assert!(!format!("{settings:?}").contains("db.internal"));
    }

    #[test]
    fn bad_accounts_settings_name_the_key() {
        assert!(err("[accounts]\nbackend = \"ldap\"\n").contains("accounts.backend"));
        assert!(err("[accounts]\nbackend = \"postgres\"\n").contains("accounts.postgres"));
        assert!(err("[accounts]\npostgres = \"host=x dbname=y\"\n")
            .contains("only with backend = \"postgres\""));
        assert!(
            err("[accounts]\nbackend = \"postgres\"\npostgres = \"host=x\"\n")
                .contains("names no dbname")
        );
        assert!(err(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=x dbname=y bogus=1\"\n"
        )
        .contains("not a PostgreSQL connection string"));
        assert!(err(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=x dbname=y sslmode=verify-full\"\n"
        )
        .contains("use sslmode=require"));
        assert!(err(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=x dbname=y\"\npostgres_connect_timeout_secs = 0\n"
        )
        .contains("accounts.postgres_connect_timeout_secs"));
    }

    /// A CA, a certificate it signed (for the client) and their keys, as PEM files in `dir`;
    /// and a second key that fits no certificate.
    struct Pems {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
        other_key: PathBuf,
    }

    fn pems(dir: &Path) -> Pems {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ringpost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let pems = Pems {
            ca: dir.join("ca.pem"),
            cert: dir.join("client.pem"),
            key: dir.join("client.key"),
            other_key: dir.join("other.key"),
        };
        std::fs::write(&pems.ca, ca.pem()).unwrap();
        std::fs::write(&pems.cert, cert.pem()).unwrap();
        std::fs::write(&pems.key, key.serialize_pem()).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&pems.other_key, other.serialize_pem()).unwrap();
        pems
    }

    /// `[accounts]` with backend postgres, `sslmode=require` and `extra`.
    fn tls(extra: &str) -> Result<Config, ConfigError> {
        parse(&format!(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=db.internal dbname=mail sslmode=require\"\n{extra}"
        ))
    }

    #[test]
    fn tls_takes_a_ca_and_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let p = pems(dir.path());
        // sslmode=require alone: the system's roots.
        let AccountsBackend::Postgres(settings) = tls("").unwrap().accounts else {
            panic!("not postgres");
        };
        assert_eq!((settings.ca, settings.client_cert), (None, None));
        let config = tls(&format!(
            "postgres_ca = \"{}\"\npostgres_cert = \"{}\"\npostgres_key = \"{}\"\n",
            p.ca.display(),
            p.cert.display(),
            p.key.display()
        ))
        .unwrap();
        let AccountsBackend::Postgres(settings) = config.accounts else {
            panic!("not postgres");
        };
        assert_eq!(settings.ca.as_deref(), Some(p.ca.as_path()));
        assert_eq!(settings.client_cert, Some((p.cert.clone(), p.key.clone())));
        assert!(!format!("{settings:?}").contains("db.internal"));
        let client = settings.tls_config().unwrap();
        assert!(client.client_auth_cert_resolver.has_certs());
        // A relative path is the configuration file's folder's.
        let relative = Config::parse(
            &format!(
                "{MINIMAL}[accounts]\nbackend = \"postgres\"\npostgres = \"host=db dbname=mail\"\npostgres_ca = \"ca.pem\"\n"
            ),
            &dir.path().join("ringpost.toml"),
        )
        .unwrap();
        let AccountsBackend::Postgres(settings) = relative.accounts else {
            panic!("not postgres");
        };
        assert_eq!(settings.ca, Some(p.ca));
    }

    #[test]
    fn tls_files_that_cannot_be_used_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = pems(dir.path());
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let ca = |path: &Path| tls(&format!("postgres_ca = \"{}\"\n", path.display()));
        let e = ca(&missing).unwrap_err().to_string();
        assert!(
            e.contains("accounts.postgres_ca") && e.contains("missing.pem"),
            "{e}"
        );
        let e = ca(&garbage).unwrap_err().to_string();
        assert!(
            e.contains("accounts.postgres_ca") && e.contains("no PEM certificate"),
            "{e}"
        );
        // A key is not a certificate.
        let e = ca(&p.key).unwrap_err().to_string();
        assert!(e.contains("accounts.postgres_ca"), "{e}");

        let identity = |cert: &Path, key: &Path| {
            tls(&format!(
                "postgres_cert = \"{}\"\npostgres_key = \"{}\"\n",
                cert.display(),
                key.display()
            ))
            .unwrap_err()
            .to_string()
        };
        let e = identity(&missing, &p.key);
        assert!(e.contains("accounts.postgres_cert"), "{e}");
        let e = identity(&garbage, &p.key);
        assert!(e.contains("accounts.postgres_cert"), "{e}");
        let e = identity(&p.cert, &missing);
        assert!(e.contains("accounts.postgres_key"), "{e}");
        let e = identity(&p.cert, &p.cert);
        assert!(e.contains("accounts.postgres_key"), "{e}");
        // A key that is not the certificate's.
        let e = identity(&p.cert, &p.other_key);
        assert!(
            e.contains("accounts.postgres_key") && e.contains("postgres_cert"),
            "{e}"
        );
    }

    #[test]
    fn client_certificate_and_key_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let p = pems(dir.path());
        // Either alone is refused, naming the one missing.
        for (given, path, missing) in [
            ("postgres_cert", &p.cert, "accounts.postgres_key"),
            ("postgres_key", &p.key, "accounts.postgres_cert"),
        ] {
            let e = tls(&format!("{given} = \"{}\"\n", path.display()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(missing) && e.contains("go together"), "{e}");
        }
    }

    #[test]
    fn tls_files_only_with_the_postgres_backend() {
        for key in [
            "postgres_ca",
            "postgres_cert",
            "postgres_key",
            "postgres_password_file",
        ] {
            let e = err(&format!("[accounts]\n{key} = \"/etc/x.pem\"\n"));
            assert!(
                e.contains(&format!("accounts.{key}")) && e.contains("only with backend"),
                "{e}"
            );
        }
    }
}
