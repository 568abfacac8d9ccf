//! The account database (to be written).
