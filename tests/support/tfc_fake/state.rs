//! The fake's stored world: organizations, projects, workspaces, variable sets and the log.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use super::render::ApiError;
use super::{Fault, RecordedRequest, Var, Varset};

#[derive(Default)]
pub(super) struct World {
    pub(super) organizations: Vec<String>,
    pub(super) projects: Vec<Project>,
    pub(super) workspaces: Vec<Workspace>,
    pub(super) varsets: Vec<StoredVarset>,
    pub(super) faults: Vec<Fault>,
    pub(super) log: Vec<LogEntry>,
    pub(super) admitted: VecDeque<Instant>,
}

pub(super) struct Project {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) organization: String,
}

pub(super) struct Workspace {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) organization: String,
    pub(super) project_id: String,
}

pub(super) struct StoredVarset {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) global: bool,
    pub(super) priority: bool,
    pub(super) organization: String,
    pub(super) parent_project: Option<String>,
    pub(super) workspace_ids: Vec<String>,
    pub(super) project_ids: Vec<String>,
    pub(super) vars: Vec<StoredVar>,
    pub(super) updated_at: SystemTime,
}

pub(super) struct StoredVar {
    pub(super) var: Var,
    pub(super) created_at: SystemTime,
    pub(super) version_id: String,
}

pub(super) struct LogEntry {
    pub(super) request: RecordedRequest,
    pub(super) write_reached_handler: bool,
}

impl World {
    pub(super) fn require_org(&self, org: &str) {
        assert!(
            self.has_org(org),
            "organization {org} does not exist in the fake"
        );
    }

    pub(super) fn has_org(&self, org: &str) -> bool {
        self.organizations.iter().any(|o| o == org)
    }

    pub(super) fn project_named(&mut self, org: &str, name: &str) -> String {
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

    pub(super) fn varset_index(&self, id: &str) -> Result<usize, ApiError> {
        self.varsets
            .iter()
            .position(|vs| vs.id == id)
            .ok_or_else(ApiError::not_found)
    }

    /// Global sets may not hold the same (key, category) as another global set of the org.
    pub(super) fn global_conflict(
        &self,
        org: &str,
        except_varset: &str,
        key: &str,
        category: &str,
    ) -> bool {
        self.varsets
            .iter()
            .filter(|vs| vs.global && vs.organization == org && vs.id != except_varset)
            .flat_map(|vs| vs.vars.iter())
            .any(|v| v.var.key == key && v.var.category == category)
    }

    pub(super) fn resolve_refs(
        &self,
        kind: RefKind,
        org: &str,
        ids: &[String],
    ) -> Result<(), ApiError> {
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
    pub(super) fn public(&self) -> Varset {
        Varset {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            global: self.global,
            priority: self.priority,
            organization: self.organization.clone(),
            parent_project: self.parent_project.clone(),
            workspace_ids: self.workspace_ids.clone(),
            project_ids: self.project_ids.clone(),
            vars: self.vars.iter().map(|v| v.var.clone()).collect(),
        }
    }

    pub(super) fn key_taken(&self, key: &str, category: &str, except_var: Option<&str>) -> bool {
        self.vars.iter().any(|v| {
            v.var.key == key && v.var.category == category && Some(v.var.id.as_str()) != except_var
        })
    }
}

impl StoredVar {
    pub(super) fn new(input: VarInput) -> StoredVar {
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
pub(super) enum RefKind {
    Workspaces,
    Projects,
}

impl RefKind {
    pub(super) fn type_name(self) -> &'static str {
        match self {
            RefKind::Workspaces => "workspaces",
            RefKind::Projects => "projects",
        }
    }
}

pub(super) struct VarInput {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) category: String,
    pub(super) hcl: bool,
    pub(super) sensitive: bool,
    pub(super) description: String,
}

pub(super) fn new_id(prefix: &str) -> String {
    let mut id = prefix.to_owned();
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(16));
    id
}

pub(super) fn new_version_id() -> String {
    std::iter::repeat_with(|| fastrand::digit(16))
        .take(32)
        .collect()
}
