//! An HTTPS server for end-to-end tests that fetch small documents: MTA-STS policies
//! (`e2e_outbound.rs`) and an OAuth issuer's JWKS (`e2e_oauth.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A real HTTPS server (Python's http.server behind ssl, `tests/clients/mta_sts_server.py`)
/// serving small documents: `("host", file)` an MTA-STS policy, `("host/path", file)` any
/// path (JSON for a `.json` file).
pub struct DocumentServer {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for DocumentServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DocumentServer {
    pub fn start(
        address: SocketAddr,
        cert: &Path,
        key: &Path,
        policies: &[(&str, PathBuf)],
    ) -> Self {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mta_sts_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(address.ip().to_string())
            .arg(address.port().to_string())
            .arg(cert)
            .arg(key)
            .args(
                policies
                    .iter()
                    .map(|(host, file)| format!("{host}={}", file.display())),
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok());
        assert_eq!(first.as_deref(), Some("listening"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        DocumentServer { child, log }
    }

    /// The requests served so far ("GET host path status").
    #[allow(dead_code)]
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}
