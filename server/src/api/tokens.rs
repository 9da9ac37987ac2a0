//! `/v1/tokens` (create, list, revoke; `admin:*:*`), `/v1/whoami` (the caller's own token)
//! and `/v1/audit` (the log of changes; `admin:*:*`).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_client::{AuditLog, CreateToken, CreatedToken, Identity, TokenList};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson};
use crate::access::Access;

/// Most audit entries one request returns.
const MAX_AUDIT_PAGE: u32 = 1000;

pub(super) fn routes() -> Routes<Arc<Access>> {
    Routes::new()
        .post("/tokens", Need::full_admin(), create_token)
        .get("/tokens", Need::full_admin(), list_tokens)
        .delete("/tokens/{id}", Need::full_admin(), revoke_token)
        .get("/whoami", Need::token(), whoami)
        .get("/audit", Need::full_admin(), read_audit)
}

#[instrument(skip_all, fields(token = %body.name))]
async fn create_token(
    State(access): State<Arc<Access>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, ApiJson<CreatedToken>), ApiError> {
    let created = access.create_token(caller.principal(), body).await?;
    caller.note("token", &created.id);
    Ok((StatusCode::CREATED, ApiJson(created)))
}

async fn list_tokens(State(access): State<Arc<Access>>) -> ApiJson<TokenList> {
    ApiJson(TokenList {
        tokens: access.list_tokens(),
    })
}

#[instrument(skip_all, fields(token = %id))]
async fn revoke_token(
    State(access): State<Arc<Access>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.note("token", &id);
    access.revoke_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn whoami(State(access): State<Arc<Access>>, caller: Caller) -> ApiJson<Identity> {
    ApiJson(caller.principal().identity(access.enabled()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn read_audit(
    State(access): State<Arc<Access>>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<ApiJson<AuditLog>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE) as usize;
    let entries = access.audit(query.after.unwrap_or(0), limit).await?;
    Ok(ApiJson(AuditLog { entries }))
}
