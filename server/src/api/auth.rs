//! Authentication and authorization at the HTTP edge. Every `/v1` request (and `/metrics`)
//! must carry a live token ([`authenticate`], 401 otherwise); every route declares what it
//! needs ([`Need`]) where it is routed ([`Routes`]), checked before its handler runs (403
//! otherwise); handlers check the names a body brings with [`Caller::require`]. Changes
//! (manage, deploy, admin) are written to the audit log with their outcome.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use switchyard_client::{Action, Kind};

use super::ApiError;
use crate::access::{Access, Principal};
use crate::broker::now_ms;
use crate::storage::AuditRecord;

/// What a route needs of the caller's token, checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The action.
    pub action: Action,
    /// The kind of resource (`Kind::Any` with [`Target::Some`]: any kind).
    pub kind: Kind,
    /// Which resource.
    pub target: Target,
}

/// Which resource a [`Need`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The one the path parameter of this name names.
    Path(&'static str),
    /// Some resource of the kind: the handler checks the names the body brings, or shows
    /// only what the token may see.
    Some,
    /// Nothing but a live token (`GET /v1/whoami`).
    Nothing,
    /// `admin:*:*` (tokens, the audit log).
    FullAdmin,
}

impl Need {
    /// `action` on the resource the path parameter `param` names.
    pub(super) const fn on(action: Action, kind: Kind, param: &'static str) -> Self {
        Self {
            action,
            kind,
            target: Target::Path(param),
        }
    }

    /// `action` on some resource of `kind`; the handler narrows it.
    pub(super) const fn some(action: Action, kind: Kind) -> Self {
        Self {
            action,
            kind,
            target: Target::Some,
        }
    }

    /// A live token, nothing more.
    pub(super) const fn token() -> Self {
        Self {
            action: Action::Read,
            kind: Kind::Any,
            target: Target::Nothing,
        }
    }

    /// `admin:*:*`.
    pub(super) const fn full_admin() -> Self {
        Self {
            action: Action::Admin,
            kind: Kind::Any,
            target: Target::FullAdmin,
        }
    }

    /// Whether requests on this route change state (and so are audited).
    pub fn is_change(&self) -> bool {
        self.action.is_change()
    }
}

/// One route of the API as declared: method, full path and what it needs.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The method.
    pub method: Method,
    /// The path, with `{param}` placeholders, from the root (`/v1/queues/{queue}`).
    pub path: String,
    /// What it needs of the caller.
    pub need: Need,
}

/// A router that remembers every route it was given with its [`Need`], so that the
/// checks are declared where routes are and the list of routes can be enumerated.
pub(super) struct Routes<S> {
    router: Router<S>,
    specs: Vec<RouteSpec>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub(super) fn new() -> Self {
        Self {
            router: Router::new(),
            specs: Vec::new(),
        }
    }

    /// Routes `method path` to `handler`, behind the check of `need`.
    pub(super) fn add<H, T>(mut self, method: Method, path: &str, need: Need, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        let route =
            on(filter, handler).route_layer(axum::middleware::from_fn_with_state(need, authorize));
        self.router = self.router.route(path, route);
        self.specs.push(RouteSpec {
            method,
            path: path.to_string(),
            need,
        });
        self
    }

    pub(super) fn get<H: Handler<T, S>, T: 'static>(self, path: &str, need: Need, h: H) -> Self {
        self.add(Method::GET, path, need, h)
    }

    pub(super) fn post<H: Handler<T, S>, T: 'static>(self, path: &str, need: Need, h: H) -> Self {
        self.add(Method::POST, path, need, h)
    }

    pub(super) fn patch<H: Handler<T, S>, T: 'static>(self, path: &str, need: Need, h: H) -> Self {
        self.add(Method::PATCH, path, need, h)
    }

    pub(super) fn delete<H: Handler<T, S>, T: 'static>(self, path: &str, need: Need, h: H) -> Self {
        self.add(Method::DELETE, path, need, h)
    }

    pub(super) fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.specs.extend(other.specs);
        self
    }

    /// Applies `f` to the router built so far (a route layer, say).
    pub(super) fn map(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    /// The routes, their paths under `prefix`.
    pub(super) fn specs(&self, prefix: &str) -> Vec<RouteSpec> {
        self.specs
            .iter()
            .map(|spec| RouteSpec {
                path: format!("{prefix}{}", spec.path),
                ..spec.clone()
            })
            .collect()
    }

    /// The router with its state, and the routes under `prefix`.
    pub(super) fn finish<S2>(self, state: S, prefix: &str) -> (Router<S2>, Vec<RouteSpec>) {
        let specs = self.specs(prefix);
        (self.router.with_state(state), specs)
    }
}

