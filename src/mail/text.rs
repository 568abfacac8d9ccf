//! What IMAP `SEARCH BODY` and `SEARCH TEXT` look in, and the words the store's full-text
//! index keeps of it. Both sides take the text from [`search_text`] and fold it the same way
//! ([`fold`]), so the index can promise what it answers: a message the index does not name
//! cannot match, and for a needle that is one word, a message it names does match.
//!
//! # What is searched
//!
//! RFC 9051 §6.4.4 says BODY and TEXT match "a substring of the body" (TEXT: "of the header
//! or body"), case-insensitively; what the body is for a MIME message is the server's to say.
//! ringpost searches what a reader sees, as Dovecot does:
//!
//! - the message's header block, as stored (TEXT only);
//! - every text part, decoded from its transfer encoding and charset to UTF-8, attachments
//!   included; an HTML part as the text it shows;
//! - the header block of every attached message (message/rfc822), and its parts as above;
//! - the raw body, when the message cannot be parsed as MIME at all.
//!
//! Binary parts (images, archives, base64 of anything but text) are not searched.
//!
//! # Words
//!
//! The folded text is split into words: maximal runs of letters, digits and combining marks,
//! except that an ideograph (Han, Hiragana) is a word of its own (UAX #29 treats them so).
//! Whether two neighbouring characters are in one word depends on those two alone, so a word
//! of a needle that has non-word characters on both sides within the needle is a word of the
//! text too, and any word of the needle is a substring of a word of the text. A very long
//! run (a key, an armoured block) is kept as overlapping pieces of [`MAX_TERM`] characters
//! starting every [`TERM_STEP`]: any part of it up to [`TERM_STEP`] characters lies in one.

use std::borrow::Cow;

/// The longest word the index keeps whole, in characters.
pub const MAX_TERM: usize = 64;
/// Where the pieces of a longer run start: a needle word up to this long is found in them.
pub const TERM_STEP: usize = 32;

/// Attached messages nested deeper than this are not searched (a bound on recursion).
const MAX_DEPTH: usize = 8;

/// What `SEARCH BODY` / `TEXT` match against, before folding.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchText {
    /// The header block (TEXT only).
    pub header: String,
    /// Each searched body part's text: a needle must lie within one of them.
    pub bodies: Vec<String>,
}

impl SearchText {
    /// Whether the folded `needle` is in the body (`body_only`) or in the header or body.
    pub fn contains(&self, needle: &str, body_only: bool) -> bool {
        let needle = fold(needle);
        (!body_only && fold(&self.header).contains(needle.as_ref()))
            || self
                .bodies
                .iter()
                .any(|b| fold(b).contains(needle.as_ref()))
    }
}

/// The text of a message (`raw`, whose header block is its first `header_len` bytes).
pub fn search_text(raw: &[u8], header_len: usize) -> SearchText {
    let header_len = header_len.min(raw.len());
    let header = String::from_utf8_lossy(&raw[..header_len]).into_owned();
    let mut bodies = Vec::new();
    match super::mime::parse_message(raw) {
        Some(m) => collect(&m, &mut bodies, 0),
        None => bodies.push(String::from_utf8_lossy(&raw[header_len..]).into_owned()),
    }
    SearchText { header, bodies }
}

