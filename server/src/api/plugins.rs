//! `/v1/plugins`: upload component versions (`application/wasm`), list them, activate or
//! delete one, read a plugin's key-value store.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use switchyard_client::{
    Action, ActivateVersion, DeployedVersion, Kind, KvEntry, Plugin, PluginList,
};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, DispatcherState};
use crate::dispatcher::MAX_PLUGIN_BYTES;

pub(super) fn routes() -> Routes<DispatcherState> {
    const READ: Need = Need::on(Action::Read, Kind::Plugin, "name");
    const DEPLOY: Need = Need::on(Action::Deploy, Kind::Plugin, "name");
    Routes::new()
        .get(
            "/plugins",
            Need::some(Action::Read, Kind::Plugin),
            list_plugins,
        )
        .get("/plugins/{name}", READ, get_plugin)
        .post("/plugins/{name}/versions", DEPLOY, upload_version)
        .map(|router| router.route_layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)))
        .post("/plugins/{name}/activate", DEPLOY, activate_version)
        .delete("/plugins/{name}/versions/{version}", DEPLOY, delete_version)
        .get("/plugins/{name}/kv/{key}", READ, get_kv)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    activate: Option<bool>,
}

#[instrument(skip_all, fields(plugin = %name))]
async fn upload_version(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, ApiJson<DeployedVersion>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/wasm") {
        return Err(ApiError::InvalidBody {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: format!(
                "upload the component as the body with Content-Type: application/wasm (got {content_type:?})"
            ),
        });
    }
    let body = body.map_err(|rejection| ApiError::InvalidBody {
        status: rejection.status(),
        code: if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "plugin_too_large"
        } else {
            "invalid_body"
        },
        message: format!(
            "{} (the limit is {MAX_PLUGIN_BYTES} bytes)",
            rejection.body_text()
        ),
    })?;
    let deployed = dispatcher
        .deploy(&name, body.to_vec(), query.activate.unwrap_or(true))
        .await?;
    let status = if deployed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(deployed)))
}

async fn list_plugins(
    State(dispatcher): State<DispatcherState>,
    caller: Caller,
) -> ApiJson<PluginList> {
    let mut plugins = dispatcher.list_plugins();
    plugins.retain(|p| caller.may(Action::Read, Kind::Plugin, &p.name));
    ApiJson(PluginList { plugins })
}

async fn get_plugin(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Plugin>, ApiError> {
    Ok(ApiJson(dispatcher.get_plugin(&name)?))
}

#[instrument(skip_all, fields(plugin = %name))]
async fn activate_version(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ActivateVersion>,
) -> Result<ApiJson<Plugin>, ApiError> {
    Ok(ApiJson(dispatcher.activate(&name, &body.version).await?))
}

#[instrument(skip_all, fields(plugin = %name, version = %version))]
async fn delete_version(
    State(dispatcher): State<DispatcherState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    dispatcher.delete_version(&name, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_kv(
    State(dispatcher): State<DispatcherState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<ApiJson<KvEntry>, ApiError> {
    Ok(ApiJson(dispatcher.kv_get(&name, &key).await?))
}
