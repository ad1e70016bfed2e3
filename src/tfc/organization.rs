//! The organization as the API token sees it.

use serde_json::Value;

use super::client::Tfc;
use crate::error::TfcError;

/// Whether the token may manage the organization's variable sets: the organization's
/// `permissions.can-manage-varsets`, which the organizations API returns computed for the
/// token that asks (HashiCorp's API docs and go-tfe's `OrganizationPermissions`). `None`
/// when the server does not report it (older Terraform Enterprise releases).
pub async fn may_manage_varsets(c: &Tfc<'_>) -> Result<Option<bool>, TfcError> {
    let doc = c
        .get(&format!("/organizations/{}", c.organization()), &[])
        .await?
        .ok_or_else(|| TfcError::Decode("GET /organizations: empty answer".into()))?;
    if doc.pointer("/data/attributes").is_none() {
        return Err(TfcError::Decode(
            "GET /organizations: no data.attributes".into(),
        ));
    }
    Ok(doc
        .pointer("/data/attributes/permissions/can-manage-varsets")
        .and_then(Value::as_bool))
}
