//! The one wall clock of the portal: Unix seconds, for session timeouts and index ages.

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
