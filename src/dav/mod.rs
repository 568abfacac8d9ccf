//! WebDAV, CalDAV and CardDAV (RFC 4918, RFC 4791, RFC 6352, RFC 6578), sans-IO like the other
//! protocols: request bodies in as bytes, typed values out; typed answers in, response bytes
//! out ([`xml`]); and the objects collections hold — calendar objects and vCards validated,
//! matched against time ranges and filters, expanded ([`objects`]).
//!
//! Nothing here stores, routes or speaks HTTP: which collection a path names, what a
//! property's value is and which status a request earns are decided above it. It never does
//! IO and never reads the clock (time ranges and "now" come in as parameters).

pub mod objects;
pub mod path;
pub mod props;
pub mod query;
pub mod xml;
