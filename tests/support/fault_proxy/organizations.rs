//! The organization's resource-based delegation policy, which moto 5.2.5 lacks: it has no
//! PutResourcePolicy, and it answers a member account's Organizations reads from that
//! member's own, empty backend. Here, from the AWS Organizations API reference:
//! - PutResourcePolicy, DescribeResourcePolicy and DeleteResourcePolicy, for the management
//!   account only; the policy is taggable (TagResource, UntagResource, ListTagsForResource
//!   with its `rp-` id).
//! - A member's read (Describe*, List*) other than DescribeOrganization, which every member
//!   may call, is allowed only when the delegation policy allows it (see [`policy::allows`]),
//!   and is then answered from the management account's Organizations, as AWS does; else
//!   AccessDeniedException. A member's writes stay moto's.
//!
//! The identity-based half (the caller's own IAM policy must allow the action too) is
//! moto's IAM enforcement where a test turns it on; this does not evaluate it.
//!
//! The policies live in the proxy, one per organization: a test's fresh proxy starts without
//! any, although moto's organization is shared by the whole test process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_organizations::error::ProvideErrorMetadata;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::assume_role::caller_identity;
use super::policy::{allows, Caller, Resource};
use super::{sdk_error, Incoming, Shared};

/// The Content parameter's length constraint in the API reference.
const MAX_CONTENT: usize = 40_000;
/// What AWS answers a read the delegation policy does not allow.
const DENIED: &str = "You don't have permissions to access this resource.";

#[derive(Default)]
pub(super) struct Delegation {
    /// The one delegation policy of each organization, by organization id.
    policies: Mutex<HashMap<String, Stored>>,
    /// Each caller account's organization, by partition and account.
    organizations: Mutex<HashMap<(String, String), Organization>>,
}

#[derive(Clone, Debug)]
struct Organization {
    id: String,
    management: String,
}

#[derive(Clone, Debug)]
struct Stored {
    id: String,
    content: String,
    tags: BTreeMap<String, String>,
}

/// What becomes of an Organizations call.
pub(super) enum Route {
    /// Answered here, without moto.
    Answer(Response),
    /// To moto; as the given account (the management account, for a delegated read) instead
    /// of the caller's own.
    Forward(Option<String>),
}

/// Which of the three kinds of call this is.
enum Kind {
    /// Put/Describe/DeleteResourcePolicy, or a tag call on the resource policy.
    PolicyApi,
    Read,
    Other,
}

fn kind(action: &str, params: &Value) -> Kind {
    let on_policy = params
        .get("ResourceId")
        .and_then(Value::as_str)
        .is_some_and(|id| id.starts_with("rp-"));
    match action {
        "PutResourcePolicy" | "DescribeResourcePolicy" | "DeleteResourcePolicy" => Kind::PolicyApi,
        "TagResource" | "UntagResource" | "ListTagsForResource" if on_policy => Kind::PolicyApi,
        // Every member may describe its organization (moto already answers it).
        "DescribeOrganization" => Kind::Other,
        a if a.starts_with("Describe") || a.starts_with("List") => Kind::Read,
        _ => Kind::Other,
    }
}

pub(super) async fn route(
    shared: &Shared,
    incoming: &Incoming,
    headers: &HeaderMap,
    body: &[u8],
) -> Route {
    if incoming.service != "organizations" || !incoming.json_protocol {
        return Route::Forward(None);
    }
    let params: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
    let kind = kind(&incoming.action, &params);
    if matches!(kind, Kind::Other) {
        return Route::Forward(None);
    }
    let caller = match caller_identity(shared, incoming, headers).await {
        Ok(caller) => caller,
        Err(response) => return Route::Answer(response),
    };
    let organization = match organization_of(shared, incoming, headers, &caller).await {
        Ok(Some(organization)) => organization,
        // moto says AWSOrganizationsNotInUseException to the reads; so does this to the rest.
        Ok(None) => {
            return match kind {
                Kind::PolicyApi => Route::Answer(incoming.error(
                    400,
                    "AWSOrganizationsNotInUseException",
                    "Your account is not a member of an organization.",
                )),
                _ => Route::Forward(None),
            }
        }
        Err(response) => return Route::Answer(response),
    };
    let management = caller.account == organization.management;
    let denied = || Route::Answer(incoming.error(400, "AccessDeniedException", DENIED));
    let policies = &shared.delegation.policies;
    match kind {
        Kind::Read if management => Route::Forward(None),
        Kind::PolicyApi if management => Route::Answer(policy_api(
            incoming,
            &params,
            &organization,
            caller.partition(),
            policies,
        )),
        // A member may read the policy's tags where the policy itself allows it.
        Kind::PolicyApi if incoming.action == "ListTagsForResource" => {
            if delegated(policies, &organization, &caller, incoming, &params) {
                Route::Answer(policy_api(
                    incoming,
                    &params,
                    &organization,
                    caller.partition(),
                    policies,
                ))
            } else {
                denied()
            }
        }
        Kind::PolicyApi => denied(),
        Kind::Read if delegated(policies, &organization, &caller, incoming, &params) => {
            Route::Forward(Some(organization.management))
        }
        Kind::Read => denied(),
        Kind::Other => Route::Forward(None),
    }
}

