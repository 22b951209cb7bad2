//! Shared polling helper.
