//! The shared stack of a test run: `obs-harness stack up` starts a detached
//! keeper process that holds the stack until `obs-harness stack down` or
//! until its owner process (the nextest run) exits.
