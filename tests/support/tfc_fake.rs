//! A stateful, deliberately strict stand-in for the Terraform Cloud (HCP Terraform) API v2,
//! covering the variable-set, workspace and project endpoints the onboarder talks to.
//!
//! Strictness is the point: a client that passes against this fake must already send the bearer
//! token, the JSON:API content type on every mutating request, well-formed JSON:API documents,
//! and must page through lists and survive the error shapes and throttling of the real service.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

const JSONAPI: &str = "application/vnd.api+json";
/// The documented per-user limit; the real service advertises it on every response.
const ADVERTISED_RATE_LIMIT: &str = "30";
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_KEY_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 512;
const MAX_VALUE_BYTES: usize = 256 * 1024;
/// Large enough that an oversized variable value reaches validation and gets the real 422.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const DEFAULT_PROJECT: &str = "Default Project";

/// Characters kept literally in generated pagination links (RFC 3986 unreserved); brackets are
/// encoded as `%5B`/`%5D` exactly like the links the real service returns.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone, Debug)]
pub struct FakeOptions {
    pub token: String,
    pub organizations: Vec<String>,
    pub max_page_size: usize,
    pub latency: Option<(Duration, Duration)>,
    pub rate_limit_per_sec: Option<u32>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            token: "test-token-0123456789abcdef".to_owned(),
            organizations: vec!["acme".to_owned()],
            max_page_size: 100,
            latency: None,
            rate_limit_per_sec: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Varset {
    pub id: String,
    pub name: String,
    pub description: String,
    pub global: bool,
    pub priority: bool,
    pub organization: String,
    pub workspace_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub vars: Vec<Var>,
}

/// `value` is the stored value even for sensitive variables, which the API itself never reveals.
#[derive(Clone, Debug)]
pub struct Var {
    pub id: String,
    pub key: String,
    pub value: String,
    pub category: String,
    pub sensitive: bool,
    pub hcl: bool,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub at: Instant,
    pub authorization_present: bool,
}

#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<&'static str>,
    pub path_contains: String,
    pub times: usize,
    pub kind: FaultKind,
}

#[derive(Clone, Copy, Debug)]
pub enum FaultKind {
    RateLimitedReset(f64),
    RetryAfterSeconds(u64),
    RetryAfterDate(u64),
    Status(u16),
    PlainErrors(u16),
    Delay(Duration),
    SucceedThen(u16),
}

#[derive(Clone)]
pub struct TfcFake {
    inner: Arc<Inner>,
    _server: Arc<ServerTask>,
}

/// Held only by the `TfcFake` handles (the server task itself keeps `Inner` alive), so the
/// listener goes away with the last handle even when many fakes share one runtime.
struct ServerTask(tokio::task::AbortHandle);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Inner {
    opts: FakeOptions,
    base_url: String,
    /// The accepted token; changes when a test rotates it.
    token: Mutex<String>,
    world: Mutex<World>,
}

#[derive(Default)]
struct World {
    organizations: Vec<String>,
    projects: Vec<Project>,
    workspaces: Vec<Workspace>,
    varsets: Vec<StoredVarset>,
    faults: Vec<Fault>,
    log: Vec<LogEntry>,
    admitted: VecDeque<Instant>,
}

struct Project {
    id: String,
    name: String,
    organization: String,
}

struct Workspace {
    id: String,
    name: String,
    organization: String,
    project_id: String,
}

struct StoredVarset {
    id: String,
    name: String,
    description: String,
    global: bool,
    priority: bool,
    organization: String,
    parent_project: Option<String>,
    workspace_ids: Vec<String>,
    project_ids: Vec<String>,
    vars: Vec<StoredVar>,
    updated_at: SystemTime,
}

struct StoredVar {
    var: Var,
    created_at: SystemTime,
    version_id: String,
}

struct LogEntry {
    request: RecordedRequest,
    write_reached_handler: bool,
}

