//! How long tenant certificates live and when they are renewed.

/// Share of a leaf certificate's lifetime left at which it is renewed (20%).
pub const RENEW_AT_REMAINING_PERCENT: i64 = 20;
/// The root CA lives this many times longer than the leaves it signs, so leaves can be renewed
/// many times while the CA (and every client's trust in it) stays.
pub const CA_LIFETIME_FACTOR: i64 = 10;
/// Certificates start this long before they are issued, tolerating clock skew between machines.
pub const BACKDATE_SECONDS: i64 = 300;
