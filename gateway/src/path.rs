//! Path parameters, checked before anything is sent anywhere: an id that is not a UUID is a
//! 400 naming the parameter.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use events::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The route's path parameter as `T` (or, for several, a struct with one field each), or a
/// problem naming the parameter that is wrong.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(parameters) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        parse(parameters).map(Self)
    }
}

fn parse<T: DeserializeOwned>(mut parameters: Vec<(String, String)>) -> Result<T, ApiError> {
    let (name, value) = if parameters.len() == 1 {
        let (name, value) = parameters.remove(0);
        (name, Value::String(value))
    } else {
        let object: Map<String, Value> = parameters
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        (String::new(), Value::Object(object))
    };
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { name } else { path };
        ApiError::BadRequest {
            message: format!("path parameter `{field}` is not valid"),
            errors: vec![FieldError {
                field,
                message: error.into_inner().to_string(),
            }],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::PlaceId;

    #[test]
    fn a_uuid_parameter_parses() {
        let id = PlaceId::generate();
        let parsed: PlaceId = parse(vec![("place_id".to_owned(), id.to_string())]).unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn a_malformed_id_names_its_parameter() {
        let error = parse::<PlaceId>(vec![("place_id".to_owned(), "42".to_owned())]).unwrap_err();
        assert_eq!(error.status().as_u16(), 400);
        assert_eq!(error.problem().errors[0].field, "place_id");
    }
}
