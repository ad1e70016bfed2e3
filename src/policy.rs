//! Pure logic, free of I/O: the trust policy, names from templates, and the diff between the
//! variables a set should hold and the variables it holds.

use serde_json::{json, Value};

use crate::domain::{AccountId, Hostname, OrgName, ProviderArn, RoleArn, ScopeName, VarsetName};

/// Which run phases a role may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    Any,
    Plan,
    Apply,
}

impl RunPhase {
    fn pattern(self) -> &'static str {
        match self {
            Self::Any => "*",
            Self::Plan => "plan",
            Self::Apply => "apply",
        }
    }
}

/// `organization:<org>:project:<project>:workspace:<workspace>:run_phase:<phase>`; the
/// organization is always literal (the type cannot hold a wildcard).
pub fn subject(
    org: &OrgName,
    project: &ScopeName,
    workspace: &ScopeName,
    phase: RunPhase,
) -> String {
    format!(
        "organization:{org}:project:{project}:workspace:{workspace}:run_phase:{}",
        phase.pattern()
    )
}

/// The documented Terraform Cloud trust policy: only `sts:AssumeRoleWithWebIdentity` through
/// this account's provider, for this audience and this organization's subjects.
pub fn trust_policy(
    provider: &ProviderArn,
    host: &Hostname,
    audience: &str,
    subject: &str,
) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider.as_str()},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{host}:aud"): audience},
                "StringLike": {format!("{host}:sub"): subject}
            }
        }]
    })
}

/// IAM treats `"x"` and `["x"]`, and arrays in any order, as the same policy; compare the
/// canonical forms so a policy IAM reformatted is not "changed" on every run.
pub fn policies_equivalent(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_key(|i| i.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

/// Checks a variable-set name template once, at start.
pub fn check_varset_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("`{template}` has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        if !matches!(name, "account_id" | "account_name") {
            return Err(format!("`{template}` uses `{{{name}}}`; only {{account_id}} and {{account_name}} are known"));
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("`{template}` has a `}}` without `{{`"));
    }
    let sample = render_varset_name(
        template,
        &AccountId::parse("123456789012").map_err(|e| e.to_string())?,
        "sample",
    );
    VarsetName::parse(&sample).map(|_| ())
}

/// Renders the set name for one account. Account names are free text, so the result is
/// validated again.
pub fn render_varset_name(template: &str, account: &AccountId, account_name: &str) -> String {
    template
        .replace("{account_id}", account.as_str())
        .replace("{account_name}", account_name)
}

pub const KEY_PROVIDER_AUTH: &str = "TFC_AWS_PROVIDER_AUTH";
pub const KEY_RUN_ROLE: &str = "TFC_AWS_RUN_ROLE_ARN";
pub const KEY_PLAN_ROLE: &str = "TFC_AWS_PLAN_ROLE_ARN";
pub const KEY_APPLY_ROLE: &str = "TFC_AWS_APPLY_ROLE_ARN";
pub const KEY_AUDIENCE: &str = "TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE";
pub const KEY_REGION: &str = "AWS_DEFAULT_REGION";

/// The roles an account gets, and therefore the variables that point at them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roles {
    Run(RoleArn),
    Split { plan: RoleArn, apply: RoleArn },
}

/// Everything that decides the variables one account owns in its set.
#[derive(Clone, Debug)]
pub struct VariableSpec<'a> {
    pub roles: &'a Roles,
    pub region: &'a str,
    pub audience: &'a str,
    pub default_audience: bool,
    /// Terraform Cloud "multiple configurations": keys get a `_<alias>` suffix so several
    /// accounts can share one set.
    pub alias: Option<&'a str>,
}

/// An environment variable this tool wants in the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredVar {
    pub key: String,
    pub value: String,
}

/// A variable as read from the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualVar {
    pub id: String,
    pub key: String,
    pub value: Option<String>,
    pub category: String,
    pub sensitive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarChange {
    Create(DesiredVar),
    /// `sensitive`: the value is write-only, so it could not be compared and is rewritten.
    Update {
        id: String,
        var: DesiredVar,
        sensitive: bool,
    },
    Delete {
        id: String,
        key: String,
    },
    Unchanged {
        key: String,
    },
}

