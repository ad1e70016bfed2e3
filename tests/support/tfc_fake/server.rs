//! The HTTP entry point: logging, the rate limit, injected faults, authentication, the media
//! type and routing.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::lists::Query;
use super::organization::{show_organization, write_allowed};
use super::render::{json_response, no_content, status_code, status_error, ApiError};
use super::state::{LogEntry, RefKind, World};
use super::vars::{add_var, delete_var, show_var, update_var};
use super::varsets::{
    attach, create_varset, delete_varset, show_project, show_varset, show_workspace, update_varset,
};
use super::{FaultKind, Inner, RecordedRequest, JSONAPI};

/// The documented per-user limit; the real service advertises it on every response.
const ADVERTISED_RATE_LIMIT: &str = "30";
/// Large enough that an oversized variable value reaches validation and gets the real 422.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The work runs in its own task because hyper drops a handler when the client hangs up; the
/// real service keeps going after a client or gateway timeout, and the log must still see it.
pub(super) async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let work = tokio::spawn(async move { inner.respond(req).await });
    match work.await {
        Ok(response) => response,
        Err(_) => status_error(500),
    }
}

impl Inner {
    pub(super) async fn respond(&self, req: Request) -> Response {
        let at = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let authorization_present = req.headers().contains_key(header::AUTHORIZATION);
        let throttled = self.admit(at);
        if let Some((low, high)) = self.opts.latency {
            tokio::time::sleep(random_between(low, high)).await;
        }
        let (mut response, reached_handler, fault) = match throttled {
            Some(reset) => (
                too_many_requests("x-ratelimit-reset", seconds(reset)),
                false,
                None,
            ),
            None => self.process(req, &method, &path, &query).await,
        };
        response.headers_mut().insert(
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from_static(ADVERTISED_RATE_LIMIT),
        );
        let (response, complete) = match fault {
            Some((FaultKind::Reset, _)) => (reset(), false),
            Some((FaultKind::Truncated, _)) => (truncated(response).await, false),
            _ => (response, true),
        };
        self.world().log.push(LogEntry {
            request: RecordedRequest {
                method: method.as_str().to_owned(),
                path,
                query,
                status: if complete {
                    response.status().as_u16()
                } else {
                    0
                },
                at,
                authorization_present,
                fault: fault.and_then(|(_, label)| label),
            },
            write_reached_handler: reached_handler && is_write(&method),
        });
        response
    }

