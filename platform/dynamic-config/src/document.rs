//! The dynamic configuration: one typed document, checked whole before anything stores or
//! applies it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The most a rate may be: one request per microsecond, the limiter's resolution.
const MAX_RATE_PER_S: f64 = 1e6;
/// The longest a request may wait for its command's reply before being answered 202.
const MAX_REPLY_TIMEOUT_MS: u64 = 60_000;
/// Feature names become dotted keys (`features.<name>`) and metric or log labels.
const MAX_FEATURE_NAME: usize = 64;

/// What every instance applies while it runs. A missing key takes its default; an unknown key
/// is refused, so a typo never passes for a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicConfig {
    /// A `RUST_LOG`-style filter: `info`, `warn,gateway=debug`.
    pub log_filter: String,
    /// The gateway's per-address and per-member limits.
    pub rate_limit: RateLimit,
    /// The gateway's circuit breakers on the read models.
    pub breaker: Breaker,
    pub commands: Commands,
    /// Named on/off switches.
    pub features: BTreeMap<String, bool>,
}

/// The gateway's `RateLimitSettings`, without what is fixed at start (its Redis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    pub per_ip_per_s: f64,
    pub per_ip_burst: u32,
    pub per_member_per_s: f64,
    pub per_member_burst: u32,
    /// When Redis cannot be asked: true lets requests through, false answers 503.
    pub fail_open: bool,
}

/// The gateway's `BreakerSettings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Breaker {
    pub window: u32,
    pub minimum_calls: u32,
    pub failure_rate: f64,
    pub slow_call_ms: u64,
    pub slow_call_rate: f64,
    pub open_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Commands {
    /// How long the gateway waits for a command's reply before answering 202 Accepted.
    pub reply_timeout_ms: u64,
}

// The defaults are the gateway's own `config/default.toml` values, so seeding version 1
// changes nothing in a running system.
impl Default for DynamicConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".to_owned(),
            rate_limit: RateLimit::default(),
            breaker: Breaker::default(),
            commands: Commands::default(),
            features: BTreeMap::new(),
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_ip_per_s: 50.0,
            per_ip_burst: 100,
            per_member_per_s: 20.0,
            per_member_burst: 40,
            fail_open: true,
        }
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            window: 20,
            minimum_calls: 10,
            failure_rate: 0.5,
            slow_call_ms: 1000,
            slow_call_rate: 0.8,
            open_ms: 5000,
        }
    }
}

impl Default for Commands {
    fn default() -> Self {
        Self {
            reply_timeout_ms: 3000,
        }
    }
}

/// One field that cannot take its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The dotted key: `rate_limit.per_ip_per_s`.
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// A document refused, with every field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    pub errors: Vec<FieldError>,
}

impl Refused {
    pub fn one(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError::new(field, problem)],
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        write!(f, "{}", errors.join("; "))
    }
}

impl DynamicConfig {
    /// A document from JSON, checked whole: shape first (types, unknown keys), then values.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Refused> {
        let document: Self = serde_path_to_error::deserialize(value).map_err(shape_error)?;
        document.validate()?;
        Ok(document)
    }

    /// A document from a dynamic-config TOML file, checked whole.
    pub fn from_toml(text: &str) -> Result<Self, Refused> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|error| Refused::one("(file)", error.message().to_owned()))?;
        let value = serde_json::to_value(table)
            .map_err(|error| Refused::one("(file)", error.to_string()))?;
        Self::from_value(value)
    }

    /// The document as JSON, as it is stored and broadcast.
    pub fn to_value(&self) -> serde_json::Value {
        // Plain fields and string-keyed maps always serialize; `Null` cannot happen.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Every field whose value no instance could run with; empty when all are fine.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut check = |field: &str, ok: bool, problem: &str| {
            if !ok {
                problems.push(FieldError::new(field, problem));
            }
        };
        if let Err(error) = service_kit::logging::parse_filter(&self.log_filter) {
            check("log_filter", false, &error.to_string());
        }
        let rate = |per_s: f64| per_s.is_finite() && per_s > 0.0 && per_s <= MAX_RATE_PER_S;
        let rate_problem = "must be a number above 0 and at most 1000000";
        let limits = &self.rate_limit;
        check(
            "rate_limit.per_ip_per_s",
            rate(limits.per_ip_per_s),
            rate_problem,
        );
        check(
            "rate_limit.per_ip_burst",
            limits.per_ip_burst >= 1,
            "must be at least 1",
        );
        check(
            "rate_limit.per_member_per_s",
            rate(limits.per_member_per_s),
            rate_problem,
        );
        check(
            "rate_limit.per_member_burst",
            limits.per_member_burst >= 1,
            "must be at least 1",
        );
        let share = |rate: f64| rate > 0.0 && rate <= 1.0;
        let breaker = &self.breaker;
        check("breaker.window", breaker.window >= 1, "must be at least 1");
        check(
            "breaker.minimum_calls",
            (1..=breaker.window.max(1)).contains(&breaker.minimum_calls),
            "must be between 1 and breaker.window",
        );
        check(
            "breaker.failure_rate",
            share(breaker.failure_rate),
            "must be above 0 and at most 1",
        );
        check(
            "breaker.slow_call_ms",
            breaker.slow_call_ms >= 1,
            "must be at least 1",
        );
        check(
            "breaker.slow_call_rate",
            share(breaker.slow_call_rate),
            "must be above 0 and at most 1",
        );
        check(
            "breaker.open_ms",
            breaker.open_ms >= 1,
            "must be at least 1",
        );
        check(
            "commands.reply_timeout_ms",
            (1..=MAX_REPLY_TIMEOUT_MS).contains(&self.commands.reply_timeout_ms),
            "must be between 1 and 60000",
        );
        for name in self.features.keys() {
            if !feature_name(name) {
                problems.push(FieldError::new(
                    format!("features.{name}"),
                    "a feature name is 1 to 64 of a-z, 0-9, `_` and `-`, starting with a letter or digit",
                ));
            }
        }
        problems
    }

    /// `Ok` when every field is fine, or all the fields that are not.
    pub fn validate(&self) -> Result<(), Refused> {
        let errors = self.problems();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Refused { errors })
        }
    }

    /// Whether the feature `name` is switched on (an unknown feature is off).
    pub fn feature(&self, name: &str) -> bool {
        self.features.get(name).copied().unwrap_or(false)
    }
}

