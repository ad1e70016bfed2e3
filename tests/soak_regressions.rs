//! Defects the chaos soak (`./tests/bench.sh --soak`, issue 12) found, each reproduced here
//! with the faults that caused it injected one by one, so it cannot come back unnoticed. The
//! README's benchmark section lists them with the seed that found them.

mod support;

use std::time::Duration;

use support::env::*;
use support::fault_proxy::{AwsFault, AwsFaultKind};
use support::tfc_fake::FaultKind;
use tfc_onboarder::domain::VarsetName;
use tfc_onboarder::report::Outcome;
use tfc_onboarder::tfc::varsets::{self, Creation};
use tokio::time::Instant;

const VARS: &str = "/relationships/vars";

/// Soak seed 12 at 15%: a listing of a set's variables answered 200, then the connection
/// broke off mid-body; the account failed at once although a GET can be repeated.
#[tokio::test]
async fn a_read_whose_answer_breaks_off_mid_body_is_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("cut-off", &[]).await;
    seed_set_without_role(&env.tfc, &account);
    env.tfc
        .inject(tfc_fault(Some("GET"), VARS, 1, FaultKind::Truncated));

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        statuses(&env.tfc, "GET", VARS),
        [0, 200],
        "cut off once, then read again"
    );
    assert_eq!(
        set_vars(&env.tfc, &set_name(&account)),
        default_vars(&account)
    );
}

const VARSETS: &str = "/organizations/acme/varsets";

/// The same soak run: a create met a set that someone had just made, and its 422 "Name has
/// already been taken" broke off mid-body. The empty refusal was final, although the set was
/// there to adopt.
#[tokio::test]
async fn a_refusal_whose_answer_breaks_off_is_settled_by_looking() {
    let env = TestEnv::new(&[]).await;
    let name = VarsetName::parse("aws-race-cut-off").expect("valid name");
    let theirs = env.tfc.seed_varset(ORG, name.as_str(), &[]);
    env.tfc
        .inject(tfc_fault(Some("POST"), VARSETS, 1, FaultKind::Truncated));
    let tfc = env.ob.tfc(Instant::now() + Duration::from_secs(60));
    let created = varsets::create(&tfc, &name, "test", &[]).await;
    assert!(
        matches!(&created, Ok(Creation::Found(set)) if set.id == theirs),
        "{created:?}"
    );
    assert_eq!(env.tfc.varsets(ORG).len(), 1);
}

/// Soak seed 12 at 15%: adding a variable answered 502 without storing it (or timed out
/// while the server was still at it); listing showed no such variable, and the account failed
/// instead of adding it again. A variable's key is unique in its set, so a second POST can
/// never make a duplicate.
#[tokio::test]
async fn a_variable_whose_add_did_not_happen_is_added_again() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("add-502", &[]).await;
    seed_set_without_role(&env.tfc, &account);
    env.tfc
        .inject(tfc_fault(Some("POST"), VARS, 1, FaultKind::Status(502)));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(statuses(&env.tfc, "POST", VARS), [502, 201]);
    assert_eq!(
        set_vars(&env.tfc, &set_name(&account)),
        default_vars(&account)
    );

    // Slower than the client waits (TFE_TIMEOUT_MS is 2 s here): the add lands after the
    // listing that looked for it. Whichever POST lands first, the variable is there once.
    let slow = env.new_account("add-slow", &[]).await;
    seed_set_without_role(&env.tfc, &slow);
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARS,
        1,
        FaultKind::Delay(Duration::from_millis(2500)),
    ));
    let r = report(env.handle(&manual(&slow)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    // The slow POST lands after the one that replaced it: look once both have answered.
    assert!(
        eventually(Duration::from_secs(10), || {
            statuses(&env.tfc, "POST", VARS).len() >= 2
        })
        .await,
        "the slow add never reached the server: {:?}",
        statuses(&env.tfc, "POST", VARS)
    );
    assert_eq!(set_vars(&env.tfc, &set_name(&slow)), default_vars(&slow));
}

/// Soak seed 12 at 15%: creating a set failed three times in a row (a 502, then two dropped
/// connections, none of which created it), and the account failed after the third POST,
/// sent at once after the second. A create that provably did not happen is retried as often
/// as any idempotent request, with the same backoff.
#[tokio::test]
async fn a_set_whose_creates_did_not_happen_is_created_within_the_retry_budget() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("create-flaky", &[]).await;
    env.tfc
        .inject(tfc_fault(Some("POST"), VARSETS, 1, FaultKind::Status(502)));
    env.tfc
        .inject(tfc_fault(Some("POST"), VARSETS, 2, FaultKind::Reset));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(statuses(&env.tfc, "POST", VARSETS), [502, 0, 0, 201]);
    assert_eq!(env.tfc.varsets(ORG).len(), 1);
    assert_eq!(
        set_vars(&env.tfc, &set_name(&account)),
        default_vars(&account)
    );
}

