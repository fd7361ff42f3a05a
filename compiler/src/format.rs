//! The formatter (being written).
