//! A stateful, deliberately strict stand-in for the Terraform Cloud (HCP Terraform) API v2,
//! covering the variable-set, workspace and project endpoints the onboarder talks to.
//!
//! Strictness is the point: a client that passes against this fake must already send the bearer
//! token, the JSON:API content type on every mutating request, well-formed JSON:API documents,
//! and must page through lists and survive the error shapes and throttling of the real service.
//!
//! Modules: `state` (the stored world), `server` (HTTP entry, auth, faults, rate limit,
//! routing), `lists` (list endpoints and pagination), `varsets` and `vars` (the variable-set
//! endpoints), `organization` (the organization and the token's permissions), `document`
//! (request parsing and validation), `render` (response documents), `chaos` (random faults
//! from a seed).

mod chaos;
mod document;
mod lists;
mod organization;
mod render;
mod server;
mod state;
mod vars;
mod varsets;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;

pub use chaos::Chaos;
use state::{StoredVar, StoredVarset, VarInput, Workspace, World};

const JSONAPI: &str = "application/vnd.api+json";
const DEFAULT_PROJECT: &str = "Default Project";

#[derive(Clone, Debug)]
pub struct FakeOptions {
    pub token: String,
    pub organizations: Vec<String>,
    pub max_page_size: usize,
    pub latency: Option<(Duration, Duration)>,
    pub rate_limit_per_sec: Option<u32>,
    /// Creates store none of the variables sent inline with a set (`relationships.vars`), as a
    /// server that does not support them would; the response then lists no variables.
    pub create_ignores_inline_vars: bool,
    /// What the token may do with the organization's variable sets.
    pub token_access: TokenAccess,
}

/// The token's standing in its organizations, as the organization's `permissions` report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenAccess {
    /// Owners team, or a team with "Manage all projects" or "Manage all workspaces".
    #[default]
    ManageVarsets,
    /// A team that may read variables but not manage sets: every variable-set write is a 404.
    ReadVarsets,
    /// A server that predates `can-manage-varsets`: it reports neither varset permission
    /// (and lets the token manage sets).
    Unreported,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            token: "test-token-0123456789abcdef".to_owned(),
            organizations: vec!["acme".to_owned()],
            max_page_size: 100,
            latency: None,
            rate_limit_per_sec: None,
            create_ignores_inline_vars: false,
            token_access: TokenAccess::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Varset {
    pub id: String,
    pub name: String,
    pub description: String,
    pub global: bool,
    pub priority: bool,
    pub organization: String,
    /// The owning project; `None` when the organization owns the set.
    pub parent_project: Option<String>,
    pub workspace_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub vars: Vec<Var>,
}

/// `value` is the stored value even for sensitive variables, which the API itself never reveals.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// 0 when the connection was dropped before a complete answer.
    pub status: u16,
    pub at: Instant,
    pub authorization_present: bool,
    /// The random fault this request got (see [`Chaos`]), e.g. `503`.
    pub fault: Option<&'static str>,
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
    /// The connection is dropped before the request is handled.
    Reset,
    /// The request is handled, then its answer breaks off after the headers and part of the
    /// body.
    Truncated,
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

pub(super) struct Inner {
    opts: FakeOptions,
    base_url: String,
    /// The accepted token; changes when a test rotates it.
    token: Mutex<String>,
    world: Mutex<World>,
    chaos: Mutex<Option<Arc<chaos::Run>>>,
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
            chaos: Mutex::new(None),
        });
        let app = Router::new()
            .fallback(server::handle)
            .with_state(inner.clone());
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
        let id = state::new_id("ws-");
        world.workspaces.push(Workspace {
            id: id.clone(),
            name: name.to_owned(),
            organization: org.to_owned(),
            project_id,
        });
        id
    }

    /// An organization-owned set with non-sensitive variables (key, value, category).
    pub fn seed_varset(&self, org: &str, name: &str, vars: &[(&str, &str, &str)]) -> String {
        self.seed_set(org, name, None, vars)
    }

    /// A set owned by the project `project_id`, as a project admin would create it; like the
    /// API, the set is also applied to its project.
    pub fn seed_project_varset(
        &self,
        org: &str,
        project_id: &str,
        name: &str,
        vars: &[(&str, &str, &str)],
    ) -> String {
        self.seed_set(org, name, Some(project_id), vars)
    }

    fn seed_set(
        &self,
        org: &str,
        name: &str,
        parent_project: Option<&str>,
        vars: &[(&str, &str, &str)],
    ) -> String {
        let mut world = self.inner.world();
        world.require_org(org);
        assert!(
            !world
                .varsets
                .iter()
                .any(|vs| vs.organization == org && vs.name == name),
            "variable set {name} already exists in {org} (names are unique per organization)"
        );
        if let Some(project) = parent_project {
            assert!(
                world
                    .projects
                    .iter()
                    .any(|p| p.id == project && p.organization == org),
                "project {project} does not exist in {org}"
            );
        }
        let id = state::new_id("varset-");
        world.varsets.push(StoredVarset {
            id: id.clone(),
            name: name.to_owned(),
            description: String::new(),
            global: false,
            priority: false,
            organization: org.to_owned(),
            parent_project: parent_project.map(str::to_owned),
            workspace_ids: Vec::new(),
            project_ids: parent_project.map(str::to_owned).into_iter().collect(),
            vars: vars
                .iter()
                .map(|(key, value, category)| {
                    StoredVar::new(seed_input(key, value, category, false))
                })
                .collect(),
            updated_at: SystemTime::now(),
        });
        id
    }

    /// Adds a variable to an existing set, sensitive if asked (its value is then write-only).
    pub fn seed_var(
        &self,
        varset_id: &str,
        key: &str,
        value: &str,
        category: &str,
        sensitive: bool,
    ) -> String {
        let mut world = self.inner.world();
        let vs = world
            .varsets
            .iter_mut()
            .find(|vs| vs.id == varset_id)
            .unwrap_or_else(|| panic!("variable set {varset_id} does not exist"));
        assert!(
            !vs.key_taken(key, category, None),
            "{key} ({category}) is already in {varset_id}"
        );
        let var = StoredVar::new(seed_input(key, value, category, sensitive));
        let id = var.var.id.clone();
        vs.vars.push(var);
        vs.updated_at = SystemTime::now();
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

    /// Random faults on a share of all requests from now on (requests that match an injected
    /// fault get that one); `None` ends them.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.inner.chaos.lock().unwrap() = chaos.map(|c| Arc::new(chaos::Run::new(c)));
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

fn seed_input(key: &str, value: &str, category: &str, sensitive: bool) -> VarInput {
    VarInput {
        key: key.to_owned(),
        value: value.to_owned(),
        category: category.to_owned(),
        hcl: false,
        sensitive,
        description: String::new(),
    }
}
