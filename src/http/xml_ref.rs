//! The one rule every XML body we read follows for entity references: a body has no DTD
//! (we refuse any), so only XML's five predefined entities and character references mean
//! anything; every other name is undefined. Shared by Outlook's autodiscover requests and
//! DAV's request bodies. Pure.

use quick_xml::events::BytesRef;

/// Why a reference did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// `&#…;` that names no character.
    BadCharRef(String),
    /// A named entity other than the five predefined ones.
    Undefined(String),
}

/// The character `reference` stands for.
pub fn resolve(reference: &BytesRef<'_>) -> Result<char, Unresolved> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(Unresolved::BadCharRef(format!(
                "bad character reference &{};",
                &**reference
            ))),
        };
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(Unresolved::Undefined(other.to_string())),
    }
}
