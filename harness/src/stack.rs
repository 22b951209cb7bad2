//! Stack lifecycle.
