//! SIGHUP reloads the configuration: certificates (new handshakes only), limits; a broken
//! file is refused with the error logged and the running configuration kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server};

/// A certificate and key for `localhost`, in PEM, told apart by their organization.
fn certificate(organization: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, organization);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn sighup_reloads_certificates_and_limits_and_keeps_live_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (first_cert, first_key) = certificate("first");
    let (second_cert, second_key) = certificate("second");
    std::fs::write(path("cert.pem"), &first_cert).unwrap();
    std::fs::write(path("key.pem"), &first_key).unwrap();
    std::fs::write(path("new-cert.pem"), &second_cert).unwrap();
    std::fs::write(path("new-key.pem"), &second_key).unwrap();
    std::fs::write(path("bundle.pem"), format!("{first_cert}{second_cert}")).unwrap();

    let server = Server::start(Options {
        extra: format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[auth]\nfailure_delay_ms = 50\n",
            path("cert.pem"),
            path("key.pem")
        ),
        ..Options::default()
    });
    let pid = server.child.as_ref().unwrap().id().to_string();
    let out = server.python_with_ca(
        "reload.py",
        &path("bundle.pem"),
        &[
            &pid,
            server.config.to_str().unwrap(),
            &path("cert.pem"),
            &path("key.pem"),
            &path("new-cert.pem"),
            &path("new-key.pem"),
            server.stderr.to_str().unwrap(),
        ],
    );
    assert!(out.contains("reload passed"), "{out}");
    let log = server.log();
    assert!(log.contains("reload refused"), "{log}");
}

/// Under systemd (`Type=notify`, NOTIFY_SOCKET set) the server says READY=1 once every
/// listener is up, RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 at SIGTERM.
#[test]
fn the_service_manager_hears_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut server = Server::start(Options {
        env: vec![("NOTIFY_SOCKET", socket_path.to_str().unwrap().to_string())],
        ..Options::default()
    });
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    // Start::spawn waited for every port: READY came after the listeners were up.
    assert_eq!(next().trim(), "READY=1");
    let pid = server.child.as_ref().unwrap().id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next().trim(), "READY=1");
    assert!(server.terminate().success());
    assert_eq!(next().trim(), "STOPPING=1");
}

/// Started as root with `[server] user = "nobody"`: the listeners are bound, then the process
/// runs as nobody — every thread — owns its data folder, serves logins and deliveries, and
/// an account added by `ringpost user add` run as root afterwards works.
#[test]
fn started_as_root_it_binds_then_runs_as_the_configured_user() {
    use std::os::unix::fs::MetadataExt;
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        support::skipped("started_as_root_it_binds_then_runs_as_the_configured_user needs root");
        return;
    }
    let nobody = std::fs::metadata("/proc/self")
        .map(|_| ())
        .and_then(|()| {
            std::process::Command::new("id")
                .args(["-u", "nobody"])
                .output()
        })
        .unwrap();
    let nobody: u32 = String::from_utf8_lossy(&nobody.stdout)
        .trim()
        .parse()
        .unwrap();
    let server = Server::start(Options {
        server_extra: "user = \"nobody\"\ngroup = \"nogroup\"\n".into(),
        ..Options::default()
    });
    let pid = server.child.as_ref().unwrap().id();
    // The ports accept (the kernel's backlog) as soon as they are bound, before root is
    // dropped and the shards start: wait until the server says it is ready.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server.log().contains("ringpost ready") {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Every thread of the process runs as nobody, real, effective and saved.
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let ids: Vec<u32> = uids
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(ids, [nobody; 4], "{uids}");
    }
    assert_eq!(std::fs::metadata(server.data_dir()).unwrap().uid(), nobody);
    // A login, a delivery, and an account added by root while it runs.
    let out = server.cli(&["user", "add", "carol@example.com"], Some("carol-pass-1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(server.data_dir().join("accounts"))
            .unwrap()
            .uid(),
        nobody
    );
    let out = server.python("logins.py", &[]);
    assert!(out.contains("logins passed"), "{out}");
    let out = server.python("deliver_and_read.py", &[]);
    assert!(out.contains("deliver and read passed"), "{out}");
    assert!(server.log().contains("dropped root"), "{}", server.log());
}
