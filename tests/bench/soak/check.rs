//! The end state, read straight from moto and the Terraform Cloud fake (never from the
//! function's reports), and judged: is each managed account complete, is everything else as
//! it was, is anything there twice?

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde_json::Value;

use super::super::support::env::expected_trust_policy;
use super::super::support::moto::Moto;
use super::super::support::tfc_fake::{TfcFake, Var, Varset};
use super::super::ORG;
use super::world::{World, ADMIN, AUDIENCE, REGION, ROLE, SUB, TOOL_KEYS};

/// Everything an account's IAM holds that the soak looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Iam {
    /// Role name -> (trust policy, attached policy ARNs in IAM's order).
    roles: BTreeMap<String, (Value, Vec<String>)>,
    /// Provider ARN -> client ids in IAM's order.
    providers: BTreeMap<String, Vec<String>>,
}

/// Both sides at one moment.
pub struct Snapshot {
    iam: BTreeMap<String, Iam>,
    sets: Vec<Varset>,
}

pub async fn snapshot(world: &World, moto: &Moto, tfc: &TfcFake) -> Result<Snapshot, String> {
    let read: Vec<Result<(String, Iam), String>> = futures::stream::iter(&world.accounts)
        .map(|a| async move {
            let iam = world.iam(moto, &a.id).await;
            read_iam(&iam).await.map(|state| (a.id.clone(), state))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    Ok(Snapshot {
        iam: read.into_iter().collect::<Result<_, _>>()?,
        sets: tfc.varsets(ORG),
    })
}

async fn read_iam(iam: &aws_sdk_iam::Client) -> Result<Iam, String> {
    let mut state = Iam::default();
    let roles = iam
        .list_roles()
        .max_items(1000)
        .send()
        .await
        .map_err(|e| format!("ListRoles: {e}"))?;
    for role in roles.roles() {
        let name = role.role_name().to_owned();
        let trust = role
            .assume_role_policy_document()
            .map(|doc| {
                percent_encoding::percent_decode_str(doc)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .and_then(|doc| serde_json::from_str(&doc).ok())
            .unwrap_or(Value::Null);
        let attached = iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| format!("ListAttachedRolePolicies {name}: {e}"))?;
        let policies = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        state.roles.insert(name, (trust, policies));
    }
    let providers = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| format!("ListOpenIDConnectProviders: {e}"))?;
    for arn in providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
    {
        let provider = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(|e| format!("GetOpenIDConnectProvider {arn}: {e}"))?;
        state
            .providers
            .insert(arn.to_owned(), provider.client_id_list().to_vec());
    }
    Ok(state)
}

/// What a check found.
#[derive(Default)]
pub struct Verdict {
    /// Managed accounts in the complete, documented end state.
    pub complete: BTreeSet<String>,
    /// Managed accounts that are not, with the first thing missing.
    pub incomplete: BTreeMap<String, String>,
    /// Opted-out and unreachable accounts changed in any way.
    pub touched: BTreeMap<String, String>,
    pub duplicates: Vec<String>,
    /// Other owners' objects changed or removed.
    pub foreign_changed: Vec<String>,
}

impl Verdict {
    pub fn converged(&self) -> bool {
        self.incomplete.is_empty() && self.touched.is_empty()
    }
}

/// Judges `now` against the state the soak started from.
pub fn judge(world: &World, before: &Snapshot, now: &Snapshot) -> Verdict {
    let mut verdict = Verdict::default();
    let set_of = |snap: &Snapshot, id: &str| -> Vec<Varset> {
        let name = format!("aws-{id}");
        snap.sets
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    };
    for account in &world.accounts {
        let id = account.id.as_str();
        let (was, is) = (&before.iam[id], &now.iam[id]);
        let (set_was, set_is) = (set_of(before, id), set_of(now, id));
        if set_is.len() > 1 {
            verdict
                .duplicates
                .push(format!("{} sets named aws-{id}", set_is.len()));
        }
        for set in &set_is {
            duplicate_vars(set, &mut verdict.duplicates);
        }
        duplicate_iam(id, is, &mut verdict.duplicates);
        if !account.class.managed() {
            let same_sets = set_was == set_is;
            if was != is || !same_sets {
                let what = if same_sets { "IAM" } else { "its variable set" };
                verdict.touched.insert(
                    id.to_owned(),
                    format!("{} account: {what} changed", account.class.label()),
                );
            }
            continue;
        }
        foreign_in_account(id, was, is, &mut verdict.foreign_changed);
        if let (Some(was), Some(is)) = (set_was.first(), set_is.first()) {
            foreign_vars(was, is, &mut verdict.foreign_changed);
        }
        match missing(id, is, set_is.first()) {
            Some(what) => {
                verdict.incomplete.insert(id.to_owned(), what);
            }
            None => {
                verdict.complete.insert(id.to_owned());
            }
        }
    }
    let accounts: BTreeSet<String> = world
        .accounts
        .iter()
        .map(|a| format!("aws-{}", a.id))
        .collect();
    for set in before.sets.iter().filter(|s| !accounts.contains(&s.name)) {
        match now.sets.iter().find(|s| s.id == set.id) {
            Some(now) if now == set => {}
            Some(_) => verdict
                .foreign_changed
                .push(format!("set {} changed", set.name)),
            None => verdict
                .foreign_changed
                .push(format!("set {} removed", set.name)),
        }
    }
    verdict
}

/// The first thing that keeps a managed account from its documented end state, if any.
fn missing(account: &str, iam: &Iam, set: Option<&Varset>) -> Option<String> {
    let provider = format!("arn:aws:iam::{account}:oidc-provider/app.terraform.io");
    let Some(client_ids) = iam.providers.get(&provider) else {
        return Some("no OIDC provider".into());
    };
    if client_ids.iter().filter(|c| *c == AUDIENCE).count() != 1 {
        return Some(format!("provider client ids {client_ids:?}"));
    }
    let Some((trust, policies)) = iam.roles.get(ROLE) else {
        return Some("no role".into());
    };
    if *trust != expected_trust_policy(account, SUB) {
        return Some(format!("trust policy {trust}"));
    }
    if policies.iter().filter(|p| *p == ADMIN).count() != 1 {
        return Some(format!("role policies {policies:?}"));
    }
    let Some(set) = set else {
        return Some("no variable set".into());
    };
    let role_arn = format!("arn:aws:iam::{account}:role/{ROLE}");
    let expected = [
        ("TFC_AWS_PROVIDER_AUTH", "true"),
        ("TFC_AWS_RUN_ROLE_ARN", role_arn.as_str()),
        ("AWS_DEFAULT_REGION", REGION),
    ];
    for (key, value) in expected {
        let found: Vec<&Var> = set
            .vars
            .iter()
            .filter(|v| v.key == key && v.category == "env")
            .collect();
        if found.len() != 1 || found[0].value != value {
            let values: Vec<&str> = found.iter().map(|v| v.value.as_str()).collect();
            return Some(format!("{key} = {values:?}"));
        }
    }
    None
}

/// Other owners' objects in a managed account: other roles, other policies on the role,
/// other providers, other client ids.
fn foreign_in_account(account: &str, was: &Iam, is: &Iam, changed: &mut Vec<String>) {
    for (name, (trust, policies)) in &was.roles {
        match is.roles.get(name) {
            None => changed.push(format!("{account}: role {name} removed")),
            Some((_, now)) if name == ROLE => {
                let others = |p: &Vec<String>| -> BTreeSet<String> {
                    p.iter().filter(|p| *p != ADMIN).cloned().collect()
                };
                if others(policies) != others(now) {
                    changed.push(format!(
                        "{account}: policies on {ROLE}: {policies:?} -> {now:?}"
                    ));
                }
            }
            Some(now) if *now != (trust.clone(), policies.clone()) => {
                changed.push(format!("{account}: role {name} changed"))
            }
            Some(_) => {}
        }
    }
    for (arn, ids) in &was.providers {
        let others = |ids: &[String]| -> Vec<String> {
            let mut o: Vec<String> = ids.iter().filter(|c| *c != AUDIENCE).cloned().collect();
            o.sort();
            o
        };
        match is.providers.get(arn) {
            None => changed.push(format!("{account}: provider {arn} removed")),
            Some(now) if others(now) != others(ids) => changed.push(format!(
                "{account}: client ids of {arn}: {ids:?} -> {now:?}"
            )),
            Some(_) => {}
        }
    }
}

/// Variables in the account's set that are not the function's.
fn foreign_vars(was: &Varset, is: &Varset, changed: &mut Vec<String>) {
    let foreign = |v: &&Var| !(v.category == "env" && TOOL_KEYS.contains(&v.key.as_str()));
    for var in was.vars.iter().filter(foreign) {
        if !is.vars.iter().any(|v| v == var) {
            changed.push(format!(
                "{}: variable {} ({}) changed or removed",
                was.name, var.key, var.category
            ));
        }
    }
}

/// IAM keeps names and provider URLs unique, so a twin would be another role in the
/// function's name (`terraform-cloud-…`) or another provider for the same issuer.
fn duplicate_iam(account: &str, iam: &Iam, duplicates: &mut Vec<String>) {
    let roles = iam
        .roles
        .keys()
        .filter(|n| n.starts_with(ROLE) && *n != ROLE);
    duplicates.extend(roles.map(|n| format!("{account}: a second role {n}")));
    let issuers = iam
        .providers
        .keys()
        .filter(|arn| arn.ends_with("/app.terraform.io"))
        .count();
    if issuers > 1 {
        duplicates.push(format!(
            "{account}: {issuers} providers for app.terraform.io"
        ));
    }
}

fn duplicate_vars(set: &Varset, duplicates: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for var in &set.vars {
        if !seen.insert((var.key.as_str(), var.category.as_str())) {
            duplicates.push(format!(
                "{}: {} ({}) twice",
                set.name, var.key, var.category
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn var(key: &str, value: &str, category: &str) -> Var {
        Var {
            id: format!("var-{key}-{category}"),
            key: key.into(),
            value: value.into(),
            category: category.into(),
            sensitive: false,
            hcl: false,
            description: String::new(),
        }
    }

    fn complete() -> (Iam, Varset) {
        let mut iam = Iam::default();
        iam.providers.insert(
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/app.terraform.io"),
            vec![AUDIENCE.into(), "sts.amazonaws.com".into()],
        );
        iam.roles.insert(
            ROLE.into(),
            (expected_trust_policy(ACCOUNT, SUB), vec![ADMIN.into()]),
        );
        iam.roles.insert(
            "platform-readonly".into(),
            (
                Value::Null,
                vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            ),
        );
        let set = Varset {
            id: "varset-1".into(),
            name: format!("aws-{ACCOUNT}"),
            description: String::new(),
            global: false,
            priority: false,
            organization: ORG.into(),
            parent_project: None,
            workspace_ids: Vec::new(),
            project_ids: Vec::new(),
            vars: vec![
                var("TFC_AWS_PROVIDER_AUTH", "true", "env"),
                var(
                    "TFC_AWS_RUN_ROLE_ARN",
                    &format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"),
                    "env",
                ),
                var("AWS_DEFAULT_REGION", REGION, "env"),
                var("AWS_DEFAULT_REGION", "ap-south-1", "terraform"),
            ],
        };
        (iam, set)
    }

    #[test]
    fn only_the_full_documented_state_is_complete() {
        let (iam, set) = complete();
        assert_eq!(missing(ACCOUNT, &iam, Some(&set)), None);
        assert!(missing(ACCOUNT, &iam, None).is_some());

        let mut no_audience = iam.clone();
        for ids in no_audience.providers.values_mut() {
            ids.retain(|c| c != AUDIENCE);
        }
        assert!(missing(ACCOUNT, &no_audience, Some(&set)).is_some());

        let mut wide = iam.clone();
        wide.roles.get_mut(ROLE).unwrap().0 =
            expected_trust_policy(ACCOUNT, "organization:*:project:*:workspace:*:run_phase:*");
        assert!(missing(ACCOUNT, &wide, Some(&set)).is_some());

        let mut twice = set.clone();
        twice.vars.push(var("TFC_AWS_PROVIDER_AUTH", "true", "env"));
        assert!(missing(ACCOUNT, &iam, Some(&twice)).is_some());
        let mut duplicates = Vec::new();
        duplicate_vars(&twice, &mut duplicates);
        assert_eq!(duplicates.len(), 1);

        let mut wrong = set.clone();
        wrong.vars[2].value = "eu-west-1".into();
        assert!(missing(ACCOUNT, &iam, Some(&wrong)).is_some());
    }

    #[test]
    fn other_owners_changes_are_found_and_the_functions_own_are_not() {
        let (was, set_was) = complete();
        let mut is = was.clone();
        // The function's own: another attachment of its policy, its audience.
        is.roles.get_mut(ROLE).unwrap().1 = vec![ADMIN.into()];
        let mut changed = Vec::new();
        foreign_in_account(ACCOUNT, &was, &is, &mut changed);
        assert!(changed.is_empty(), "{changed:?}");

        is.roles.get_mut("platform-readonly").unwrap().1.clear();
        for ids in is.providers.values_mut() {
            ids.retain(|c| c == AUDIENCE);
        }
        foreign_in_account(ACCOUNT, &was, &is, &mut changed);
        assert_eq!(changed.len(), 2, "{changed:?}");

        let mut set_is = set_was.clone();
        set_is.vars[2].value = "eu-west-1".into();
        let mut changed = Vec::new();
        foreign_vars(&set_was, &set_is, &mut changed);
        assert!(
            changed.is_empty(),
            "the function's own variable: {changed:?}"
        );
        set_is.vars[3].value = "eu-west-1".into();
        foreign_vars(&set_was, &set_is, &mut changed);
        assert_eq!(changed.len(), 1);

        let mut twin = was.clone();
        twin.roles
            .insert(format!("{ROLE}-2"), (Value::Null, Vec::new()));
        let mut duplicates = Vec::new();
        duplicate_iam(ACCOUNT, &twin, &mut duplicates);
        assert_eq!(duplicates.len(), 1);
    }
}
