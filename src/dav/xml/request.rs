//! The bodies of PROPFIND (RFC 4918 §9.1), PROPPATCH (§9.2), extended MKCOL (RFC 5689 §5.1)
//! and MKCALENDAR (RFC 4791 §5.3.1), as typed values.

use super::error::{XmlError, XmlLimits};
use super::names::{Namespace, PropName, ResourceType};
use super::tree::{self, Element};

/// What a PROPFIND (or a REPORT's property part) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Propfind {
    /// Every dead property and the live ones the server chooses, plus `include` (RFC 4918
    /// §14.8).
    AllProp { include: Vec<PropName> },
    /// Only the names (RFC 4918 §14.17).
    PropName,
    /// These properties, in the order asked.
    Prop(Vec<PropName>),
}

/// A property value from the client, to store and give back as sent.
///
/// A text-only value (`<displayname>Work &amp; more</displayname>`) keeps the bytes between
/// its tags exactly. A value with elements is written again with every element declaring its
/// own namespace (`<href xmlns="DAV:">…</href>`), so the fragment means the same thing in any
/// document, whatever prefixes the request used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawXml(Vec<u8>);

impl RawXml {
    /// Bytes already in that form (as stored).
    pub fn from_stored(bytes: Vec<u8>) -> RawXml {
        RawXml(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn of(element: &Element, body: &[u8]) -> RawXml {
        if element.children.is_empty() {
            return RawXml(body.get(element.inner.clone()).unwrap_or_default().to_vec());
        }
        let mut out = Vec::new();
        write_content(element, &mut out);
        RawXml(out)
    }
}

fn write_content(element: &Element, out: &mut Vec<u8>) {
    // Whitespace between elements is indentation; other text interleaved with elements loses
    // its position (values like that are rare) and is kept before the elements.
    if element.children.is_empty() || !element.text.trim().is_empty() {
        out.extend_from_slice(super::multistatus::escape_text(&element.text).as_bytes());
    }
    for child in &element.children {
        out.push(b'<');
        out.extend_from_slice(child.local.as_bytes());
        out.extend_from_slice(b" xmlns=\"");
        out.extend_from_slice(super::multistatus::escape_attr(&child.ns).as_bytes());
        out.push(b'"');
        for (key, value) in &child.attrs {
            out.push(b' ');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(super::multistatus::escape_attr(value).as_bytes());
            out.push(b'"');
        }
        if child.children.is_empty() && child.text.is_empty() {
            out.extend_from_slice(b"/>");
            continue;
        }
        out.push(b'>');
        write_content(child, out);
        out.extend_from_slice(b"</");
        out.extend_from_slice(child.local.as_bytes());
        out.push(b'>');
    }
}

/// One property and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyValue {
    pub name: PropName,
    pub value: RawXml,
}

/// One PROPPATCH instruction, applied in document order (RFC 4918 §9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyUpdate {
    Set(PropertyValue),
    Remove(PropName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proppatch {
    pub updates: Vec<PropertyUpdate>,
}

/// The properties an extended MKCOL or a MKCALENDAR sets on the new collection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mkcol {
    /// The `DAV:resourcetype` asked for (RFC 5689 §3: it says which kind of collection);
    /// empty when not given.
    pub resource_type: Vec<ResourceType>,
    /// The component names of `CALDAV:supported-calendar-component-set` (RFC 4791 §5.2.3),
    /// when given.
    pub components: Option<Vec<String>>,
    /// Every property set, these two included, in document order.
    pub properties: Vec<PropertyValue>,
}

/// A PROPFIND body; an empty body is allprop (RFC 4918 §9.1).
pub fn parse_propfind(body: &[u8], limits: &XmlLimits) -> Result<Propfind, XmlError> {
    let Some(root) = tree::parse(body, limits)? else {
        return Ok(Propfind::AllProp {
            include: Vec::new(),
        });
    };
    expect_root(&root, Namespace::Dav, "propfind")?;
    props_of(&root)?
        .ok_or_else(|| XmlError::Invalid("propfind without allprop, propname or prop".into()))
}

/// The allprop / propname / prop child of `parent` (a propfind or a report), if any.
pub(crate) fn props_of(parent: &Element) -> Result<Option<Propfind>, XmlError> {
    if parent.child(Namespace::Dav, "allprop").is_some() {
        let include = parent
            .child(Namespace::Dav, "include")
            .map(names_in)
            .unwrap_or_default();
        return Ok(Some(Propfind::AllProp { include }));
    }
    if parent.child(Namespace::Dav, "propname").is_some() {
        return Ok(Some(Propfind::PropName));
    }
    Ok(parent
        .child(Namespace::Dav, "prop")
        .map(|prop| Propfind::Prop(names_in(prop))))
}

pub(crate) fn names_in(prop: &Element) -> Vec<PropName> {
    prop.children
        .iter()
        .map(|c| PropName::new(&c.ns, &c.local))
        .collect()
}

/// A PROPPATCH body: `DAV:propertyupdate` with `set` and `remove` in order.
pub fn parse_proppatch(body: &[u8], limits: &XmlLimits) -> Result<Proppatch, XmlError> {
    let root = tree::parse(body, limits)?
        .ok_or_else(|| XmlError::Invalid("an empty PROPPATCH body".into()))?;
    expect_root(&root, Namespace::Dav, "propertyupdate")?;
    let mut updates = Vec::new();
    for instruction in &root.children {
        let set = instruction.is(Namespace::Dav, "set");
        if !set && !instruction.is(Namespace::Dav, "remove") {
            continue;
        }
        for prop in instruction.children_named(Namespace::Dav, "prop") {
            for property in &prop.children {
                let name = PropName::new(&property.ns, &property.local);
                updates.push(if set {
                    PropertyUpdate::Set(PropertyValue {
                        name,
                        value: RawXml::of(property, body),
                    })
                } else {
                    PropertyUpdate::Remove(name)
                });
            }
        }
    }
    if updates.is_empty() {
        return Err(XmlError::Invalid(
            "a propertyupdate that changes nothing".into(),
        ));
    }
    Ok(Proppatch { updates })
}

/// An extended MKCOL body (RFC 5689 §5.1: `DAV:mkcol` with `DAV:set`); an empty body is a
/// plain MKCOL.
pub fn parse_mkcol(body: &[u8], limits: &XmlLimits) -> Result<Mkcol, XmlError> {
    collection_body(body, limits, Namespace::Dav, "mkcol")
}

/// A MKCALENDAR body (RFC 4791 §5.3.1: optional, `CALDAV:mkcalendar` with `DAV:set`).
pub fn parse_mkcalendar(body: &[u8], limits: &XmlLimits) -> Result<Mkcol, XmlError> {
    collection_body(body, limits, Namespace::CalDav, "mkcalendar")
}

fn collection_body(
    body: &[u8],
    limits: &XmlLimits,
    ns: Namespace,
    local: &str,
) -> Result<Mkcol, XmlError> {
    let Some(root) = tree::parse(body, limits)? else {
        return Ok(Mkcol::default());
    };
    expect_root(&root, ns, local)?;
    let mut mkcol = Mkcol::default();
    for set in root.children_named(Namespace::Dav, "set") {
        for prop in set.children_named(Namespace::Dav, "prop") {
            for property in &prop.children {
                let name = PropName::new(&property.ns, &property.local);
                match name {
                    PropName::ResourceType => {
                        mkcol.resource_type = property
                            .children
                            .iter()
                            .map(|c| ResourceType::new(&c.ns, &c.local))
                            .collect();
                    }
                    PropName::SupportedCalendarComponentSet => {
                        mkcol.components = Some(component_names(property)?);
                    }
                    _ => {}
                }
                mkcol.properties.push(PropertyValue {
                    name,
                    value: RawXml::of(property, body),
                });
            }
        }
    }
    Ok(mkcol)
}

/// The `name`s of the `CALDAV:comp` children (RFC 4791 §5.2.3).
fn component_names(set: &Element) -> Result<Vec<String>, XmlError> {
    set.children_named(Namespace::CalDav, "comp")
        .map(|comp| required_attr(comp, "name").map(str::to_string))
        .collect()
}

pub(crate) fn required_attr<'a>(element: &'a Element, name: &str) -> Result<&'a str, XmlError> {
    element.attr(name).ok_or_else(|| {
        XmlError::Invalid(format!("{} without a {name} attribute", element.describe()))
    })
}

pub(crate) fn expect_root(root: &Element, ns: Namespace, local: &str) -> Result<(), XmlError> {
    if root.is(ns, local) {
        Ok(())
    } else {
        Err(XmlError::Invalid(format!(
            "the root element is {}, not {{{}}}{local}",
            root.describe(),
            ns.uri()
        )))
    }
}
