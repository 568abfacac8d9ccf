//! A minimal ESMTP client: greeting, EHLO, STARTTLS, AUTH PLAIN, one transaction
//! (MAIL, RCPT, DATA with dot-stuffing), RSET, QUIT; with [`Smtp::pipeline`], MAIL, RCPT
//! and DATA in one write (RFC 2920), as MTAs send them.

use base64::Engine;

use crate::conn::{Conn, Endpoint, TlsMode};
use crate::error::Failure;

pub struct Smtp {
    pub conn: Conn,
    /// The last EHLO reply offered PIPELINING.
    offers_pipelining: bool,
    /// Send each transaction's MAIL, RCPT and DATA together.
    pipelining: bool,
}

impl Smtp {
    /// Connect, read the 220 greeting, EHLO, and STARTTLS + EHLO again when asked to.
    pub fn connect(ep: &Endpoint, helo: &str) -> Result<Smtp, Failure> {
        let conn = Conn::open(ep)?;
        let mut smtp = Smtp {
            conn,
            offers_pipelining: false,
            pipelining: false,
        };
        smtp.reply("greeting", 220)?;
        smtp.command("EHLO", &format!("EHLO {helo}"), 250)?;
        if ep.tls == TlsMode::Starttls {
            smtp.command("STARTTLS", "STARTTLS", 220)?;
            smtp.conn.start_tls(ep)?;
            smtp.command("EHLO", &format!("EHLO {helo}"), 250)?;
        }
        Ok(smtp)
    }

    /// Pipeline every transaction from now on (RFC 2920); refused when the server's EHLO
    /// did not offer PIPELINING.
    pub fn pipeline(&mut self) -> Result<(), Failure> {
        if !self.offers_pipelining {
            return Err(Failure::Setup("the server does not offer PIPELINING"));
        }
        self.pipelining = true;
        Ok(())
    }

    /// Read one (possibly multi-line) reply and check its code.
    fn reply(&mut self, name: &'static str, want: u16) -> Result<(), Failure> {
        if name == "EHLO" {
            self.offers_pipelining = false;
        }
        for _ in 0..10_000 {
            let line = self.conn.read_line()?;
            if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Err(Failure::Protocol(format!("bad SMTP reply to {name}")));
            }
            if name == "EHLO" && line.len() >= 4 {
                let keyword = line[4..].split(|b| b.is_ascii_whitespace()).next();
                if keyword.is_some_and(|k| k.eq_ignore_ascii_case(b"PIPELINING")) {
                    self.offers_pipelining = true;
                }
            }
            if line.get(3) == Some(&b'-') {
                continue;
            }
            let code = String::from_utf8_lossy(&line[..3]).to_string();
            if code.parse::<u16>().ok() == Some(want) {
                return Ok(());
            }
            return Err(Failure::reply(name, &code, &line));
        }
        Err(Failure::Protocol("endless multi-line reply".into()))
    }

    pub fn command(&mut self, name: &'static str, line: &str, want: u16) -> Result<(), Failure> {
        self.conn.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply(name, want)
    }

    pub fn auth_plain(&mut self, user: &str, pass: &str) -> Result<(), Failure> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        self.command("AUTH", &format!("AUTH PLAIN {token}"), 235)
    }

    /// One mail transaction. On a refusal the transaction is reset so the session stays
    /// usable.
    pub fn send(&mut self, from: &str, to: &[String], message: &[u8]) -> Result<(), Failure> {
        let r = self.transaction(from, to, message);
        if let Err(Failure::Reply { cmd, .. }) = &r {
            // After a refused DATA payload the transaction is already over.
            if *cmd != "DATA-END" {
                let _ = self.command("RSET", "RSET", 250);
            }
        }
        r
    }

    fn transaction(&mut self, from: &str, to: &[String], message: &[u8]) -> Result<(), Failure> {
        if self.pipelining {
            // One write; then every reply, in order, before judging any (RFC 2920 §3.1).
            let mut group = format!("MAIL FROM:<{from}>\r\n");
            for rcpt in to {
                group.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
            }
            group.push_str("DATA\r\n");
            self.conn.write_all(group.as_bytes())?;
            let mut first_failure = self.reply("MAIL", 250).err();
            for _ in to {
                let r = self.reply("RCPT", 250);
                first_failure = first_failure.or(r.err());
            }
            if let Err(e) = self.reply("DATA", 354) {
                return Err(first_failure.unwrap_or(e));
            }
            if let Some(e) = first_failure {
                // DATA was taken although a recipient was refused: the message goes to the
                // others (as an MTA's would), and the refusal is what this operation reports.
                self.body(message)?;
                return Err(e);
            }
        } else {
            self.command("MAIL", &format!("MAIL FROM:<{from}>"), 250)?;
            for rcpt in to {
                self.command("RCPT", &format!("RCPT TO:<{rcpt}>"), 250)?;
            }
            self.command("DATA", "DATA", 354)?;
        }
        self.body(message)
    }

    /// The message after a 354, dot-stuffed and ended, and its reply.
    fn body(&mut self, message: &[u8]) -> Result<(), Failure> {
        let mut data = Vec::with_capacity(message.len() + message.len() / 64 + 5);
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        if !data.ends_with(b"\r\n") {
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b".\r\n");
        self.conn.write_all(&data)?;
        self.reply("DATA-END", 250)
    }

    pub fn quit(mut self) -> Result<(), Failure> {
        let r = self.command("QUIT", "QUIT", 221);
        self.conn.close();
        r
    }
}
