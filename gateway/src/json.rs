//! The JSON body extractor: the content type is checked, the size is capped, and every way a
//! body can be wrong becomes a precise problem (syntax → 400, shape → 422 with the JSON path
//! of the field).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use events::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body of type `T`. Request types deny unknown fields, so a misspelt field is
/// an error rather than silently ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        let limit = state.limits.json_bytes;
        let bytes = read_limited(request.into_body(), limit).await?;
        parse(&bytes).map(Self)
    }
}

/// Reads a whole body, refusing it with 413 as soon as it passes `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request(format!("the body could not be read: {error}"))
        }
    })
}

/// `application/json`, with or without parameters, or any `+json` type.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(Ok(value)) = content_type.map(|value| value.to_str()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json")
}

/// Deserializes `bytes`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::new() } else { path };
                ApiError::Validation {
                    message: "the body does not match the request schema".to_owned(),
                    errors: vec![FieldError {
                        field,
                        message: strip_position(&inner.to_string()),
                    }],
                }
            }
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => not_json(&inner),
        }
    })?;
    deserializer.end().map_err(|error| not_json(&error))?;
    Ok(value)
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not valid JSON: {error}"))
}

/// serde_json ends data errors with " at line 1 column 42", which means nothing once the
/// field is named.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        nickname: String,
        stars: u8,
    }

    fn field_of(error: ApiError) -> (u16, String) {
        let status = error.status().as_u16();
        let problem = error.problem();
        let field = problem
            .errors
            .first()
            .map(|error| error.field.clone())
            .unwrap_or_default();
        (status, field)
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        let error = parse::<Body>(b"{\"nickname\":").unwrap_err();
        assert_eq!(error.status().as_u16(), 400);
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let error = parse::<Body>(br#"{"nickname":"ann","stars":"five"}"#).unwrap_err();
        assert_eq!(field_of(error), (422, "stars".to_owned()));
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let error = parse::<Body>(br#"{"nickname":"ann","stars":5,"admin":true}"#).unwrap_err();
        let (status, _) = field_of(error);
        assert_eq!(status, 422);
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let error = parse::<Body>(br#"{"nickname":"ann","stars":5} x"#).unwrap_err();
        assert_eq!(error.status().as_u16(), 400);
    }

    #[test]
    fn json_media_types_are_recognised() {
        let json = |value: &'static str| is_json(Some(&header::HeaderValue::from_static(value)));
        assert!(json("application/json"));
        assert!(json("application/json; charset=utf-8"));
        assert!(json("application/merge-patch+json"));
        assert!(!json("text/plain"));
        assert!(!is_json(None));
    }
}
