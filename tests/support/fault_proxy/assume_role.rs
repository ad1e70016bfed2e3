//! Strict AssumeRole, as AWS does it: the role must exist in the target account, under the
//! exact ARN asked for, with a trust policy that lets the caller in. moto checks none of it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use aws_credential_types::Credentials;
use aws_sdk_iam::error::ProvideErrorMetadata;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{form_value, sdk_error, Incoming, Shared};

/// The parts of `arn:<partition>:iam::<account>:role/<path/><name>`.
pub struct RoleArnParts {
    pub partition: String,
    pub account: String,
    pub name: String,
}

pub fn parse_role_arn(arn: &str) -> Option<RoleArnParts> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return None;
    };
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let valid = prefix == "arn"
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty();
    valid.then(|| RoleArnParts {
        partition: partition.to_owned(),
        account: account.to_owned(),
        name: name.to_owned(),
    })
}

/// `Some(answer)` when AssumeRole must not reach moto: the account is closed (a new account
/// whose roles are not propagated yet, or `deny`), or, in strict mode, the role does not exist
/// in the target account or its trust policy does not let the caller in. AWS answers both with
/// 403 AccessDenied in the STS query-protocol error shape, and so does this.
pub(super) async fn check_assume_role(
    shared: &Shared,
    incoming: &Incoming,
    headers: &HeaderMap,
    body: &[u8],
    deny: bool,
) -> Option<Response> {
    if incoming.action != "AssumeRole" || incoming.service != "sts" {
        return None;
    }
    let form = std::str::from_utf8(body).unwrap_or_default();
    let Some(role_arn) = form_value(form, "RoleArn") else {
        return Some(incoming.error(400, "ValidationError", "RoleArn is required"));
    };
    let Some(role) = parse_role_arn(&role_arn) else {
        return Some(incoming.error(
            400,
            "ValidationError",
            &format!("{role_arn} is not a valid role ARN"),
        ));
    };
    let closed = shared
        .closed_until
        .lock()
        .unwrap()
        .get(&role.account)
        .is_some_and(|until| Instant::now() < *until)
        || deny;
    let strict = shared.strict_assume_role.load(Ordering::SeqCst);
    if !closed && !strict {
        return None;
    }
    let (caller_account, caller_arn) = match caller_identity(shared, incoming, headers).await {
        Ok(identity) => identity,
        Err(response) => return Some(response),
    };
    let denied = || {
        incoming.error(
            403,
            "AccessDenied",
            &format!(
                "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            ),
        )
    };
    // Roles of another partition are never assumable from this one.
    let caller_partition = caller_arn.split(':').nth(1).unwrap_or_default();
    if closed || caller_partition != role.partition {
        return Some(denied());
    }
    match trust_policy_in(shared, incoming, &role).await {
        // The ARN must be the role's own, path included: a role is not found by its name.
        Ok(Some((arn, trust)))
            if arn == role_arn && trusts(&trust, &caller_account, &caller_arn) =>
        {
            None
        }
        Ok(_) => Some(denied()),
        Err(response) => Some(response),
    }
}

/// The caller's account and ARN, as moto resolves its access key.
pub(super) async fn caller_identity(
    shared: &Shared,
    incoming: &Incoming,
    headers: &HeaderMap,
) -> Result<(String, String), Response> {
    if let Some(known) = shared.identities.lock().unwrap().get(&incoming.access_key) {
        return Ok(known.clone());
    }
    let sts = aws_sdk_sts::Client::new(&incoming.upstream(shared, incoming.credentials(headers)));
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error(incoming, e))?;
    let identity = (
        me.account().unwrap_or_default().to_owned(),
        me.arn().unwrap_or_default().to_owned(),
    );
    shared
        .identities
        .lock()
        .unwrap()
        .insert(incoming.access_key.clone(), identity.clone());
    Ok(identity)
}

