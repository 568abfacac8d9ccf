//! The bounded reader: a request body becomes a small tree of namespace-resolved elements,
//! or an [`XmlError`]. Everything the interpreters (`request`, `report`) see has passed the
//! limits here: no DTD, no entity beyond XML's five and character references, UTF-8 only,
//! bounded depth and element count.

use std::ops::Range;

use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use super::error::{XmlError, XmlLimits};
use super::names::Namespace;
use crate::http::xml_ref::Unresolved;

/// One element of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// The namespace URI ("" when unbound).
    pub ns: String,
    pub local: String,
    /// Unqualified attributes (`name="VEVENT"`), values unescaped; namespace declarations are
    /// not kept.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The character data directly inside, unescaped, in document order.
    pub text: String,
    /// The bytes between the start and the end tag, in the body as sent.
    pub inner: Range<usize>,
}

impl Element {
    pub fn is(&self, ns: Namespace, local: &str) -> bool {
        self.ns == ns.uri() && self.local == local
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first child named `local` in `ns`.
    pub fn child(&self, ns: Namespace, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// The children named `local` in `ns`.
    pub fn children_named<'a>(
        &'a self,
        ns: Namespace,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// `<{ns}local>` for messages.
    pub fn describe(&self) -> String {
        format!("{{{}}}{}", self.ns, self.local)
    }
}

/// The body's text after the size, BOM and UTF-8 checks, or `None` for an empty body.
fn text_of<'b>(body: &'b [u8], limits: &XmlLimits) -> Result<Option<&'b str>, XmlError> {
    if body.len() > limits.max_body_bytes {
        return Err(XmlError::TooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(text))
}

/// The root element of `body`, or `None` when the body is empty (RFC 4918 §9.1: an empty
/// PROPFIND body means allprop; other methods decide for themselves).
pub(crate) fn parse(body: &[u8], limits: &XmlLimits) -> Result<Option<Element>, XmlError> {
    let Some(text) = text_of(body, limits)? else {
        return Ok(None);
    };
    let mut reader = NsReader::from_str(text);
    reader.config_mut().enable_all_checks(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let before = position(&reader);
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_string()),
            ResolveResult::Unbound => Some(String::new()),
            ResolveResult::Unknown(prefix) => {
                return Err(XmlError::Malformed(format!("undeclared prefix {prefix}")))
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                if stack.is_empty() && root.is_some() {
                    return Err(XmlError::Malformed("a second root element".into()));
                }
                let after = position(&reader);
                let element = Element {
                    ns: ns.unwrap_or_default(),
                    local: start.local_name().as_ref().to_string(),
                    attrs: attributes(start)?,
                    children: Vec::new(),
                    text: String::new(),
                    inner: after..after,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else {
                    attach(&mut stack, &mut root, element);
                }
            }
            Event::End(_) => {
                let Some(mut element) = stack.pop() else {
                    return Err(XmlError::Malformed("an end tag without a start".into()));
                };
                element.inner.end = before;
                attach(&mut stack, &mut root, element);
            }
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => push_text(&mut stack, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err(XmlError::DocumentType),
            Event::Decl(decl) => {
                if let Some(Ok(encoding)) = decl.encoding() {
                    let name = encoding.to_ascii_lowercase();
                    if !matches!(name.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(XmlError::UnsupportedEncoding(encoding.into_owned()));
                    }
                }
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(
            "the document ends inside an element".into(),
        ));
    }
    match root {
        Some(root) => Ok(Some(root)),
        None => Err(XmlError::Malformed("no root element".into())),
    }
}

fn position(reader: &NsReader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

fn malformed(error: quick_xml::Error) -> XmlError {
    match error {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
            XmlError::UndefinedEntity(name)
        }
        other => XmlError::Malformed(other.to_string()),
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Character data goes to the open element; outside the root only whitespace is allowed.
fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

fn attributes(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, XmlError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(malformed)?;
        let local = attr.key.local_name().as_ref().to_string();
        attrs.push((local, value.into_owned()));
    }
    Ok(attrs)
}

/// An entity reference in a body (see [`crate::http::xml_ref`]).
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, XmlError> {
    crate::http::xml_ref::resolve(reference).map_err(|e| match e {
        Unresolved::BadCharRef(text) => XmlError::Malformed(text),
        Unresolved::Undefined(name) => XmlError::UndefinedEntity(name),
    })
}
