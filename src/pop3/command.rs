//! POP3 commands, parsed from one line into typed values (RFC 1939 §3, §5–§7; RFC 2449 §5;
//! RFC 2595 §4; RFC 5034 §4). Knows nothing of the session's state; never does IO.

use std::num::NonZeroU32;

use crate::sasl::Mechanism;
use crate::session::Secret;
use crate::wire::keyword;

/// A message number in the maildrop: 1-based (RFC 1939 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageNumber(NonZeroU32);

impl MessageNumber {
    pub fn new(n: u32) -> Option<MessageNumber> {
        NonZeroU32::new(n).map(MessageNumber)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// The mechanism named in `AUTH <mechanism>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    Known(Mechanism),
    /// A name ringpost does not offer; kept apart from a syntax error so the session can
    /// first check that authentication is allowed at all.
    Unsupported,
}

/// One POP3 command with typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 2449 §5.
    Capa,
    /// RFC 2595 §4.
    Stls,
    /// RFC 1939 §7.
    User(String),
    /// RFC 1939 §7: the argument is the rest of the line, spaces included.
    Pass(Secret<String>),
    /// `AUTH` alone: list the mechanisms (the RFC 1734 form kept by common servers).
    AuthList,
    /// RFC 5034 §4. `initial_response` is the base64 text as sent (`=` for an empty one).
    Auth {
        mechanism: AuthMechanism,
        initial_response: Option<Vec<u8>>,
    },
    Quit,
    Noop,
    Stat,
    List(Option<MessageNumber>),
    Retr(MessageNumber),
    Dele(MessageNumber),
    Rset,
    Top {
        message: MessageNumber,
        lines: u32,
    },
    Uidl(Option<MessageNumber>),
}

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a POP3 keyword ringpost knows.
    UnknownCommand,
    /// A known keyword with missing, extra or malformed arguments.
    InvalidArguments,
    /// A message-number argument that can name no message (`0`, not decimal, too large):
    /// answered like a number past the end of the maildrop.
    NoSuchMessage,
}

