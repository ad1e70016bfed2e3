//! Variable sets and their variables. Sets are found by exact name (the API's `q` is a partial
//! match) and told apart by owner (`relationships.parent`), created with their variables in
//! one request whose answer is checked, and adopted after an ambiguous create.

use std::future::Future;

use serde_json::{json, Value};

use super::client::{Tfc, MAX_ATTEMPTS};
use crate::domain::VarsetName;
use crate::error::TfcError;
use crate::policy::{ActualVar, DesiredVar};

/// Who owns a set. The organization's list also holds the sets its projects own, and a
/// project admin may name one like this tool's: only the organization's may be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Organization,
    /// The owning project's id.
    Project(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarsetSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub global: bool,
    pub owner: Owner,
}

/// Marks sets this tool created, so offboarding only deletes those.
pub const DESCRIPTION_PREFIX: &str = "Managed by tfc-onboarder";

fn summary(item: &Value) -> Option<VarsetSummary> {
    let attrs = item.get("attributes")?;
    Some(VarsetSummary {
        id: item.get("id")?.as_str()?.to_owned(),
        name: attrs.get("name")?.as_str()?.to_owned(),
        description: attrs
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        global: attrs
            .get("global")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        owner: owner(item),
    })
}

/// A set without `relationships.parent` comes from a server that predates project-owned sets
/// (older Terraform Enterprise releases), where the organization owns every set.
fn owner(item: &Value) -> Owner {
    match item.pointer("/relationships/parent/data") {
        Some(parent) if parent.get("type").and_then(Value::as_str) == Some("projects") => {
            Owner::Project(
                parent
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
            )
        }
        _ => Owner::Organization,
    }
}

/// Of two sets with one name, the organization's. Names are unique per organization, but
/// should a server keep them per owner, a project's namesake must not hide the real one.
pub fn prefer(a: VarsetSummary, b: VarsetSummary) -> VarsetSummary {
    if a.owner != Owner::Organization && b.owner == Owner::Organization {
        b
    } else {
        a
    }
}

/// "project `name` (prj-…)" for a project-owned set, `None` for the organization's. The name
/// is only for the operator, so a project that cannot be read is named by its id.
pub async fn project_owner(c: &Tfc<'_>, set: &VarsetSummary) -> Option<String> {
    let Owner::Project(id) = &set.owner else {
        return None;
    };
    let name = c
        .get(&format!("/projects/{id}"), &[])
        .await
        .ok()
        .flatten()
        .and_then(|doc| {
            doc.pointer("/data/attributes/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    Some(match name {
        Some(name) => format!("project `{name}` ({id})"),
        None => format!("project {id}"),
    })
}

fn org_path(c: &Tfc<'_>, rest: &str) -> String {
    format!("/organizations/{}/{rest}", c.organization())
}

/// A 404 on an organization-level path means the organization is unknown *or* the token may
/// not manage variable sets; say both.
fn org_scoped(c: &Tfc<'_>, e: TfcError) -> TfcError {
    match e {
        TfcError::NotFound { .. } => TfcError::OrganizationNotFound(c.organization().to_owned()),
        other => other,
    }
}

/// Every set of the organization, its projects' included (one listing serves a whole sweep).
pub async fn list_all(c: &Tfc<'_>) -> Result<Vec<VarsetSummary>, TfcError> {
    let items = c
        .list_all(&org_path(c, "varsets"), &[])
        .await
        .map_err(|e| org_scoped(c, e))?;
    Ok(items.iter().filter_map(summary).collect())
}

/// The set with exactly this name, the organization's if there is one. The listing keeps
/// project-owned sets (no `scope=owned`) so that a namesake is reported, not overlooked.
pub async fn find(c: &Tfc<'_>, name: &VarsetName) -> Result<Option<VarsetSummary>, TfcError> {
    let items = c
        .list_all(&org_path(c, "varsets"), &[("q", name.as_str().to_owned())])
        .await
        .map_err(|e| org_scoped(c, e))?;
    Ok(items
        .iter()
        .filter_map(summary)
        .filter(|s| s.name == name.as_str())
        .reduce(prefer))
}

fn var_attributes(v: &DesiredVar) -> Value {
    json!({"key": v.key, "value": v.value, "category": "env", "hcl": false, "sensitive": false,
           "description": "Managed by tfc-onboarder"})
}

fn is_duplicate(e: &TfcError) -> bool {
    matches!(e, TfcError::Rejected { status: 422, detail } if detail.contains("already been taken"))
}

/// A POST that failed this way may still have been applied.
fn is_ambiguous(e: &TfcError) -> bool {
    matches!(e, TfcError::Unavailable { .. } | TfcError::Transport { .. })
}

/// What a POST whose answer may not tell whether it landed came to.
enum Settled<T> {
    /// The server's answer.
    Answered(Option<Value>),
    /// The POST failed ambiguously (a 5xx, a dropped or timed-out connection) or with a 422
    /// "already been taken" (`duplicate`), and looking found the thing there.
    Found { found: T, duplicate: bool },
}

/// POSTs `body` until its fate is known. After an ambiguous failure or a 422 "already been
/// taken", `look` checks whether the thing is there. When it is not, the POST provably did
/// not land and is sent again, after the same backoff and within the same number of attempts
/// as any idempotent request. The server refuses a second set of one name, or a second
/// variable of one key, so repeating never makes a duplicate.
async fn post_settled<T, F, Fut>(
    c: &Tfc<'_>,
    path: &str,
    body: &Value,
    look: F,
) -> Result<Settled<T>, TfcError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, TfcError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match c.post(path, body).await {
            Ok(answer) => return Ok(Settled::Answered(answer)),
            Err(e) if is_duplicate(&e) || is_ambiguous(&e) => e,
            Err(e) => return Err(e),
        };
        tracing::info!(path, attempt, error = %e, "the POST may have happened; looking");
        if let Some(found) = look().await? {
            let duplicate = is_duplicate(&e);
            return Ok(Settled::Found { found, duplicate });
        }
        if attempt >= MAX_ATTEMPTS {
            return Err(e);
        }
        c.pause(attempt).await;
    }
}

