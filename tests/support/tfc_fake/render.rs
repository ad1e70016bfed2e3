//! Response documents: errors and the JSON:API shapes of each resource.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::state::{Project, StoredVar, StoredVarset, Workspace, World};
use super::JSONAPI;

pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) title: &'static str,
    pub(super) detail: Option<String>,
    pub(super) pointer: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, title: &'static str) -> ApiError {
        ApiError {
            status,
            title,
            detail: None,
            pointer: None,
        }
    }

    pub(super) fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub(super) fn pointer(mut self, pointer: impl Into<String>) -> ApiError {
        self.pointer = Some(pointer.into());
        self
    }

    pub(super) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }

    pub(super) fn invalid(detail: impl Into<String>, pointer: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid attribute")
            .detail(detail)
            .pointer(pointer)
    }

    pub(super) fn bad_document(detail: impl Into<String>, pointer: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid request document")
            .detail(detail)
            .pointer(pointer)
    }

    pub(super) fn into_response(self) -> Response {
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

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSONAPI));
    response
}

pub(super) fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub(super) fn status_error(code: u16) -> Response {
    let status = status_code(code);
    ApiError::new(status, status.canonical_reason().unwrap_or("error")).into_response()
}

pub(super) fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn varset_json(vs: &StoredVarset, full_vars: bool) -> Value {
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

pub(super) fn refs_json(type_name: &str, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| json!({"id": id, "type": type_name}))
        .collect()
}

pub(super) fn var_json(varset_id: &str, stored: &StoredVar) -> Value {
    let var = &stored.var;
    // A sensitive value is never returned, by any endpoint. The docs only say it cannot be
    // read; the OpenAPI schema makes `value` nullable and go-tfe's tests assert it is empty (a
    // Go string reads null as ""). null is the stricter reading: a client that takes `value`
    // for a string fails on it instead of comparing against "".
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

pub(super) fn workspace_json(ws: &Workspace) -> Value {
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

pub(super) fn project_json(world: &World, project: &Project) -> Value {
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

/// UTC timestamp with milliseconds, the format of `updated-at`/`created-at` in real responses.
pub(super) fn rfc3339(time: SystemTime) -> String {
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
