//! Per-minute counts of webhook events and sync runs over the last hour, for the page's chart.
//!
//! Nothing on the webhook path writes here: a sampler reads the cumulative counters the parts
//! already keep (a couple of atomic loads every few seconds) and files the difference under the
//! current minute. The ring holds at most [`MINUTES`] buckets.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Minutes the chart shows (and the ring keeps).
pub const MINUTES: usize = 60;

/// One minute's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub webhooks: u64,
    pub runs: u64,
}

/// The bounded ring of per-minute counters.
#[derive(Debug, Default)]
pub struct Activity {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    minutes: VecDeque<Minute>,
    /// The cumulative counters at the last sample.
    last: Option<(u64, u64)>,
}

impl Activity {
    /// Files what the cumulative counters gained since the last sample under `minute`. The
    /// first sample only sets the baseline; a counter that went backwards (a restart of the
    /// part behind it) counts from zero.
    pub fn sample(&self, minute: i64, webhooks_total: u64, runs_total: u64) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (dw, dr) = match ring.last {
            None => (0, 0),
            Some((w, r)) => (
                webhooks_total.checked_sub(w).unwrap_or(webhooks_total),
                runs_total.checked_sub(r).unwrap_or(runs_total),
            ),
        };
        ring.last = Some((webhooks_total, runs_total));
        match ring.minutes.back_mut() {
            Some(last) if last.minute == minute => {
                last.webhooks += dw;
                last.runs += dr;
            }
            // A clock that stepped back files into the newest bucket rather than reorder.
            Some(last) if last.minute > minute => {
                last.webhooks += dw;
                last.runs += dr;
            }
            _ => ring.minutes.push_back(Minute {
                minute,
                webhooks: dw,
                runs: dr,
            }),
        }
        while ring
            .minutes
            .front()
            .is_some_and(|m| m.minute <= minute - MINUTES as i64)
        {
            ring.minutes.pop_front();
        }
    }

    /// The last [`MINUTES`] minutes ending with `minute`, oldest first, zeros where nothing
    /// was counted.
    pub fn series(&self, minute: i64) -> Vec<Minute> {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (0..MINUTES as i64)
            .rev()
            .map(|ago| {
                let m = minute - ago;
                ring.minutes
                    .iter()
                    .find(|b| b.minute == m)
                    .copied()
                    .unwrap_or(Minute {
                        minute: m,
                        webhooks: 0,
                        runs: 0,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_land_in_their_minute_and_old_minutes_fall_off() {
        let a = Activity::default();
        a.sample(100, 5, 2); // baseline
        a.sample(100, 8, 2);
        a.sample(101, 9, 6);
        let s = a.series(101);
        assert_eq!(s.len(), MINUTES);
        assert_eq!(s[MINUTES - 2].webhooks, 3);
        assert_eq!(s[MINUTES - 1].webhooks, 1);
        assert_eq!(s[MINUTES - 1].runs, 4);
        a.sample(100 + MINUTES as i64 + 5, 9, 6);
        assert!(a
            .series(100 + MINUTES as i64 + 5)
            .iter()
            .all(|m| m.webhooks == 0));
        assert!(a.inner.lock().unwrap().minutes.len() <= MINUTES);
    }

    #[test]
    fn a_counter_that_restarts_counts_from_zero() {
        let a = Activity::default();
        a.sample(7, 10, 10);
        a.sample(7, 3, 12);
        let s = a.series(7);
        assert_eq!((s[MINUTES - 1].webhooks, s[MINUTES - 1].runs), (3, 2));
    }
}
