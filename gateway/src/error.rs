//! The public error format: RFC 9457 problem details with a stable `code` and per-field
//! `errors`. Every failure the gateway answers goes through [`ApiError`]; 5xx bodies are
//! generic and their cause is logged here, once.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events::{ErrorCode, FieldError, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything the gateway can answer instead of a success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a path or query parameter is not what the route takes.
    #[error("{message}")]
    BadRequest {
        message: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed input that breaks a rule; the field errors say which.
    #[error("{message}")]
    Validation {
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("the body must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Rate limit or login throttle; `code` tells which.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// A dependency cannot answer now; retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged with its cause, answered generically.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// One invalid field, named as the client sent it.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            errors: vec![FieldError {
                field: field.into(),
                message: message.clone(),
            }],
            message,
        }
    }

    /// A path or query parameter that cannot be what the route takes (an id that is not a
    /// UUID): refused before anything is sent anywhere.
    pub fn invalid_parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            errors: vec![FieldError {
                field: name.into(),
                message: message.clone(),
            }],
            message,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, documented code clients branch on (see the OpenAPI `Problem` schema).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Validation { .. } => "validation",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooManyRequests { code, .. } => code,
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => "something went wrong on our side".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::BadRequest { errors, .. } | Self::Validation { errors, .. } => errors
                .iter()
                .map(|error| ProblemField {
                    field: error.field.clone(),
                    message: error.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Problem {
            kind: format!("https://waypoint.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail,
            errors,
        }
    }
}

impl From<Rejection> for ApiError {
    /// A command service's refusal, as the client sees it.
    fn from(rejection: Rejection) -> Self {
        let Rejection {
            code,
            message,
            errors,
        } = rejection;
        match code {
            ErrorCode::Validation => Self::Validation { message, errors },
            ErrorCode::Conflict => Self::Conflict(message),
            ErrorCode::NotFound => Self::NotFound(message),
            ErrorCode::Forbidden => Self::Forbidden(message),
            ErrorCode::Unauthenticated => Self::Unauthenticated(message),
            ErrorCode::Unavailable => Self::Unavailable(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = (self.status(), problem_response(&self.problem())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::TooManyRequests { retry_after, .. } => {
                // Whole seconds, rounded up: retrying a moment early would be refused again.
                let seconds = retry_after.as_millis().div_ceil(1000).max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
            }
            Self::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"waypoint\""),
                );
            }
            _ => {}
        }
        response
    }
}

/// A problem body with its media type.
pub fn problem_response(problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable: `bad_request`, `validation`, `unsupported_media_type`,
    /// `payload_too_large`, `unauthenticated`, `forbidden`, `not_found`, `conflict`,
    /// `rate_limited`, `login_throttled`, `unavailable`, `internal`.
    pub code: String,
    pub detail: String,
    /// Per-field details for `validation` and `bad_request`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One invalid field, named by its JSON path as the client sent it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_keeps_its_field_errors_and_maps_to_its_status() {
        let rejection = Rejection::new(ErrorCode::Validation, "invalid input")
            .with_field_error("nickname", "too short");
        let error = ApiError::from(rejection);
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = error.problem();
        assert_eq!(problem.code, "validation");
        assert_eq!(problem.errors.len(), 1);
        assert_eq!(problem.errors[0].field, "nickname");
    }

    #[test]
    fn an_internal_error_hides_its_cause() {
        let error = ApiError::Internal(anyhow::anyhow!("password=hunter2 connection refused"));
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("hunter2"));
    }

    #[test]
    fn every_command_error_code_has_its_own_status() {
        let statuses = [
            (ErrorCode::Validation, 422),
            (ErrorCode::Conflict, 409),
            (ErrorCode::NotFound, 404),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::Unauthenticated, 401),
            (ErrorCode::Unavailable, 503),
        ];
        for (code, status) in statuses {
            let error = ApiError::from(Rejection::new(code, "no"));
            assert_eq!(error.status().as_u16(), status, "{code:?}");
        }
    }
}
