//! A minimal POP3 client: greeting, STLS, USER/PASS, STAT, RETR (multi-line, dot-unstuffed
//! only in the sense that its bytes are counted), QUIT.

use crate::conn::{Conn, Endpoint, TlsMode};
use crate::error::Failure;

pub struct Pop3 {
    pub conn: Conn,
}

impl Pop3 {
    pub fn connect(ep: &Endpoint) -> Result<Pop3, Failure> {
        let conn = Conn::open(ep)?;
        let mut pop = Pop3 { conn };
        pop.status("greeting")?;
        if ep.tls == TlsMode::Starttls {
            pop.command("STLS", "STLS")?;
            pop.conn.start_tls(ep)?;
        }
        Ok(pop)
    }

    fn status(&mut self, name: &'static str) -> Result<Vec<u8>, Failure> {
        let line = self.conn.read_line()?;
        if line.starts_with(b"+OK") {
            Ok(line)
        } else if line.starts_with(b"-ERR") {
            Err(Failure::reply(name, "-ERR", &line))
        } else {
            Err(Failure::Protocol(format!(
                "bad POP3 status line for {name}"
            )))
        }
    }

    pub fn command(&mut self, name: &'static str, line: &str) -> Result<Vec<u8>, Failure> {
        self.conn.write_all(format!("{line}\r\n").as_bytes())?;
        self.status(name)
    }

    pub fn login(&mut self, user: &str, pass: &str) -> Result<(), Failure> {
        self.command("USER", &format!("USER {user}"))?;
        self.command("PASS", &format!("PASS {pass}"))?;
        Ok(())
    }

    /// STAT: (messages, octets).
    pub fn stat(&mut self) -> Result<(u32, u64), Failure> {
        let line = self.command("STAT", "STAT")?;
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split_whitespace().skip(1);
        let count = words.next().and_then(|w| w.parse().ok());
        let size = words.next().and_then(|w| w.parse().ok());
        match (count, size) {
            (Some(c), Some(s)) => Ok((c, s)),
            _ => Err(Failure::Protocol("bad STAT reply".into())),
        }
    }

    /// RETR n: the message's size in octets as received (terminator excluded).
    pub fn retr(&mut self, n: u32) -> Result<u64, Failure> {
        self.command("RETR", &format!("RETR {n}"))?;
        let mut size = 0u64;
        // Bounded by the line cap and the socket time-out; and here by a count.
        for _ in 0..100_000_000u64 {
            let line = self.conn.read_line()?;
            if line == b"." {
                return Ok(size);
            }
            size += line.len() as u64 + 2;
        }
        Err(Failure::Protocol("RETR never ended".into()))
    }

    pub fn quit(mut self) -> Result<(), Failure> {
        let r = self.command("QUIT", "QUIT").map(|_| ());
        self.conn.close();
        r
    }
}
