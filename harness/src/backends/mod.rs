//! One typed HTTP client per backend (reqwest + serde).
