//! How much load, for how long, and how many rounds of faults.

use std::time::Duration;

/// `--profile`: `short` fits in CI, `full` is the one to run before a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    Short,
    Full,
}

/// A profile's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Members sending commands at once, each one after the other.
    pub clients: usize,
    /// A client's pause between two commands.
    pub pause: Duration,
    pub load_for: Duration,
    /// Each round injects every fault once, in turn.
    pub rounds: usize,
    /// How long a killed process, or the stopped broker, stays down.
    pub down_for: Duration,
}

impl Profile {
    pub fn plan(self) -> Plan {
        match self {
            Self::Short => Plan {
                clients: 12,
                pause: Duration::from_millis(150),
                load_for: Duration::from_secs(100),
                rounds: 1,
                down_for: Duration::from_secs(4),
            },
            Self::Full => Plan {
                clients: 16,
                pause: Duration::from_millis(150),
                load_for: Duration::from_secs(360),
                rounds: 2,
                down_for: Duration::from_secs(8),
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Short => "short",
            Self::Full => "full",
        }
    }
}

impl Plan {
    /// When, from the start of the load, each of `faults` faults is injected: evenly spread,
    /// none at the very start or end, so every fault meets load and the last one's recovery
    /// does too.
    pub fn fault_times(&self, faults: usize) -> Vec<Duration> {
        let slot = self.load_for / (faults as u32 + 1);
        (1..=faults as u32).map(|n| slot * n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_spread_inside_the_load() {
        let plan = Profile::Short.plan();
        let times = plan.fault_times(5);
        assert_eq!(times.len(), 5);
        assert!(times[0] > Duration::ZERO);
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(*times.last().unwrap() + plan.down_for < plan.load_for);
    }
}
