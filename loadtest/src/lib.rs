//! ringpost's load generator, as a library so the smoke test can drive it in-process.
//!
//! Its protocol clients (`imap`, `pop3`, `smtp`, `http` with `davxml`, `conn`) are written here
//! from the RFCs and share no code with the server, so a bug on one side cannot hide a bug on
//! the other.

pub mod cli;
pub mod conn;
pub mod dav;
pub mod davdata;
pub mod davxml;
pub mod error;
pub mod hostile;
pub mod http;
pub mod idle;
pub mod imap;
pub mod message;
pub mod pop3;
pub mod procstat;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod seed;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::cli::{Cli, Command, Opts};
use crate::conn::Endpoint;
pub use crate::report::Report;
use crate::scenarios::{Ctx, Scenario};

/// Parse `args` (with the program name first) and run; the report, or a message for the user.
pub fn run_args<I, T>(args: I) -> Result<Report, String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
    run(cli.command)
}

pub fn run(command: Command) -> Result<Report, String> {
    let opts = command.opts().clone();
    if !opts.allow_remote && !opts.target.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address; pass --allow-remote to load a server you run elsewhere",
            opts.target
        ));
    }
    if opts.user.is_empty() {
        return Err("--user is required".into());
    }
    let ep = endpoint(&opts)?;
    let scenario = match &command {
        Command::ImapLogin(_) => Scenario::ImapLogin,
        Command::TlsHandshake(_) if opts.tls != conn::TlsMode::Implicit => {
            return Err("tls-handshake needs --tls implicit (an IMAPS, POP3S or SMTPS port)".into())
        }
        Command::TlsHandshake(_) => Scenario::TlsHandshake,
        Command::ImapChurn(_) => Scenario::ImapChurn,
        Command::ImapFetch(_) => Scenario::ImapFetch,
        Command::ImapAppend(_) => Scenario::ImapAppend,
        Command::ImapMixed(_) => Scenario::ImapMixed,
        Command::ImapSort(_) => Scenario::ImapSort,
        Command::ImapThread(_) => Scenario::ImapThread,
        Command::ImapSearchText(_) => Scenario::ImapSearchText,
        Command::ImapSearchScan(_) => Scenario::ImapSearchScan,
        Command::SmtpSubmit(_) => Scenario::SmtpSubmit,
        Command::SmtpInbound(_) => Scenario::SmtpInbound,
        Command::Pop3Retr(_) => Scenario::Pop3Retr,
        Command::DavSync(_) => Scenario::DavSync,
        Command::DavMix(_) => Scenario::DavMix,
        Command::DavSeed(_) => return dav::seed(&opts, &ep),
        Command::ImapIdle(_) => return idle::run(&opts, &ep),
        Command::Seed(_) => return seed::run(&opts, &ep),
        Command::Hostile(h) => return hostile::run(h, &ep),
    };
    let dav = if scenario == Scenario::DavMix {
        dav::learn(&opts, &ep)?
    } else {
        Vec::new()
    };
    let ctx = Ctx {
        opts,
        ep,
        scenario,
        dav,
    };
    Ok(runner::run(ctx, command.name()))
}

fn endpoint(opts: &Opts) -> Result<Endpoint, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if opts.tls == conn::TlsMode::None && opts.cafile.is_none() {
        // Plaintext: no certificate is ever seen, so none needs to be trusted.
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    } else if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let Some(cafile) = &opts.cafile else {
            return Err(
                "give --cafile PEM (the server's CA or self-signed certificate) or --insecure"
                    .into(),
            );
        };
        let certs = CertificateDer::pem_file_iter(cafile)
            .map_err(|e| format!("{}: {e}", cafile.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", cafile.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", cafile.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificates", cafile.display()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut config = config;
    if opts.no_resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    let server_name = ServerName::try_from(opts.server_name.clone())
        .map_err(|e| format!("--server-name: {e}"))?;
    Ok(Endpoint {
        addr: opts.target,
        bind: opts.bind.map(|ip| std::net::SocketAddr::new(ip, 0)),
        tls: opts.tls,
        server_name,
        tls_config: Arc::new(config),
        timeout: Duration::from_secs_f64(opts.timeout.max(0.1)),
    })
}

mod insecure {
    //! --insecure: accept any certificate, still checking the handshake signatures.
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};

    #[derive(Debug)]
    pub struct NoVerify(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
