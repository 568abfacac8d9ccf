//! The limits a request body is parsed under and the one error type of the XML layer, with
//! the HTTP status each refusal maps to (the one place that mapping is made).

use super::names::Namespace;

/// Bounds on a request body. The HTTP reader bounds the body's size first; these bound the
/// work the XML parser does on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// The largest body parsed, in bytes.
    pub max_body_bytes: usize,
    /// The deepest element nesting (the root is depth 1).
    pub max_depth: usize,
    /// The most elements in one body.
    pub max_elements: usize,
}

impl Default for XmlLimits {
    fn default() -> XmlLimits {
        XmlLimits {
            // A calendar-multiget of a few thousand hrefs fits.
            max_body_bytes: 1024 * 1024,
            max_depth: 32,
            max_elements: 10_000,
        }
    }
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body is not UTF-8")]
    NotUtf8,
    /// The XML declaration names an encoding other than UTF-8 (or its subset US-ASCII).
    #[error("unsupported encoding {0}")]
    UnsupportedEncoding(String),
    #[error("a document type declaration")]
    DocumentType,
    #[error("undefined entity &{0};")]
    UndefinedEntity(String),
    #[error("elements nested deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("more than {limit} elements")]
    TooManyElements { limit: usize },
    /// Not well-formed XML (RFC 4918 §8.2).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed, but not the body the method takes (a wrong root, a missing element, a bad
    /// attribute value).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A REPORT we do not serve (RFC 3253 §3.6: 403 with `DAV:supported-report`).
    #[error("unsupported report {{{ns}}}{local}")]
    UnsupportedReport { ns: String, local: String },
    /// A text-match collation we do not offer (RFC 4791 §7.5.1, RFC 6352 §8.3: 403 with the
    /// protocol's `supported-collation` precondition).
    #[error("unsupported collation {collation}")]
    UnsupportedCollation {
        namespace: Namespace,
        collation: String,
    },
}

impl XmlError {
    /// The HTTP status to answer with.
    ///
    /// - 413 for a body over [`XmlLimits::max_body_bytes`] (RFC 9110 §15.5.14);
    /// - 415 for a declared encoding we do not read (RFC 9110 §15.5.16: the content is in a
    ///   format the method does not accept); bytes that are not UTF-8 whatever the
    ///   declaration are not well-formed, hence 400;
    /// - 403 for an unsupported report (RFC 3253 §3.6) or collation (RFC 4791 §7.5.1), with
    ///   the body of [`XmlError::precondition`];
    /// - 400 for everything else: not well-formed (RFC 4918 §8.2), refused constructs
    ///   (DTDs, entities) and limits, and bodies that are not what the method takes.
    pub fn status(&self) -> u16 {
        match self {
            XmlError::TooLarge { .. } => 413,
            XmlError::UnsupportedEncoding(_) => 415,
            XmlError::UnsupportedReport { .. } | XmlError::UnsupportedCollation { .. } => 403,
            XmlError::NotUtf8
            | XmlError::DocumentType
            | XmlError::UndefinedEntity(_)
            | XmlError::TooDeep { .. }
            | XmlError::TooManyElements { .. }
            | XmlError::Malformed(_)
            | XmlError::Invalid(_) => 400,
        }
    }

    /// The precondition to name in the `DAV:error` body of a 403, if any.
    pub fn precondition(&self) -> Option<super::Precondition> {
        match self {
            XmlError::UnsupportedReport { .. } => Some(super::Precondition::SupportedReport),
            XmlError::UnsupportedCollation { namespace, .. } => match namespace {
                Namespace::CardDav => Some(super::Precondition::AddressbookSupportedCollation),
                _ => Some(super::Precondition::CalendarSupportedCollation),
            },
            _ => None,
        }
    }
}
