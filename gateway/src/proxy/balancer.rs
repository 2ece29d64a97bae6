//! Round-robin over an upstream's instances, skipping the ones passive health checks ejected.
//! No I/O: the instances and the time are passed in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::lock;

/// One instance of an upstream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its discovery id (in DNS mode, the service's name): a metric label.
    pub id: String,
    /// `http://host:port`.
    pub address: String,
}

/// Which instance is next, and which are ejected until when (by address, so an ejection
/// outlives a refresh of the instance list).
#[derive(Debug, Default)]
pub struct Balancer {
    next: AtomicUsize,
    ejected: Mutex<HashMap<String, Instant>>,
}

impl Balancer {
    /// The next instance in turn that is not ejected and is not `avoid` (the instance a retry
    /// must not go back to). When every other instance is ejected, one of them is tried
    /// anyway: an instance that may have recovered is better than no answer.
    pub fn pick(
        &self,
        instances: &[Instance],
        now: Instant,
        avoid: Option<&Instance>,
    ) -> Option<Instance> {
        let candidates: Vec<&Instance> = instances
            .iter()
            .filter(|instance| Some(*instance) != avoid)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut ejected = lock(&self.ejected);
        ejected.retain(|_, until| *until > now);
        let count = candidates.len();
        let healthy = (0..count)
            .map(|offset| candidates[(start + offset) % count])
            .find(|instance| !ejected.contains_key(&instance.address));
        healthy
            .or_else(|| candidates.get(start % count).copied())
            .cloned()
    }

    /// `instance` failed: skip it until `until`.
    pub fn eject(&self, instance: &Instance, until: Instant) {
        lock(&self.ejected).insert(instance.address.clone(), until);
    }

    /// `instance` answered: it is healthy again, whatever an earlier failure said.
    pub fn restore(&self, instance: &Instance) {
        let mut ejected = lock(&self.ejected);
        if !ejected.is_empty() {
            ejected.remove(&instance.address);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn instances(count: usize) -> Vec<Instance> {
        (0..count)
            .map(|n| Instance {
                id: format!("i{n}"),
                address: format!("http://127.0.0.1:{}", 9000 + n),
            })
            .collect()
    }

    fn picks(
        balancer: &Balancer,
        instances: &[Instance],
        now: Instant,
        count: usize,
    ) -> Vec<String> {
        (0..count)
            .map(|_| balancer.pick(instances, now, None).unwrap().id)
            .collect()
    }

    #[test]
    fn instances_take_turns() {
        let balancer = Balancer::default();
        let all = instances(3);
        let now = Instant::now();
        assert_eq!(
            picks(&balancer, &all, now, 6),
            ["i0", "i1", "i2", "i0", "i1", "i2"]
        );
    }

    #[test]
    fn an_ejected_instance_is_skipped_until_its_time_is_up() {
        let balancer = Balancer::default();
        let all = instances(2);
        let now = Instant::now();
        balancer.eject(&all[0], now + Duration::from_secs(5));
        assert_eq!(picks(&balancer, &all, now, 3), ["i1", "i1", "i1"]);

        let later = now + Duration::from_secs(5);
        let mut seen = picks(&balancer, &all, later, 2);
        seen.sort();
        assert_eq!(seen, ["i0", "i1"]);
    }

    #[test]
    fn an_instance_that_answers_is_restored_at_once() {
        let balancer = Balancer::default();
        let all = instances(2);
        let now = Instant::now();
        balancer.eject(&all[0], now + Duration::from_secs(5));
        balancer.restore(&all[0]);
        let mut seen = picks(&balancer, &all, now, 2);
        seen.sort();
        assert_eq!(seen, ["i0", "i1"]);
    }

    #[test]
    fn a_retry_goes_to_another_instance() {
        let balancer = Balancer::default();
        let all = instances(2);
        let now = Instant::now();
        for _ in 0..4 {
            let retry = balancer.pick(&all, now, Some(&all[0])).unwrap();
            assert_eq!(retry.id, "i1");
        }
        assert_eq!(balancer.pick(&all[..1], now, Some(&all[0])), None);
    }

    #[test]
    fn when_every_instance_is_ejected_one_is_tried_anyway() {
        let balancer = Balancer::default();
        let all = instances(2);
        let now = Instant::now();
        for instance in &all {
            balancer.eject(instance, now + Duration::from_secs(5));
        }
        assert!(balancer.pick(&all, now, None).is_some());
        assert_eq!(balancer.pick(&[], now, None), None);
    }
}