impl TfcFake {
    pub async fn start(opts: FakeOptions) -> TfcFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Terraform Cloud fake on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("local address of the Terraform Cloud fake")
            .port();
        let world = World {
            organizations: opts.organizations.clone(),
            ..World::default()
        };
        let inner = Arc::new(Inner {
            token: Mutex::new(opts.token.clone()),
            opts,
            base_url: format!("http://127.0.0.1:{port}"),
            world: Mutex::new(world),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("Terraform Cloud fake stopped: {err}");
            }
        });
        TfcFake {
            inner,
            _server: Arc::new(ServerTask(task.abort_handle())),
        }
    }

    pub fn url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn token(&self) -> String {
        self.inner.token.lock().unwrap().clone()
    }

    /// Rotates the token: from now on only `token` is accepted.
    pub fn set_token(&self, token: &str) {
        *self.inner.token.lock().unwrap() = token.to_owned();
    }

    pub fn varsets(&self, org: &str) -> Vec<Varset> {
        self.inner
            .world()
            .varsets
            .iter()
            .filter(|vs| vs.organization == org)
            .map(StoredVarset::public)
            .collect()
    }

    pub fn varset_by_name(&self, org: &str, name: &str) -> Option<Varset> {
        self.inner
            .world()
            .varsets
            .iter()
            .find(|vs| vs.organization == org && vs.name == name)
            .map(StoredVarset::public)
    }

    pub fn varset(&self, id: &str) -> Option<Varset> {
        self.inner
            .world()
            .varsets
            .iter()
            .find(|vs| vs.id == id)
            .map(StoredVarset::public)
    }

    pub fn add_organization(&self, name: &str) {
        let mut world = self.inner.world();
        if !world.organizations.iter().any(|o| o == name) {
            world.organizations.push(name.to_owned());
        }
    }

    /// Project names are unique per organization (case-insensitively), so seeding an existing
    /// name hands back the existing project rather than creating an impossible twin.
    pub fn seed_project(&self, org: &str, name: &str) -> String {
        let mut world = self.inner.world();
        world.require_org(org);
        world.project_named(org, name)
    }

    /// Without a project the workspace lands in the organization's "Default Project", as in the UI.
    pub fn seed_workspace(&self, org: &str, name: &str, project_id: Option<&str>) -> String {
        let mut world = self.inner.world();
        world.require_org(org);
        assert!(
            !world
                .workspaces
                .iter()
                .any(|ws| ws.organization == org && ws.name == name),
            "workspace {name} already exists in {org}"
        );
        let project_id = match project_id {
            Some(id) => {
                assert!(
                    world
                        .projects
                        .iter()
                        .any(|p| p.id == id && p.organization == org),
                    "project {id} does not exist in {org}"
                );
                id.to_owned()
            }
            None => world.project_named(org, DEFAULT_PROJECT),
        };
        let id = new_id("ws-");
        world.workspaces.push(Workspace {
            id: id.clone(),
            name: name.to_owned(),
            organization: org.to_owned(),
            project_id,
        });
        id
    }

    pub fn seed_varset(&self, org: &str, name: &str, vars: &[(&str, &str, &str)]) -> String {
        let mut world = self.inner.world();
        world.require_org(org);
        assert!(
            !world
                .varsets
                .iter()
                .any(|vs| vs.organization == org && vs.name == name),
            "variable set {name} already exists in {org}"
        );
        let now = SystemTime::now();
        let id = new_id("varset-");
        world.varsets.push(StoredVarset {
            id: id.clone(),
            name: name.to_owned(),
            description: String::new(),
            global: false,
            priority: false,
            organization: org.to_owned(),
            parent_project: None,
            workspace_ids: Vec::new(),
            project_ids: Vec::new(),
            vars: vars
                .iter()
                .map(|(key, value, category)| {
                    StoredVar::new(VarInput {
                        key: (*key).to_owned(),
                        value: (*value).to_owned(),
                        category: (*category).to_owned(),
                        hcl: false,
                        sensitive: false,
                        description: String::new(),
                    })
                })
                .collect(),
            updated_at: now,
        });
        id
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner
            .world()
            .log
            .iter()
            .map(|entry| entry.request.clone())
            .collect()
    }

    pub fn request_count(&self) -> usize {
        self.inner.world().log.len()
    }

    pub fn write_count(&self) -> usize {
        self.inner
            .world()
            .log
            .iter()
            .filter(|entry| entry.write_reached_handler)
            .count()
    }

    pub fn clear_requests(&self) {
        self.inner.world().log.clear();
    }

    /// Counts every recorded request, throttled ones included, so a client's own pacing can be
    /// checked against the limit it is supposed to respect.
    pub fn max_requests_in_any_window(&self, window: Duration) -> usize {
        let mut times: Vec<Instant> = self
            .inner
            .world()
            .log
            .iter()
            .map(|entry| entry.request.at)
            .collect();
        times.sort();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.inner.world().faults.push(fault);
        }
    }

    /// Remaining matches summed over all injected faults.
    pub fn pending_faults(&self) -> usize {
        self.inner.world().faults.iter().map(|f| f.times).sum()
    }
}

impl World {
    fn require_org(&self, org: &str) {
        assert!(
            self.has_org(org),
            "organization {org} does not exist in the fake"
        );
    }

    fn has_org(&self, org: &str) -> bool {
        self.organizations.iter().any(|o| o == org)
    }

    fn project_named(&mut self, org: &str, name: &str) -> String {
        if let Some(existing) = self
            .projects
            .iter()
            .find(|p| p.organization == org && p.name.eq_ignore_ascii_case(name))
        {
            return existing.id.clone();
        }
        let id = new_id("prj-");
        self.projects.push(Project {
            id: id.clone(),
            name: name.to_owned(),
            organization: org.to_owned(),
        });
        id
    }

    fn varset_index(&self, id: &str) -> Result<usize, ApiError> {
        self.varsets
            .iter()
            .position(|vs| vs.id == id)
            .ok_or_else(ApiError::not_found)
    }

    /// Global sets may not hold the same (key, category) as another global set of the org.
    fn global_conflict(&self, org: &str, except_varset: &str, key: &str, category: &str) -> bool {
        self.varsets
            .iter()
            .filter(|vs| vs.global && vs.organization == org && vs.id != except_varset)
            .flat_map(|vs| vs.vars.iter())
            .any(|v| v.var.key == key && v.var.category == category)
    }

    fn resolve_refs(&self, kind: RefKind, org: &str, ids: &[String]) -> Result<(), ApiError> {
        let known = |id: &String| match kind {
            RefKind::Workspaces => self
                .workspaces
                .iter()
                .any(|ws| &ws.id == id && ws.organization == org),
            RefKind::Projects => self
                .projects
                .iter()
                .any(|p| &p.id == id && p.organization == org),
        };
        if ids.iter().all(known) {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }
}

impl StoredVarset {
    fn public(&self) -> Varset {
        Varset {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            global: self.global,
            priority: self.priority,
            organization: self.organization.clone(),
            workspace_ids: self.workspace_ids.clone(),
            project_ids: self.project_ids.clone(),
            vars: self.vars.iter().map(|v| v.var.clone()).collect(),
        }
    }