/// Whether the organization's delegation policy lets a member's `caller` make this read.
fn delegated(
    policies: &Mutex<HashMap<String, Stored>>,
    organization: &Organization,
    caller: &Caller,
    incoming: &Incoming,
    params: &Value,
) -> bool {
    let Some(content) = policies
        .lock()
        .unwrap()
        .get(&organization.id)
        .map(|p| p.content.clone())
    else {
        return false;
    };
    let Ok(policy) = serde_json::from_str::<Value>(&content) else {
        return false;
    };
    let arn = resource_arn(&incoming.action, params, organization, caller.partition());
    let resource = arn.as_deref().map_or(Resource::Unscoped, Resource::Arn);
    allows(
        &policy,
        caller,
        &format!("organizations:{}", incoming.action),
        resource,
    )
}

/// The ARN of the resource a read is on, in the formats of the Service Authorization
/// Reference; `None` for an action without a resource type, and for an id whose ARN cannot
/// be told from the id alone (a policy's ARN names its type): only `"*"` matches those,
/// the stricter reading.
fn resource_arn(
    action: &str,
    params: &Value,
    organization: &Organization,
    partition: &str,
) -> Option<String> {
    let param = match action {
        "DescribeAccount" => "AccountId",
        "DescribeOrganizationalUnit" => "OrganizationalUnitId",
        "ListParents" => "ChildId",
        "ListTagsForResource" => "ResourceId",
        "ListChildren" | "ListAccountsForParent" | "ListOrganizationalUnitsForParent" => "ParentId",
        _ => return None,
    };
    let id = params.get(param)?.as_str()?;
    let kind = if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        "account"
    } else if id.starts_with("ou-") {
        "ou"
    } else if id.starts_with("r-") {
        "root"
    } else if id.starts_with("rp-") {
        "resourcepolicy"
    } else {
        return None;
    };
    Some(format!(
        "arn:{partition}:organizations::{}:{kind}/{}/{id}",
        organization.management, organization.id
    ))
}

/// The caller's organization, as moto's DescribeOrganization tells it to the caller's own
/// account; `None` outside any organization.
async fn organization_of(
    shared: &Shared,
    incoming: &Incoming,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<Option<Organization>, Response> {
    let key = (caller.partition().to_owned(), caller.account.clone());
    let organizations = &shared.delegation.organizations;
    if let Some(known) = organizations.lock().unwrap().get(&key) {
        return Ok(Some(known.clone()));
    }
    let client = aws_sdk_organizations::Client::new(
        &incoming.upstream(shared, incoming.credentials(headers)),
    );
    let out = match client.describe_organization().send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("AWSOrganizationsNotInUseException") => return Ok(None),
        Err(e) => return Err(sdk_error(incoming, e)),
    };
    let Some(found) = out.organization() else {
        return Ok(None);
    };
    let organization = Organization {
        id: found.id().unwrap_or_default().to_owned(),
        management: found.master_account_id().unwrap_or_default().to_owned(),
    };
    organizations
        .lock()
        .unwrap()
        .insert(key, organization.clone());
    Ok(Some(organization))
}

