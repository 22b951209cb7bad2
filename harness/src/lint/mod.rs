//! The static gate: cross-checks a stack's compose file and configs without Docker.
