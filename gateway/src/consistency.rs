//! Read-your-writes: every command answer carries `X-Consistency-Token`; a query that
//! presents tokens (or comes from a session that wrote, see `auth`'s sessions) is answered
//! only once the read model covers them.

use axum::http::HeaderName;

/// Carries a command's token in its answer, and a client's tokens in its queries.
pub const CONSISTENCY_HEADER: HeaderName = HeaderName::from_static("x-consistency-token");