    fn key_taken(&self, key: &str, category: &str, except_var: Option<&str>) -> bool {
        self.vars.iter().any(|v| {
            v.var.key == key && v.var.category == category && Some(v.var.id.as_str()) != except_var
        })
    }
}

impl StoredVar {
    fn new(input: VarInput) -> StoredVar {
        StoredVar {
            var: Var {
                id: new_id("var-"),
                key: input.key,
                value: input.value,
                category: input.category,
                sensitive: input.sensitive,
                hcl: input.hcl,
                description: input.description,
            },
            created_at: SystemTime::now(),
            version_id: new_version_id(),
        }
    }
}

#[derive(Clone, Copy)]
enum RefKind {
    Workspaces,
    Projects,
}

impl RefKind {
    fn type_name(self) -> &'static str {
        match self {
            RefKind::Workspaces => "workspaces",
            RefKind::Projects => "projects",
        }
    }
}

struct VarInput {
    key: String,
    value: String,
    category: String,
    hcl: bool,
    sensitive: bool,
    description: String,
}

/// The work runs in its own task because hyper drops a handler when the client hangs up; the
/// real service keeps going after a client or gateway timeout, and the log must still see it.
async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let work = tokio::spawn(async move { inner.respond(req).await });
    match work.await {
        Ok(response) => response,
        Err(_) => status_error(500),
    }
}

impl Inner {
    async fn respond(&self, req: Request) -> Response {
        let at = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let authorization_present = req.headers().contains_key(header::AUTHORIZATION);
        let throttled = self.admit(at);
        if let Some((low, high)) = self.opts.latency {
            tokio::time::sleep(random_between(low, high)).await;
        }
        let (mut response, reached_handler) = match throttled {
            Some(reset) => (
                too_many_requests("x-ratelimit-reset", seconds(reset)),
                false,
            ),
            None => self.process(req, &method, &path).await,
        };
        response.headers_mut().insert(
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from_static(ADVERTISED_RATE_LIMIT),
        );
        self.world().log.push(LogEntry {
            request: RecordedRequest {
                method: method.as_str().to_owned(),
                path,
                query,
                status: response.status().as_u16(),
                at,
                authorization_present,
            },
            write_reached_handler: reached_handler && is_write(&method),
        });
        response
    }

    /// A poisoned lock only means another test thread panicked; the state itself stays usable.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sliding one-second window over admitted requests; returns how long until a slot frees.
    fn admit(&self, now: Instant) -> Option<Duration> {
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

    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
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

    async fn process(&self, req: Request, method: &Method, path: &str) -> (Response, bool) {
        let Some(kind) = self.take_fault(method, path) else {
            return self.serve(req).await;
        };
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
        }
    }

