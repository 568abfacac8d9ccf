//! WebDAV, CalDAV and CardDAV (RFC 4918, RFC 4791, RFC 6352, RFC 6578), sans-IO like the other
//! protocols: request bodies in as bytes, typed values out; typed answers in, response bytes
//! out.
//!
//! Nothing here stores, routes or speaks HTTP: which collection a path names, what a
//! property's value is and which status a request earns are decided above it. It never does
//! IO and never reads the clock.

pub mod xml;
