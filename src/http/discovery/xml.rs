//! A small XML writer for the discovery documents: elements, attributes and text, indented two
//! spaces a level, every value escaped with quick-xml's escaping. It writes into a `String`, so
//! it cannot fail; it never reads XML (the request parser is in `autodiscover.rs`).

use std::borrow::Cow;

/// An XML document being written, with its element stack.
pub(super) struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// A document that starts with the XML declaration (UTF-8).
    pub(super) fn new() -> XmlWriter {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        }
    }

    /// A line written as it is, at the top level (a `<!DOCTYPE …>`): only constants of ours.
    pub(super) fn raw_line(&mut self, line: &'static str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    /// `<name attr="value" …>` on a line of its own; closed by [`XmlWriter::close`].
    pub(super) fn open(&mut self, name: &'static str, attributes: &[(&str, &str)]) {
        self.start_tag(name, attributes);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    /// Closes the innermost open element.
    pub(super) fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    /// `<name>text</name>` on one line.
    pub(super) fn leaf(&mut self, name: &'static str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    /// `<name attr="value">text</name>` on one line.
    pub(super) fn leaf_with(
        &mut self,
        name: &'static str,
        attributes: &[(&str, &str)],
        text: &str,
    ) {
        self.start_tag(name, attributes);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name/>`.
    pub(super) fn empty(&mut self, name: &'static str) {
        self.start_tag(name, &[]);
        self.out.push_str("/>\n");
    }

    /// The document, with every element closed.
    pub(super) fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }

    fn start_tag(&mut self, name: &'static str, attributes: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape(value));
            self.out.push('"');
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }
}

/// `text` escaped for element content and double-quoted attributes (`<`, `>`, `&`, `'`, `"`).
/// Control characters become U+FFFD first: most are not allowed in an XML 1.0 document even
/// as references (XML 1.0 §2.2), and a line break or tab means nothing in a host name, a
/// port or a display name.
pub(super) fn escape(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect();
        Cow::Owned(quick_xml::escape::escape(clean.as_str()).into_owned())
    } else {
        quick_xml::escape::escape(text)
    }
}