    /// Authentication comes before the media type, so a tokenless request always gets the
    /// documented 401.
    async fn serve(&self, req: Request) -> (Response, bool) {
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

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && *token == *self.token.lock().unwrap()
            })
    }

    fn route(
        &self,
        method: &Method,
        segments: &[&str],
        query: &Query,
        body: &[u8],
        path: &str,
    ) -> Option<Result<Response, ApiError>> {
        let mut world = self.world();
        let world = &mut *world;
        let result = match (method.as_str(), segments) {
            ("GET", ["ping"]) => Ok(no_content()),
            ("GET", ["organizations", org, "varsets"]) => {
                self.list_varsets(world, org, query, path)
            }
            ("POST", ["organizations", org, "varsets"]) => create_varset(world, org, body),
            ("GET", ["organizations", org, "workspaces", name]) => show_workspace(world, org, name),
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

    fn list_varsets(
        &self,
        world: &World,
        org: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        if !world.has_org(org) {
            return Err(ApiError::not_found());
        }
        let needle = query.get("q").map(str::to_lowercase);
        let items = world
            .varsets
            .iter()
            .filter(|vs| vs.organization == org)
            .filter(|vs| {
                needle
                    .as_deref()
                    .is_none_or(|n| vs.name.to_lowercase().contains(n))
            })
            .map(|vs| varset_json(vs, false))
            .collect();
        self.page(items, query, path)
    }

    fn list_projects(
        &self,
        world: &World,
        org: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        if !world.has_org(org) {
            return Err(ApiError::not_found());
        }
        let names: Option<Vec<String>> = query
            .get("filter[names]")
            .map(|names| names.split(',').map(str::to_lowercase).collect());
        let needle = query.get("q").map(str::to_lowercase);
        let items = world
            .projects
            .iter()
            .filter(|p| p.organization == org)
            .filter(|p| {
                let name = p.name.to_lowercase();
                match (&names, &needle) {
                    (Some(names), _) => names.contains(&name),
                    (None, Some(needle)) => name.contains(needle.as_str()),
                    (None, None) => true,
                }
            })
            .map(|p| project_json(world, p))
            .collect();
        self.page(items, query, path)
    }

    fn list_vars(
        &self,
        world: &World,
        id: &str,
        query: &Query,
        path: &str,
    ) -> Result<Response, ApiError> {
        let vs = &world.varsets[world.varset_index(id)?];
        let items = vs.vars.iter().map(|v| var_json(&vs.id, v)).collect();
        self.page(items, query, path)
    }

    fn page(&self, items: Vec<Value>, query: &Query, path: &str) -> Result<Response, ApiError> {
        let max_size = self.opts.max_page_size.max(1);
        let number = query.positive("page[number]")?.unwrap_or(1);
        let size = query
            .positive("page[size]")?
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(max_size);
        let total = items.len();
        let pages = total.div_ceil(size).max(1);
        let data: Vec<Value> = items
            .into_iter()
            .skip((number - 1).saturating_mul(size))
            .take(size)
            .collect();
        let prev = (number > 1).then(|| number - 1);
        let next = (number < pages).then(|| number + 1);
        let link = |n: usize| self.page_link(path, query, n, size);
        let body = json!({
            "data": data,
            "links": {
                "self": link(number),
                "first": link(1),
                "prev": prev.map(link),
                "next": next.map(link),
                "last": link(pages),
            },
            "meta": {
                "pagination": {
                    "current-page": number,
                    "page-size": size,
                    "prev-page": prev,
                    "next-page": next,
                    "total-pages": pages,
                    "total-count": total,
                }
            }
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    fn page_link(&self, path: &str, query: &Query, number: usize, size: usize) -> String {
        let mut link = format!(
            "{}{path}?page%5Bnumber%5D={number}&page%5Bsize%5D={size}",
            self.base_url
        );
        for (key, value) in query
            .0
            .iter()
            .filter(|(k, _)| k != "page[number]" && k != "page[size]")
        {
            link.push('&');
            link.extend(utf8_percent_encode(key, QUERY_ESCAPE));
            link.push('=');
            link.extend(utf8_percent_encode(value, QUERY_ESCAPE));
        }
        link
    }
}

fn create_varset(world: &mut World, org: &str, body: &[u8]) -> Result<Response, ApiError> {
    if !world.has_org(org) {
        return Err(ApiError::not_found());
    }
    let doc = parse_document(body)?;
    let data = primary(&doc, "varsets")?;
    let attrs = Attributes::of(data, "/data")?;
    let name = attrs.required_str("name")?;
    let description = attrs.str("description")?.unwrap_or_default();
    let global = attrs.bool("global")?.unwrap_or(false);
    let priority = attrs.bool("priority")?.unwrap_or(false);
    let rels = Relationships::of(data)?;
    let vars = rels.vars()?;
    let mut workspace_ids = rels.refs(RefKind::Workspaces)?.unwrap_or_default();
    let mut project_ids = rels.refs(RefKind::Projects)?.unwrap_or_default();
    let parent_project = rels.parent_project(org)?;
    check_no_duplicate_keys(&vars, &[])?;
    if world
        .varsets
        .iter()
        .any(|vs| vs.organization == org && vs.name == name)
    {
        return Err(ApiError::invalid(
            "Name has already been taken",
            "/data/attributes/name",
        ));
    }
    world.resolve_refs(RefKind::Workspaces, org, &workspace_ids)?;
    world.resolve_refs(RefKind::Projects, org, &project_ids)?;
    if let Some(parent) = &parent_project {
        world.resolve_refs(RefKind::Projects, org, std::slice::from_ref(parent))?;
        if global {
            return Err(ApiError::invalid(
                "Global must be false for a variable set owned by a project",
                "/data/attributes/global",
            ));
        }
        if !project_ids.contains(parent) {
            project_ids.push(parent.clone());
        }
    }
    if global && !(workspace_ids.is_empty() && project_ids.is_empty()) {
        return Err(ApiError::invalid(
            "A global variable set cannot be applied to specific workspaces or projects",
            "/data/attributes/global",
        ));
    }
    if global {
        let pairs = vars
            .iter()
            .map(|(_, v)| (v.key.as_str(), v.category.as_str()));
        check_global_conflicts(world, org, "", pairs)?;
    }
    dedup(&mut workspace_ids);
    dedup(&mut project_ids);
    let varset = StoredVarset {
        id: new_id("varset-"),
        name,
        description,
        global,
        priority,
        organization: org.to_owned(),
        parent_project,
        workspace_ids,
        project_ids,
        vars: vars.into_iter().map(|(_, v)| StoredVar::new(v)).collect(),
        updated_at: SystemTime::now(),
    };
    let response = json_response(
        StatusCode::CREATED,
        &json!({"data": varset_json(&varset, true)}),
    );
    world.varsets.push(varset);
    Ok(response)
}

fn show_varset(world: &World, id: &str, query: &Query) -> Result<Response, ApiError> {
    let vs = &world.varsets[world.varset_index(id)?];
    let mut included = Vec::new();
    for include in query.get("include").into_iter().flat_map(|i| i.split(',')) {
        match include {
            "vars" => included.extend(vs.vars.iter().map(|v| var_json(&vs.id, v))),
            "workspaces" => included.extend(
                world
                    .workspaces
                    .iter()
                    .filter(|ws| vs.workspace_ids.contains(&ws.id))
                    .map(workspace_json),
            ),
            "projects" => included.extend(
                world
                    .projects
                    .iter()
                    .filter(|p| vs.project_ids.contains(&p.id))
                    .map(|p| project_json(world, p)),
            ),
            "stacks" => {}
            other => {
                return Err(
                    ApiError::new(StatusCode::BAD_REQUEST, "Invalid include parameter")
                        .detail(format!("Invalid include parameter: {other}")),
                )
            }
        }
    }
    let mut body = json!({"data": varset_json(vs, false)});
    if query.get("include").is_some() {
        body["included"] = Value::Array(included);
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn update_varset(world: &mut World, id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let doc = parse_document(body)?;
    let data = primary(&doc, "varsets")?;
    let attrs = Attributes::of(data, "/data")?;
    let name = attrs.str("name")?;
    let description = attrs.str("description")?;
    let global = attrs.bool("global")?;
    let priority = attrs.bool("priority")?;
    let rels = Relationships::of(data)?;
    let new_vars = rels.vars()?;
    let workspace_ids = rels.refs(RefKind::Workspaces)?;
    let project_ids = rels.refs(RefKind::Projects)?;

    let current = &world.varsets[index];
    let org = current.organization.clone();
    if let Some(name) = &name {
        if name.is_empty() {
            return Err(ApiError::invalid(
                "Name can't be blank",
                "/data/attributes/name",
            ));
        }
        if world
            .varsets
            .iter()
            .any(|vs| vs.organization == org && vs.id != id && &vs.name == name)
        {
            return Err(ApiError::invalid(
                "Name has already been taken",
                "/data/attributes/name",
            ));
        }
    }
    let will_be_global = global.unwrap_or(current.global);
    if will_be_global && current.parent_project.is_some() {
        return Err(ApiError::invalid(
            "Global must be false for a variable set owned by a project",
            "/data/attributes/global",
        ));
    }
    let assigns_targets = workspace_ids.as_ref().is_some_and(|ids| !ids.is_empty())
        || project_ids.as_ref().is_some_and(|ids| !ids.is_empty());
    if will_be_global && assigns_targets {
        return Err(ApiError::invalid(
            "A global variable set cannot be applied to specific workspaces or projects",
            "/data/attributes/global",
        ));
    }
    let existing: Vec<(&str, &str)> = current
        .vars
        .iter()
        .map(|v| (v.var.key.as_str(), v.var.category.as_str()))
        .collect();
    check_no_duplicate_keys(&new_vars, &existing)?;
    if let Some(ids) = &workspace_ids {
        world.resolve_refs(RefKind::Workspaces, &org, ids)?;
    }
    if let Some(ids) = &project_ids {
        world.resolve_refs(RefKind::Projects, &org, ids)?;
    }
    if will_be_global {
        let current_pairs = current
            .vars
            .iter()
            .map(|v| (v.var.key.as_str(), v.var.category.as_str()));
        let new_pairs = new_vars
            .iter()
            .map(|(_, v)| (v.key.as_str(), v.category.as_str()));
        check_global_conflicts(world, &org, id, current_pairs.chain(new_pairs))?;
    }

    let vs = &mut world.varsets[index];
    if let Some(name) = name {
        vs.name = name;
    }
    if let Some(description) = description {
        vs.description = description;
    }
    if let Some(global) = global {
        vs.global = global;
    }
    if let Some(priority) = priority {
        vs.priority = priority;
    }
    if let Some(mut ids) = workspace_ids {
        dedup(&mut ids);
        vs.workspace_ids = ids;
    }
    if let Some(mut ids) = project_ids {
        dedup(&mut ids);
        vs.project_ids = ids;
    }
    vs.vars
        .extend(new_vars.into_iter().map(|(_, v)| StoredVar::new(v)));
    vs.updated_at = SystemTime::now();
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": varset_json(vs, true)}),
    ))
}

fn delete_varset(world: &mut World, id: &str) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    world.varsets.remove(index);
    Ok(no_content())
}

fn show_var(world: &World, id: &str, var_id: &str) -> Result<Response, ApiError> {
    let vs = &world.varsets[world.varset_index(id)?];
    let var = vs
        .vars
        .iter()
        .find(|v| v.var.id == var_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": var_json(&vs.id, var)}),
    ))
}

fn add_var(world: &mut World, id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let doc = parse_document(body)?;
    let data = doc
        .get("data")
        .ok_or_else(|| ApiError::bad_document("data is required", "/data"))?;
    let input = parse_var(data, "/data")?;
    let vs = &world.varsets[index];
    if vs.key_taken(&input.key, &input.category, None) {
        return Err(ApiError::invalid(
            "Key has already been taken",
            "/data/attributes/key",
        ));
    }
    if vs.global && world.global_conflict(&vs.organization, id, &input.key, &input.category) {
        return Err(global_conflict_error(&input.key));
    }
    let var = StoredVar::new(input);
    let response = json_response(StatusCode::CREATED, &json!({"data": var_json(id, &var)}));
    let vs = &mut world.varsets[index];
    vs.vars.push(var);
    vs.updated_at = SystemTime::now();
    Ok(response)
}

fn update_var(
    world: &mut World,
    id: &str,
    var_id: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let var_index = world.varsets[index]
        .vars
        .iter()
        .position(|v| v.var.id == var_id)
        .ok_or_else(ApiError::not_found)?;
    let doc = parse_document(body)?;
    let data = primary(&doc, "vars")?;
    let attrs = Attributes::of(data, "/data")?;
    let key = attrs.str("key")?;
    let value = attrs.str("value")?;
    let description = attrs.str("description")?;
    let category = attrs.str("category")?;
    let hcl = attrs.bool("hcl")?;
    let sensitive = attrs.bool("sensitive")?;

    let vs = &world.varsets[index];
    let current = &vs.vars[var_index].var;
    if let Some(key) = &key {
        validate_key(key, "/data/attributes/key")?;
    }
    if let Some(category) = &category {
        validate_category(category, "/data/attributes/category")?;
    }
    if let Some(value) = &value {
        validate_value(value, "/data/attributes/value")?;
    }
    if let Some(description) = &description {
        validate_description(description, "/data/attributes/description")?;
    }
    let changes_more_than_value = key.as_ref().is_some_and(|k| k != &current.key)
        || category.as_ref().is_some_and(|c| c != &current.category)
        || description
            .as_ref()
            .is_some_and(|d| d != &current.description)
        || hcl.is_some_and(|h| h != current.hcl)
        || sensitive == Some(false);
    if current.sensitive && changes_more_than_value {
        return Err(ApiError::invalid(
            "Only the value of a sensitive variable can be changed",
            "/data/attributes",
        ));
    }
    let new_key = key.clone().unwrap_or_else(|| current.key.clone());
    let new_category = category.clone().unwrap_or_else(|| current.category.clone());
    if vs.key_taken(&new_key, &new_category, Some(var_id)) {
        return Err(ApiError::invalid(
            "Key has already been taken",
            "/data/attributes/key",
        ));
    }
    if vs.global && world.global_conflict(&vs.organization, id, &new_key, &new_category) {
        return Err(global_conflict_error(&new_key));
    }

    let vs = &mut world.varsets[index];
    let stored = &mut vs.vars[var_index];
    stored.var.key = new_key;
    stored.var.category = new_category;
    if let Some(value) = value {
        stored.var.value = value;
    }
    if let Some(description) = description {
        stored.var.description = description;
    }
    if let Some(hcl) = hcl {
        stored.var.hcl = hcl;
    }
    if let Some(sensitive) = sensitive {
        stored.var.sensitive = sensitive;
    }
    stored.version_id = new_version_id();
    let body = json!({"data": var_json(id, stored)});
    vs.updated_at = SystemTime::now();
    Ok(json_response(StatusCode::OK, &body))
}

fn delete_var(world: &mut World, id: &str, var_id: &str) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let vs = &mut world.varsets[index];
    let var_index = vs
        .vars
        .iter()
        .position(|v| v.var.id == var_id)
        .ok_or_else(ApiError::not_found)?;
    vs.vars.remove(var_index);
    vs.updated_at = SystemTime::now();
    Ok(no_content())
}

fn attach(
    world: &mut World,
    id: &str,
    kind: RefKind,
    add: bool,
    body: &[u8],
) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let doc = parse_document(body)?;
    let data = doc
        .get("data")
        .ok_or_else(|| ApiError::bad_document("data is required", "/data"))?;
    let ids = parse_refs(data, kind, "/data")?;
    let vs = &world.varsets[index];
    if vs.global {
        return Err(ApiError::invalid(
            "A global variable set cannot be applied to specific workspaces or projects",
            "/data",
        ));
    }
    world.resolve_refs(kind, &vs.organization, &ids)?;
    let vs = &mut world.varsets[index];
    let targets = match kind {
        RefKind::Workspaces => &mut vs.workspace_ids,
        RefKind::Projects => &mut vs.project_ids,
    };
    if add {
        targets.extend(ids);
        dedup(targets);
    } else {
        targets.retain(|existing| !ids.contains(existing));
    }
    Ok(no_content())
}

