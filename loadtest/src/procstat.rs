//! The server's CPU time and memory from /proc: a pid and all its descendants (Dovecot and
//! Postfix fork a process per session; ringpost is one process with a thread per core).

use std::collections::HashMap;
use std::fs;

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// utime + stime of every live process in the tree, plus cutime + cstime (the time of
    /// children that already exited and were reaped), in clock ticks.
    pub cpu_ticks: u64,
    /// Sum of VmRSS over the tree, KiB.
    pub rss_kib: u64,
    /// Sum of Pss (proportional set size: shared pages split between their users), KiB;
    /// only when asked for (reading smaps_rollup of thousands of processes is slow).
    pub pss_kib: u64,
    pub processes: usize,
}

pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

fn stat_fields(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    let ppid = fields.get(1)?.parse().ok()?;
    let mut cpu = 0u64;
    for i in 11..=14 {
        cpu += fields.get(i)?.parse::<u64>().ok()?;
    }
    Some((ppid, cpu))
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    kib_field(&text, key)
}

fn kib_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Every pid under `roots` (inclusive), found by scanning /proc for parent links.
pub fn tree(roots: &[u32]) -> Vec<(u32, u64)> {
    let mut children: HashMap<u32, Vec<(u32, u64)>> = HashMap::new();
    let mut own: HashMap<u32, u64> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, cpu)) = stat_fields(pid) {
                children.entry(ppid).or_default().push((pid, cpu));
                own.insert(pid, cpu);
            }
        }
    }
    let mut out = Vec::new();
    let mut stack: Vec<u32> = roots.to_vec();
    // Bounded by the number of processes on the machine.
    while let Some(pid) = stack.pop() {
        if out.iter().any(|(p, _)| *p == pid) {
            continue;
        }
        if let Some(cpu) = own.get(&pid) {
            out.push((pid, *cpu));
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids.iter().map(|k| k.0));
        }
    }
    out
}

pub fn sample(roots: &[u32], with_pss: bool) -> Sample {
    let procs = tree(roots);
    let mut s = Sample {
        processes: procs.len(),
        ..Sample::default()
    };
    for (pid, cpu) in procs {
        s.cpu_ticks += cpu;
        s.rss_kib += status_kib(pid, "VmRSS:");
        if with_pss {
            if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                s.pss_kib += kib_field(&text, "Pss:");
            }
        }
    }
    s
}

/// This process's own resident memory, KiB.
pub fn self_rss_kib() -> u64 {
    status_kib(std::process::id(), "VmRSS:")
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_this_process() {
        let s = super::sample(&[std::process::id()], true);
        assert_eq!(s.processes, 1);
        assert!(s.rss_kib > 0);
        assert!(s.pss_kib > 0);
    }
}
