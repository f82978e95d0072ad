//! Bounds on untrusted input and on how stale cached answers may be.

/// Bounds on untrusted input and on how stale cached answers may be. Every field is a limit
/// with a safe default; tests exercise each at its edge. These defaults are the only place the
/// numbers are written: the command line and the README take them from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest presentation (and embedded credential) in bytes. Default 32 KiB (a chain of four credentials and an authorization, with full scope lists).
    pub max_token_bytes: usize,
    /// Allowed clock difference, in seconds, on every time check. Default 60.
    pub clock_skew_secs: i64,
    /// Longest `exp - iat` accepted for a presentation. Default 300.
    pub max_presentation_lifetime_secs: i64,
    /// A cached DID resolution is refreshed once older than this. Default 60.
    pub did_refresh_secs: i64,
    /// A cached DID resolution is never used once older than this, even when the registry is
    /// unreachable. Default 300.
    pub did_max_staleness_secs: i64,
    /// A DID the source answered `notFound` for is answered so from cache for this long
    /// (negative caching, as DNS does), unless the source reports a change. Default 10.
    pub did_negative_secs: i64,
    /// A cached status list is refreshed once older than this. Default 60.
    pub status_refresh_secs: i64,
    /// A cached status list is never used once older than this: verification fails closed
    /// with `status_unavailable`. Default 300.
    pub status_max_staleness_secs: i64,
    /// Most nonces remembered for replay detection. Default 1,000,000.
    pub max_nonces: usize,
    /// Most live nonces remembered for one merchant (audience) that it did not issue
    /// ([`agentid_spec::nonce`]), so no merchant's traffic, nor a flood addressed to it, fills
    /// the memory for others. Nonces the merchant issued are not counted here. Default 100,000.
    pub max_nonces_per_merchant: usize,
    /// Most live nonces remembered for one agent (at every merchant together), so a stranger's
    /// own checkouts fill only its own share. Default 1,000.
    pub max_nonces_per_agent: usize,
    /// Most DIDs and status lists cached. Default 100,000.
    pub max_cache_entries: usize,
    /// Largest signed status list credential accepted, in bytes. Default 4 MiB.
    pub max_status_list_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_token_bytes: 32 * 1024,
            clock_skew_secs: 60,
            max_presentation_lifetime_secs: 300,
            did_refresh_secs: 60,
            did_max_staleness_secs: 300,
            did_negative_secs: 10,
            status_refresh_secs: 60,
            status_max_staleness_secs: 300,
            max_nonces: 1_000_000,
            max_nonces_per_merchant: 100_000,
            max_nonces_per_agent: 1_000,
            max_cache_entries: 100_000,
            max_status_list_bytes: 4 * 1024 * 1024,
        }
    }
}