fn show_workspace(world: &World, org: &str, name: &str) -> Result<Response, ApiError> {
    if !world.has_org(org) {
        return Err(ApiError::not_found());
    }
    let ws = world
        .workspaces
        .iter()
        .find(|ws| ws.organization == org && ws.name == name)
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": workspace_json(ws)}),
    ))
}

fn check_no_duplicate_keys(
    vars: &[(String, VarInput)],
    existing: &[(&str, &str)],
) -> Result<(), ApiError> {
    let mut seen: Vec<(&str, &str)> = existing.to_vec();
    for (pointer, var) in vars {
        let pair = (var.key.as_str(), var.category.as_str());
        if seen.contains(&pair) {
            return Err(ApiError::invalid(
                "Key has already been taken",
                format!("{pointer}/attributes/key"),
            ));
        }
        seen.push(pair);
    }
    Ok(())
}

fn check_global_conflicts<'a>(
    world: &World,
    org: &str,
    except_varset: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ApiError> {
    for (key, category) in pairs {
        if world.global_conflict(org, except_varset, key, category) {
            return Err(global_conflict_error(key));
        }
    }
    Ok(())
}

fn global_conflict_error(key: &str) -> ApiError {
    ApiError::invalid(
        format!("Key {key} conflicts with a variable in another global variable set"),
        "/data/attributes/key",
    )
}