    /// A poisoned lock only means another test thread panicked; the state itself stays usable.
    pub(super) fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sliding one-second window over admitted requests; returns how long until a slot frees.
    pub(super) fn admit(&self, now: Instant) -> Option<Duration> {
        let limit = usize::try_from(self.opts.rate_limit_per_sec?).unwrap_or(usize::MAX);
        let window = Duration::from_secs(1);
        let mut world = self.world();
        while world
            .admitted
            .front()
            .is_some_and(|&t| now.duration_since(t) >= window)
        {
            world.admitted.pop_front();
        }
        if world.admitted.len() >= limit {
            let frees_at = world.admitted.front().map_or(now + window, |&t| t + window);
            return Some(
                frees_at
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        world.admitted.push_back(now);
        None
    }

    pub(super) fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut world = self.world();
        let index = world.faults.iter().position(|f| {
            f.method
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && path.contains(&f.path_contains)
        })?;
        let fault = &mut world.faults[index];
        fault.times -= 1;
        let kind = fault.kind;
        if fault.times == 0 {
            world.faults.remove(index);
        }
        Some(kind)
    }

    /// An injected fault (labelled `None`) or a random one, and what it came to: the response
    /// and whether the request reached a handler.
    pub(super) async fn process(
        &self,
        req: Request,
        method: &Method,
        path: &str,
        query: &str,
    ) -> (Response, bool, Option<(FaultKind, Option<&'static str>)>) {
        let (req, fault) = match self.take_fault(method, path) {
            Some(kind) => (req, Some((kind, None))),
            None => match self.roll_chaos(req, method, path, query).await {
                Ok((req, fault)) => (req, fault.map(|(kind, label)| (kind, Some(label)))),
                Err(too_large) => return (too_large, false, None),
            },
        };
        let Some((kind, _)) = fault else {
            let (response, reached) = self.serve(req).await;
            return (response, reached, None);
        };
        let (response, reached) = self.apply(kind, req).await;
        (response, reached, fault)
    }

    /// With random faults on, the body is read first: the request is known by it too.
    async fn roll_chaos(
        &self,
        req: Request,
        method: &Method,
        path: &str,
        query: &str,
    ) -> Result<(Request, Option<(FaultKind, &'static str)>), Response> {
        let Some(run) = self.chaos.lock().unwrap().clone() else {
            return Ok((req, None));
        };
        let (parts, body) = req.into_parts();
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return Err(
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response(),
            );
        };
        let fault = run.roll(&self.world(), method, path, query, &body);
        Ok((Request::from_parts(parts, body.into()), fault))
    }

    async fn apply(&self, kind: FaultKind, req: Request) -> (Response, bool) {
        match kind {
            FaultKind::RateLimitedReset(secs) => (
                too_many_requests("x-ratelimit-reset", format!("{secs:.3}")),
                false,
            ),
            FaultKind::RetryAfterSeconds(secs) => {
                (too_many_requests("retry-after", secs.to_string()), false)
            }
            FaultKind::RetryAfterDate(secs) => {
                let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(secs));
                (too_many_requests("retry-after", date), false)
            }
            FaultKind::Status(code) => (status_error(code), false),
            FaultKind::PlainErrors(code) => (
                json_response(
                    status_code(code),
                    &json!({"errors": ["something went wrong"]}),
                ),
                false,
            ),
            FaultKind::Delay(delay) => {
                tokio::time::sleep(delay).await;
                self.serve(req).await
            }
            FaultKind::SucceedThen(code) => {
                let (_, reached_handler) = self.serve(req).await;
                (status_error(code), reached_handler)
            }
            // The answer is replaced by a dropped connection in `respond`.
            FaultKind::Reset => (status_error(500), false),
            FaultKind::Truncated => self.serve(req).await,
        }
    }

    /// Authentication comes before the media type, so a tokenless request always gets the
    /// documented 401.
    pub(super) async fn serve(&self, req: Request) -> (Response, bool) {
        if !self.authorized(req.headers()) {
            return (
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized").into_response(),
                false,
            );
        }
        let method = req.method().clone();
        if is_write(&method) && !has_jsonapi_content_type(req.headers()) {
            let err = ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
                .detail(format!("Content-Type must be {JSONAPI}"));
            return (err.into_response(), false);
        }
        let path = req.uri().path().to_owned();
        let query = Query::parse(req.uri().query().unwrap_or_default());
        let body = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                let err = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
                return (err.into_response(), false);
            }
        };
        let Some(rest) = path.strip_prefix("/api/v2/") else {
            return (ApiError::not_found().into_response(), false);
        };
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match self.route(&method, &segments, &query, &body, &path) {
            Some(result) => (result.unwrap_or_else(ApiError::into_response), true),
            None => (ApiError::not_found().into_response(), false),
        }
    }

    pub(super) fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && *token == *self.token.lock().unwrap()
            })
    }

    pub(super) fn route(
        &self,
        method: &Method,
        segments: &[&str],
        query: &Query,
        body: &[u8],
        path: &str,
    ) -> Option<Result<Response, ApiError>> {
        // Refused before the handler, so the log does not count it as a write.
        if is_write(method) && !write_allowed(self.opts.token_access, segments) {
            return None;
        }
        let mut world = self.world();
        let world = &mut *world;
        let result = match (method.as_str(), segments) {
            ("GET", ["ping"]) => Ok(no_content()),
            ("GET", ["organizations", org]) => {
                show_organization(world, org, self.opts.token_access)
            }
            ("GET", ["organizations", org, "varsets"]) => {
                self.list_varsets(world, org, query, path)
            }
            ("POST", ["organizations", org, "varsets"]) => {
                create_varset(world, org, body, self.opts.create_ignores_inline_vars)
            }
            ("GET", ["organizations", org, "workspaces", name]) => show_workspace(world, org, name),
            ("GET", ["projects", id]) => show_project(world, id),
            ("GET", ["organizations", org, "projects"]) => {
                self.list_projects(world, org, query, path)
            }
            ("GET", ["varsets", id]) => show_varset(world, id, query),
            ("PATCH" | "PUT", ["varsets", id]) => update_varset(world, id, body),
            ("DELETE", ["varsets", id]) => delete_varset(world, id),
            ("GET", ["varsets", id, "relationships", "vars"]) => {
                self.list_vars(world, id, query, path)
            }
            ("POST", ["varsets", id, "relationships", "vars"]) => add_var(world, id, body),
            ("GET", ["varsets", id, "relationships", "vars", var_id]) => {
                show_var(world, id, var_id)
            }
            ("PATCH", ["varsets", id, "relationships", "vars", var_id]) => {
                update_var(world, id, var_id, body)
            }
            ("DELETE", ["varsets", id, "relationships", "vars", var_id]) => {
                delete_var(world, id, var_id)
            }
            (m @ ("POST" | "DELETE"), ["varsets", id, "relationships", "workspaces"]) => {
                attach(world, id, RefKind::Workspaces, m == "POST", body)
            }
            (m @ ("POST" | "DELETE"), ["varsets", id, "relationships", "projects"]) => {
                attach(world, id, RefKind::Projects, m == "POST", body)
            }
            _ => return None,
        };
        Some(result)
    }
}

/// A connection dropped before any answer: the body fails before a byte is written, and
/// hyper then closes the connection.
fn reset() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    });
    Response::new(axum::body::Body::from_stream(failing))
}

/// The status line, the headers and half the body, then a dropped connection. The pause lets
/// hyper send what it has before the body fails.
async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    let chunks = futures::stream::iter([Ok(half)]).chain(futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    }));
    Response::from_parts(parts, axum::body::Body::from_stream(chunks))
}

/// The documented throttling body, whose `status` is a number unlike every other error.
pub(super) fn too_many_requests(header_name: &'static str, header_value: String) -> Response {
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"errors": [{
            "status": 429,
            "title": "Too many requests",
            "detail": "You have exceeded the API's rate limit.",
        }]}),
    );
    if let Ok(value) = HeaderValue::from_str(&header_value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(header_name), value);
    }
    response
}

pub(super) fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// JSON:API forbids media type parameters, so anything but the bare type is rejected.
pub(super) fn has_jsonapi_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSONAPI))
}

pub(super) fn random_between(low: Duration, high: Duration) -> Duration {
    if high <= low {
        low
    } else {
        low + (high - low).mul_f64(fastrand::f64())
    }
}

pub(super) fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}
