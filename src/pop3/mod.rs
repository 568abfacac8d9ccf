//! Stand-in session until the protocol branch lands.
use crate::session::*;
use crate::wire::{Frame, LineBuffer};
use std::collections::VecDeque;
pub struct StubSession {
    lines: LineBuffer,
    out: Vec<u8>,
    ev: VecDeque<Event>,
    blocked: bool,
}
impl StubSession {
    pub fn make(_c: SessionConfig, _t: bool) -> Self {
        StubSession {
            lines: LineBuffer::new(100),
            out: b"HELLO\r\n".to_vec(),
            ev: VecDeque::new(),
            blocked: false,
        }
    }
    fn run(&mut self) {
        while !self.blocked {
            let Some(Frame::Line { line, .. }) = self.lines.next_line() else {
                return;
            };
            let l = String::from_utf8_lossy(line).to_string();
            let w: Vec<&str> = l.split(' ').collect();
            match w[0] {
                "STARTTLS" => {
                    self.out.extend(b"GO\r\n");
                    self.lines.clear();
                    self.ev.push_back(Event::StartTls);
                    self.blocked = true;
                }
                "AUTH" => {
                    self.ev.push_back(Event::Authenticate(Credentials {
                        username: w[1].into(),
                        password: Secret::new(w[2].into()),
                    }));
                    self.blocked = true;
                }
                "QUIT" => {
                    self.out.extend(b"BYE\r\n");
                    self.ev.push_back(Event::Close);
                    self.blocked = true;
                }
                _ => {
                    self.out.extend(format!("ECHO {l}\r\n").as_bytes());
                }
            }
        }
    }
}
impl Session for StubSession {
    fn handle_input(&mut self, i: &[u8]) {
        self.lines.extend(i);
        self.run();
    }
    fn handle_tls_established(&mut self) {
        self.blocked = false;
        self.out.extend(b"TLS\r\n");
        self.run();
    }
    fn handle_auth(&mut self, o: AuthOutcome) {
        self.blocked = false;
        self.out.extend(format!("{o:?}\r\n").as_bytes());
        self.run();
    }
    fn handle_idle_timeout(&mut self) {
        self.out.extend(b"IDLE\r\n");
        self.ev.push_back(Event::Close);
    }
    fn handle_shutdown(&mut self) {
        self.out.extend(b"SHUTDOWN\r\n");
        self.ev.push_back(Event::Close);
    }
    fn poll_output(&mut self, o: &mut Vec<u8>) {
        o.append(&mut self.out);
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.ev.pop_front()
    }
}
pub type Pop3Session = StubSession;
impl StubSession {
    pub fn new(c: SessionConfig, t: bool) -> Self {
        Self::make(c, t)
    }
}
