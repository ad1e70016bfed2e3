//! The Terraform Cloud token: valid (not 401), in the configured organization (not 404), and
//! allowed to manage its variable sets (the organization's `can-manage-varsets`).

use tokio::time::Instant;

use super::{aws_fix, Check};
use crate::config::TokenSource;
use crate::error::TfcError;
use crate::onboard::Onboarder;
use crate::tfc::organization;

const NAME: &str = "terraform cloud";
/// The teams whose tokens may manage organization-owned variable sets (HashiCorp's
/// "Manage variable sets" permissions).
const WHO_MAY: &str = "a team token of a team with the organization permission \"Manage all projects\" or \"Manage all workspaces\", or of the owners team";

pub(super) async fn check(ob: &Onboarder, until: Instant) -> Check {
    let org = ob.cfg.organization.as_str();
    let put_token = match &ob.cfg.token {
        TokenSource::Inline(_) => "set TFE_TOKEN to it".to_owned(),
        TokenSource::SecretsManager(id) => format!(
            "store it in the secret {id} as the README's Deploy step 3 does (aws secretsmanager put-secret-value --secret-id {id} --secret-string file:///dev/stdin)"
        ),
    };
    match organization::may_manage_varsets(&ob.tfc(until)).await {
        Ok(Some(true)) => Check::pass(
            NAME,
            format!("the token may manage variable sets in organization {org}"),
        ),
        Ok(Some(false)) => Check::fail(
            NAME,
            format!("the token may not manage variable sets in organization {org} (can-manage-varsets is false), so every onboarding would fail at the variable set"),
            format!("create {WHO_MAY}, and {put_token}"),
        ),
        // Not reported (older Terraform Enterprise): the stricter reading, since nothing
        // else tells without writing.
        Ok(None) => Check::fail(
            NAME,
            format!("Terraform Cloud does not say whether the token may manage variable sets in organization {org} (no can-manage-varsets in the organization's permissions)"),
            format!("make sure the token is {WHO_MAY}; doctor cannot confirm it on this server"),
        ),
        Err(TfcError::Unauthorized) => Check::fail(
            NAME,
            "Terraform Cloud rejected the API token (401): it is invalid, expired or revoked",
            format!("create a new token ({WHO_MAY}) and {put_token}"),
        ),
        Err(TfcError::NotFound { .. }) => Check::fail(
            NAME,
            format!("organization {org} not found, or the token cannot see it (404)"),
            format!("check TFE_ORGANIZATION (infra variable tfe_organization) against the organization's name in Terraform Cloud, and that the token belongs to that organization: {WHO_MAY} of {org}"),
        ),
        Err(TfcError::Token(e)) => {
            let fix = if e.has_code("ResourceNotFoundException") || e.has_code("InvalidRequestException") {
                format!("create the token and {put_token}")
            } else {
                aws_fix(&e)
            };
            Check::fail(NAME, format!("the API token could not be read: {e}"), fix)
        }
        Err(e @ (TfcError::Transport { .. } | TfcError::Unavailable { .. } | TfcError::RateLimited { .. })) => Check::fail(
            NAME,
            format!("Terraform Cloud at {} could not be asked: {e}", ob.cfg.tfe_address),
            "check TFE_ADDRESS / TFE_HOSTNAME and that the function can reach it (network egress), then run doctor again",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("Terraform Cloud at {} gave an unexpected answer: {e}", ob.cfg.tfe_address),
            "check TFE_ADDRESS / TFE_HOSTNAME: they must name the Terraform Cloud or Terraform Enterprise API",
        ),
    }
}
