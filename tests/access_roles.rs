//! Issue 9 and issue 11 §1: the access roles (`ONBOARD_ACCESS_ROLE_NAMES`, tried in order on
//! every path) and the readiness poll of a brand-new account, against moto behind the fault
//! proxy, whose strict AssumeRole answers AccessDenied for a role the account does not have.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::env::*;
use support::fault_proxy::{peak_per_second, Call};
use support::moto::Moto;
use support::tfc_fake::FakeOptions;
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::{Outcome, Report, Summary};
use tokio::time::Instant;

const OAAR: &str = "OrganizationAccountAccessRole";
const CT: &str = "AWSControlTowerExecution";

fn error(response: Result<Response, HandlerError>) -> HandlerError {
    match response {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

/// The report's `access_role`, read from its JSON: the field the issue asks for.
fn access_role(report: &Report) -> Value {
    serde_json::to_value(report).expect("report is JSON")["access_role"].clone()
}

/// (role name, HTTP status) of each AssumeRole into `account`, in order.
fn attempts(calls: &[Call]) -> Vec<(String, u16)> {
    calls
        .iter()
        .map(|c| {
            let arn = c.param("RoleArn").unwrap_or_default();
            (
                arn.rsplit('/').next().unwrap_or_default().to_owned(),
                c.status,
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, u16)]) -> Vec<(String, u16)> {
    expected
        .iter()
        .map(|(r, s)| ((*r).to_owned(), *s))
        .collect()
}

#[tokio::test]
async fn a_control_tower_account_is_onboarded_from_a_plain_create_account_result() {
    // Default settings: nothing says "Control Tower" but the account itself.
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("ct-vended", &[]).await;
    env.moto.make_control_tower_account(&account).await;

    let r = report(
        env.handle(&sample_event("create-account-result.json", &account))
            .await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(access_role(&r), json!(CT), "{r:?}");
    assert_eq!(
        attempts(&env.proxy.assume_role_calls(&account)),
        pairs(&[(OAAR, 403), (CT, 200)]),
        "the first role's AccessDenied moves on to the next at once"
    );
    assert_complete(&env, &account).await;

    // A replay goes the same way and writes nothing.
    env.clear_counts();
    let again = report(
        env.handle(&sample_event("create-account-result.json", &account))
            .await,
    );
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(access_role(&again), json!(CT));
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn every_event_kind_tries_the_roles_in_the_configured_order() {
    let env = TestEnv::new(&[]).await;
    let both = env.new_account("both-roles", &[]).await;
    // The account has both roles; whichever comes first in the list is used, whatever the
    // event: a Control Tower event no longer has a role of its own.
    let management = env.moto.ensure_organization().await;
    let iam = env.member_iam(&both).await;
    iam.create_role()
        .role_name(CT)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{management}:root")}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("CreateRole");
    let events = [
        sample_event("create-account-result.json", &both),
        sample_event("control-tower-create-managed-account.json", &both),
        sample_event("control-tower-update-managed-account.json", &both),
        json!({"account_id": both}),
    ];
    for event in &events {
        env.clear_counts();
        let r = report(env.handle(event).await);
        assert_eq!(access_role(&r), json!(OAAR), "{event}");
        assert_eq!(
            attempts(&env.proxy.assume_role_calls(&both)),
            pairs(&[(OAAR, 200)])
        );
    }

    let reversed = TestEnv::new(&[("ONBOARD_ACCESS_ROLE_NAMES", &format!("{CT},{OAAR}"))]).await;
    for event in &events {
        reversed.clear_counts();
        let r = report(reversed.handle(event).await);
        assert_eq!(access_role(&r), json!(CT), "{event}");
        assert_eq!(
            attempts(&reversed.proxy.assume_role_calls(&both)),
            pairs(&[(CT, 200)])
        );
    }

    // A Control Tower event for an account that only has the Organizations role.
    let plain = env.new_account("ct-event-plain-account", &[]).await;
    let r = report(
        env.handle(&sample_event(
            "control-tower-create-managed-account.json",
            &plain,
        ))
        .await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(access_role(&r), json!(OAAR));
}

#[tokio::test]
async fn an_old_account_with_no_access_role_fails_at_once_naming_every_role_tried() {
    let env = TestEnv::new(&[("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0")]).await;
    let account = env.new_account("invited-like", &[]).await;
    env.moto.delete_access_role(&account).await;

    let err = error(
        env.handle(&sample_event("create-account-result.json", &account))
            .await,
    );
    assert_eq!(err.error_type(), "NonRetryable.AssumeRole", "{err}");
    for needle in [
        account.as_str(),
        &format!("{OAAR} (AccessDenied), {CT} (AccessDenied)"),
        "ONBOARD_ACCESS_ROLE_NAMES",
        "trust policy for the management account",
    ] {
        assert!(err.message.contains(needle), "`{needle}` missing: {err}");
    }
    assert_eq!(
        attempts(&env.proxy.assume_role_calls(&account)),
        pairs(&[(OAAR, 403), (CT, 403)]),
        "one round, no readiness wait"
    );
    assert_eq!(env.writes(), (0, 0));
    assert_eq!(provider_count(&env.member_iam(&account).await).await, 0);
}

#[tokio::test]
async fn a_new_account_is_polled_in_rounds_over_every_role_and_onboarded_once_it_opens() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("opens-later", &[]).await;
    env.proxy
        .close_account_from_first_assume_role(&account, Duration::from_secs(3));

    let r = report(
        env.handle(&sample_event("create-account-result.json", &account))
            .await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(access_role(&r), json!(OAAR));
    let opens = env
        .proxy
        .closed_until(&account)
        .expect("closed at the first AssumeRole");
    let calls = env.proxy.assume_role_calls(&account);
    let seen = attempts(&calls);
    let (last, denied) = seen.split_last().expect("calls");
    assert_eq!(*last, (OAAR.to_owned(), 200));
    // Whole rounds, each over both roles in order, until the account opened.
    assert_eq!(denied.len() % 2, 0, "{seen:?}");
    for round in denied.chunks(2) {
        assert_eq!(round, pairs(&[(OAAR, 403), (CT, 403)]), "{seen:?}");
    }
    // OrganizationAccountAccessRole was denied only while the account was closed (the
    // account never has AWSControlTowerExecution, so that one is denied either way).
    assert!(calls
        .iter()
        .zip(&seen)
        .filter(|(_, (role, status))| role == OAAR && *status == 403)
        .all(|(c, _)| c.at < opens));
    // At most 2 calls in any second: a round of two roles about once a second while closed,
    // not dozens. The account closed at the first call, so however busy the machine, there
    // was at least one round; slowness only ever makes fewer, so the upper bound holds too.
    assert!(peak_per_second(&calls) <= 2, "{seen:?}");
    let closed_for = opens.saturating_duration_since(calls[0].at).as_secs_f64();
    let rounds = denied.len() / 2;
    assert!(rounds >= 1, "polled while closed: {seen:?}");
    assert!(
        rounds as f64 <= closed_for + 1.0,
        "{rounds} rounds in {closed_for:.2} s closed: {seen:?}"
    );
    assert_complete(&env, &account).await;
}

async fn sweep(ob: &tfc_onboarder::Onboarder) -> Summary {
    tfc_onboarder::sweep::reconcile(ob, false, None, Instant::now() + Duration::from_secs(600))
        .await
        .expect("the organization and the variable sets can be listed")
}

fn report_of<'a>(s: &'a Summary, account: &str) -> &'a Report {
    s.reports
        .iter()
        .find(|r| r.account_id.as_str() == account)
        .unwrap_or_else(|| panic!("no report for {account}"))
}

#[tokio::test]
async fn a_sweep_reaches_control_tower_accounts_and_skips_those_without_a_role_naming_them() {
    // A sweep sees every account of its organization: a private moto, without managed policies.
    let moto: &'static Moto = Box::leak(Box::new(
        tokio::task::spawn_blocking(|| Moto::start(false))
            .await
            .expect("start moto"),
    ));
    let fake = FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        max_page_size: 100,
        ..FakeOptions::default()
    };
    let extra = [("ONBOARD_ROLE_POLICY_ARNS", "none")];
    let env = TestEnv::with(moto, fake.clone(), &extra).await;
    let plain = env.new_account("sweep-plain", &[]).await;
    let control_tower = env.new_account("sweep-ct", &[]).await;
    moto.make_control_tower_account(&control_tower).await;
    let neither = env.new_account("sweep-neither", &[]).await;
    moto.delete_access_role(&neither).await;

    let summary = sweep(&env.ob).await;
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(access_role(report_of(&summary, &plain)), json!(OAAR));
    let ct = report_of(&summary, &control_tower);
    assert_eq!(ct.outcome, Outcome::Onboarded, "{ct:?}");
    assert_eq!(access_role(ct), json!(CT));
    // New accounts: the sweep does not wait (its creation event does), and says why.
    let skipped = report_of(&summary, &neither);
    assert_eq!(skipped.outcome, Outcome::Skipped);
    let reason = skipped.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!("{OAAR} (AccessDenied), {CT} (AccessDenied)"))
            && reason.contains("the account is new"),
        "{reason}"
    );
    assert_eq!(
        attempts(&env.proxy.assume_role_calls(&neither)),
        pairs(&[(OAAR, 403), (CT, 403)])
    );
    assert_eq!(
        attempts(&env.proxy.assume_role_calls(&control_tower)),
        pairs(&[(OAAR, 403), (CT, 200)])
    );

    // Older than the window: the reason says what to do about an account without a role.
    let old = TestEnv::with(
        moto,
        fake,
        &[extra[0], ("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0")],
    )
    .await;
    let summary = sweep(&old.ob).await;
    let listed: Vec<_> = summary
        .skipped
        .iter()
        .filter(|s| s.account_id.as_str() == neither)
        .collect();
    assert_eq!(listed.len(), 1, "{:?}", summary.skipped);
    assert!(
        listed[0]
            .reason
            .contains(&format!("{OAAR} (AccessDenied), {CT} (AccessDenied)"))
            && listed[0].reason.contains("invited accounts")
            && listed[0].reason.contains("ONBOARD_ACCESS_ROLE_NAMES"),
        "{}",
        listed[0].reason
    );
    assert_eq!(access_role(report_of(&summary, &control_tower)), json!(CT));
}
