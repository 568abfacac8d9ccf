//! HTTP, sans-IO like the other protocols: HTTP/1.1 messaging (RFC 9112 framing, RFC 9110
//! semantics) — the incremental [`RequestReader`] that turns received bytes into typed
//! [`Request`]s or the one [`HttpError`] that ends the connection, and the [`Response`]
//! encoder —, and above it the documents mail clients configure themselves from
//! ([`discovery`]).
//!
//! The codec never does IO, never reads the clock (the caller formats `Date`) and never
//! routes: which resource a request names and whether its method is allowed are decided
//! above it.

pub mod discovery;
pub mod route;
pub mod session;
pub mod workspace;
pub mod xml_ref;

mod chunked;
mod codec;
mod head;
mod request;
mod response;

pub use codec::{HttpError, HttpLimits, RequestReader, CONTINUE};
pub use request::{percent_decode_path, Method, Request, Version};
pub use response::{reason_phrase, Response, ResponseTarget};

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod response_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod workspace_tests;