fn feature_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && name.len() <= MAX_FEATURE_NAME
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A deserialization error as the field it is about: `rate_limit.per_ip_burst: invalid value`.
fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> Refused {
    let path = error.path().to_string();
    let inner = error.into_inner().to_string();
    // serde_json appends a position that means nothing for a document built in memory.
    let problem = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
    // serde_path_to_error's path already ends in an unknown field's own name.
    let field = if path == "." {
        "(document)".to_owned()
    } else {
        path
    };
    Refused::one(field, problem)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_defaults_are_valid_and_round_trip() {
        let defaults = DynamicConfig::default();
        assert_eq!(defaults.validate(), Ok(()));
        assert_eq!(DynamicConfig::from_value(defaults.to_value()), Ok(defaults));
    }

    #[test]
    fn missing_keys_take_their_defaults() {
        let document =
            DynamicConfig::from_value(json!({"rate_limit": {"per_ip_burst": 5}})).unwrap();
        assert_eq!(document.rate_limit.per_ip_burst, 5);
        assert_eq!(document.rate_limit.per_ip_per_s, 50.0);
        assert_eq!(document.log_filter, "info");
    }

    #[test]
    fn every_bad_value_is_named() {
        let mut document = DynamicConfig::default();
        document.rate_limit.per_ip_per_s = -1.0;
        document.rate_limit.per_member_per_s = f64::NAN;
        document.breaker.minimum_calls = 30;
        document.breaker.failure_rate = 1.5;
        document.commands.reply_timeout_ms = 0;
        document.log_filter = "gateway=loud".to_owned();
        document.features.insert("New Search".to_owned(), true);
        let fields: Vec<String> = document
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|error| error.field)
            .collect();
        assert_eq!(
            fields,
            [
                "log_filter",
                "rate_limit.per_ip_per_s",
                "rate_limit.per_member_per_s",
                "breaker.minimum_calls",
                "breaker.failure_rate",
                "commands.reply_timeout_ms",
                "features.New Search",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_path() {
        let unknown = DynamicConfig::from_value(json!({"rate_limit": {"per_ip_brust": 5}}));
        assert_eq!(
            unknown.unwrap_err().errors[0].field,
            "rate_limit.per_ip_brust"
        );
        let top = DynamicConfig::from_value(json!({"colour": "blue"}));
        assert_eq!(top.unwrap_err().errors[0].field, "colour");
        let negative = DynamicConfig::from_value(json!({"rate_limit": {"per_ip_burst": -1}}));
        let error = negative.unwrap_err();
        assert_eq!(error.errors[0].field, "rate_limit.per_ip_burst");
        assert!(error.errors[0].problem.contains("-1"), "{error}");
        let feature = DynamicConfig::from_value(json!({"features": {"search": "yes"}}));
        assert_eq!(feature.unwrap_err().errors[0].field, "features.search");
    }

    #[test]
    fn toml_files_are_read_whole() {
        let document = DynamicConfig::from_toml(
            r#"
            log_filter = "warn,gateway=debug"
            [rate_limit]
            per_ip_burst = 7
            [features]
            new-search = true
            "#,
        )
        .unwrap();
        assert_eq!(document.log_filter, "warn,gateway=debug");
        assert_eq!(document.rate_limit.per_ip_burst, 7);
        assert!(document.feature("new-search"));
        assert!(!document.feature("old-search"));
        let broken = DynamicConfig::from_toml("[rate_limit\nper_ip_burst = 7");
        assert_eq!(broken.unwrap_err().errors[0].field, "(file)");
    }
}