impl VarChange {
    pub fn is_write(&self) -> bool {
        !matches!(self, Self::Unchanged { .. })
    }
}

fn keyed(base: &str, alias: Option<&str>) -> String {
    match alias {
        Some(a) => format!("{base}_{a}"),
        None => base.to_owned(),
    }
}

/// The variables one account should have, in a stable order.
pub fn desired_vars(spec: &VariableSpec<'_>) -> Vec<DesiredVar> {
    let var = |base: &str, value: &str| DesiredVar {
        key: keyed(base, spec.alias),
        value: value.to_owned(),
    };
    let mut vars = vec![var(KEY_PROVIDER_AUTH, "true")];
    match spec.roles {
        Roles::Run(arn) => vars.push(var(KEY_RUN_ROLE, arn.as_str())),
        Roles::Split { plan, apply } => {
            vars.push(var(KEY_PLAN_ROLE, plan.as_str()));
            vars.push(var(KEY_APPLY_ROLE, apply.as_str()));
        }
    }
    // A shared set serves accounts in many regions; the region stays with each workspace.
    if spec.alias.is_none() {
        vars.push(var(KEY_REGION, spec.region));
    }
    if !spec.default_audience {
        vars.push(var(KEY_AUDIENCE, spec.audience));
    }
    vars
}

/// Role-ARN keys of the other role mode, which must go when the mode changes.
fn other_mode_keys(spec: &VariableSpec<'_>) -> Vec<String> {
    let bases: &[&str] = match spec.roles {
        Roles::Run(_) => &[KEY_PLAN_ROLE, KEY_APPLY_ROLE],
        Roles::Split { .. } => &[KEY_RUN_ROLE],
    };
    bases.iter().map(|b| keyed(b, spec.alias)).collect()
}

/// Every key this tool may have written for one account (used when offboarding).
/// The keys that hold role ARNs for one account (every role mode).
pub fn role_keys(alias: Option<&str>) -> Vec<String> {
    [KEY_RUN_ROLE, KEY_PLAN_ROLE, KEY_APPLY_ROLE]
        .iter()
        .map(|b| keyed(b, alias))
        .collect()
}

pub fn owned_keys(alias: Option<&str>) -> Vec<String> {
    [
        KEY_PROVIDER_AUTH,
        KEY_RUN_ROLE,
        KEY_PLAN_ROLE,
        KEY_APPLY_ROLE,
        KEY_AUDIENCE,
    ]
    .iter()
    .map(|b| keyed(b, alias))
    .chain(alias.is_none().then(|| KEY_REGION.to_owned()))
    .collect()
}

/// Refuses when a role variable of ours already names a role in another account: handing
/// one account's workspaces another account's role is never what the operator wants.
pub fn check_foreign_roles(
    account: &AccountId,
    actual: &[ActualVar],
    alias: Option<&str>,
) -> Result<(), String> {
    let role_keys = role_keys(alias);
    for var in actual
        .iter()
        .filter(|v| v.category == "env" && role_keys.contains(&v.key))
    {
        if let Some(arn) = var.value.as_deref().and_then(RoleArn::parse) {
            if arn.account() != account.as_str() {
                return Err(format!(
                    "the variable set's {} already names {arn}, a role in account {}, not {account}; refusing to overwrite it. Use a different variable set for this account (ONBOARD_VARSET_NAME, tag or `variable_set` override) or remove the variable if it is stale",
                    var.key,
                    arn.account()
                ));
            }
        }
    }
    Ok(())
}