fn dedup(ids: &mut Vec<String>) {
    let mut seen = Vec::with_capacity(ids.len());
    ids.retain(|id| {
        if seen.contains(id) {
            false
        } else {
            seen.push(id.clone());
            true
        }
    });
}

fn parse_document(body: &[u8]) -> Result<Value, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid JSON")
            .detail(format!("The request body is not valid JSON: {err}"))
    })?;
    if doc.is_object() {
        Ok(doc)
    } else {
        Err(ApiError::bad_document(
            "The request body must be a JSON:API document object",
            "",
        ))
    }
}

/// The `data` resource object of a single-resource document, checked against the expected type.
fn primary<'a>(doc: &'a Value, expected_type: &str) -> Result<&'a Map<String, Value>, ApiError> {
    let data = doc
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_document("data must be a resource object", "/data"))?;
    check_type(data, expected_type, "/data")?;
    Ok(data)
}

fn check_type(
    resource: &Map<String, Value>,
    expected_type: &str,
    pointer: &str,
) -> Result<(), ApiError> {
    match resource.get("type").and_then(Value::as_str) {
        Some(t) if t == expected_type => Ok(()),
        Some(t) => Err(ApiError::bad_document(
            format!("type '{t}' does not match the endpoint, expected '{expected_type}'"),
            format!("{pointer}/type"),
        )),
        None => Err(ApiError::bad_document(
            "type is required",
            format!("{pointer}/type"),
        )),
    }
}

struct Attributes<'a> {
    map: Option<&'a Map<String, Value>>,
    pointer: String,
}

impl<'a> Attributes<'a> {
    fn of(resource: &'a Map<String, Value>, pointer: &str) -> Result<Self, ApiError> {
        let pointer = format!("{pointer}/attributes");
        let map = match resource.get("attributes") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => {
                return Err(ApiError::bad_document(
                    "attributes must be an object",
                    pointer,
                ))
            }
        };
        Ok(Attributes { map, pointer })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    fn pointer(&self, key: &str) -> String {
        format!("{}/{key}", self.pointer)
    }

    fn str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(
                format!("{key} must be a string"),
                self.pointer(key),
            )),
        }
    }

    fn required_str(&self, key: &str) -> Result<String, ApiError> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::invalid(
                format!("{} can't be blank", capitalized(key)),
                self.pointer(key),
            )),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(
                format!("{key} must be a boolean"),
                self.pointer(key),
            )),
        }
    }
}

