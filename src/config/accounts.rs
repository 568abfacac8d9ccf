//! `[accounts]`: where the account database lives: the flat file `data_dir/accounts` (the
//! default, as before the section existed) or a PostgreSQL database that several hosts share.
//!
//! This module only checks the settings; it never connects and never reads the password file
//! (the account store does both when it opens).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAccounts {
    backend: String,
    postgres: Option<String>,
    postgres_password_file: Option<PathBuf>,
    postgres_connect_timeout_secs: u64,
}

impl Default for RawAccounts {
    fn default() -> Self {
        RawAccounts {
            backend: "file".into(),
            postgres: None,
            postgres_password_file: None,
            postgres_connect_timeout_secs: 5,
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
}

impl std::fmt::Debug for PostgresSettings {
    // The connection string may hold a password: never in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("connection", &"..")
            .field("password_file", &self.password_file)
            .field("connect_timeout", &self.connect_timeout)
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
            if raw.postgres.is_some() || raw.postgres_password_file.is_some() {
                return Err(invalid(
                    "accounts.postgres",
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
            if parsed.get_ssl_mode() == postgres::config::SslMode::Require {
                return Err(invalid(
                    "accounts.postgres",
                    "sslmode=require: TLS to PostgreSQL is not supported yet; use a Unix socket \
                     or a private network"
                        .into(),
                ));
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
            Ok(AccountsBackend::Postgres(PostgresSettings {
                connection: connection.to_string(),
                password_file: raw.postgres_password_file.as_deref().map(resolve),
                connect_timeout: Duration::from_secs(raw.postgres_connect_timeout_secs),
            }))
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
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=x dbname=y sslmode=require\"\n"
        )
        .contains("TLS to PostgreSQL"));
        assert!(err(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"host=x dbname=y\"\npostgres_connect_timeout_secs = 0\n"
        )
        .contains("accounts.postgres_connect_timeout_secs"));
    }
}
