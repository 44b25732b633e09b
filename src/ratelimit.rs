//! A per-client-address token bucket for the login routes (`/login`, `/auth/start`,
//! `/auth/callback`), and per API token for scripts, so nobody can fill the session store with pending logins or hammer the
//! OAuth flow. Memory is bounded: the table is pruned when it grows past a cap.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

const MAX_CLIENTS: usize = 10_000;

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: std::hash::Hash + Eq> RateLimiter<K> {
    /// `per_minute` requests a minute per address, with bursts up to the same number.
    pub fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `ip` (an address, or whatever the limiter is keyed by); `Err(wait)`
    /// when there is none.
    pub fn check(&self, ip: K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS {
            let full = self.capacity;
            let rate = self.per_second;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < full
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.capacity, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - *tokens) / self.per_second).ceil(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_up_to_the_limit_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        let wait = limiter.check(ip).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20));
        assert!(
            limiter.check("192.0.2.2".parse().unwrap()).is_ok(),
            "per address"
        );
    }
}