/// The role's ARN and trust policy, read through moto's IAM *as the target account* (moto's
/// `x-moto-account-id` header), or `None` when the role does not exist there.
async fn trust_policy_in(
    shared: &Shared,
    incoming: &Incoming,
    role: &RoleArnParts,
) -> Result<Option<(String, serde_json::Value)>, Response> {
    // Any key will do: the header, not the key, picks the account.
    let iam = aws_sdk_iam::Client::new(&incoming.upstream(
        shared,
        Credentials::new("testing", "testing", None, None, "fault-proxy"),
    ));
    let account = role.account.clone();
    let got = iam
        .get_role()
        .role_name(&role.name)
        .customize()
        .mutate_request(move |req| {
            req.headers_mut()
                .insert("x-moto-account-id", account.clone());
        })
        .send()
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.code() == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(sdk_error(incoming, e)),
    };
    let Some(found) = out.role() else {
        return Ok(None);
    };
    let doc = found.assume_role_policy_document().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    Ok(serde_json::from_str(&decoded)
        .ok()
        .map(|trust| (found.arn().to_owned(), trust)))
}

/// Whether `trust` lets the caller `sts:AssumeRole`, following IAM's evaluation: an explicit
/// Deny wins, otherwise some Allow must match. Of the conditions, only `aws:PrincipalArn`
/// (StringEquals, ArnEquals, ArnLike, StringLike) is evaluated, as IAM does: for a role session
/// it is the role's ARN. Others cannot be evaluated here, so the stricter reading is taken: an
/// Allow with any other condition does not count, a Deny with one does.
/// NotPrincipal and NotAction statements are never treated as matching an Allow.
fn trusts(trust: &serde_json::Value, caller_account: &str, caller_arn: &str) -> bool {
    use serde_json::Value;
    let statements: Vec<&Value> = match trust.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let partition = caller_arn.split(':').nth(1).unwrap_or("aws");
    let root = format!("arn:{partition}:iam::{caller_account}:root");
    // A session of an assumed role is trusted under the role's ARN (without its path).
    let as_role = caller_arn
        .split_once(":assumed-role/")
        .and_then(|(_, rest)| rest.split('/').next())
        .map(|role| format!("arn:{partition}:iam::{caller_account}:role/{role}"));
    let principal_matches = |p: &Value| -> bool {
        if p.as_str() == Some("*") {
            return true;
        }
        strings(p.get("AWS")).iter().any(|id| {
            id == "*"
                || id == caller_account
                || *id == root
                || id == caller_arn
                || as_role.as_deref() == Some(id.as_str())
        })
    };
    let action_matches = |s: &Value| {
        strings(s.get("Action"))
            .iter()
            .any(|a| glob_matches(a.to_ascii_lowercase().as_bytes(), b"sts:assumerole"))
    };
    let applies =
        |s: &Value| s.get("Principal").is_some_and(principal_matches) && action_matches(s);
    let effect_is =
        |s: &Value, effect: &str| s.get("Effect").and_then(Value::as_str) == Some(effect);
    let denied = statements
        .iter()
        .any(|s| effect_is(s, "Deny") && applies(s));
    let principal_arn = as_role.as_deref().unwrap_or(caller_arn);
    let conditions_hold = |s: &Value| match s.get("Condition") {
        None => true,
        Some(Value::Object(operators)) => operators.iter().all(|(operator, keys)| {
            let glob = match operator.as_str() {
                "StringEquals" | "ArnEquals" => false,
                "StringLike" | "ArnLike" => true,
                _ => return false,
            };
            keys.as_object().is_some_and(|keys| {
                keys.iter().all(|(key, values)| {
                    key.eq_ignore_ascii_case("aws:PrincipalArn")
                        && strings(Some(values)).iter().any(|v| {
                            if glob {
                                glob_matches(v.as_bytes(), principal_arn.as_bytes())
                            } else {
                                v == principal_arn
                            }
                        })
                })
            })
        }),
        Some(_) => false,
    };
    let allowed = statements
        .iter()
        .any(|s| effect_is(s, "Allow") && conditions_hold(s) && applies(s));
    allowed && !denied
}

/// IAM's action wildcards: `*` for any run of characters, `?` for one.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_matches(rest, &text[1..]),
    }
}
