//! Parse, don't validate: command input becomes domain values, and every broken field rule
//! is reported at once, named as the client sent it.
//!
//! # Layout
//!
//! - [`Violations`]: collects [`events::FieldError`]s while a command's fields are parsed and
//!   turns them into one `validation` [`events::Rejection`].
//! - [`bounded_text`]: the trimmed, length-bounded text most fields are.

use events::{ErrorCode, FieldError, Rejection};

/// Field errors gathered while parsing one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations {
    errors: Vec<FieldError>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Keeps a parsed value, or records why it failed and yields `None`.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// `Ok(value)` when no rule was broken, otherwise one `validation` rejection carrying
    /// every field error. `value` is only called when all fields parsed.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Rejection> {
        if self.errors.is_empty()
            && let Some(value) = value()
        {
            return Ok(value);
        }
        Err(self.into_rejection())
    }

    pub fn into_rejection(self) -> Rejection {
        Rejection {
            code: ErrorCode::Validation,
            message: "the command has invalid fields".to_owned(),
            errors: self.errors,
        }
    }
}

/// Trims `raw` and checks that its length in characters lies in `min..=max`.
///
/// Characters, not bytes: a limit a user reads as "120 characters" must not shrink for
/// accented or non-Latin text.
pub fn bounded_text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_counts_characters() {
        assert_eq!(bounded_text("  café ", 1, 4), Ok("café".to_owned()));
        assert!(bounded_text("   ", 1, 10).is_err());
        assert!(bounded_text("abcde", 1, 4).is_err());
        assert!(bounded_text("a", 2, 4).is_err());
    }

    #[test]
    fn finish_reports_every_field() {
        let mut violations = Violations::new();
        let title = violations.check("title", bounded_text("", 1, 120));
        let body = violations.check("body", bounded_text("", 1, 5000));
        let rejection = violations
            .finish(|| Some((title?, body?)))
            .expect_err("both fields are empty");
        assert_eq!(rejection.code, ErrorCode::Validation);
        let fields: Vec<_> = rejection.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "body"]);
    }

    #[test]
    fn finish_yields_the_value_when_all_fields_parse() {
        let mut violations = Violations::new();
        let title = violations.check("title", bounded_text(" Good ", 1, 120));
        assert_eq!(violations.finish(|| title), Ok("Good".to_owned()));
    }
}