/// Desired vs actual, by key. Variables that are not ours are never touched.
pub fn plan_vars(spec: &VariableSpec<'_>, actual: &[ActualVar]) -> Vec<VarChange> {
    let env = |key: &str| actual.iter().find(|v| v.category == "env" && v.key == key);
    let mut changes: Vec<VarChange> = desired_vars(spec)
        .into_iter()
        .map(|want| match env(&want.key) {
            None => VarChange::Create(want),
            // A sensitive value is never returned, so it cannot be compared: rewrite it (its
            // value only; the operator chose to keep it sensitive).
            Some(have) if have.sensitive || have.value.as_deref() != Some(want.value.as_str()) => {
                VarChange::Update {
                    id: have.id.clone(),
                    var: want,
                    sensitive: have.sensitive,
                }
            }
            Some(_) => VarChange::Unchanged { key: want.key },
        })
        .collect();
    changes.extend(other_mode_keys(spec).into_iter().filter_map(|key| {
        env(&key).map(|v| VarChange::Delete {
            id: v.id.clone(),
            key,
        })
    }));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::parse("444455556666").unwrap()
    }

    fn run_roles() -> Roles {
        Roles::Run(RoleArn::new("aws", &account(), "terraform-cloud"))
    }

    fn spec(roles: &Roles) -> VariableSpec<'_> {
        VariableSpec {
            roles,
            region: "eu-west-1",
            audience: "aws.workload.identity",
            default_audience: true,
            alias: None,
        }
    }

    fn actual(id: &str, key: &str, value: &str) -> ActualVar {
        ActualVar {
            id: id.into(),
            key: key.into(),
            value: Some(value.into()),
            category: "env".into(),
            sensitive: false,
        }
    }

    #[test]
    fn trust_policy_is_the_documented_shape() {
        let host = Hostname::parse("app.terraform.io").unwrap();
        let provider = ProviderArn::new("aws", &account(), &host);
        let org = OrgName::parse("acme").unwrap();
        let star = ScopeName::parse("project", "*").unwrap();
        let sub = subject(&org, &star, &star, RunPhase::Any);
        assert_eq!(sub, "organization:acme:project:*:workspace:*:run_phase:*");
        let doc = trust_policy(&provider, &host, "aws.workload.identity", &sub);
        let expected: Value = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
              "Principal":{"Federated":"arn:aws:iam::444455556666:oidc-provider/app.terraform.io"},
              "Action":"sts:AssumeRoleWithWebIdentity",
              "Condition":{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity"},
                           "StringLike":{"app.terraform.io:sub":"organization:acme:project:*:workspace:*:run_phase:*"}}}]}"#,
        )
        .unwrap();
        assert_eq!(doc, expected);
    }

    #[test]
    fn run_phase_limits_the_subject() {
        let org = OrgName::parse("acme").unwrap();
        let p = ScopeName::parse("project", "Default Project").unwrap();
        let w = ScopeName::parse("workspace", "networking").unwrap();
        assert_eq!(
            subject(&org, &p, &w, RunPhase::Plan),
            "organization:acme:project:Default Project:workspace:networking:run_phase:plan"
        );
        assert!(subject(&org, &p, &w, RunPhase::Apply).ends_with(":run_phase:apply"));
    }

    #[test]
    fn reformatted_policies_are_equivalent_and_changed_ones_are_not() {
        let a: Value = serde_json::from_str(r#"{"Statement":[{"Action":"sts:X","Principal":{"Federated":"p"}}],"Version":"2012-10-17"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"Version":"2012-10-17","Statement":{"Principal":{"Federated":["p"]},"Action":["sts:X"]}}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"Version":"2012-10-17","Statement":{"Principal":{"Federated":["q"]},"Action":["sts:X"]}}"#).unwrap();
        assert!(policies_equivalent(&a, &b));
        assert!(!policies_equivalent(&a, &c));
    }

    #[test]
    fn varset_templates_are_checked_and_rendered() {
        assert!(check_varset_template("aws-{account_id}").is_ok());
        assert!(check_varset_template("{account_name} ({account_id})").is_ok());
        assert!(check_varset_template("aws-{acount}").is_err());
        assert!(check_varset_template("aws-{account_id").is_err());
        assert!(check_varset_template("").is_err());
        assert_eq!(
            render_varset_name("aws-{account_name}-{account_id}", &account(), "prod"),
            "aws-prod-444455556666"
        );
    }

    #[test]
    fn a_fresh_set_gets_three_variables() {
        let roles = run_roles();
        let changes = plan_vars(&spec(&roles), &[]);
        let keys: Vec<_> = changes
            .iter()
            .map(|c| match c {
                VarChange::Create(v) => (v.key.as_str(), v.value.as_str()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("TFC_AWS_PROVIDER_AUTH", "true"),
                (
                    "TFC_AWS_RUN_ROLE_ARN",
                    "arn:aws:iam::444455556666:role/terraform-cloud"
                ),
                ("AWS_DEFAULT_REGION", "eu-west-1")
            ]
        );
    }

    #[test]
    fn a_converged_set_needs_nothing_and_foreign_variables_are_ignored() {
        let roles = run_roles();
        let have = vec![
            actual("v1", "TFC_AWS_PROVIDER_AUTH", "true"),
            actual(
                "v2",
                "TFC_AWS_RUN_ROLE_ARN",
                "arn:aws:iam::444455556666:role/terraform-cloud",
            ),
            actual("v3", "AWS_DEFAULT_REGION", "eu-west-1"),
            actual("v4", "TF_LOG", "debug"),
            ActualVar {
                category: "terraform".into(),
                ..actual("v5", "AWS_DEFAULT_REGION", "x")
            },
        ];
        assert!(plan_vars(&spec(&roles), &have)
            .iter()
            .all(|c| !c.is_write()));
    }

    #[test]
    fn wrong_and_sensitive_values_are_updated() {
        let roles = run_roles();
        let have = vec![
            actual("v1", "TFC_AWS_PROVIDER_AUTH", "false"),
            ActualVar {
                sensitive: true,
                value: None,
                ..actual("v2", "TFC_AWS_RUN_ROLE_ARN", "")
            },
            actual("v3", "AWS_DEFAULT_REGION", "eu-west-1"),
        ];
        let writes: Vec<_> = plan_vars(&spec(&roles), &have)
            .into_iter()
            .filter(VarChange::is_write)
            .collect();
        assert_eq!(writes.len(), 2);
        assert!(matches!(&writes[0], VarChange::Update { id, sensitive: false, .. } if id == "v1"));
        assert!(matches!(&writes[1], VarChange::Update { id, sensitive: true, .. } if id == "v2"));
    }

    #[test]
    fn switching_to_split_mode_removes_the_run_role() {
        let roles = Roles::Split {
            plan: RoleArn::new("aws", &account(), "terraform-cloud-plan"),
            apply: RoleArn::new("aws", &account(), "terraform-cloud-apply"),
        };
        let have = vec![actual(
            "v2",
            "TFC_AWS_RUN_ROLE_ARN",
            "arn:aws:iam::444455556666:role/terraform-cloud",
        )];
        let changes = plan_vars(&spec(&roles), &have);
        assert!(changes.contains(&VarChange::Delete {
            id: "v2".into(),
            key: "TFC_AWS_RUN_ROLE_ARN".into()
        }));
        assert!(changes
            .iter()
            .any(|c| matches!(c, VarChange::Create(v) if v.key == "TFC_AWS_PLAN_ROLE_ARN")));
    }

    #[test]
    fn aliases_suffix_every_key_and_leave_the_region_to_the_workspace() {
        let roles = run_roles();
        let s = VariableSpec {
            alias: Some("payments"),
            default_audience: false,
            audience: "custom",
            ..spec(&roles)
        };
        let keys: Vec<_> = desired_vars(&s).into_iter().map(|v| v.key).collect();
        assert_eq!(
            keys,
            [
                "TFC_AWS_PROVIDER_AUTH_payments",
                "TFC_AWS_RUN_ROLE_ARN_payments",
                "TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE_payments"
            ]
        );
    }

    #[test]
    fn another_accounts_role_is_refused() {
        let other = vec![actual(
            "v2",
            "TFC_AWS_RUN_ROLE_ARN",
            "arn:aws:iam::999988887777:role/terraform-cloud",
        )];
        let err = check_foreign_roles(&account(), &other, None).unwrap_err();
        assert!(err.contains("999988887777") && err.contains("444455556666"));
        let ours = vec![actual(
            "v2",
            "TFC_AWS_RUN_ROLE_ARN",
            "arn:aws:iam::444455556666:role/old-name",
        )];
        assert!(check_foreign_roles(&account(), &ours, None).is_ok());
        // Another alias in a shared set is someone else's business.
        assert!(check_foreign_roles(&account(), &other, Some("payments")).is_ok());
    }
}
