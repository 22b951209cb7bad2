//! Air-gapped image set.
