//! Calls to the REST API from the browser (fetch), each as the session's token, and API
//! errors turned into sentences a user understands, keyed by the API's stable error codes.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_client::{ErrorBody, Identity};

use crate::session;

/// A request the API refused or that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiFailure {
    /// The API's stable code (`queue_not_found`, ...), or `unreachable` / `unexpected_answer`.
    pub(crate) code: String,
    /// The server's own message.
    pub(crate) message: String,
}

impl ApiFailure {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// What went wrong and what to do, in words.
    pub(crate) fn explain(&self) -> String {
        let detail = &self.message;
        match self.code.as_str() {
            "unreachable" => format!(
                "The console cannot reach the Switchyard server. Is it still running? ({detail})"
            ),
            "topic_not_found" => format!("That topic does not exist (it may have been deleted). {detail}"),
            "queue_not_found" => format!("That queue does not exist (it may have been deleted). {detail}"),
            "subscription_not_found" => "That subscription no longer exists.".into(),
            "topic_exists" => "A topic with that name already exists. Pick another name.".into(),
            "queue_exists" => "A queue with that name already exists. Pick another name.".into(),
            "subscription_exists" => {
                "This queue is already subscribed to this topic; edit that subscription's filter instead."
                    .into()
            }
            "invalid_name" => sentence(detail),
            "invalid_filter" => format!("The filter is not valid: {detail}"),
            "invalid_setting" => format!("A setting is out of range: {detail}"),
            "dead_letter_queue_not_found" => {
                "The dead-letter queue must exist first: create it, then choose it here.".into()
            }
            "queue_in_use" => format!("The queue is still in use: {detail}"),
            "invalid_message_id" => {
                "That is not a message id. Ids are 26-character ULIDs, like 01JD3X6QZ8R7T0A2B4C6D8E0F1."
                    .into()
            }
            "message_not_found" => {
                "No queue holds a message with that id, and none acked or expired one in the last day."
                    .into()
            }
            "plugin_not_found" => "No plugin has that name; upload a version of it first.".into(),
            "version_not_found" | "ambiguous_version" => sentence(detail),
            "not_wasm" => {
                "That file is not WebAssembly. Upload the .wasm your plugin's build produced (cargo build --target wasm32-wasip2 --release)."
                    .into()
            }
            "not_a_component" => {
                "That file is a core WebAssembly module, not a component. Build the plugin for the wasm32-wasip2 target with the switchyard-sdk."
                    .into()
            }
            "wrong_world" | "invalid_component" => format!(
                "The component does not fit Switchyard's plugin contract (build it with switchyard-sdk): {detail}"
            ),
            "plugin_too_large" => format!("The file is too large for a plugin. {}", sentence(detail)),
            "unsupported_media_type" => "Choose a .wasm file to upload.".into(),
            "consumer_exists" => "A consumer with that name already exists. Pick another name.".into(),
            "consumer_not_found" => "That consumer no longer exists.".into(),
            "unauthenticated" => format!("The server did not accept the token: {detail}"),
            "forbidden" => format!(
                "Your token may not do that. {} Ask an admin for a token with that scope.",
                sentence(detail)
            ),
            "token_not_found" => "That token no longer exists (it may have been revoked already).".into(),
            "invalid_token" => sentence(detail),
            "internal" => {
                "The server could not apply the request, and nothing was changed. Its log says why."
                    .into()
            }
            _ => sentence(detail),
        }
    }
}

/// The server's message as a sentence: capitalized, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return "The server refused the request without saying why.".into(),
    };
    if !out.ends_with(['.', '!', '?', ')']) {
        out.push('.');
    }
    out
}

/// `GET path`, answered with JSON.
pub(crate) async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    json(call(Request::get(path), RequestBuilder::build).await?).await
}

/// `POST path` with a JSON body, answered with JSON.
pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<T, ApiFailure> {
    json(call(Request::post(path), |r| r.json(body)).await?).await
}

