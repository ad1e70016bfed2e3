//! Strict AssumeRole, as AWS does it: the role must exist in the target account, under the
//! exact ARN asked for, with a trust policy that lets the caller in. moto checks none of it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use aws_credential_types::Credentials;
use aws_sdk_iam::error::ProvideErrorMetadata;
use axum::http::HeaderMap;
use axum::response::Response;

use super::policy::{allows, Caller, Resource};
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
    let caller = match caller_identity(shared, incoming, headers).await {
        Ok(caller) => caller,
        Err(response) => return Some(response),
    };
    let caller_arn = &caller.arn;
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
    if closed || caller.partition() != role.partition {
        return Some(denied());
    }
    match trust_policy_in(shared, incoming, &role).await {
        // The ARN must be the role's own, path included: a role is not found by its name.
        Ok(Some((arn, trust)))
            if arn == role_arn && allows(&trust, &caller, "sts:AssumeRole", Resource::Itself) =>
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
) -> Result<Caller, Response> {
    if let Some(known) = shared.identities.lock().unwrap().get(&incoming.access_key) {
        return Ok(known.clone());
    }
    let sts = aws_sdk_sts::Client::new(&incoming.upstream(shared, incoming.credentials(headers)));
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error(incoming, e))?;
    let identity = Caller {
        account: me.account().unwrap_or_default().to_owned(),
        arn: me.arn().unwrap_or_default().to_owned(),
    };
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