struct Relationships<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Relationships<'a> {
    fn of(resource: &'a Map<String, Value>) -> Result<Self, ApiError> {
        match resource.get("relationships") {
            None | Some(Value::Null) => Ok(Relationships { map: None }),
            Some(Value::Object(map)) => Ok(Relationships { map: Some(map) }),
            Some(_) => Err(ApiError::bad_document(
                "relationships must be an object",
                "/data/relationships",
            )),
        }
    }

    /// The `data` member of a named relationship; absent when the relationship is not sent.
    fn data(&self, name: &str) -> Result<Option<&'a Value>, ApiError> {
        let Some(rel) = self.map.and_then(|m| m.get(name)) else {
            return Ok(None);
        };
        rel.get("data").map(Some).ok_or_else(|| {
            ApiError::bad_document(
                format!("relationship {name} needs a data member"),
                format!("/data/relationships/{name}"),
            )
        })
    }

    /// Each variable paired with its JSON pointer, so validation errors point at the entry.
    fn vars(&self) -> Result<Vec<(String, VarInput)>, ApiError> {
        let Some(data) = self.data("vars")? else {
            return Ok(Vec::new());
        };
        let items = data.as_array().ok_or_else(|| {
            ApiError::bad_document(
                "vars data must be an array",
                "/data/relationships/vars/data",
            )
        })?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let pointer = format!("/data/relationships/vars/data/{i}");
                parse_var(item, &pointer).map(|var| (pointer, var))
            })
            .collect()
    }

    fn refs(&self, kind: RefKind) -> Result<Option<Vec<String>>, ApiError> {
        let name = kind.type_name();
        self.data(name)?
            .map(|data| parse_refs(data, kind, &format!("/data/relationships/{name}/data")))
            .transpose()
    }

    /// Organization parents must name the organization in the URL; the result is the owning
    /// project, if any.
    fn parent_project(&self, org: &str) -> Result<Option<String>, ApiError> {
        let pointer = "/data/relationships/parent/data";
        let Some(data) = self.data("parent")?.filter(|d| !d.is_null()) else {
            return Ok(None);
        };
        let resource = data
            .as_object()
            .ok_or_else(|| ApiError::bad_document("parent data must be an object", pointer))?;
        let id = resource.get("id").and_then(Value::as_str).ok_or_else(|| {
            ApiError::bad_document("parent id is required", format!("{pointer}/id"))
        })?;
        match resource.get("type").and_then(Value::as_str) {
            Some("organizations") if id == org => Ok(None),
            Some("organizations") => Err(ApiError::not_found()),
            Some("projects") => Ok(Some(id.to_owned())),
            _ => Err(ApiError::bad_document(
                "parent type must be organizations or projects",
                format!("{pointer}/type"),
            )),
        }
    }
}

fn parse_refs(data: &Value, kind: RefKind, pointer: &str) -> Result<Vec<String>, ApiError> {
    let items = data.as_array().ok_or_else(|| {
        ApiError::bad_document(
            format!("data must be an array of {} references", kind.type_name()),
            pointer,
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item_pointer = format!("{pointer}/{i}");
            let resource = item.as_object().ok_or_else(|| {
                ApiError::bad_document("reference must be an object", item_pointer.clone())
            })?;
            check_type(resource, kind.type_name(), &item_pointer)?;
            resource
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_document("id is required", format!("{item_pointer}/id"))
                })
        })
        .collect()
}

/// Validation shared by Add Variable and variables created inline with a set.
fn parse_var(resource: &Value, pointer: &str) -> Result<VarInput, ApiError> {
    let resource = resource
        .as_object()
        .ok_or_else(|| ApiError::bad_document("variable must be a resource object", pointer))?;
    check_type(resource, "vars", pointer)?;
    let attrs = Attributes::of(resource, pointer)?;
    let key = attrs.required_str("key")?;
    validate_key(&key, &attrs.pointer("key"))?;
    let category = attrs.str("category")?.unwrap_or_default();
    validate_category(&category, &attrs.pointer("category"))?;
    let value = attrs.str("value")?.unwrap_or_default();
    validate_value(&value, &attrs.pointer("value"))?;
    let description = attrs.str("description")?.unwrap_or_default();
    validate_description(&description, &attrs.pointer("description"))?;
    Ok(VarInput {
        key,
        value,
        category,
        hcl: attrs.bool("hcl")?.unwrap_or(false),
        sensitive: attrs.bool("sensitive")?.unwrap_or(false),
        description,
    })
}

