//! Issue 10, "Behave like the real Terraform Cloud API, not like our fake of it": sensitive
//! variables, project-owned variable sets, variables sent inline with a create, and the rate
//! limit shared by everything that uses the token's user. Each test drives the product
//! against the fake's model of the documented behaviour and judges the end state.

mod support;

use std::time::Duration;

use serde_json::json;
use support::env::*;
use support::moto::Moto;
use support::tfc_fake::{FakeOptions, FaultKind, TfcFake};
use tfc_onboarder::report::{Action, Outcome, Report};
use tokio::time::Instant;

const VARSETS: &str = "/organizations/acme/varsets";
const VARS: &str = "/relationships/vars";
const RUN_ROLE: &str = "TFC_AWS_RUN_ROLE_ARN";
const SENSITIVE_DETAIL: &str = "sensitive: value cannot be read back; rewritten";

/// The change reported for one variable: its action and detail.
fn var_change(report: &Report, key: &str) -> (Action, Option<String>) {
    let change = report
        .changes
        .iter()
        .find(|c| c.resource == "variable" && c.id == key)
        .unwrap_or_else(|| panic!("no change for {key} in {:?}", report.changes));
    (change.action, change.detail.clone())
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

/// Onboards `account` from scratch and checks that its new set holds the three variables.
async fn onboard_complete(env: &TestEnv, account: &str) -> Report {
    let r = report(env.handle(&manual(account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let set = env
        .tfc
        .varset_by_name(ORG, &set_name(account))
        .expect("the set was created");
    assert_eq!(stored(&env.tfc, &set.id), wanted(account, false));
    r
}

// ---------------------------------------------------------------------------------------------
// 1. Sensitive variables: only their value may change, and it cannot be read back
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_sensitive_role_variable_is_rewritten_by_value_and_stays_sensitive() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("sensitive-role", &[]).await;
    // The operator marked the role variable sensitive; its value is even stale.
    let set = seed_set_without_role(&env.tfc, &account);
    let stale = format!("arn:aws:iam::{account}:role/old-name");
    env.tfc.seed_var(&set, RUN_ROLE, &stale, "env", true);

    let first = report(env.handle(&manual(&account)).await);
    assert_eq!(first.outcome, Outcome::Onboarded, "{first:?}");
    assert_eq!(
        var_change(&first, RUN_ROLE),
        (Action::Update, Some(SENSITIVE_DETAIL.into()))
    );
    assert_eq!(
        stored(&env.tfc, &set),
        wanted(&account, true),
        "the value is rewritten and the variable stays sensitive"
    );

    // A sensitive value cannot be compared, so every run rewrites it: one write, no more.
    env.clear_counts();
    let again = report(env.handle(&manual(&account)).await);
    assert_eq!(again.outcome, Outcome::Onboarded, "{again:?}");
    assert_eq!(
        var_change(&again, RUN_ROLE),
        (Action::Update, Some(SENSITIVE_DETAIL.into()))
    );
    assert_eq!(env.writes(), (0, 1));
    assert_eq!(statuses(&env.tfc, "PATCH", ""), [200]);
    for key in ["TFC_AWS_PROVIDER_AUTH", "AWS_DEFAULT_REGION"] {
        assert_eq!(var_change(&again, key), (Action::Unchanged, None));
    }
    assert_eq!(stored(&env.tfc, &set), wanted(&account, true));
}

#[tokio::test]
async fn a_sensitive_variable_met_after_a_duplicate_key_is_rewritten_by_value() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("sensitive-race", &[]).await;
    let set = seed_set_without_role(&env.tfc, &account);
    // Our add is held; meanwhile someone adds the same key as a sensitive variable.
    hold_next(&env.tfc, "POST", VARS);
    let stale = format!("arn:aws:iam::{account}:role/stale");
    let racer = async {
        fault_taken(&env.tfc).await;
        env.tfc.seed_var(&set, RUN_ROLE, &stale, "env", true);
    };
    let event = manual(&account);
    let (response, ()) = tokio::join!(env.handle(&event), racer);
    let r = report(response);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(statuses(&env.tfc, "POST", VARS), [422]);
    assert_eq!(statuses(&env.tfc, "PATCH", ""), [200]);
    assert_eq!(
        var_change(&r, RUN_ROLE),
        (Action::Update, Some(SENSITIVE_DETAIL.into())),
        "the report says what happened: the variable was there and was rewritten"
    );
    assert_eq!(stored(&env.tfc, &set), wanted(&account, true));
}

#[tokio::test]
async fn offboarding_does_not_guess_behind_a_sensitive_role_variable() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("sensitive-offboard", &[]).await;
    let set = env.tfc.seed_varset(
        ORG,
        &set_name(&account),
        &[("TFC_AWS_PROVIDER_AUTH", "true", "env")],
    );
    env.tfc
        .seed_var(&set, RUN_ROLE, &role_arn(&account), "env", true);
    let before = stored(&env.tfc, &set);

    let r = report(
        env.handle(&json!({"action": "offboard", "account_id": account}))
            .await,
    );
    assert_eq!(r.outcome, Outcome::Skipped, "{r:?}");
    let reason = r.reason.unwrap_or_default();
    assert!(
        reason.contains(RUN_ROLE) && reason.contains("sensitive") && reason.contains("by hand"),
        "{reason}"
    );
    assert_eq!(env.tfc.write_count(), 0);
    assert_eq!(stored(&env.tfc, &set), before);
}

// ---------------------------------------------------------------------------------------------
// 2. Project-owned variable sets are never the organization's
// ---------------------------------------------------------------------------------------------

/// A project admin's set named like this tool's, with a variable of their own.
fn seed_project_namesake(tfc: &TfcFake, account: &str) -> (String, Vec<(String, String, bool)>) {
    let project = tfc.seed_project(ORG, "payments");
    let set = tfc.seed_project_varset(
        ORG,
        &project,
        &set_name(account),
        &[("TF_LOG", "debug", "env")],
    );
    (set.clone(), stored(tfc, &set))
}

fn assert_names_the_project(message: &str, account: &str) {
    for needle in ["payments", "prj-", &set_name(account), "organization"] {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}

#[tokio::test]
async fn a_project_owned_namesake_is_reported_and_never_written() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("project-namesake", &[]).await;
    let (set, before) = seed_project_namesake(&env.tfc, &account);

    let err = error(env.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert_names_the_project(&err.message, &account);
    assert_eq!(env.writes(), (0, 0), "refused before anything was written");
    assert_eq!(stored(&env.tfc, &set), before);
    assert_eq!(env.tfc.varsets(ORG).len(), 1, "no second set either");
}

#[tokio::test]
async fn a_project_owned_set_met_after_a_duplicate_name_is_never_adopted() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("project-race", &[]).await;
    // Our create is held; meanwhile a project admin creates a set of the same name.
    hold_next(&env.tfc, "POST", VARSETS);
    let racer = async {
        fault_taken(&env.tfc).await;
        seed_project_namesake(&env.tfc, &account)
    };
    let event = manual(&account);
    let (response, (set, before)) = tokio::join!(env.handle(&event), racer);
    let err = error(response);
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert_names_the_project(&err.message, &account);
    assert_eq!(statuses(&env.tfc, "POST", VARSETS), [422]);
    let writes_to_vars = env
        .tfc
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.contains(VARS))
        .count();
    assert_eq!(writes_to_vars, 0, "nothing written into their set");
    assert_eq!(stored(&env.tfc, &set), before);
}

