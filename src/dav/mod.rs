//! CalDAV and CardDAV, sans-IO.

pub mod objects;
