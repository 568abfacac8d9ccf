//! `ringpost dkim generate`: a new DKIM key, its DNS record and its `[[dkim]]` table.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{print, CliError};
use crate::config::dkim::{valid_domain, valid_selector, DkimAlgorithm, DkimPrivateKey};
use crate::config::Config;
use crate::runtime;

/// The longest string a TXT record holds (RFC 1035 §3.3.14); longer values are split.
const TXT_STRING: usize = 255;

/// Make a key for `domain` and `selector`, write it (mode 0600, never over an existing file)
/// to `out` or `data_dir/dkim/<selector>._domainkey.<domain>.pem`, and print the DNS record
/// and the configuration to add.
pub(super) fn generate(
    config: &Config,
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
    out: Option<PathBuf>,
) -> Result<(), CliError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let selector = selector.trim().to_ascii_lowercase();
    if !valid_domain(&domain) {
        return Err(CliError::Usage(format!("{domain:?} is not a domain name")));
    }
    if !valid_selector(&selector) {
        return Err(CliError::Usage(format!(
            "{selector:?} is not a selector (DNS labels: letters, digits, hyphens, dots)"
        )));
    }
    let name = format!("{selector}._domainkey.{domain}");
    let path = match out {
        Some(path) => path,
        None => {
            // In the data folder the key belongs to the server's user, who reads it again
            // at every reload.
            runtime::privileges::drop_root(config.run_as.as_ref(), &config.data_dir)
                .map_err(|e| CliError::Dkim(e.to_string()))?;
            let dir = config.data_dir.join("dkim");
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| CliError::Dkim(format!("creating {}: {e}", dir.display())))?;
            dir.join(format!("{name}.pem"))
        }
    };
    let (pem, key) = DkimPrivateKey::generate(algorithm).map_err(CliError::Dkim)?;
    write_new(&path, pem.as_bytes())?;
    let shown = std::fs::canonicalize(&path).unwrap_or(path);
    let kind = match algorithm {
        DkimAlgorithm::Ed25519 => "an Ed25519".to_string(),
        DkimAlgorithm::Rsa { bits } => format!("a {bits}-bit RSA"),
    };
    print(&format!(
        "wrote {kind} key to {} (mode 0600)\n\n\
         publish this DNS record:\n\n{}\n\n\
         then add this to the configuration and reload (SIGHUP, systemctl reload ringpost):\n\n\
         [[dkim]]\ndomain = \"{domain}\"\nselector = \"{selector}\"\nkey = {}\n",
        shown.display(),
        txt_record(&name, &key.dns_record()),
        toml_string(&shown.display().to_string()),
    ))
}

/// Create `path` with `bytes`, readable by its owner only; an existing file is an error.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    create_private(path, bytes).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Dkim(format!(
                "{} exists: not overwritten (choose another selector, or --out)",
                path.display()
            ))
        } else {
            CliError::Dkim(format!("{}: {e}", path.display()))
        }
    })
}

/// Create `path` (mode 0600, never over an existing file: `AlreadyExists`) with `bytes`,
/// synced: what the CLI writes keys with.
pub(super) fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes).and_then(|()| file.sync_all())
}

/// The zone-file line of a TXT record: the value in quoted strings of at most 255 bytes
/// (an RSA key's record is longer than one string holds; receivers join them).
pub(super) fn txt_record(name: &str, value: &str) -> String {
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(TXT_STRING)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect();
    format!("{name}. IN TXT {}", strings.join(" "))
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_split_into_255_byte_strings() {
        let value = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let line = txt_record("s._domainkey.example.com", &value);
        let quoted = line
            .strip_prefix("s._domainkey.example.com. IN TXT \"")
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_default();
        let strings: Vec<&str> = quoted.split("\" \"").collect();
        assert_eq!(strings.len(), 2);
        assert_eq!(strings[0].len(), 255);
        assert_eq!(strings.concat(), value);
        assert_eq!(
            txt_record("e._domainkey.example.com", "v=DKIM1; k=ed25519; p=abc"),
            "e._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p=abc\""
        );
    }

    #[test]
    fn paths_are_written_as_toml_strings() {
        assert_eq!(toml_string("/var/lib/a\"b\\c"), "\"/var/lib/a\\\"b\\\\c\"");
    }
}
