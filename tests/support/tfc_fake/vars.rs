//! Variables inside a variable set.

use std::time::SystemTime;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::document::{
    parse_document, parse_var, primary, validate_category, validate_description, validate_key,
    validate_value, Attributes,
};
use super::render::{json_response, no_content, var_json, ApiError};
use super::state::{new_version_id, StoredVar, VarInput, World};
use super::varsets::global_conflict_error;

pub(super) fn show_var(world: &World, id: &str, var_id: &str) -> Result<Response, ApiError> {
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

pub(super) fn add_var(world: &mut World, id: &str, body: &[u8]) -> Result<Response, ApiError> {
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

pub(super) fn update_var(
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
    // The docs: a sensitive variable's value may be set, "but other attributes of a sensitive
    // variable cannot be modified" (delete and recreate instead), and it can never be made
    // non-sensitive. Re-sending an unchanged attribute is not a modification (clients such as
    // the tfe provider send every attribute on update), so only real changes are refused.
    if current.sensitive && sensitive == Some(false) {
        return Err(ApiError::invalid(
            "A sensitive variable cannot be made non-sensitive; delete it and create it again",
            "/data/attributes/sensitive",
        ));
    }
    let changes_more_than_value = key.as_ref().is_some_and(|k| k != &current.key)
        || category.as_ref().is_some_and(|c| c != &current.category)
        || description
            .as_ref()
            .is_some_and(|d| d != &current.description)
        || hcl.is_some_and(|h| h != current.hcl);
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

pub(super) fn delete_var(world: &mut World, id: &str, var_id: &str) -> Result<Response, ApiError> {
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

pub(super) fn check_no_duplicate_keys(
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
