//! HTTP: the web endpoints of the mail server, sans-IO like the other protocols.

pub mod discovery;
