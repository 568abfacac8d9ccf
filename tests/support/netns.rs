//! Test hosts in network namespaces: `n` namespaces, each with a veth pair whose outer end is
//! on a bridge in the test's own namespace (which has an address there too), so the test
//! reaches every host and the hosts reach each other. Cutting a host sets its outer veth
//! down: it can reach nobody and nobody reaches it. Needs root (`ip netns add`); without it
//! [`Net::create`] reports a skip (a failure under `RINGPOST_REQUIRE_CLIENTS`). Everything is
//! removed on drop. The addresses are in a /24 of 10.0.0.0/8 chosen from the process id, on
//! this machine only.

use std::process::Command;

use super::{have, skipped};

pub struct Host {
    pub ns: String,
    /// The veth end on the bridge (cut with [`Net::cut`]).
    outer: String,
    pub ip: String,
}

pub struct Net {
    bridge: String,
    pub hosts: Vec<Host>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    /// `n` hosts on a new bridge, or `None` (a skip) where namespaces cannot be made.
    pub fn create(n: usize) -> Option<Net> {
        if !have("ip", "iproute2") {
            return None;
        }
        let id = std::process::id() % 60_000;
        let tag = format!("rp{id}");
        let subnet = format!("10.{}.{}", 200 + id / 250 % 50, id % 250);
        let mut net = Net {
            bridge: format!("{tag}br"),
            hosts: Vec::new(),
        };
        if let Err(e) = ip(&["netns", "add", &format!("{tag}h0")]) {
            skipped(&format!("network namespaces need root: {e}"));
            return None;
        }
        let _ = ip(&["netns", "del", &format!("{tag}h0")]);
        let setup = (|| -> Result<(), String> {
            ip(&["link", "add", &net.bridge, "type", "bridge"])?;
            ip(&[
                "addr",
                "add",
                &format!("{subnet}.254/24"),
                "dev",
                &net.bridge,
            ])?;
            ip(&["link", "set", &net.bridge, "up"])?;
            for i in 0..n {
                let host = Host {
                    ns: format!("{tag}h{i}"),
                    outer: format!("{tag}o{i}"),
                    ip: format!("{subnet}.{}", i + 1),
                };
                let inner = format!("{tag}i{i}");
                ip(&["netns", "add", &host.ns])?;
                net.hosts.push(host);
                let host = &net.hosts[i];
                ip(&[
                    "link",
                    "add",
                    &host.outer,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &inner,
                ])?;
                ip(&["link", "set", &inner, "netns", &host.ns])?;
                ip(&["link", "set", &host.outer, "master", &net.bridge])?;
                ip(&["link", "set", &host.outer, "up"])?;
                ip(&[
                    "-n",
                    &host.ns,
                    "addr",
                    "add",
                    &format!("{}/24", host.ip),
                    "dev",
                    &inner,
                ])?;
                ip(&["-n", &host.ns, "link", "set", &inner, "up"])?;
                ip(&["-n", &host.ns, "link", "set", "lo", "up"])?;
            }
            Ok(())
        })();
        if let Err(e) = setup {
            panic!("setting up the test network: {e}");
        }
        Some(net)
    }

    /// `program` run in host `i`'s namespace (`ip netns exec`, which execs it: the child's
    /// pid is the program's).
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.hosts[i].ns, program]);
        command
    }

    /// Cut host `i` off from everyone.
    pub fn cut(&self, i: usize) {
        ip(&["link", "set", &self.hosts[i].outer, "down"]).unwrap();
    }

    /// Connect host `i` again.
    pub fn heal(&self, i: usize) {
        ip(&["link", "set", &self.hosts[i].outer, "up"]).unwrap();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in &self.hosts {
            // The veth pair goes with the namespace's end.
            let _ = ip(&["link", "del", &host.outer]);
            let _ = ip(&["netns", "del", &host.ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
