//! Dotted keys (`rate_limit.per_ip_burst`, `features.new-search`): reading one, setting one
//! from what an operator typed, and the keys that differ between two documents.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::document::{DynamicConfig, Refused};

/// The one section whose keys are not fixed: new flags are added by setting them.
const OPEN_SECTION: &str = "features";

/// One key whose value differs; `None` where the key is absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The value at `key` (a leaf or a whole section), if there is one.
pub fn get(document: &DynamicConfig, key: &str) -> Option<Value> {
    let mut value = document.to_value();
    for part in key.split('.') {
        value = value.as_object_mut()?.remove(part)?;
    }
    Some(value)
}

/// `document` with `key` set to `raw` (parsed by [`parse_value`]), checked whole.
pub fn set(document: &DynamicConfig, key: &str, raw: &str) -> Result<DynamicConfig, Refused> {
    let mut root = document.to_value();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(Refused::one(
            key,
            "not a key: use dotted names such as rate_limit.per_ip_burst",
        ));
    }
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| Refused::one(key, "no key given"))?;
    let mut section = root
        .as_object_mut()
        .ok_or_else(|| Refused::one(key, "the document is not a table"))?;
    for (depth, part) in parents.iter().enumerate() {
        if !section.get(*part).is_some_and(Value::is_object) {
            return Err(unknown(key, &parts[..depth].join("."), section));
        }
        section = section
            .get_mut(*part)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| Refused::one(key, "not a section"))?;
    }
    let open = parents == [OPEN_SECTION];
    if !open && !section.contains_key(*last) {
        return Err(unknown(key, &parents.join("."), section));
    }
    section.insert((*last).to_owned(), parse_value(raw));
    DynamicConfig::from_value(root)
}

/// What an operator typed, as the value it means: JSON (`5`, `true`, `"text"`, `{...}`), else a
/// TOML value (`'text'`, `1_000`, `inf`), else the text itself, so `info,gateway=debug` needs
/// no quotes.
pub fn parse_value(raw: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(raw) {
        return value;
    }
    if let Ok(mut table) = toml::from_str::<toml::Table>(&format!("value = {raw}"))
        && table.len() == 1
        && let Some(value) = table.remove("value")
        && let Ok(value) = serde_json::to_value(value)
    {
        return value;
    }
    Value::String(raw.to_owned())
}

/// Every leaf of `document` by its dotted key, sections flattened.
pub fn flatten(document: &DynamicConfig) -> BTreeMap<String, Value> {
    let mut leaves = BTreeMap::new();
    flatten_into(&mut leaves, String::new(), document.to_value());
    leaves
}

fn flatten_into(leaves: &mut BTreeMap<String, Value>, key: String, value: Value) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                let inner_key = if key.is_empty() {
                    name
                } else {
                    format!("{key}.{name}")
                };
                flatten_into(leaves, inner_key, inner);
            }
        }
        leaf => {
            leaves.insert(key, leaf);
        }
    }
}

/// The keys whose values differ from `old` to `new`, in key order.
pub fn changes(old: &DynamicConfig, new: &DynamicConfig) -> Vec<Change> {
    let mut old = flatten(old);
    let new = flatten(new);
    let mut changes = Vec::new();
    for (key, value) in new {
        match old.remove(&key) {
            Some(before) if before == value => {}
            before => changes.push(Change {
                key,
                old: before,
                new: Some(value),
            }),
        }
    }
    changes.extend(old.into_iter().map(|(key, before)| Change {
        key,
        old: Some(before),
        new: None,
    }));
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

fn unknown(key: &str, section: &str, fields: &Map<String, Value>) -> Refused {
    let known: Vec<String> = fields
        .iter()
        .map(|(name, value)| {
            if value.is_object() {
                format!("{name}.*")
            } else {
                name.clone()
            }
        })
        .collect();
    let place = if section.is_empty() {
        "the document".to_owned()
    } else {
        format!("`{section}`")
    };
    Refused::one(
        key,
        format!("unknown key; {place} has: {}", known.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_read_as_json_then_toml_then_text() {
        assert_eq!(parse_value("5"), json!(5));
        assert_eq!(parse_value("-1.5"), json!(-1.5));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("\"quoted\""), json!("quoted"));
        assert_eq!(parse_value("'single'"), json!("single"));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(
            parse_value("info,gateway=debug"),
            json!("info,gateway=debug")
        );
        assert_eq!(parse_value("x\nother = 1"), json!("x\nother = 1"));
    }

    #[test]
    fn setting_a_key_changes_only_it() {
        let before = DynamicConfig::default();
        let after = set(&before, "rate_limit.per_ip_burst", "3").unwrap();
        assert_eq!(after.rate_limit.per_ip_burst, 3);
        assert_eq!(
            changes(&before, &after),
            [Change {
                key: "rate_limit.per_ip_burst".to_owned(),
                old: Some(json!(100)),
                new: Some(json!(3)),
            }]
        );
        let filtered = set(&after, "log_filter", "warn,gateway=debug").unwrap();
        assert_eq!(filtered.log_filter, "warn,gateway=debug");
        assert_eq!(get(&filtered, "rate_limit.per_ip_burst"), Some(json!(3)));
        assert_eq!(get(&filtered, "breaker.window"), Some(json!(20)));
        assert!(get(&filtered, "breaker").is_some_and(|section| section.is_object()));
        assert_eq!(get(&filtered, "breaker.nope"), None);
    }

    #[test]
    fn features_can_be_added_and_show_in_changes() {
        let before = DynamicConfig::default();
        let after = set(&before, "features.new-search", "true").unwrap();
        assert!(after.feature("new-search"));
        assert_eq!(
            changes(&before, &after),
            [Change {
                key: "features.new-search".to_owned(),
                old: None,
                new: Some(json!(true)),
            }]
        );
        assert_eq!(changes(&after, &before)[0].new, None);
        let refused = set(&before, "features.new-search", "maybe").unwrap_err();
        assert_eq!(refused.errors[0].field, "features.new-search");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let document = DynamicConfig::default();
        let typo = set(&document, "rate_limit.per_ip_brust", "3").unwrap_err();
        assert_eq!(typo.errors[0].field, "rate_limit.per_ip_brust");
        assert!(typo.errors[0].problem.contains("per_ip_burst"), "{typo}");
        let section = set(&document, "ratelimit.per_ip_burst", "3").unwrap_err();
        assert!(
            section.errors[0].problem.contains("rate_limit.*"),
            "{section}"
        );
        assert!(set(&document, "rate_limit..x", "3").is_err());
        assert!(set(&document, "log_filter.x", "3").is_err());
        let negative = set(&document, "rate_limit.per_ip_per_s", "-1").unwrap_err();
        assert_eq!(negative.errors[0].field, "rate_limit.per_ip_per_s");
        let filter = set(&document, "log_filter", "gateway=loud").unwrap_err();
        assert_eq!(filter.errors[0].field, "log_filter");
        let kind = set(&document, "rate_limit.fail_open", "yes").unwrap_err();
        assert_eq!(kind.errors[0].field, "rate_limit.fail_open");
    }
}
