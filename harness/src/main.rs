//! `obs-harness` command line.
fn main() {}
