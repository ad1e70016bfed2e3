//! Random faults on about a given share of all calls, from a seed (see `dice`): what an AWS
//! incident looks like to a client. Every fault is an answer AWS gives, in the protocol's own
//! error shape: throttling, 500 and 503, a write that took effect but whose answer was a 500
//! or was lost, a dropped connection, a slow answer, `ConcurrentModification` on IAM writes,
//! `NoSuchEntity` for an entity created moments ago (IAM is eventually consistent), and
//! `AccessDenied` on `AssumeRole` into an account that joined moments ago. An old account's
//! roles do not flicker, so AccessDenied is never injected into one.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use super::super::dice::{pick, Dice};
use super::assume_role::caller_identity;
use super::{form_value, is_write, parse_role_arn, AwsFaultKind, Incoming, Shared};

/// IAM may not see an entity for a moment after creating it.
const PROPAGATION: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct Chaos {
    pub seed: u64,
    /// Share of calls that get a fault, 0 to 1.
    pub rate: f64,
    /// Accounts that joined moments ago: an AssumeRole into one of them may be denied.
    pub new_accounts: HashSet<String>,
    /// How long a slow answer takes.
    pub slow: Duration,
}

/// One run of random faults.
pub(super) struct Run {
    chaos: Chaos,
    dice: Dice,
    /// Roles and providers created moments ago, by account, and when.
    created: Mutex<HashMap<String, Instant>>,
}

/// The account a call is about, and the IAM entity it names, if any.
pub(super) struct Target {
    account: String,
    entity: Option<String>,
}

impl Run {
    pub(super) fn new(chaos: Chaos) -> Run {
        Run {
            dice: Dice::new(chaos.seed, chaos.rate),
            chaos,
            created: Mutex::new(HashMap::new()),
        }
    }

    /// The target account of an AssumeRole, the caller's account for anything else.
    pub(super) async fn target(
        shared: &Shared,
        incoming: &Incoming,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Target> {
        let form = std::str::from_utf8(body).unwrap_or_default();
        let account = match form_value(form, "RoleArn").filter(|_| incoming.action == "AssumeRole")
        {
            Some(arn) => parse_role_arn(&arn)?.account,
            None => {
                caller_identity(shared, incoming, headers)
                    .await
                    .ok()?
                    .account
            }
        };
        let entity = form_value(form, "RoleName")
            .map(|name| format!("{account}/role/{name}"))
            .or_else(|| form_value(form, "OpenIDConnectProviderArn"));
        Some(Target { account, entity })
    }

    /// The fault for this call, if the dice say so, with a label for the record.
    pub(super) fn roll(
        &self,
        incoming: &Incoming,
        target: &Target,
        body: &[u8],
    ) -> Option<(AwsFaultKind, &'static str)> {
        let key = format!(
            "{}/{}/{}/{}",
            incoming.service,
            incoming.action,
            target.account,
            String::from_utf8_lossy(body)
        );
        let r = self.dice.roll(&key)?;
        // A create of what exists answers EntityAlreadyExists, never NoSuchEntity.
        if self.just_created(target) && !incoming.action.starts_with("Create") {
            let message = "The entity cannot be found: it was created moments ago";
            return Some((error(404, "NoSuchEntity", message), "no-such-entity"));
        }
        let mut kinds = vec![
            (
                error(400, throttling(incoming), "Rate exceeded"),
                "throttling",
            ),
            (error(500, internal(incoming), INTERNAL), "internal-error"),
            (error(503, "ServiceUnavailable", UNAVAILABLE), "unavailable"),
            (AwsFaultKind::Reset, "connection-reset"),
            (AwsFaultKind::Delay(self.chaos.slow), "slow"),
        ];
        if is_write(&incoming.action) {
            kinds.push((
                AwsFaultKind::ForwardThenError {
                    status: 500,
                    code: internal(incoming),
                    message: INTERNAL,
                },
                "write-then-500",
            ));
            kinds.push((AwsFaultKind::ForwardThenReset, "write-then-reset"));
            if incoming.service == "iam" {
                let message = "Multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.";
                kinds.push((
                    error(409, "ConcurrentModification", message),
                    "concurrent-modification",
                ));
            }
        }
        if incoming.action == "AssumeRole" && self.chaos.new_accounts.contains(&target.account) {
            // The message names the caller; the proxy's own strict check words it exactly.
            kinds.push((AwsFaultKind::Deny, "access-denied"));
        }
        Some(pick(r, &kinds))
    }

    /// Remembers a create moto carried out (`served` is moto's status, whatever the caller
    /// was told), so the next calls naming it may not see it yet.
    pub(super) fn note(&self, incoming: &Incoming, target: &Target, body: &[u8], served: u16) {
        let form = std::str::from_utf8(body).unwrap_or_default();
        let created = match incoming.action.as_str() {
            "CreateRole" => {
                form_value(form, "RoleName").map(|name| format!("{}/role/{name}", target.account))
            }
            "CreateOpenIDConnectProvider" => form_value(form, "Url").map(|url| {
                let host = url.trim_start_matches("https://");
                format!("arn:aws:iam::{}:oidc-provider/{host}", target.account)
            }),
            _ => None,
        };
        if let (Some(entity), 200) = (created, served) {
            self.created.lock().unwrap().insert(entity, Instant::now());
        }
    }

    fn just_created(&self, target: &Target) -> bool {
        let created = self.created.lock().unwrap();
        target
            .entity
            .as_ref()
            .and_then(|e| created.get(e))
            .is_some_and(|at| at.elapsed() < PROPAGATION)
    }
}

const INTERNAL: &str = "We encountered an internal error. Please try again.";
const UNAVAILABLE: &str = "Service is unable to handle request.";

fn error(status: u16, code: &'static str, message: &'static str) -> AwsFaultKind {
    AwsFaultKind::Error {
        status,
        code,
        message,
    }
}

/// Each service's documented throttling code.
fn throttling(incoming: &Incoming) -> &'static str {
    match incoming.service.as_str() {
        "organizations" => "TooManyRequestsException",
        "events" => "ThrottlingException",
        _ => "Throttling",
    }
}

/// Each service's documented code for an internal error (HTTP 500).
fn internal(incoming: &Incoming) -> &'static str {
    match incoming.service.as_str() {
        "iam" => "ServiceFailure",
        "organizations" => "ServiceException",
        "events" => "InternalException",
        _ => "InternalFailure",
    }
}