/// Starts a redrive of the queue at `queue_path` (`/v1/queues/{q}`) and follows the job
/// until it has ended; answers the job as it ended.
pub(crate) async fn redrive(
    queue_path: &str,
    request: &switchyard_client::RedriveRequest,
) -> Result<switchyard_client::RedriveJob, ApiFailure> {
    let mut job: switchyard_client::RedriveJob =
        post(&format!("{queue_path}/redrive"), request).await?;
    while !job.state.is_finished() {
        pause(200).await;
        job = get(&format!("{queue_path}/redrives/{}", segment(&job.id))).await?;
    }
    Ok(job)
}

/// Waits `ms` milliseconds.
async fn pause(ms: i32) {
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(timer).await;
}

/// `PATCH path` with a JSON body, answered with JSON.
pub(crate) async fn patch<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<T, ApiFailure> {
    json(call(Request::patch(path), |r| r.json(body)).await?).await
}

/// `DELETE path`, answered with no body.
pub(crate) async fn delete(path: &str) -> Result<(), ApiFailure> {
    call(Request::delete(path), RequestBuilder::build)
        .await
        .map(drop)
}

/// `POST path` with a file as the body (its bytes, as `content_type`), answered with JSON.
pub(crate) async fn upload<T: DeserializeOwned>(
    path: &str,
    file: web_sys::File,
    content_type: &str,
) -> Result<T, ApiFailure> {
    let request = Request::post(path).header("Content-Type", content_type);
    json(call(request, |r| r.body(file)).await?).await
}

/// `GET /v1/whoami` as `token` (none: as nobody, which a server without authentication
/// accepts). A refusal is only returned: it does not end the session.
pub(crate) async fn whoami(token: Option<&str>) -> Result<Identity, ApiFailure> {
    let request = with_token(Request::get("/v1/whoami"), token)
        .build()
        .map_err(|e| ApiFailure::new("unexpected_answer", e.to_string()))?;
    json(answered(request.send().await).await?).await
}

/// A path segment from user input (a message id someone pasted), escaped for a URL.
pub(crate) fn segment(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text.trim()))
}

/// `request` as the bearer of `token`. Never with cookies: the token is the only credential.
fn with_token(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    let request = request.credentials(web_sys::RequestCredentials::Omit);
    match token {
        Some(token) => request.header("Authorization", &format!("Bearer {token}")),
        None => request,
    }
}

/// Sends a request as the session's token (`body` finishes it); the server refusing that
/// token ends the session.
async fn call(
    request: RequestBuilder,
    body: impl FnOnce(RequestBuilder) -> Result<Request, gloo_net::Error>,
) -> Result<Response, ApiFailure> {
    let token = session::token();
    let request = body(with_token(request, token.as_deref()))
        .map_err(|e| ApiFailure::new("unexpected_answer", e.to_string()))?;
    let answer = answered(request.send().await).await;
    if let Err(failure) = &answer
        && failure.code == "unauthenticated"
    {
        session::refused(token.as_deref(), failure);
    }
    answer
}

/// A 2xx response, or the API's error body as an [`ApiFailure`].
async fn answered(response: Result<Response, gloo_net::Error>) -> Result<Response, ApiFailure> {
    let response = response.map_err(|e| ApiFailure::new("unreachable", e.to_string()))?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(ApiFailure::new(&body.error.code, body.error.message)),
        Err(_) => Err(ApiFailure::new(
            "unexpected_answer",
            format!("the server answered HTTP {status} without an error body"),
        )),
    }
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ApiFailure> {
    response
        .json::<T>()
        .await
        .map_err(|e| ApiFailure::new("unexpected_answer", format!("unreadable answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_advice_and_unknown_codes_keep_the_servers_words() {
        let failure = ApiFailure::new("dead_letter_queue_not_found", "no queue x");
        assert!(failure.explain().contains("must exist first"));
        let failure = ApiFailure::new("something_new", "queue is busy");
        assert_eq!(failure.explain(), "Queue is busy.");
        let failure = ApiFailure::new("invalid_name", "invalid queue name \"a b\": contains ' '");
        assert_eq!(
            failure.explain(),
            "Invalid queue name \"a b\": contains ' '."
        );
    }
}
