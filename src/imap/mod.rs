//! imap: sans-IO session (to be written).
