//! Variable sets: create, show, update, delete, and applying them to workspaces and projects.

use std::time::SystemTime;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::document::{parse_document, parse_refs, primary, Attributes, Relationships};
use super::lists::Query;
use super::render::{
    json_response, no_content, project_json, var_json, varset_json, workspace_json, ApiError,
};
use super::state::{new_id, RefKind, StoredVar, StoredVarset, World};
use super::vars::check_no_duplicate_keys;

pub(super) fn create_varset(
    world: &mut World,
    org: &str,
    body: &[u8],
    ignore_inline_vars: bool,
) -> Result<Response, ApiError> {
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
    // go-tfe never sends `relationships.vars` and the schema lists only key, value and
    // category there: a server may well drop them, which `FakeOptions` can model.
    let vars = if ignore_inline_vars {
        Vec::new()
    } else {
        rels.vars()?
    };
    let mut workspace_ids = rels.refs(RefKind::Workspaces)?.unwrap_or_default();
    let mut project_ids = rels.refs(RefKind::Projects)?.unwrap_or_default();
    let parent_project = rels.parent_project(org)?;
    check_no_duplicate_keys(&vars, &[])?;
    check_name_free(world, org, &name, None)?;
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

pub(super) fn show_varset(world: &World, id: &str, query: &Query) -> Result<Response, ApiError> {
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

pub(super) fn update_varset(
    world: &mut World,
    id: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    let doc = parse_document(body)?;
    let data = primary(&doc, "varsets")?;
    let attrs = Attributes::of(data, "/data")?;
    let name = attrs.str("name")?;
    let description = attrs.str("description")?;
    let global = attrs.bool("global")?;
    let priority = attrs.bool("priority")?;
    let rels = Relationships::of(data)?;
    // The docs: the parent "cannot be changed"; they are silent on re-sending the same parent,
    // so (stricter) any parent in an update is refused.
    if rels.data("parent")?.is_some() {
        return Err(ApiError::invalid(
            "The parent of a variable set cannot be changed; delete the set and recreate it",
            "/data/relationships/parent",
        ));
    }
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
        check_name_free(world, &org, name, Some(id))?;
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

/// Names are unique per organization (a 422 "Name has already been taken"). Whether a
/// project-owned set's name collides with the organization's sets is not documented; the
/// stricter reading is taken: one namespace for every set of the organization, whoever owns it.
fn check_name_free(
    world: &World,
    org: &str,
    name: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let taken = world
        .varsets
        .iter()
        .any(|vs| vs.organization == org && vs.name == name && Some(vs.id.as_str()) != except);
    if taken {
        Err(ApiError::invalid(
            "Name has already been taken",
            "/data/attributes/name",
        ))
    } else {
        Ok(())
    }
}

pub(super) fn delete_varset(world: &mut World, id: &str) -> Result<Response, ApiError> {
    let index = world.varset_index(id)?;
    world.varsets.remove(index);
    Ok(no_content())
}

pub(super) fn attach(
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

pub(super) fn show_workspace(world: &World, org: &str, name: &str) -> Result<Response, ApiError> {
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

/// `GET /projects/:project_id`, which the onboarder uses to name the owner of a set.
pub(super) fn show_project(world: &World, id: &str) -> Result<Response, ApiError> {
    let project = world
        .projects
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": project_json(world, project)}),
    ))
}

pub(super) fn check_global_conflicts<'a>(
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

pub(super) fn global_conflict_error(key: &str) -> ApiError {
    ApiError::invalid(
        format!("Key {key} conflicts with a variable in another global variable set"),
        "/data/attributes/key",
    )
}

pub(super) fn dedup(ids: &mut Vec<String>) {
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