#[tokio::test]
async fn offboarding_leaves_a_project_owned_namesake_alone() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("project-offboard", &[]).await;
    let project = env.tfc.seed_project(ORG, "payments");
    // Even one that names this account's role: the tool never wrote it, so it removes nothing.
    let role = role_arn(&account);
    let set = env.tfc.seed_project_varset(
        ORG,
        &project,
        &set_name(&account),
        &[
            ("TFC_AWS_PROVIDER_AUTH", "true", "env"),
            (RUN_ROLE, role.as_str(), "env"),
        ],
    );
    let before = stored(&env.tfc, &set);

    let r = report(
        env.handle(&json!({"action": "offboard", "account_id": account}))
            .await,
    );
    assert_eq!(r.outcome, Outcome::Skipped, "{r:?}");
    assert_names_the_project(r.reason.as_deref().unwrap_or_default(), &account);
    assert_eq!(env.tfc.write_count(), 0);
    assert_eq!(stored(&env.tfc, &set), before);
}

/// A sweep sees every account of its organization, so it gets a moto of its own (without the
/// AWS-managed policies, hence no policy on the role).
#[tokio::test]
async fn a_sweep_rewrites_sensitive_roles_and_never_adopts_project_owned_sets() {
    let moto = tokio::task::spawn_blocking(|| Moto::start(false))
        .await
        .expect("start moto");
    let moto: &'static Moto = Box::leak(Box::new(moto));
    let fake = FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    };
    let env = TestEnv::with(moto, fake, &[("ONBOARD_ROLE_POLICY_ARNS", "none")]).await;
    let sensitive = env.new_account("sweep-sensitive", &[]).await;
    let namesake = env.new_account("sweep-namesake", &[]).await;
    let set = seed_set_without_role(&env.tfc, &sensitive);
    env.tfc
        .seed_var(&set, RUN_ROLE, &role_arn(&sensitive), "env", true);
    let (project_set, before) = seed_project_namesake(&env.tfc, &namesake);

    let summary = tfc_onboarder::sweep::reconcile(
        &env.ob,
        false,
        None,
        Instant::now() + Duration::from_secs(120),
    )
    .await
    .expect("the sweep runs");
    let failed: Vec<_> = summary
        .failures
        .iter()
        .map(|f| f.account_id.as_str())
        .collect();
    assert_eq!(failed, [namesake.as_str()], "{summary:?}");
    assert_names_the_project(&summary.failures[0].message, &namesake);
    assert_eq!(stored(&env.tfc, &project_set), before);
    let ok = summary
        .reports
        .iter()
        .find(|r| r.account_id.as_str() == sensitive)
        .expect("a report for the account with the sensitive role");
    assert_eq!(ok.outcome, Outcome::Onboarded, "{ok:?}");
    assert_eq!(
        var_change(ok, RUN_ROLE),
        (Action::Update, Some(SENSITIVE_DETAIL.into()))
    );
    assert_eq!(stored(&env.tfc, &set), wanted(&sensitive, true));
}

