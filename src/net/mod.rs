//! Listeners and the connection driver (to be written).