fn collect(m: &mail_parser::Message<'_>, out: &mut Vec<String>, depth: usize) {
    for part in &m.parts {
        match &part.body {
            mail_parser::PartType::Text(t) => out.push(t.to_string()),
            mail_parser::PartType::Html(h) => {
                out.push(mail_parser::decoders::html::html_to_text(h))
            }
            mail_parser::PartType::Message(inner) if depth < MAX_DEPTH => {
                if let Some(root) = inner.parts.first() {
                    let raw = inner.raw_message.as_ref();
                    let start = (root.offset_header as usize).min(raw.len());
                    let end = (root.offset_body as usize).clamp(start, raw.len());
                    out.push(String::from_utf8_lossy(&raw[start..end]).into_owned());
                }
                collect(inner, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// Case folding as SEARCH compares: lower case (Unicode), nothing else.
pub fn fold(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn is_ideograph(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{309F}'   // Hiragana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
        | '\u{20000}'..='\u{3134F}')
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
}

/// The words of folded text, as byte ranges, in order.
pub fn words(folded: &str) -> impl Iterator<Item = &str> + '_ {
    /// Per byte: an ASCII word character, another ASCII character, or part of a longer one.
    const ASCII_WORD: u8 = 1;
    const NOT_ASCII: u8 = 2;
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = if b >= 0x80 {
                NOT_ASCII
            } else if (b as u8).is_ascii_alphanumeric() {
                ASCII_WORD
            } else {
                0
            };
            b += 1;
        }
        t
    };
    let bytes = folded.as_bytes();
    let decode = move |i: usize| folded[i..].chars().next().unwrap_or(' ');
    let mut at = 0;
    std::iter::from_fn(move || {
        // To the next word character.
        loop {
            match CLASS[usize::from(*bytes.get(at)?)] {
                ASCII_WORD => break,
                NOT_ASCII => {
                    let c = decode(at);
                    if is_word(c) {
                        break;
                    }
                    at += c.len_utf8();
                }
                _ => at += 1,
            }
        }
        let start = at;
        if bytes[at] >= 0x80 {
            let c = decode(at);
            at += c.len_utf8();
            // An ideograph is a word of its own.
            if is_ideograph(c) {
                return Some(&folded[start..at]);
            }
        } else {
            at += 1;
        }
        // The word runs to the first character that is not a word character, or is an
        // ideograph.
        while let Some(&b) = bytes.get(at) {
            match CLASS[usize::from(b)] {
                ASCII_WORD => at += 1,
                NOT_ASCII => {
                    let c = decode(at);
                    if !is_word(c) || is_ideograph(c) {
                        break;
                    }
                    at += c.len_utf8();
                }
                _ => break,
            }
        }
        Some(&folded[start..at])
    })
}

/// Every term the index keeps for `folded` text: its words, long ones as pieces.
pub fn for_each_term(folded: &str, mut f: impl FnMut(&str)) {
    for word in words(folded) {
        if word.len() <= MAX_TERM || word.chars().count() <= MAX_TERM {
            f(word);
            continue;
        }
        let starts: Vec<usize> = word.char_indices().map(|(i, _)| i).collect();
        let mut k = 0;
        loop {
            let from = starts[k];
            let to = starts.get(k + MAX_TERM).copied().unwrap_or(word.len());
            f(&word[from..to]);
            if to == word.len() {
                break;
            }
            k += TERM_STEP;
        }
    }
}

/// What the index can say about one needle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// Words every matching text has within one of its terms (substring of a term). Empty
    /// when the needle has no word the index can look for: then it cannot narrow.
    pub words: Vec<String>,
    /// The needle is one word and nothing else: a text with a term containing it matches.
    pub exact: bool,
}

/// The folded needle's words, as the index looks them up.
pub fn needle(needle: &str) -> Needle {
    let folded = fold(needle);
    let all: Vec<&str> = words(&folded).collect();
    let exact =
        all.len() == 1 && all[0].len() == folded.len() && all[0].chars().count() <= TERM_STEP;
    let mut words: Vec<String> = all
        .into_iter()
        .filter(|w| w.chars().count() <= TERM_STEP)
        .map(str::to_string)
        .collect();
    words.sort_unstable();
    words.dedup();
    Needle { words, exact }
}

/// One text key of a search, as the store's index is asked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    pub needle: String,
    /// BODY (true) or TEXT (false).
    pub body_only: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn terms(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_term(&fold(s), |t| v.push(t.to_string()));
        v
    }

    #[test]
    fn words_split_on_non_word_and_ideographs() {
        assert_eq!(
            terms("Hello, Wörld! a.b 1,000"),
            ["hello", "wörld", "a", "b", "1", "000"]
        );
        assert_eq!(terms("東京タワー"), ["東", "京", "タワー"]);
        assert_eq!(terms("e\u{301}te\u{301}"), ["e\u{301}te\u{301}"]);
        assert!(terms("  ,;  ").is_empty());
    }

    /// The rule the module documentation states, one character pair at a time.
    fn reference_words(folded: &str) -> Vec<&str> {
        let breaks =
            |a: char, b: char| !is_word(a) || !is_word(b) || is_ideograph(a) || is_ideograph(b);
        let chars: Vec<(usize, char)> = folded.char_indices().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if !is_word(chars[i].1) {
                i += 1;
                continue;
            }
            let start = chars[i].0;
            let mut j = i + 1;
            while j < chars.len() && !breaks(chars[j - 1].1, chars[j].1) {
                j += 1;
            }
            let end = chars.get(j).map_or(folded.len(), |c| c.0);
            out.push(&folded[start..end]);
            i = j;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn words_follow_the_pairwise_rule(s in "[a-zA-Z0-9 .,_é\u{301}東京タワーß\u{1F600}-]{0,40}") {
            let folded = fold(&s);
            proptest::prop_assert_eq!(words(&folded).collect::<Vec<_>>(), reference_words(&folded));
        }
    }

    #[test]
    fn long_runs_are_kept_as_overlapping_pieces() {
        let run: String = (0..150)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let pieces = terms(&run);
        assert_eq!(pieces.len(), 4);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_TERM));
        // Every window of TERM_STEP characters lies within one piece.
        for start in 0..=run.len() - TERM_STEP {
            let w = &run[start..start + TERM_STEP];
            assert!(pieces.iter().any(|p| p.contains(w)), "{start}");
        }
    }

    #[test]
    fn needles() {
        assert_eq!(
            needle("Hello"),
            Needle {
                words: vec!["hello".into()],
                exact: true
            }
        );
        assert_eq!(
            needle("lo wor"),
            Needle {
                words: vec!["lo".into(), "wor".into()],
                exact: false
            }
        );
        assert!(!needle("hello!").exact);
        assert!(needle("!!").words.is_empty());
        let long = "x".repeat(TERM_STEP + 1);
        assert_eq!(needle(&long).words, Vec::<String>::new());
        assert!(!needle(&long).exact);
    }

    #[test]
    fn text_of_a_mime_message() {
        let raw = b"From: a@b\r\nSubject: Hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nforwarded words\r\n--x--\r\n";
        let header_len = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let t = search_text(raw, header_len);
        assert!(t.header.contains("Subject: Hi"));
        assert!(t.contains("grüße", true));
        assert!(t.contains("hello there", true));
        assert!(t.contains("Subject: inner", true));
        assert!(t.contains("forwarded", true));
        assert!(!t.contains("secret", false));
        assert!(!t.contains("subject: hi", true));
        assert!(t.contains("subject: hi", false));
    }
}
