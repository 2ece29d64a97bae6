//! object_store's requests, sent with the workspace's `reqwest` client.
//!
//! object_store's own transport needs a TLS stack compiled into `reqwest` (and would pull one
//! into every crate of the workspace through feature unification). Object storage runs beside
//! the services and is reached over plain HTTP, so this small adapter is all it takes.

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::BodyExt;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};

/// Storage sits next to the services: a connection that takes longer than this is not coming.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One whole request, body included; photos are a few megabytes at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct PlainHttp(reqwest::Client);

impl PlainHttp {
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map(Self)
    }

    pub(crate) fn client(&self) -> HttpClient {
        HttpClient::new(self.clone())
    }
}

#[async_trait]
impl HttpService for PlainHttp {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let request =
            reqwest::Request::try_from(http::Request::from_parts(parts, reqwest::Body::wrap(body)))
                .map_err(|error| HttpError::new(HttpErrorKind::Unknown, error))?;
        let response = self.0.execute(request).await.map_err(http_error)?;
        let (parts, body) = http::Response::from(response).into_parts();
        Ok(HttpResponse::from_parts(
            parts,
            HttpResponseBody::new(body.map_err(http_error)),
        ))
    }
}

impl HttpConnector for PlainHttp {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(self.client())
    }
}

/// object_store decides from the kind whether a failed request is worth retrying.
fn http_error(error: reqwest::Error) -> HttpError {
    let kind = if error.is_connect() {
        HttpErrorKind::Connect
    } else if error.is_timeout() {
        HttpErrorKind::Timeout
    } else if error.is_request() || error.is_body() {
        HttpErrorKind::Request
    } else if error.is_decode() {
        HttpErrorKind::Decode
    } else {
        HttpErrorKind::Unknown
    };
    HttpError::new(kind, error)
}
