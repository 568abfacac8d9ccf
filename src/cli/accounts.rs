//! `ringpost accounts …`: the account database's own upkeep: bring a PostgreSQL schema up
//! to date, and copy the accounts file into PostgreSQL once, when moving to it.
//!
//! Accounts themselves are managed with `ringpost user …`, whatever the backend.

use std::path::PathBuf;

use clap::Subcommand;

use super::{print, CliError};
use crate::accounts::AccountStore;
use crate::config::{AccountsBackend, Config};

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub(super) enum AccountsCommand {
    /// Bring the PostgreSQL schema up to date (every start of the server does it too; safe
    /// while other hosts run or start). Prints the schema version before and after.
    Migrate,
    /// Copy every account of an accounts file (live and deleted, with credentials, quotas
    /// and last uses) into the PostgreSQL database of `[accounts]`, which must have no
    /// account yet. The file is only read. Stop the server (or every `ringpost user` use)
    /// first, so nothing changes the file meanwhile.
    ImportFile {
        /// The file [default: data_dir/accounts]
        path: Option<PathBuf>,
    },
}

pub(super) fn accounts(config: &Config, command: AccountsCommand) -> Result<(), CliError> {
    if config.accounts == AccountsBackend::File {
        return Err(CliError::Usage(
            "[accounts] backend is \"file\": there is no database to migrate or import into".into(),
        ));
    }
    // Opening migrates: say what it found before.
    let store = AccountStore::open_configured(config)?;
    match command {
        AccountsCommand::Migrate => {
            let (before, after) = store.migrate()?.unwrap_or_default();
            print(&format!(
                "account database schema: version {before}, now {after}\n"
            ))
        }
        AccountsCommand::ImportFile { path } => {
            let path = path.unwrap_or_else(|| config.data_dir.join("accounts"));
            let (live, deleted) = store.import_file(&path)?;
            print(&format!(
                "imported {live} accounts and {deleted} deleted accounts from {}\n",
                path.display()
            ))
        }
    }
}
