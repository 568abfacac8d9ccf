//! Header fields of a message's header block (RFC 5322 §2.2): split into whole fields with
//! their continuation lines, looked up by name, unfolded; and the `msg-id`s of a field.

/// Split a header block into whole fields (with their continuation lines).
pub fn header_fields(header: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < header.len() {
        let end = memchr_nl(header, i);
        let next = end + 1;
        let continues = header.get(next).is_some_and(|&b| b == b' ' || b == b'\t');
        if !continues {
            let field = &header[start..next.min(header.len())];
            if field != b"\r\n" && field != b"\n" && !field.is_empty() {
                fields.push(field);
            }
            start = next;
        }
        i = next;
    }
    fields
}

fn memchr_nl(s: &[u8], from: usize) -> usize {
    s[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(s.len().saturating_sub(1).max(from), |p| from + p)
}

/// A field's name, without the colon and surrounding white space.
pub fn field_name(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    field[..end].trim_ascii()
}

/// The `msg-id`s (`<...>`) of a header value, white space inside removed.
pub fn msg_ids(value: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let id: String = rest[start + 1..start + len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // A valid msg-id has an `@` between non-empty halves.
        if id
            .split_once('@')
            .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
        {
            ids.push(id);
        }
        rest = &rest[start + len + 1..];
    }
    ids
}

/// The value of the first header field `name` in `header`, unfolded.
pub fn header_value(header: &[u8], name: &str) -> Option<String> {
    header_values(header, name).into_iter().next()
}

/// Every occurrence of the header field `name`, unfolded and trimmed, in order (a field may
/// repeat: `Received`, `X-…`; SEARCH HEADER matches any of them, RFC 9051 §6.4.4).
pub fn header_values(header: &[u8], name: &str) -> Vec<String> {
    header_fields(header)
        .into_iter()
        .filter(|f| field_name(f).eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| {
            let colon = f.iter().position(|&b| b == b':').map_or(f.len(), |p| p + 1);
            let v: Vec<u8> = f[colon..]
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            String::from_utf8_lossy(v.trim_ascii()).into_owned()
        })
        .collect()
}
