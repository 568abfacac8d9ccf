//! Command keywords of the line protocols (POP3, SMTP, SASL responses): the first word of a
//! line, looked up case-insensitively in the protocol's table (RFC 1939 §3, RFC 5321 §2.4),
//! and the blanks around arguments.

/// The line's first word and what follows the first space (`None` without a space).
pub fn first_word(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b' ', line) {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    }
}

/// `s` without leading and trailing blanks (space and tab: RFC 5234's WSP). Unlike
/// `<[u8]>::trim_ascii`, a CR, LF or form feed stays: the line protocols refuse those.
pub fn trim_blanks(s: &[u8]) -> &[u8] {
    trim_blanks_end(trim_blanks_start(s))
}

/// `s` without leading blanks (space, tab).
pub fn trim_blanks_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// `s` without trailing blanks (space, tab).
pub fn trim_blanks_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The value `word` names in `table`, ignoring ASCII case.
pub fn lookup<T: Copy>(table: &[(&[u8], T)], word: &[u8]) -> Option<T> {
    table
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|&(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_is_looked_up_in_any_case() {
        const TABLE: [(&[u8], u8); 2] = [(b"QUIT", 1), (b"NOOP", 2)];
        assert_eq!(first_word(b"noop x y"), (&b"noop"[..], Some(&b"x y"[..])));
        assert_eq!(first_word(b"QUIT"), (&b"QUIT"[..], None));
        assert_eq!(first_word(b"QUIT "), (&b"QUIT"[..], Some(&b""[..])));
        assert_eq!(lookup(&TABLE, b"nOoP"), Some(2));
        assert_eq!(lookup(&TABLE, b"NOOPS"), None);
        assert_eq!(lookup(&TABLE, b""), None);
        assert_eq!(trim_blanks(b" \t a b\t "), b"a b");
        assert_eq!(trim_blanks(b" a\r"), b"a\r");
        assert_eq!(trim_blanks_end(b" a "), b" a");
    }
}
