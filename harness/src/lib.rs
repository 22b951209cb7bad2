//! obs-harness: conformance harness (work in progress).
