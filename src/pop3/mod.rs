//! pop3: sans-IO session (to be written).
