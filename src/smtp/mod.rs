//! smtp: sans-IO session (to be written).
