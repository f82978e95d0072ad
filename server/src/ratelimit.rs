//! Per-client limits on writes that create something (agents, principals, delegations,
//! sub-delegations; never a principal's revocation or suspension): a token bucket per client address, refilled
//! at `rate` per second up to `burst`. A client over its limit gets 429 `rate_limited` with
//! `Retry-After`. The table of clients is bounded: when
//! full, idle clients (whose bucket is full again) are dropped first, then all.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 100_000;

/// A token bucket per client address.
#[derive(Debug)]
pub struct WriteLimiter {
    rate: f64,
    burst: f64,
    clients: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl WriteLimiter {
    /// `rate` writes per second per client, up to `burst` at once; both at least 1.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write for `client` at `now`, or says how long until one is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            clients.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        let (tokens, at) = clients.entry(client).or_insert((self.burst, now));
        let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            *at = now;
            Ok(())
        } else {
            *tokens = refilled;
            *at = now;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.rate))
        }
    }
}

/// The address a client is counted under: an IPv4 address as it is, an IPv6 address by its /64
/// (one subscriber's network, which holds as many addresses as it likes), an IPv4-mapped IPv6
/// address as the IPv4 one.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Middleware for the routes that create: a `POST` from a client over its limit is answered
/// 429 before the handler runs. Requests without a peer address (in-process) are not limited.
pub(crate) async fn limit_writes(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::POST {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if let Err(wait) = s.write_limiter.check(client_key(peer.ip()), Instant::now()) {
                // Whole seconds, rounded up (RFC 9110 10.2.3).
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return ApiError::RateLimited(secs.max(1)).into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses of one IPv6 /64 are one client; IPv4 addresses, mapped or not, are their own.
    #[test]
    fn clients_are_counted_by_their_network() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }

    /// A burst of exactly `burst` passes, the next waits 1/rate, and the bucket refills.
    #[test]
    fn buckets_at_their_edges() {
        let l = WriteLimiter::new(2, 3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip, t0).is_ok());
        }
        let wait = l.check(ip, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            l.check(other, t0).is_ok(),
            "another client has its own bucket"
        );
        assert!(l.check(ip, t0 + Duration::from_millis(499)).is_err());
        assert!(l.check(ip, t0 + Duration::from_millis(1_000)).is_ok());
        // Idle long enough, the bucket is full again, never more.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(l.check(ip, later).is_ok());
        }
        assert!(l.check(ip, later).is_err());
    }
}
