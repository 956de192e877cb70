//! A circuit breaker for an outside service: after `THRESHOLD` failures in a row it stops
//! asking for `COOL_DOWN`, answering at once that the service is unavailable, then lets one
//! request through (half open): a success closes it, a failure opens it again. So a registry
//! that is down costs each registration a quick 503, not a 5-second timeout, and is not
//! hammered while it recovers. Hand-written: a dozen lines of state, where the circuit-breaker
//! crates bring their own retry and timer machinery.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the circuit.
pub const THRESHOLD: u32 = 5;
/// How long an open circuit refuses before it lets one request through.
pub const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// A half-open trial is in flight: others are refused until it ends.
    trial: bool,
}

#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    /// Whether a request may go now; `false` while the circuit is open.
    pub fn allow(&self) -> bool {
        let Ok(mut s) = self.state.lock() else { return true };
        match s.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if s.trial => false,
            Some(_) => {
                s.trial = true;
                true
            }
        }
    }

    /// Records how a request that was allowed went.
    pub fn record(&self, ok: bool) {
        let Ok(mut s) = self.state.lock() else { return };
        s.trial = false;
        if ok {
            *s = State::default();
            return;
        }
        s.failures = s.failures.saturating_add(1);
        if s.failures >= THRESHOLD {
            s.open_until = Some(Instant::now() + COOL_DOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_opens_after_failures_in_a_row_and_a_success_closes_it() {
        let breaker = Breaker::default();
        for _ in 0..THRESHOLD - 1 {
            assert!(breaker.allow());
            breaker.record(false);
        }
        breaker.record(true);
        for _ in 0..THRESHOLD {
            assert!(breaker.allow());
            breaker.record(false);
        }
        assert!(!breaker.allow(), "open");
        // Past the cool-down: one trial, then closed again on its success.
        breaker.state.lock().unwrap().open_until = Some(Instant::now());
        assert!(breaker.allow());
        assert!(!breaker.allow(), "one trial at a time");
        breaker.record(true);
        assert!(breaker.allow());
    }
}