/// The resource policy's own API, for a caller allowed to use it.
fn policy_api(
    incoming: &Incoming,
    params: &Value,
    organization: &Organization,
    partition: &str,
    policies: &Mutex<HashMap<String, Stored>>,
) -> Response {
    let mut policies = policies.lock().unwrap();
    let current = policies.get(&organization.id).cloned();
    let described = |p: &Stored| {
        json!({"ResourcePolicy": {
            "ResourcePolicySummary": {
                "Id": p.id,
                "Arn": format!(
                    "arn:{partition}:organizations::{}:resourcepolicy/{}/{}",
                    organization.management, organization.id, p.id
                ),
            },
            "Content": p.content,
        }})
    };
    let not_found = || {
        incoming.error(
            400,
            "ResourcePolicyNotFoundException",
            "We can't find a resource policy request with the parameter that you specified.",
        )
    };
    let invalid = |reason: &str, message: &str| {
        incoming.error(
            400,
            "InvalidInputException",
            &format!("{message} (reason: {reason})"),
        )
    };
    // The tag calls name the policy by its id, which must be the organization's policy.
    let target = || match (&current, params.get("ResourceId").and_then(Value::as_str)) {
        (Some(p), Some(id)) if p.id == id => Some(p.clone()),
        _ => None,
    };
    let missing = || {
        incoming.error(
            400,
            "TargetNotFoundException",
            "You specified a target that doesn't exist.",
        )
    };
    match incoming.action.as_str() {
        "PutResourcePolicy" => {
            let content = params
                .get("Content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if content.is_empty() {
                return invalid("INPUT_REQUIRED", "You must provide a value for Content.");
            }
            // The reference gives Content a maximum length of 40,000; Organizations reports a
            // parameter over its length as InvalidInputException (MAX_LENGTH_EXCEEDED).
            if content.chars().count() > MAX_CONTENT {
                return invalid(
                    "MAX_LENGTH_EXCEEDED",
                    "You provided a string parameter that is longer than allowed.",
                );
            }
            if !is_policy_document(content) {
                return invalid(
                    "INVALID_SYNTAX_POLICY",
                    "You provided a policy document that doesn't have a valid syntax.",
                );
            }
            let tags = match parse_tags(params.get("Tags")) {
                Ok(tags) => tags,
                Err(message) => return invalid("INVALID_INPUT", &message),
            };
            // "Calls with tags apply to the initial creation of the resource policy,
            // otherwise an exception is thrown."
            if current.is_some() && !tags.is_empty() {
                return invalid(
                    "INVALID_INPUT",
                    "Tags apply only when the resource policy is created; use TagResource to tag an existing one.",
                );
            }
            let stored = match current {
                Some(p) => Stored {
                    content: content.to_owned(),
                    ..p
                },
                None => Stored {
                    id: format!(
                        "rp-{}",
                        (0..8).map(|_| fastrand::digit(36)).collect::<String>()
                    ),
                    content: content.to_owned(),
                    tags,
                },
            };
            let answer = described(&stored);
            policies.insert(organization.id.clone(), stored);
            json_response(answer)
        }
        "DescribeResourcePolicy" => match &current {
            Some(p) => json_response(described(p)),
            None => not_found(),
        },
        "DeleteResourcePolicy" => match policies.remove(&organization.id) {
            Some(_) => json_response(json!({})),
            None => not_found(),
        },
        "ListTagsForResource" => match target() {
            Some(p) => json_response(json!({"Tags": p
                .tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect::<Vec<_>>()})),
            None => missing(),
        },
        "TagResource" => match (target(), parse_tags(params.get("Tags"))) {
            (None, _) => missing(),
            (_, Err(message)) => invalid("INVALID_INPUT", &message),
            (Some(mut p), Ok(tags)) => {
                p.tags.extend(tags);
                policies.insert(organization.id.clone(), p);
                json_response(json!({}))
            }
        },
        "UntagResource" => match target() {
            Some(mut p) => {
                for key in params
                    .get("TagKeys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    p.tags.remove(key);
                }
                policies.insert(organization.id.clone(), p);
                json_response(json!({}))
            }
            None => missing(),
        },
        other => incoming.error(
            400,
            "InvalidAction",
            &format!("{other} is not an action of the resource policy"),
        ),
    }
}

/// "The text must be correctly formatted JSON that complies with the syntax for the resource
/// policy's type": a JSON object whose Statement is one statement or a non-empty list of
/// them, each with an Effect of Allow or Deny. The syntax has more rules; these are the ones
/// a hand-merged policy most often breaks.
fn is_policy_document(content: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(content) else {
        return false;
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    statements.iter().all(|s| {
        matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        )
    })
}

/// Tags as the API takes them: a list of `{Key, Value}`, both strings (the value may be
/// empty, never null); at most 50, keys of 1 to 128 characters, values of up to 256.
fn parse_tags(tags: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let Some(tags) = tags else {
        return Ok(BTreeMap::new());
    };
    let list = tags.as_array().ok_or("Tags must be a list")?;
    if list.len() > 50 {
        return Err("a resource may have at most 50 tags".into());
    }
    list.iter()
        .map(|t| {
            let key = t.get("Key").and_then(Value::as_str);
            let value = t.get("Value").and_then(Value::as_str);
            match (key, value) {
                (Some(k), Some(v)) if (1..=128).contains(&k.len()) && v.len() <= 256 => {
                    Ok((k.to_owned(), v.to_owned()))
                }
                _ => Err(format!("invalid tag {t}: every tag needs a Key of 1 to 128 characters and a Value of up to 256")),
            }
        })
        .collect()
}

fn json_response(body: Value) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("x-amzn-RequestId", super::request_id())
        .body(Body::from(body.to_string()))
        .expect("valid response")
}
