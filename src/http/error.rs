//! HTTP errors: the API's own `tonic::Status` (made from the core error by `api::status::to_status`,
//! the one mapping place) rendered as `{error, reason, code, metadata}` with the canonical HTTP status.
use crate::api::status::{http_status, to_status};
use crate::core::CoreError;
use crate::proto::code_name;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tonic::Status;
use tonic_types::StatusExt as _;

#[derive(Debug)]
pub struct ApiError(pub Status);

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        ApiError(s)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(to_status(e))
    }
}

impl ApiError {
    /// The JSON body: `reason` and `metadata` are the gRPC ErrorInfo's (the same stable strings).
    pub fn body(&self) -> serde_json::Value {
        let info = self.0.get_details_error_info();
        json!({
            "error": self.0.message(),
            "reason": info.as_ref().map(|i| i.reason.clone()).unwrap_or_default(),
            "code": code_name(self.0.code()),
            "metadata": info.map(|i| i.metadata).unwrap_or_default(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(http_status(self.0.code())).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(self.body())).into_response()
    }
}

/// A request body that is not the JSON the route takes: 400 INVALID_JSON (never a default-filled call).
pub fn bad_json(e: impl std::fmt::Display) -> ApiError {
    CoreError::invalid("body", "INVALID_JSON", format!("the request body is not valid JSON for this route: {e}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_reason_and_get_the_canonical_http_status() {
        let e = ApiError::from(CoreError::session_not_found("abc"));
        let b = e.body();
        assert_eq!((b["reason"].as_str(), b["code"].as_str()), (Some("SESSION_NOT_FOUND"), Some("NOT_FOUND")));
        assert_eq!(b["metadata"]["session_id"], "abc");
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);
        let e = ApiError::from(CoreError::invalid("work_dir", "WORK_DIR_REQUIRED", "work_dir is required"));
        assert_eq!(e.into_response().status(), StatusCode::BAD_REQUEST);
        assert_eq!(ApiError(Status::unauthenticated("no")).into_response().status(), StatusCode::UNAUTHORIZED);
    }
}
