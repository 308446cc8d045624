//! Idempotent mutating RPCs: a `request_id` is stored with a fingerprint of the request and the encoded
//! response; a replay returns that response without acting again, and concurrent duplicates wait for
//! the first one. The same id with other parameters is FAILED_PRECONDITION + IDEMPOTENCY_KEY_REUSED.
use super::status::to_status;
use crate::core::model::now_ms;
use crate::core::{CoreError, ErrorKind};
use crate::store::{Store, StoredRequest};
use prost::Message;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tonic::Status;

pub const TTL_MS: i64 = 24 * 3600 * 1000;

#[derive(Default)]
pub struct Idempotency {
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 128 && k.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

impl Idempotency {
    /// Runs `act` once per (method, request_id). `fingerprint` is the request encoded without its
    /// request_id; `R` is the response type.
    pub async fn run<R, F, Fut>(
        &self,
        store: &Store,
        method: &str,
        request_id: &str,
        fingerprint: Vec<u8>,
        act: F,
    ) -> Result<R, Status>
    where
        R: Message + Default,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, Status>>,
    {
        if request_id.is_empty() {
            return act().await;
        }
        if !valid_key(request_id) {
            return Err(to_status(CoreError::invalid(
                "request_id",
                "INVALID_REQUEST_ID",
                "request_id must be 1-128 characters of [A-Za-z0-9._:-]",
            )));
        }
        let key = format!("{method}/{request_id}");
        let lock = self.inflight.lock().unwrap().entry(key.clone()).or_default().clone();
        let _guard = lock.lock().await;
        let fp = hex(&fingerprint);
        let found = store.get_request(&key).await.map_err(|e| Status::internal(e.to_string()))?;
        if let Some(prev) = found.filter(|p| now_ms() - p.created < TTL_MS) {
            if prev.fingerprint != fp {
                return Err(to_status(
                    CoreError::new(
                        ErrorKind::FailedPrecondition,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this request_id was used with other parameters",
                    )
                    .with("request_id", request_id),
                ));
            }
            return R::decode(prev.response.as_slice()).map_err(|e| Status::internal(e.to_string()));
        }
        let resp = act().await?;
        let stored =
            StoredRequest { method: method.into(), fingerprint: fp, response: resp.encode_to_vec(), created: now_ms() };
        store.put_request(&key, stored).await.map_err(|e| Status::internal(e.to_string()))?;
        self.inflight.lock().unwrap().remove(&key);
        Ok(resp)
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
