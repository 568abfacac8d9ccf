//! TLS configuration (to be written).
