//! What one run calls its things on the shared servers. Everything derives from a label and a
//! random id, so two runs (or a run and the test suite) never meet, and a run's leftovers are
//! found by their prefix.

use message_bus::BusNames;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNames {
    label: String,
    id: String,
}

impl RunNames {
    /// A new run labelled `label` (`system`, `chaos`, `bench`): lowercase letters only, since
    /// it goes into database, queue and bucket names alike.
    pub fn new(label: &str) -> Self {
        Self::with_id(label, &Uuid::new_v4().simple().to_string()[..8])
    }

    pub fn with_id(label: &str, id: &str) -> Self {
        Self {
            label: label.to_owned(),
            id: id.to_owned(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `<label>_<id>`: the broker prefix, and the folder of the run's logs.
    pub fn run(&self) -> String {
        format!("{}_{}", self.label, self.id)
    }

    pub fn bus(&self) -> BusNames {
        BusNames::with_prefix(self.run())
    }

    pub fn redis_prefix(&self) -> String {
        format!("{}:", self.run())
    }

    /// The database of a service or model (`members`, `review-feed`): `waypoint_<run>_<part>`.
    pub fn database(&self, part: &str) -> String {
        format!("{}{}", self.database_prefix(), part.replace('-', "_"))
    }

    /// What every database of the run starts with.
    pub fn database_prefix(&self) -> String {
        format!("waypoint_{}_", self.run())
    }

    /// S3 bucket names take no underscores.
    pub fn bucket(&self) -> String {
        format!("{}-{}", self.label, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_label_and_the_id() {
        let names = RunNames::with_id("bench", "1a2b3c4d");
        assert_eq!(names.run(), "bench_1a2b3c4d");
        assert_eq!(names.bus().prefix(), Some("bench_1a2b3c4d"));
        assert_eq!(names.redis_prefix(), "bench_1a2b3c4d:");
        assert_eq!(
            names.database("review-feed"),
            "waypoint_bench_1a2b3c4d_review_feed"
        );
        assert!(
            names
                .database("members")
                .starts_with(&names.database_prefix())
        );
        assert_eq!(names.bucket(), "bench-1a2b3c4d");
    }

    #[test]
    fn two_runs_differ() {
        assert_ne!(RunNames::new("system"), RunNames::new("system"));
    }
}