/// Found building the soak (seed 12): AWS calls had no client timeout, so the soak's "slow
/// answer past the client timeout" could not even happen on the AWS side. A call that hangs
/// held its sweep slot until it answered (the 15% sweeps spent minutes on 10 s answers), and
/// one that never answers would have held the whole sweep, and its summary, until the
/// Lambda's deadline. Now a stalled attempt is given up after ONBOARD_AWS_TIMEOUT_MS and
/// retried like any transient error; the slow create lands meanwhile and is adopted.
#[tokio::test]
async fn an_aws_call_slower_than_the_client_waits_is_given_up_and_retried() {
    let env = TestEnv::new(&[("ONBOARD_AWS_TIMEOUT_MS", "1000")]).await;
    let account = env.new_account("aws-stall", &[]).await;
    env.proxy.inject(AwsFault {
        action: "CreateRole",
        times: 1,
        kind: AwsFaultKind::Delay(Duration::from_secs(3)),
    });
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    // The stalled create is recorded once moto has answered it, after its 3 s delay.
    let creates_seen = || {
        env.proxy
            .calls()
            .iter()
            .filter(|c| c.action == "CreateRole")
            .count()
    };
    assert!(
        eventually(Duration::from_secs(15), || creates_seen() >= 2).await,
        "the stalled create was given up and sent again: {} CreateRole calls",
        creates_seen()
    );
    assert_complete(&env, &account).await;
}

/// A create that took effect though its answer was a 500: the repeat meets
/// EntityAlreadyExists.
fn lost_create(env: &TestEnv, create: &'static str) {
    env.proxy.inject(AwsFault {
        action: create,
        times: 1,
        kind: AwsFaultKind::ForwardThenError {
            status: 500,
            code: "ServiceFailure",
            message: "injected: the answer was lost",
        },
    });
}

/// The next `times` calls of `action` do not see what was created moments ago.
fn not_visible_yet(env: &TestEnv, action: &'static str, times: usize) {
    env.proxy.inject(AwsFault::error(
        action,
        times,
        404,
        "NoSuchEntity",
        "injected: not visible yet",
    ));
}

/// Soak seed 3 at 15% (120 accounts): creating the OIDC provider took effect but answered
/// a 500; the repeated create met EntityAlreadyExists, the read after it answered
/// NoSuchEntity (IAM had not propagated the provider yet), and the account failed with
/// "exists but could not be read back" instead of reading again.
#[tokio::test]
async fn an_entity_that_exists_but_is_not_visible_yet_is_read_again() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("invisible-provider", &[]).await;
    lost_create(&env, "CreateOpenIDConnectProvider");
    // The first read (before the create) finds nothing anyway; the second is the one after
    // EntityAlreadyExists.
    not_visible_yet(&env, "GetOpenIDConnectProvider", 2);
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_complete(&env, &account).await;

    // The same for the role.
    let other = env.new_account("invisible-role", &[]).await;
    lost_create(&env, "CreateRole");
    not_visible_yet(&env, "GetRole", 2);
    let r = report(env.handle(&manual(&other)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_complete(&env, &other).await;
}

/// Soak seed 21 at 30% (120 accounts): Organizations answered ListTagsForResource with its
/// documented internal error, `ServiceException` (HTTP 500, "try again later"), three times
/// running (the SDK's own attempts); the function did not know the code and failed the
/// account instead of retrying as it does for IAM's `ServiceFailure`.
#[tokio::test]
async fn a_server_error_of_any_aws_service_is_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("org-500", &[]).await;
    env.proxy.inject(AwsFault::error(
        "ListTagsForResource",
        1,
        500,
        "ServiceException",
        "AWS Organizations can't complete your request because of an internal service error. Try again later.",
    ));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("ListTagsForResource"), 2);
    assert_complete(&env, &account).await;
}

/// Soak seed 23 at 30% (120 accounts): the role created moments ago (its answer lost) was
/// read back, then listing its attached policies answered NoSuchEntity, as IAM can until it
/// has propagated a new role everywhere; the account failed instead of asking again. The
/// role was just read, so NoSuchEntity on a call that names it can only mean "not yet".
#[tokio::test]
async fn calls_on_a_role_just_read_retry_until_iam_shows_it_everywhere() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("lagging-role", &[]).await;
    lost_create(&env, "CreateRole");
    not_visible_yet(&env, "ListAttachedRolePolicies", 1);
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("ListAttachedRolePolicies"), 2);
    assert_complete(&env, &account).await;
}
