//! Issue 10, "Behave like the real Terraform Cloud API, not like our fake of it": sensitive
//! variables, project-owned variable sets, variables sent inline with a create, and the rate
//! limit shared by everything that uses the token's user. Each test drives the product
//! against the fake's model of the documented behaviour and judges the end state.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::env::*;
use support::tfc_fake::{Fault, FaultKind, TfcFake};
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::Outcome;
use tokio::time::Instant;

const VARSETS: &str = "/organizations/acme/varsets";
const RUN_ROLE: &str = "TFC_AWS_RUN_ROLE_ARN";

fn manual(account: &str) -> Value {
    json!({ "account_id": account })
}

fn set_name(account: &str) -> String {
    format!("aws-{account}")
}

fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/terraform-cloud")
}

fn fault(method: &'static str, path: &str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        method: Some(method),
        path_contains: path.to_owned(),
        times,
        kind,
    }
}

fn failure(response: Result<Response, HandlerError>) -> HandlerError {
    match response {
        Err(e) => e,
        Ok(other) => panic!("expected a failure, got {other:?}"),
    }
}

/// Statuses answered to `method` on paths ending in `suffix`, in arrival order.
fn answered(tfc: &TfcFake, method: &str, suffix: &str) -> Vec<u16> {
    let mut hits: Vec<_> = tfc
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .collect();
    hits.sort_by_key(|r| r.at);
    hits.into_iter().map(|r| r.status).collect()
}

/// (key, value, sensitive) of every variable of a set, sorted; values as stored.
fn stored(tfc: &TfcFake, set_id: &str) -> Vec<(String, String, bool)> {
    let mut vars: Vec<_> = tfc
        .varset(set_id)
        .expect("the set exists")
        .vars
        .into_iter()
        .map(|v| (v.key, v.value, v.sensitive))
        .collect();
    vars.sort();
    vars
}

fn wanted(account: &str, role_sensitive: bool) -> Vec<(String, String, bool)> {
    vec![
        ("AWS_DEFAULT_REGION".into(), "eu-west-1".into(), false),
        ("TFC_AWS_PROVIDER_AUTH".into(), "true".into(), false),
        (RUN_ROLE.into(), role_arn(account), role_sensitive),
    ]
}

// ---------------------------------------------------------------------------------------------
// 4. The rate limit is per user: a 429 is honoured until the invocation's deadline
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_is_waited_out_for_as_long_as_the_deadline_allows() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("throttled-long", &[]).await;
    // Other containers and automations of the same user keep the budget busy for a while.
    env.tfc
        .inject(fault("GET", VARSETS, 12, FaultKind::RateLimitedReset(0.02)));

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let mut expected = vec![429; 12];
    expected.push(200);
    assert_eq!(answered(&env.tfc, "GET", VARSETS), expected);
    assert_eq!(
        stored(
            &env.tfc,
            &env.tfc
                .varset_by_name(ORG, &set_name(&account))
                .expect("set")
                .id
        ),
        wanted(&account, false)
    );
}

#[tokio::test]
async fn a_wait_past_the_deadline_fails_at_once_as_retryable() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("throttled-deadline", &[]).await;
    env.tfc
        .inject(fault("GET", VARSETS, 1, FaultKind::RetryAfterSeconds(20)));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(8);
    let err = failure(tfc_onboarder::handler::handle(&env.ob, &manual(&account), deadline).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failed at once, not after waiting: {:?}",
        started.elapsed()
    );
    assert_eq!(err.error_type(), "Retryable.VariableSet", "{err}");
    assert!(
        err.message.contains("deadline") && err.message.contains("20"),
        "the message says why: {err}"
    );
    assert_eq!(env.writes(), (0, 0));
}