impl Command {
    /// Parse one command line (without its line ending). Keywords are case-insensitive
    /// (RFC 1939 §3).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let (keyword, rest) = keyword::first_word(line);
        let keyword = Keyword::parse(keyword).ok_or(ParseError::UnknownCommand)?;
        match keyword {
            Keyword::Capa => no_args(rest, Command::Capa),
            Keyword::Stls => no_args(rest, Command::Stls),
            Keyword::Quit => no_args(rest, Command::Quit),
            Keyword::Noop => no_args(rest, Command::Noop),
            Keyword::Stat => no_args(rest, Command::Stat),
            Keyword::Rset => no_args(rest, Command::Rset),
            Keyword::User => {
                let name = keyword::trim_blanks_end(rest.ok_or(ParseError::InvalidArguments)?);
                if name.is_empty() || name.contains(&b' ') {
                    return Err(ParseError::InvalidArguments);
                }
                let name = std::str::from_utf8(name).map_err(|_| ParseError::InvalidArguments)?;
                Ok(Command::User(name.to_string()))
            }
            Keyword::Pass => {
                let pass = rest.ok_or(ParseError::InvalidArguments)?;
                let pass = std::str::from_utf8(pass).map_err(|_| ParseError::InvalidArguments)?;
                if pass.is_empty() {
                    return Err(ParseError::InvalidArguments);
                }
                Ok(Command::Pass(Secret::new(pass.to_string())))
            }
            Keyword::Auth => {
                let args = words(rest);
                match args.as_slice() {
                    [] => Ok(Command::AuthList),
                    [mech, ir @ ..] if ir.len() <= 1 => Ok(Command::Auth {
                        mechanism: Mechanism::parse(mech)
                            .map_or(AuthMechanism::Unsupported, AuthMechanism::Known),
                        initial_response: ir.first().map(|ir| ir.to_vec()),
                    }),
                    _ => Err(ParseError::InvalidArguments),
                }
            }
            Keyword::List => optional_message(rest).map(Command::List),
            Keyword::Uidl => optional_message(rest).map(Command::Uidl),
            Keyword::Retr => one_message(rest).map(Command::Retr),
            Keyword::Dele => one_message(rest).map(Command::Dele),
            Keyword::Top => match words(rest).as_slice() {
                [message, lines] => Ok(Command::Top {
                    message: message_number(message)?,
                    lines: number(lines)?,
                }),
                _ => Err(ParseError::InvalidArguments),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Keyword {
    Capa,
    Stls,
    User,
    Pass,
    Auth,
    Quit,
    Noop,
    Stat,
    List,
    Retr,
    Dele,
    Rset,
    Top,
    Uidl,
}

impl Keyword {
    fn parse(word: &[u8]) -> Option<Keyword> {
        const ALL: [(&[u8], Keyword); 14] = [
            (b"CAPA", Keyword::Capa),
            (b"STLS", Keyword::Stls),
            (b"USER", Keyword::User),
            (b"PASS", Keyword::Pass),
            (b"AUTH", Keyword::Auth),
            (b"QUIT", Keyword::Quit),
            (b"NOOP", Keyword::Noop),
            (b"STAT", Keyword::Stat),
            (b"LIST", Keyword::List),
            (b"RETR", Keyword::Retr),
            (b"DELE", Keyword::Dele),
            (b"RSET", Keyword::Rset),
            (b"TOP", Keyword::Top),
            (b"UIDL", Keyword::Uidl),
        ];
        keyword::lookup(&ALL, word)
    }
}

fn no_args(rest: Option<&[u8]>, command: Command) -> Result<Command, ParseError> {
    match rest.map(keyword::trim_blanks_end) {
        None | Some(b"") => Ok(command),
        Some(_) => Err(ParseError::InvalidArguments),
    }
}

/// Space-separated arguments; empty words from repeated spaces are skipped.
fn words(rest: Option<&[u8]>) -> Vec<&[u8]> {
    rest.map(|r| r.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect())
        .unwrap_or_default()
}

fn optional_message(rest: Option<&[u8]>) -> Result<Option<MessageNumber>, ParseError> {
    match words(rest).as_slice() {
        [] => Ok(None),
        [n] => message_number(n).map(Some),
        _ => Err(ParseError::InvalidArguments),
    }
}

fn one_message(rest: Option<&[u8]>) -> Result<MessageNumber, ParseError> {
    optional_message(rest)?.ok_or(ParseError::InvalidArguments)
}

fn message_number(word: &[u8]) -> Result<MessageNumber, ParseError> {
    number(word)
        .ok()
        .and_then(MessageNumber::new)
        .ok_or(ParseError::NoSuchMessage)
}

/// A decimal number of ASCII digits only (no sign), that fits a `u32`.
fn number(word: &[u8]) -> Result<u32, ParseError> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::InvalidArguments);
    }
    std::str::from_utf8(word)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::InvalidArguments)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(Command::parse(b"capa"), Ok(Command::Capa));
        assert_eq!(Command::parse(b"StLs"), Ok(Command::Stls));
        assert_eq!(Command::parse(b"quit"), Ok(Command::Quit));
    }

    #[test]
    fn user_and_pass() {
        assert_eq!(
            Command::parse(b"USER alice@example.com"),
            Ok(Command::User("alice@example.com".into()))
        );
        assert_eq!(
            Command::parse(b"PASS two words "),
            Ok(Command::Pass(Secret::new("two words ".into())))
        );
        assert_eq!(Command::parse(b"USER"), Err(ParseError::InvalidArguments));
        assert_eq!(
            Command::parse(b"USER a b"),
            Err(ParseError::InvalidArguments)
        );
        assert_eq!(Command::parse(b"PASS"), Err(ParseError::InvalidArguments));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(Command::parse(b"AUTH"), Ok(Command::AuthList));
        assert_eq!(
            Command::parse(b"auth plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: AuthMechanism::Known(Mechanism::Plain),
                initial_response: Some(b"AGEAYg==".to_vec()),
            })
        );
        assert_eq!(
            Command::parse(b"AUTH CRAM-MD5"),
            Ok(Command::Auth {
                mechanism: AuthMechanism::Unsupported,
                initial_response: None,
            })
        );
        assert_eq!(
            Command::parse(b"AUTH PLAIN a b"),
            Err(ParseError::InvalidArguments)
        );
    }

    #[test]
    fn mailbox_commands_are_typed() {
        let one = MessageNumber::new(1);
        assert_eq!(Command::parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(Command::parse(b"list 1"), Ok(Command::List(one)));
        assert_eq!(
            Command::parse(b"TOP 1 10"),
            Ok(Command::Top {
                message: MessageNumber::new(1).unwrap(),
                lines: 10
            })
        );
        assert_eq!(Command::parse(b"RETR 0"), Err(ParseError::NoSuchMessage));
        assert_eq!(Command::parse(b"RETR +1"), Err(ParseError::NoSuchMessage));
        assert_eq!(
            Command::parse(b"DELE 99999999999"),
            Err(ParseError::NoSuchMessage)
        );
        assert_eq!(Command::parse(b"TOP x 1"), Err(ParseError::NoSuchMessage));
        assert_eq!(
            Command::parse(b"TOP 1 x"),
            Err(ParseError::InvalidArguments)
        );
        assert_eq!(Command::parse(b"TOP 1"), Err(ParseError::InvalidArguments));
        assert_eq!(Command::parse(b"RETR"), Err(ParseError::InvalidArguments));
        assert_eq!(
            Command::parse(b"RETR 1 2"),
            Err(ParseError::InvalidArguments)
        );
        assert_eq!(Command::parse(b"STAT x"), Err(ParseError::InvalidArguments));
    }

    #[test]
    fn unknown_and_empty_lines() {
        assert_eq!(Command::parse(b""), Err(ParseError::UnknownCommand));
        assert_eq!(Command::parse(b"APOP a b"), Err(ParseError::UnknownCommand));
        assert_eq!(Command::parse(b"CAPAX"), Err(ParseError::UnknownCommand));
    }
}