/// What a create came to.
#[derive(Debug)]
pub enum Creation {
    /// Created by this request, with the variables the server stored.
    Created {
        set: VarsetSummary,
        vars: Vec<ActualVar>,
    },
    /// The set was there already (a concurrent create, or ours whose answer was lost); the
    /// caller checks it may be adopted, then converges its variables.
    Found(VarsetSummary),
}

/// Creates an organization-owned, non-global set with its variables in one request. After a
/// 422 "already been taken" or an ambiguous failure it lists again and returns the set that is
/// there, or creates it again when it is not (see [`post_settled`]).
pub async fn create(
    c: &Tfc<'_>,
    name: &VarsetName,
    description: &str,
    vars: &[DesiredVar],
) -> Result<Creation, TfcError> {
    let body = json!({"data": {
        "type": "varsets",
        "attributes": {"name": name.as_str(), "description": description, "global": false, "priority": false},
        "relationships": {"vars": {"data": vars.iter().map(|v| json!({"type": "vars", "attributes": var_attributes(v)})).collect::<Vec<_>>()}}
    }});
    let settled = post_settled(c, &org_path(c, "varsets"), &body, || find(c, name))
        .await
        .map_err(|e| org_scoped(c, e))?;
    let doc = match settled {
        Settled::Found { found, .. } => return Ok(Creation::Found(found)),
        Settled::Answered(Some(doc)) => doc,
        Settled::Answered(None) => {
            return Err(TfcError::Decode(
                "created variable set: empty response".into(),
            ))
        }
    };
    let set = doc
        .get("data")
        .and_then(summary)
        .ok_or_else(|| TfcError::Decode("created variable set without id/name".into()))?;
    let vars = match stored_inline(&doc) {
        Some(vars) => vars,
        None => list_vars(c, &set.id).await?,
    };
    Ok(Creation::Created { set, vars })
}

/// The variables a create's answer says were stored. Variables inline with a create are
/// documented, but go-tfe never sends them, so no well-used client proves a server keeps them.
/// The docs' sample answer lists every stored variable with its attributes, which is evidence
/// enough (and costs no request); an answer without the `vars` relationship, or with bare
/// references as Show gives them, is not, and the set's variables are read back instead.
fn stored_inline(doc: &Value) -> Option<Vec<ActualVar>> {
    doc.pointer("/data/relationships/vars/data")?
        .as_array()?
        .iter()
        .map(actual_var)
        .collect()
}