// ---------------------------------------------------------------------------------------------
// 3. Variables sent inline with a create are checked, not assumed
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn variables_a_create_did_not_store_are_added_and_reported() {
    let fake = FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        max_page_size: 3,
        create_ignores_inline_vars: true,
        ..FakeOptions::default()
    };
    let env = TestEnv::with(Moto::shared(), fake, &[]).await;
    let account = env.new_account("inline-ignored", &[]).await;

    let r = onboard_complete(&env, &account).await;
    assert_eq!(statuses(&env.tfc, "POST", VARS), [201, 201, 201]);
    for key in ["TFC_AWS_PROVIDER_AUTH", RUN_ROLE, "AWS_DEFAULT_REGION"] {
        let (action, detail) = var_change(&r, key);
        assert_eq!(action, Action::Create, "{key}");
        assert!(
            detail.as_deref().is_some_and(|d| d.contains("added")),
            "{key}: the report says it was added separately: {detail:?}"
        );
    }

    env.clear_counts();
    let again = report(env.handle(&manual(&account)).await);
    assert_eq!(again.outcome, Outcome::Unchanged, "{again:?}");
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn variables_stored_by_the_create_are_taken_from_its_answer() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("inline-stored", &[]).await;

    let r = onboard_complete(&env, &account).await;
    // The create's answer lists the variables it stored: no read-back, no extra write.
    let calls: Vec<_> = env
        .tfc
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_owned(), format!("/api/v2{VARSETS}")),
            ("POST".to_owned(), format!("/api/v2{VARSETS}")),
        ]
    );
    for key in ["TFC_AWS_PROVIDER_AUTH", RUN_ROLE, "AWS_DEFAULT_REGION"] {
        assert_eq!(var_change(&r, key), (Action::Create, None), "{key}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. The rate limit is per user: a 429 is honoured until the invocation's deadline
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_is_waited_out_for_as_long_as_the_deadline_allows() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("throttled-long", &[]).await;
    // Other containers and automations of the same user keep the budget busy for a while.
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        12,
        FaultKind::RateLimitedReset(0.02),
    ));

    onboard_complete(&env, &account).await;
    let mut expected = vec![429; 12];
    expected.push(200);
    assert_eq!(statuses(&env.tfc, "GET", VARSETS), expected);
}

#[tokio::test]
async fn a_wait_past_the_deadline_fails_at_once_as_retryable() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("throttled-deadline", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::RetryAfterSeconds(20),
    ));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(8);
    let err = error(tfc_onboarder::handler::handle(&env.ob, &manual(&account), deadline).await);
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