/// The caller of a request: its token, and the resources the request was checked
/// against (which the audit log names).
#[derive(Clone)]
pub(crate) struct Caller {
    principal: Arc<Principal>,
    targets: Arc<Mutex<Vec<String>>>,
    access: Arc<Access>,
}

impl Caller {
    /// The token.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// `Ok` when the token may do `action` on the `kind` resource `name`; the name is
    /// remembered for the audit log either way.
    pub(crate) fn require(&self, action: Action, kind: Kind, name: &str) -> Result<(), ApiError> {
        self.note(kind.as_str(), name);
        Ok(self.principal.require(action, kind, name)?)
    }

    /// Whether the token may do `action` on the `kind` resource `name` (for filtering
    /// lists: nothing is remembered).
    pub(crate) fn may(&self, action: Action, kind: Kind, name: &str) -> bool {
        self.principal.grants().allows(action, kind, name)
    }

    /// Names a resource the request is about, for the audit log.
    pub(crate) fn note(&self, kind: &str, name: &str) {
        let mut targets = self.targets.lock().expect("targets lock");
        let target = format!("{kind}:{name}");
        if !targets.contains(&target) && targets.len() < 16 {
            targets.push(target);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal {
                what: "a route without authentication",
            })
    }
}

/// Lets in only requests with a live token (401 `unauthenticated` otherwise, with
/// `WWW-Authenticate: Bearer`), and hands the token to what follows.
pub(super) async fn authenticate(
    State(access): State<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match access.authenticate(header) {
        Ok(principal) => {
            let caller = Caller {
                principal,
                targets: Arc::default(),
                access: access.clone(),
            };
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// Checks the route's [`Need`] before its handler runs, then writes changes to the audit
/// log with their outcome.
pub(super) async fn authorize(
    State(need): State<Need>,
    params: RawPathParams,
    request: Request<Body>,
    next: Next,
) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return ApiError::Internal {
            what: "a route without authentication",
        }
        .into_response();
    };
    let checked = match need.target {
        Target::Path(param) => {
            let name = params
                .iter()
                .find(|(key, _)| *key == param)
                .map(|(_, value)| value.to_string())
                .unwrap_or_default();
            caller.require(need.action, need.kind, &name)
        }
        Target::Some => caller
            .principal
            .require_some(need.action, need.kind)
            .map_err(ApiError::from),
        Target::Nothing => Ok(()),
        Target::FullAdmin => caller
            .principal
            .require_full_admin()
            .map_err(ApiError::from),
    };
    // Only changes are audited: reads and the data plane (publish, consume) pay nothing.
    let audited = (need.is_change() && request.method() != Method::GET).then(|| {
        // Under `nest` the URI is the nested one; the audit log names the path as sent.
        let path = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| request.uri().path(), |original| original.path())
            .to_string();
        (request.method().clone(), path)
    });
    let response = match checked {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };
    if let Some((method, path)) = audited {
        let status = response.status();
        let code = response
            .extensions()
            .get::<super::error::ErrorCode>()
            .map(|c| c.0);
        record_change(&caller, method, path, status, code).await;
    }
    response
}

async fn record_change(
    caller: &Caller,
    method: Method,
    path: String,
    status: axum::http::StatusCode,
    code: Option<&'static str>,
) {
    let error = (!status.is_success())
        .then(|| code.map_or_else(|| status.as_u16().to_string(), str::to_string));
    let entry = AuditRecord {
        at_ms: now_ms(),
        token_id: caller.principal.id().to_string(),
        token: caller.principal.name().to_string(),
        method: method.to_string(),
        path,
        targets: caller.targets.lock().expect("targets lock").clone(),
        status: status.as_u16(),
        error,
    };
    if let Err(error) = caller.access.record(entry).await {
        tracing::error!(%error, "cannot write to the audit log");
    }
}