pub async fn delete(c: &Tfc<'_>, id: &str) -> Result<(), TfcError> {
    match c.delete(&format!("/varsets/{id}"), None).await {
        Ok(_) | Err(TfcError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn actual_var(item: &Value) -> Option<ActualVar> {
    let attrs = item.get("attributes")?;
    let sensitive = attrs
        .get("sensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some(ActualVar {
        id: item.get("id")?.as_str()?.to_owned(),
        key: attrs.get("key")?.as_str()?.to_owned(),
        // A sensitive value is never returned (null, or "" by some readings): unknown, not empty.
        value: attrs
            .get("value")
            .and_then(Value::as_str)
            .filter(|_| !sensitive)
            .map(str::to_owned),
        category: attrs
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        sensitive,
    })
}

pub async fn list_vars(c: &Tfc<'_>, varset_id: &str) -> Result<Vec<ActualVar>, TfcError> {
    let items = c
        .list_all(&format!("/varsets/{varset_id}/relationships/vars"), &[])
        .await?;
    Ok(items.iter().filter_map(actual_var).collect())
}

/// What adding a variable came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Stored by this request (or by this request whose answer was lost).
    Created,
    /// Someone else had added it meanwhile, with this value.
    AlreadySet,
    /// It was there with another value, or with a sensitive one that cannot be compared, and
    /// its value was rewritten.
    Rewritten { sensitive: bool },
}

/// Adds a variable. A duplicate key (a concurrent writer) or an ambiguous failure (the add may
/// have landed) is settled by reading the set: the variable there is kept, or its value
/// rewritten under the same rules as any update; one that is not there is added again.
pub async fn add_var(c: &Tfc<'_>, varset_id: &str, var: &DesiredVar) -> Result<Added, TfcError> {
    let path = format!("/varsets/{varset_id}/relationships/vars");
    let body = json!({"data": {"type": "vars", "attributes": var_attributes(var)}});
    let look = || async {
        let existing = list_vars(c, varset_id).await?;
        Ok(existing
            .into_iter()
            .find(|v| v.key == var.key && v.category == "env"))
    };
    match post_settled(c, &path, &body, look).await? {
        Settled::Answered(_) => Ok(Added::Created),
        // After a 422 someone else wrote it; after an unanswered add, most likely we did.
        Settled::Found { found, duplicate }
            if found.value.as_deref() == Some(var.value.as_str()) =>
        {
            Ok(if duplicate {
                Added::AlreadySet
            } else {
                Added::Created
            })
        }
        Settled::Found { found, .. } => {
            update_var(c, varset_id, &found.id, var).await?;
            Ok(Added::Rewritten {
                sensitive: found.sensitive,
            })
        }
    }
}

/// Sends only the value. Terraform Cloud refuses to change any other attribute of a sensitive
/// variable, and never lets one become non-sensitive; the operator's choice of sensitivity
/// (and description, HCL flag) is theirs to keep.
pub async fn update_var(
    c: &Tfc<'_>,
    varset_id: &str,
    var_id: &str,
    var: &DesiredVar,
) -> Result<(), TfcError> {
    let body = json!({"data": {"type": "vars", "id": var_id, "attributes": {"value": var.value}}});
    c.patch(
        &format!("/varsets/{varset_id}/relationships/vars/{var_id}"),
        &body,
    )
    .await
    .map(|_| ())
}

pub async fn delete_var(c: &Tfc<'_>, varset_id: &str, var_id: &str) -> Result<(), TfcError> {
    match c
        .delete(
            &format!("/varsets/{varset_id}/relationships/vars/{var_id}"),
            None,
        )
        .await
    {
        Ok(_) | Err(TfcError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Workspace and project ids the set is applied to.
pub async fn attachments(
    c: &Tfc<'_>,
    varset_id: &str,
) -> Result<(Vec<String>, Vec<String>), TfcError> {
    let doc = c
        .get(&format!("/varsets/{varset_id}"), &[])
        .await?
        .unwrap_or(Value::Null);
    let ids = |rel: &str| -> Vec<String> {
        doc.pointer(&format!("/data/relationships/{rel}/data"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok((ids("workspaces"), ids("projects")))
}

pub async fn workspace_id(c: &Tfc<'_>, name: &str) -> Result<String, TfcError> {
    let path = org_path(
        c,
        &format!(
            "workspaces/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        ),
    );
    match c.get(&path, &[]).await {
        Ok(doc) => doc
            .as_ref()
            .and_then(|d| d.pointer("/data/id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TfcError::Decode(format!("workspace {name}: no id"))),
        Err(TfcError::NotFound { .. }) => Err(TfcError::NotFound {
            what: format!("workspace `{name}` in organization {}", c.organization()),
        }),
        Err(e) => Err(e),
    }
}

pub async fn project_id(c: &Tfc<'_>, name: &str) -> Result<String, TfcError> {
    let items = c
        .list_all(
            &org_path(c, "projects"),
            &[("filter[names]", name.to_owned())],
        )
        .await
        .map_err(|e| org_scoped(c, e))?;
    items
        .iter()
        .find(|p| {
            p.pointer("/attributes/name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| TfcError::NotFound {
            what: format!("project `{name}` in organization {}", c.organization()),
        })
}

/// Applies the set to more workspaces or projects (`kind` = "workspaces" | "projects");
/// additive, never removes an existing attachment.
pub async fn apply_to(
    c: &Tfc<'_>,
    varset_id: &str,
    kind: &str,
    ids: &[String],
) -> Result<(), TfcError> {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": kind, "id": id}))
        .collect();
    c.post(
        &format!("/varsets/{varset_id}/relationships/{kind}"),
        &json!({"data": data}),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(parent: Value) -> Value {
        json!({"id": "varset-1", "type": "varsets",
               "attributes": {"name": "aws-1", "global": false},
               "relationships": {"parent": parent}})
    }

    #[test]
    fn the_parent_says_who_owns_a_set() {
        let owner_of = |doc: Value| summary(&doc).map(|s| s.owner);
        assert_eq!(
            owner_of(set(json!({"data": {"id": "prj-1", "type": "projects"}}))),
            Some(Owner::Project("prj-1".into()))
        );
        assert_eq!(
            owner_of(set(
                json!({"data": {"id": "acme", "type": "organizations"}})
            )),
            Some(Owner::Organization)
        );
        // Servers without project-owned sets send no parent at all.
        assert_eq!(owner_of(set(json!(null))), Some(Owner::Organization));
    }

    #[test]
    fn the_organizations_set_wins_over_a_projects_namesake() {
        let org = summary(&set(
            json!({"data": {"id": "acme", "type": "organizations"}}),
        ))
        .unwrap();
        let prj = summary(&set(json!({"data": {"id": "prj-1", "type": "projects"}}))).unwrap();
        assert_eq!(prefer(prj.clone(), org.clone()), org);
        assert_eq!(prefer(org.clone(), prj.clone()), org);
        assert_eq!(prefer(prj.clone(), prj.clone()), prj);
    }

    #[test]
    fn a_create_answer_counts_only_with_the_variables_attributes() {
        let answer =
            |vars: Value| json!({"data": {"id": "varset-1", "relationships": {"vars": vars}}});
        let full = answer(json!({"data": [
            {"id": "var-1", "type": "vars", "attributes": {"key": "K", "value": "v", "category": "env"}},
            {"id": "var-2", "type": "vars", "attributes": {"key": "S", "value": null, "category": "env", "sensitive": true}},
        ]}));
        let vars = stored_inline(&full).expect("attributes present");
        assert_eq!(vars.len(), 2);
        assert_eq!(vars[0].value.as_deref(), Some("v"));
        assert_eq!((vars[1].value.as_deref(), vars[1].sensitive), (None, true));
        assert_eq!(
            stored_inline(&answer(json!({"data": []}))).map(|v| v.len()),
            Some(0)
        );
        let bare = answer(json!({"data": [{"id": "var-1", "type": "vars"}]}));
        assert!(stored_inline(&bare).is_none(), "bare references: read back");
        assert!(stored_inline(&json!({"data": {"id": "varset-1"}})).is_none());
    }

    #[test]
    fn a_sensitive_value_is_unknown_even_when_sent_as_empty() {
        let var = json!({"id": "var-1", "attributes": {"key": "K", "value": "", "category": "env", "sensitive": true}});
        assert_eq!(actual_var(&var).unwrap().value, None);
    }
}
