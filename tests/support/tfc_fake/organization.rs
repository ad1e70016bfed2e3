//! The organization as the token sees it (`GET /organizations/:name`), and what the token may
//! do with variable sets.
//!
//! The organizations API computes `permissions` for the token that asks; go-tfe and
//! HashiCorp's sample responses list `can-manage-varsets` and `can-read-varsets` among them.
//! Which teams may manage organization-owned sets is documented (owners, "Manage all
//! projects", "Manage all workspaces"); what the API does when a token without that
//! permission writes one is not, beyond "forbidden requests with a valid token result in a
//! 404", so that is what every variable-set write gets here.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::render::{json_response, ApiError};
use super::state::World;
use super::TokenAccess;

pub(super) fn show_organization(
    world: &World,
    org: &str,
    access: TokenAccess,
) -> Result<Response, ApiError> {
    if !world.has_org(org) {
        return Err(ApiError::not_found());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": organization_json(org, access)}),
    ))
}

/// Whether the token may make this change: only variable-set writes are refused.
pub(super) fn write_allowed(access: TokenAccess, segments: &[&str]) -> bool {
    let varsets = matches!(segments, ["organizations", _, "varsets"] | ["varsets", ..]);
    !varsets || access != TokenAccess::ReadVarsets
}

fn organization_json(org: &str, access: TokenAccess) -> Value {
    let manage = access != TokenAccess::ReadVarsets;
    let mut permissions = json!({
        "can-update": manage,
        "can-destroy": false,
        "can-access-via-teams": true,
        "can-create-module": manage,
        "can-create-team": manage,
        "can-create-workspace": manage,
        "can-manage-users": false,
        "can-manage-subscription": false,
        "can-manage-sso": false,
        "can-update-oauth": manage,
        "can-update-sentinel": manage,
        "can-update-ssh-keys": manage,
        "can-update-api-token": false,
        "can-traverse": true,
        "can-start-trial": false,
        "can-update-agent-pools": manage,
        "can-manage-tags": manage,
        "can-manage-varsets": manage,
        "can-read-varsets": true,
        "can-manage-public-providers": false,
        "can-create-provider": manage,
        "can-manage-public-modules": false,
        "can-manage-custom-providers": manage,
        "can-manage-run-tasks": manage,
        "can-read-run-tasks": true,
        "can-create-project": manage,
    });
    if access == TokenAccess::Unreported {
        if let Some(map) = permissions.as_object_mut() {
            map.remove("can-manage-varsets");
            map.remove("can-read-varsets");
        }
    }
    json!({
        "id": org,
        "type": "organizations",
        "attributes": {
            "name": org,
            "external-id": format!("org-{org}"),
            "email": format!("admin@{org}.example"),
            "collaborator-auth-policy": "password",
            "cost-estimation-enabled": false,
            "permissions": permissions,
        },
        "relationships": {
            "default-project": {"data": null},
        },
        "links": {"self": format!("/api/v2/organizations/{org}")},
    })
}
