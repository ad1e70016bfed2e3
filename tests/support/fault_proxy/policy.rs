//! IAM's evaluation of one resource-based policy, for the policies moto attaches but never
//! reads: a role's trust policy (AssumeRole) and the organization's delegation policy
//! (Organizations reads from member accounts). Pure: the caller, the action and the resource
//! in, allowed or not out.

use serde_json::Value;

/// Who is asking, as STS resolves the caller's key.
#[derive(Clone, Debug)]
pub struct Caller {
    pub account: String,
    /// The ARN GetCallerIdentity answers: `arn:aws:sts::<id>:assumed-role/<role>/<session>`
    /// for a role session, `arn:aws:iam::<id>:user/<name>` for a user.
    pub arn: String,
}

impl Caller {
    pub fn partition(&self) -> &str {
        self.arn.split(':').nth(1).unwrap_or("aws")
    }

    /// The role a session belongs to, as `arn:<partition>:iam::<id>:role/<name>`: what
    /// `aws:PrincipalArn` is for a role session, and how a policy names it as a principal.
    /// STS's session ARN leaves out the role's path, so a role with a path is seen without it.
    fn role_arn(&self) -> Option<String> {
        let role = self.arn.split_once(":assumed-role/")?.1.split('/').next()?;
        Some(format!(
            "arn:{}:iam::{}:role/{role}",
            self.partition(),
            self.account
        ))
    }

    /// `aws:PrincipalArn`: the role's ARN for a role session, else the caller's own.
    pub fn principal_arn(&self) -> String {
        self.role_arn().unwrap_or_else(|| self.arn.clone())
    }
}

/// What the request is on, as the policy's `Resource` element sees it.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// The policy is the resource's own and has no `Resource` element (a trust policy).
    Itself,
    /// The ARN of the resource the action is on.
    Arn(&'a str),
    /// An action without a resource type (the Service Authorization Reference lists none for
    /// it): only `"*"` matches.
    Unscoped,
}

/// Whether `policy` lets `caller` perform `action` on `resource`, following IAM's evaluation
/// of a resource-based policy: an explicit Deny wins, otherwise some Allow must match.
///
/// A statement matches when its `Principal` names the caller (`"*"`, the account's id or
/// `arn:…:iam::<id>:root`, the caller's ARN or, for a role session, its role's ARN), an
/// `Action` matches (IAM wildcards, case-insensitive) and a `Resource` matches the resource's
/// ARN (wildcards). Of the condition keys only `aws:PrincipalArn` and `aws:PrincipalAccount`
/// are known, under StringEquals, StringLike, ArnEquals and ArnLike: anything else cannot be
/// evaluated here, so the stricter reading is taken: it fails in an Allow and holds in a
/// Deny. `NotPrincipal`, `NotAction` and `NotResource` never match.
pub fn allows(policy: &Value, caller: &Caller, action: &str, resource: Resource<'_>) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    let applies = |s: &Value| {
        s.get("Principal")
            .is_some_and(|p| principal_matches(p, caller))
            && strings(s.get("Action")).iter().any(|a| {
                glob_matches(
                    a.to_ascii_lowercase().as_bytes(),
                    action.to_ascii_lowercase().as_bytes(),
                )
            })
            && resource_matches(s.get("Resource"), resource)
    };
    let effect_is =
        |s: &Value, effect: &str| s.get("Effect").and_then(Value::as_str) == Some(effect);
    let holds = |s: &Value, unknown: bool| conditions_hold(s.get("Condition"), caller, unknown);
    let denied = statements
        .iter()
        .any(|s| effect_is(s, "Deny") && applies(s) && holds(s, true));
    let allowed = statements
        .iter()
        .any(|s| effect_is(s, "Allow") && applies(s) && holds(s, false));
    allowed && !denied
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn principal_matches(principal: &Value, caller: &Caller) -> bool {
    if principal.as_str() == Some("*") {
        return true;
    }
    let root = format!("arn:{}:iam::{}:root", caller.partition(), caller.account);
    let role = caller.role_arn();
    strings(principal.get("AWS")).iter().any(|id| {
        id == "*"
            || *id == caller.account
            || *id == root
            || *id == caller.arn
            || role.as_deref() == Some(id.as_str())
    })
}

fn resource_matches(element: Option<&Value>, resource: Resource<'_>) -> bool {
    let patterns = strings(element);
    match resource {
        Resource::Itself => element.is_none(),
        Resource::Arn(arn) => patterns
            .iter()
            .any(|p| glob_matches(p.as_bytes(), arn.as_bytes())),
        Resource::Unscoped => patterns.iter().any(|p| p == "*"),
    }
}

/// `unknown`: what a key or operator this cannot evaluate counts as.
fn conditions_hold(condition: Option<&Value>, caller: &Caller, unknown: bool) -> bool {
    let operators = match condition {
        None => return true,
        Some(Value::Object(operators)) => operators,
        Some(_) => return unknown,
    };
    let principal_arn = caller.principal_arn();
    operators.iter().all(|(operator, keys)| {
        let glob = match operator.as_str() {
            "StringEquals" | "ArnEquals" => false,
            "StringLike" | "ArnLike" => true,
            _ => return unknown,
        };
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, values)| {
                let actual = match key.to_ascii_lowercase().as_str() {
                    "aws:principalarn" => principal_arn.as_str(),
                    "aws:principalaccount" => caller.account.as_str(),
                    _ => return unknown,
                };
                strings(Some(values)).iter().any(|v| {
                    if glob {
                        glob_matches(v.as_bytes(), actual.as_bytes())
                    } else {
                        v == actual
                    }
                })
            })
        })
    })
}

/// IAM's wildcards: `*` for any run of characters, `?` for one.
pub fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_matches(rest, &text[1..]),
    }
}