fn validate_key(key: &str, pointer: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        Err(ApiError::invalid("Key can't be blank", pointer))
    } else if key.chars().count() > MAX_KEY_CHARS {
        Err(ApiError::invalid(
            format!("Key is too long (maximum is {MAX_KEY_CHARS} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

fn validate_category(category: &str, pointer: &str) -> Result<(), ApiError> {
    if matches!(category, "terraform" | "env") {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "Category is not included in the list",
            pointer,
        ))
    }
}

fn validate_value(value: &str, pointer: &str) -> Result<(), ApiError> {
    if value.len() > MAX_VALUE_BYTES {
        Err(ApiError::invalid(
            format!("Value is too long (maximum is {MAX_VALUE_BYTES} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

fn validate_description(description: &str, pointer: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(ApiError::invalid(
            format!("Description is too long (maximum is {MAX_DESCRIPTION_CHARS} characters)"),
            pointer,
        ))
    } else {
        Ok(())
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Decoded query pairs in arrival order; the raw form may use `%5B`/`%5D` or literal brackets.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (form_decode(key), form_decode(value))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn positive(&self, key: &str) -> Result<Option<usize>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        match raw.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter")
                    .detail(format!("{key} must be a positive integer, got '{raw}'")),
            ),
        }
    }
}

fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: Option<String>,
    pointer: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str) -> ApiError {
        ApiError {
            status,
            title,
            detail: None,
            pointer: None,
        }
    }

    fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    fn pointer(mut self, pointer: impl Into<String>) -> ApiError {
        self.pointer = Some(pointer.into());
        self
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }

    fn invalid(detail: impl Into<String>, pointer: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid attribute")
            .detail(detail)
            .pointer(pointer)
    }

    fn bad_document(detail: impl Into<String>, pointer: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid request document")
            .detail(detail)
            .pointer(pointer)
    }

    fn into_response(self) -> Response {
        let mut error = json!({"status": self.status.as_str(), "title": self.title});
        if let Some(detail) = self.detail {
            error["detail"] = Value::String(detail);
        }
        if let Some(pointer) = self.pointer {
            error["source"] = json!({"pointer": pointer});
        }
        json_response(self.status, &json!({"errors": [error]}))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI));
    response
}

fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The documented throttling body, whose `status` is a number unlike every other error.
fn too_many_requests(header_name: &'static str, header_value: String) -> Response {
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

fn status_error(code: u16) -> Response {
    let status = status_code(code);
    ApiError::new(status, status.canonical_reason().unwrap_or("error")).into_response()
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn varset_json(vs: &StoredVarset, full_vars: bool) -> Value {
    let vars: Vec<Value> = vs
        .vars
        .iter()
        .map(|v| {
            if full_vars {
                var_json(&vs.id, v)
            } else {
                json!({"id": v.var.id, "type": "vars"})
            }
        })
        .collect();
    let parent = match &vs.parent_project {
        Some(project) => json!({"id": project, "type": "projects"}),
        None => json!({"id": vs.organization, "type": "organizations"}),
    };
    json!({
        "id": vs.id,
        "type": "varsets",
        "attributes": {
            "name": vs.name,
            "description": vs.description,
            "global": vs.global,
            "priority": vs.priority,
            "updated-at": rfc3339(vs.updated_at),
            "var-count": vs.vars.len(),
            "workspace-count": vs.workspace_ids.len(),
            "project-count": vs.project_ids.len(),
        },
        "relationships": {
            "organization": {"data": {"id": vs.organization, "type": "organizations"}},
            "vars": {"data": vars},
            "workspaces": {"data": refs_json("workspaces", &vs.workspace_ids)},
            "projects": {"data": refs_json("projects", &vs.project_ids)},
            "parent": {"data": parent},
        },
        "links": {"self": format!("/api/v2/varsets/{}", vs.id)},
    })
}

fn refs_json(type_name: &str, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| json!({"id": id, "type": type_name}))
        .collect()
}

fn var_json(varset_id: &str, stored: &StoredVar) -> Value {
    let var = &stored.var;
    let value = if var.sensitive {
        Value::Null
    } else {
        Value::String(var.value.clone())
    };
    json!({
        "id": var.id,
        "type": "vars",
        "attributes": {
            "key": var.key,
            "value": value,
            "sensitive": var.sensitive,
            "category": var.category,
            "hcl": var.hcl,
            "created-at": rfc3339(stored.created_at),
            "description": var.description,
            "version-id": stored.version_id,
        },
        "relationships": {
            "varset": {
                "data": {"id": varset_id, "type": "varsets"},
                "links": {"related": format!("/api/v2/varsets/{varset_id}")},
            }
        },
        "links": {"self": format!("/api/v2/varsets/{varset_id}/relationships/vars/{}", var.id)},
    })
}

fn workspace_json(ws: &Workspace) -> Value {
    json!({
        "id": ws.id,
        "type": "workspaces",
        "attributes": {"name": ws.name},
        "relationships": {
            "organization": {"data": {"id": ws.organization, "type": "organizations"}},
            "project": {"data": {"id": ws.project_id, "type": "projects"}},
        },
        "links": {"self": format!("/api/v2/organizations/{}/workspaces/{}", ws.organization, ws.name)},
    })
}

fn project_json(world: &World, project: &Project) -> Value {
    let workspace_count = world
        .workspaces
        .iter()
        .filter(|ws| ws.project_id == project.id)
        .count();
    json!({
        "id": project.id,
        "type": "projects",
        "attributes": {
            "name": project.name,
            "description": null,
            "workspace-count": workspace_count,
            "team-count": 0,
            "permissions": {"can-update": true, "can-destroy": true, "can-create-workspace": true},
        },
        "relationships": {
            "organization": {"data": {"id": project.organization, "type": "organizations"}},
        },
        "links": {"self": format!("/api/v2/projects/{}", project.id)},
    })
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// JSON:API forbids media type parameters, so anything but the bare type is rejected.
fn has_jsonapi_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSONAPI))
}

fn new_id(prefix: &str) -> String {
    let mut id = prefix.to_owned();
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(16));
    id
}

fn new_version_id() -> String {
    std::iter::repeat_with(|| fastrand::digit(16))
        .take(32)
        .collect()
}

fn random_between(low: Duration, high: Duration) -> Duration {
    if high <= low {
        low
    } else {
        low + (high - low).mul_f64(fastrand::f64())
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// UTC timestamp with milliseconds, the format of `updated-at`/`created-at` in real responses.
fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let secs_of_day = secs % 86_400;
    // Days-to-civil conversion (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3_600,
        secs_of_day % 3_600 / 60,
        secs_of_day % 60,
        since_epoch.subsec_millis()
    )
}
