//! Issue 3, "Survive the real world": every fault a brand-new account, IAM, or Terraform Cloud
//! can throw at one onboarding, injected for real (moto behind the fault proxy, the Terraform
//! Cloud fake) and judged by the end state: exactly one provider, one role, one variable set
//! and each variable once, and nothing written when the answer is "no".

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::env::*;
use support::fault_proxy::{AwsFault, AwsFaultKind};
use support::moto::Moto;
use support::tfc_fake::{FakeOptions, FaultKind, TfcFake};
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::{Action, Outcome, Report};
use tokio::time::Instant;

const VARSETS: &str = "/organizations/acme/varsets";
const VARS: &str = "/relationships/vars";
const ROLE: &str = "terraform-cloud";
const SUB: &str = "organization:acme:project:*:workspace:*:run_phase:*";

fn aws_error(action: &'static str, times: usize, status: u16, code: &'static str) -> AwsFault {
    AwsFault::error(action, times, status, code, "injected by the test")
}

/// The call reaches moto (the resource is created) but its answer is lost or replaced.
fn aws_lost(action: &'static str, status: u16, code: &'static str) -> AwsFault {
    AwsFault {
        action,
        times: 1,
        kind: AwsFaultKind::ForwardThenError {
            status,
            code,
            message: "injected by the test",
        },
    }
}

/// Arrival times of `method` requests on paths ending in `suffix`, in order.
fn arrivals(tfc: &TfcFake, method: &str, suffix: &str) -> Vec<std::time::Instant> {
    let mut times: Vec<_> = tfc
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .map(|r| r.at)
        .collect();
    times.sort();
    times
}

fn actions(report: &Report, resource: &str) -> Vec<Action> {
    report
        .changes
        .iter()
        .filter(|c| c.resource == resource)
        .map(|c| c.action)
        .collect()
}

/// Uses up injected faults with harmless reads, as if the outage had ended.
async fn drain(tfc: &TfcFake, method: reqwest::Method, path: &str) {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2{path}", tfc.url());
    for _ in 0..10_000 {
        if tfc.pending_faults() == 0 {
            return;
        }
        let _ = http.request(method.clone(), &url).send().await;
    }
    panic!("faults never drained");
}

fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------------------------
// 1. Terraform Cloud faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limits_are_waited_out_as_each_header_form_says() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-429", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::RateLimitedReset(0.3),
    ));
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARSETS,
        1,
        FaultKind::RetryAfterSeconds(2),
    ));

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(statuses(&env.tfc, "GET", VARSETS), [429, 200]);
    assert_eq!(
        statuses(&env.tfc, "POST", VARSETS),
        [429, 201],
        "a 429 was not applied, so the create is repeated"
    );
    let get = arrivals(&env.tfc, "GET", VARSETS);
    let waited = get[1] - get[0];
    // Fractional seconds honoured: not the 1 s fallback for a header that was not understood.
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(900),
        "X-RateLimit-Reset 0.3: waited {waited:?}"
    );
    let post = arrivals(&env.tfc, "POST", VARSETS);
    assert!(
        post[1] - post[0] >= Duration::from_millis(1900),
        "Retry-After 2: waited {:?}",
        post[1] - post[0]
    );
    assert_complete(&env, &account).await;

    // Retry-After as an HTTP date (whole seconds): 3 s ahead means at least 2 s of waiting.
    env.clear_counts();
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARS,
        1,
        FaultKind::RetryAfterDate(3),
    ));
    let again = report(env.handle(&manual(&account)).await);
    assert_eq!(again.outcome, Outcome::Unchanged, "{again:?}");
    assert_eq!(statuses(&env.tfc, "GET", VARS), [429, 200]);
    let vars = arrivals(&env.tfc, "GET", VARS);
    assert!(
        vars[1] - vars[0] >= Duration::from_millis(1900),
        "Retry-After date: waited {:?}",
        vars[1] - vars[0]
    );
    assert_eq!(env.writes(), (0, 0));

    // A server asking for an hour is not waited for inside a Lambda: retryable, at once.
    env.clear_counts();
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::RetryAfterSeconds(3600),
    ));
    let started = Instant::now();
    let err = error(env.handle(&manual(&account)).await);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.error_type(), "Retryable.VariableSet", "{err}");
    assert!(
        err.message.contains("3600") && err.message.contains(&account),
        "{err}"
    );
    assert_eq!(env.writes(), (0, 0));
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_and_a_failed_create_is_checked_before_repeating() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-5xx", &[]).await;
    for code in [500, 502, 503] {
        env.tfc
            .inject(tfc_fault(Some("GET"), VARSETS, 1, FaultKind::Status(code)));
    }
    env.tfc
        .inject(tfc_fault(Some("POST"), VARSETS, 1, FaultKind::Status(502)));

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    // Three failed reads and the good one, then (after the 502 on the create) one more read to
    // see whether the create happened anyway, then the repeated create.
    assert_eq!(
        statuses(&env.tfc, "GET", VARSETS),
        [500, 502, 503, 200, 200]
    );
    assert_eq!(statuses(&env.tfc, "POST", VARSETS), [502, 201]);
    assert_eq!(env.tfc.pending_faults(), 0);
    assert_complete(&env, &account).await;

    env.clear_counts();
    env.tfc
        .inject(tfc_fault(Some("GET"), VARS, 2, FaultKind::Status(503)));
    assert_eq!(
        report(env.handle(&manual(&account)).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(statuses(&env.tfc, "GET", VARS), [503, 503, 200]);
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn slow_answers_past_the_client_timeout_are_retried_and_never_duplicate_the_set() {
    let env = TestEnv::new(&[("TFE_TIMEOUT_MS", "300")]).await;
    let account = env.new_account("tfc-slow", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::Delay(Duration::from_millis(600)),
    ));
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARSETS,
        1,
        FaultKind::Delay(Duration::from_millis(600)),
    ));

    let started = Instant::now();
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The abandoned create still lands on the server after the client gave up; wait for it.
    assert!(
        eventually(Duration::from_secs(10), || {
            statuses(&env.tfc, "POST", VARSETS).len() >= 2
        })
        .await,
        "the abandoned create never reached the server: {:?}",
        statuses(&env.tfc, "POST", VARSETS)
    );
    let posts = statuses(&env.tfc, "POST", VARSETS);
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(
        posts.contains(&201) && posts.contains(&422),
        "one create won, the late one was refused: {posts:?}"
    );
    assert!(
        statuses(&env.tfc, "GET", VARSETS).len() >= 3,
        "timed-out read retried, then a check after the timed-out create"
    );
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn a_create_that_succeeded_behind_a_504_is_adopted_not_repeated() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-504", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARSETS,
        1,
        FaultKind::SucceedThen(504),
    ));

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        statuses(&env.tfc, "POST", VARSETS),
        [504],
        "listed again and adopted instead of posting twice"
    );
    assert_eq!(env.tfc.write_count(), 1);
    assert_eq!(
        r.variable_set.as_ref().and_then(|v| v.id.clone()),
        env.tfc
            .varset_by_name(ORG, &set_name(&account))
            .map(|s| s.id)
    );
    assert_complete(&env, &account).await;

    // The same for a variable whose create answered 502 after it was stored.
    let other = env.new_account("tfc-502-var", &[]).await;
    env.tfc.seed_varset(ORG, &set_name(&other), &[]);
    env.clear_counts();
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARS,
        1,
        FaultKind::SucceedThen(502),
    ));
    let r = report(env.handle(&manual(&other)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        statuses(&env.tfc, "POST", VARS),
        [502, 201, 201],
        "three variables, none posted twice"
    );
    assert_eq!(set_vars(&env.tfc, &set_name(&other)), default_vars(&other));
}

#[tokio::test]
async fn a_set_created_concurrently_is_adopted_after_the_duplicate_name_422() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-422", &[]).await;
    // The create is held in flight; meanwhile someone else creates the set with a stale region.
    hold_next(&env.tfc, "POST", VARSETS);
    let racer = async {
        fault_taken(&env.tfc).await;
        env.tfc.seed_varset(
            ORG,
            &set_name(&account),
            &[("AWS_DEFAULT_REGION", "us-west-2", "env")],
        );
    };
    let event = manual(&account);
    let (response, ()) = tokio::join!(env.handle(&event), racer);
    let r = report(response);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(statuses(&env.tfc, "POST", VARSETS), [422]);
    assert_eq!(
        actions(&r, "variable_set"),
        [Action::Unchanged],
        "adopted, not created"
    );
    let mut vars: Vec<_> = r
        .changes
        .iter()
        .filter(|c| c.resource == "variable")
        .map(|c| (c.id.as_str(), c.action))
        .collect();
    vars.sort_by_key(|(key, _)| *key);
    assert_eq!(
        vars,
        [
            ("AWS_DEFAULT_REGION", Action::Update),
            ("TFC_AWS_PROVIDER_AUTH", Action::Create),
            ("TFC_AWS_RUN_ROLE_ARN", Action::Create)
        ]
    );
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn a_variable_added_concurrently_is_adopted_after_the_duplicate_key_422() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-422-key", &[]).await;
    let set_id = seed_set_without_role(&env.tfc, &account);
    hold_next(&env.tfc, "POST", VARS);
    // Another writer adds the same key (with a stale value) while our add is in flight.
    let racer = async {
        fault_taken(&env.tfc).await;
        let body = json!({"data": {"type": "vars", "attributes": {
            "key": "TFC_AWS_RUN_ROLE_ARN", "value": format!("arn:aws:iam::{account}:role/stale"),
            "category": "env", "hcl": false, "sensitive": false}}});
        let status = reqwest::Client::new()
            .post(format!("{}/api/v2/varsets/{set_id}{VARS}", env.tfc.url()))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/vnd.api+json")
            .body(body.to_string())
            .send()
            .await
            .expect("the racing writer reaches the fake")
            .status();
        assert_eq!(status.as_u16(), 201);
    };
    let event = manual(&account);
    let (response, ()) = tokio::join!(env.handle(&event), racer);
    let r = report(response);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    // Ours arrived first but was held; the racer's landed meanwhile, so ours was refused.
    assert_eq!(statuses(&env.tfc, "POST", VARS), [422, 201]);
    assert_eq!(
        statuses(&env.tfc, "PATCH", ""),
        [200],
        "the stale value is corrected in place"
    );
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn token_organization_and_reachability_refusals_are_classified_and_write_nothing() {
    let good = TestEnv::new(&[]).await;
    let account = good.new_account("tfc-refusals", &[]).await;

    let revoked = TestEnv::new(&[("TFE_TOKEN", "revoked-token-0000000000")]).await;
    let err = error(revoked.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert!(
        err.message.contains("token invalid or expired") && err.message.contains(&account),
        "{err}"
    );
    assert_eq!(
        revoked.tfc.request_count(),
        1,
        "a 401 is not retried with the same token"
    );
    assert_eq!(revoked.tfc.write_count(), 0);

    let unknown = TestEnv::new(&[("TFE_ORGANIZATION", "ghost-org")]).await;
    let err = error(unknown.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert!(
        err.message.contains("organization `ghost-org` not found")
            && err
                .message
                .contains("lacks permission to manage variable sets"),
        "{err}"
    );
    assert_eq!(unknown.tfc.request_count(), 1, "a 404 is not retried");
    assert_eq!(unknown.tfc.write_count(), 0);

    let nowhere = closed_port_url();
    let unreachable = TestEnv::new(&[("TFE_ADDRESS", &nowhere)]).await;
    let err = error(unreachable.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "Retryable.VariableSet", "{err}");
    assert!(
        err.message.contains("could not be reached") && err.message.contains(&account),
        "{err}"
    );

    // Once the token, organization or network is fixed, a re-run completes.
    let r = report(good.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_complete(&good, &account).await;
}

#[tokio::test]
async fn plain_string_error_bodies_are_understood() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("tfc-plain", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        2,
        FaultKind::PlainErrors(503),
    ));
    env.tfc.inject(tfc_fault(
        Some("POST"),
        VARSETS,
        1,
        FaultKind::PlainErrors(422),
    ));

    let err = error(env.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert!(
        err.message.contains("(422): something went wrong"),
        "the detail of `{{\"errors\":[\"...\"]}}`: {err}"
    );
    assert_eq!(statuses(&env.tfc, "GET", VARSETS), [503, 503, 200]);
    assert!(env.tfc.varsets(ORG).is_empty());

    // The JSON:API object shape, exhausted: retryable, and the title reaches the message.
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1000,
        FaultKind::Status(503),
    ));
    let err = error(env.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "Retryable.VariableSet", "{err}");
    assert!(err.message.contains("Service Unavailable"), "{err}");
    drain(&env.tfc, reqwest::Method::GET, VARSETS).await;

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn the_client_stays_under_the_documented_rate_limit() {
    let fake = FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        rate_limit_per_sec: Some(30),
        ..FakeOptions::default()
    };
    let env = TestEnv::with(Moto::shared(), fake, &[]).await;
    let name = tfc_onboarder::domain::VarsetName::parse("aws-000000000000").unwrap();
    let tfc = &env.ob.tfc(Instant::now() + Duration::from_secs(60));
    let started = Instant::now();
    let results =
        futures::future::join_all((0..60).map(|_| tfc_onboarder::tfc::varsets::find(tfc, &name)))
            .await;
    assert!(results.iter().all(|r| matches!(r, Ok(None))), "{results:?}");
    let requests = env.tfc.requests();
    // At least one request each; a loaded machine may time one out and send it again, which
    // is no throttling and still counts against the window below.
    assert!(requests.len() >= 60, "{}", requests.len());
    assert!(
        requests.iter().all(|r| r.status == 200),
        "the server never had to throttle"
    );
    assert!(env.tfc.max_requests_in_any_window(Duration::from_secs(1)) <= 30);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "60 requests under 30/s take 2 s: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. AWS faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_account_that_denies_assume_role_a_few_times_is_waited_for() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("aws-not-ready", &[]).await;
    env.proxy
        .inject(aws_error("AssumeRole", 3, 403, "AccessDenied"));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    // Rounds over both access roles: the three injected denials, one real one for
    // AWSControlTowerExecution (the account does not have it), then OrganizationAccountAccessRole.
    let statuses: Vec<u16> = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.action == "AssumeRole")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [403, 403, 403, 403, 200]);
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn access_denied_forever_fails_retryable_within_the_budget_for_new_and_at_once_for_old_accounts(
) {
    let old = TestEnv::new(&[("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0")]).await;
    let account = old.new_account("aws-denied", &[]).await;
    old.proxy
        .inject(aws_error("AssumeRole", 1000, 403, "AccessDenied"));
    let err = error(
        tfc_onboarder::handler::handle(
            &old.ob,
            &manual(&account),
            Instant::now() + Duration::from_secs(25),
        )
        .await,
    );
    assert_eq!(err.error_type(), "NonRetryable.AssumeRole", "{err}");
    assert!(
        err.message.contains(&account) && err.message.contains("AccessDenied"),
        "{err}"
    );
    assert_eq!(
        old.proxy.count("AssumeRole"),
        2,
        "an old account's AccessDenied is not waited on (one round over the two access roles, no poll: the call count is the proof, not wall time)"
    );
    // Terraform Cloud was read (the preflight that runs before any write), never written.
    assert_eq!(old.writes(), (0, 0));

    // A window of 0 s means no account counts as new, even one that joined this very second.
    let request = match tfc_onboarder::event::parse(&manual(&account)).unwrap() {
        tfc_onboarder::event::Request::Onboard(req) => req,
        other => panic!("{other:?}"),
    };
    let just_joined = tfc_onboarder::aws::organizations::AccountInfo {
        id: request.account.clone(),
        name: "aws-denied".into(),
        active: true,
        state: "ACTIVE".into(),
        joined: Some(std::time::SystemTime::now()),
    };
    old.clear_counts();
    let r = old
        .ob
        .onboard(
            &request,
            Some(just_joined),
            &tfc_onboarder::onboard::Lookup::Query,
            Instant::now() + Duration::from_secs(25),
        )
        .await;
    let e = r.error.as_ref().expect("failed");
    assert!(!e.retryable && e.message.contains("AccessDenied"), "{e:?}");
    assert_eq!(old.proxy.count("AssumeRole"), 2);

    let new = TestEnv::new(&[]).await;
    new.proxy
        .inject(aws_error("AssumeRole", 1000, 403, "AccessDenied"));
    let started = Instant::now();
    // 25 s left, 20 s kept in reserve: about 5 s of waiting for the account.
    let err = error(
        tfc_onboarder::handler::handle(
            &new.ob,
            &manual(&account),
            Instant::now() + Duration::from_secs(25),
        )
        .await,
    );
    let waited = started.elapsed();
    assert_eq!(err.error_type(), "Retryable.AssumeRole", "{err}");
    assert!(
        err.message.contains(&account) && err.message.contains("not ready"),
        "{err}"
    );
    // It waited (backoff happened) and stopped at the budget: without the 20 s reserve it
    // would run on to the 25 s deadline. The margin above 5 s absorbs a loaded machine.
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "waited {waited:?}"
    );
    // The readiness poll: whole rounds over both roles, at most 2 calls a second, until the
    // budget (about 5 s after the start) ran out. Measured against the calls themselves: on a
    // loaded machine the reads before the first AssumeRole can take most of the budget, and
    // then there are fewer rounds, never more.
    let calls: Vec<_> = new
        .proxy
        .calls()
        .into_iter()
        .filter(|c| c.action == "AssumeRole")
        .collect();
    let (first, last) = (calls[0].at, calls[calls.len() - 1].at);
    let started = started.into_std();
    assert!(
        calls.len() >= 2 && calls.len() % 2 == 0,
        "whole rounds: {} calls",
        calls.len()
    );
    assert!(
        last + Duration::from_secs(2) >= started + Duration::from_secs(5),
        "polled until the budget ran out: the last call came {:?} after the start",
        last - started
    );
    assert!(
        calls.len() as f64 <= 2.0 * ((last - first).as_secs_f64() + 1.0),
        "2 calls a second: {} calls in {:?}",
        calls.len(),
        last - first
    );
    assert!(support::fault_proxy::peak_per_second(&calls) <= 2);
    assert!(
        err.message.contains(
            "OrganizationAccountAccessRole (AccessDenied), AWSControlTowerExecution (AccessDenied)"
        ),
        "{err}"
    );
    assert_eq!(
        new.writes(),
        (0, 0),
        "Terraform Cloud was only read, before any write"
    );
    assert_eq!(
        provider_count(&new.member_iam(&account).await).await,
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn region_and_subscription_not_ready_codes_are_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("aws-optin", &[]).await;
    env.proxy
        .inject(aws_error("AssumeRole", 1, 403, "RegionDisabledException"));
    env.proxy
        .inject(aws_error("AssumeRole", 1, 403, "OptInRequired"));
    env.proxy.inject(aws_error(
        "AssumeRole",
        1,
        400,
        "SubscriptionRequiredException",
    ));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("AssumeRole"), 4);
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn iam_throttling_is_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("aws-throttle", &[]).await;
    env.proxy.inject(aws_error("GetRole", 2, 400, "Throttling"));
    env.proxy
        .inject(aws_error("CreateRole", 2, 400, "Throttling"));
    env.proxy.inject(aws_error(
        "CreateOpenIDConnectProvider",
        1,
        400,
        "Throttling",
    ));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("GetRole"), 3);
    assert_eq!(env.proxy.count("CreateRole"), 3);
    assert_eq!(env.proxy.count("CreateOpenIDConnectProvider"), 2);
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn creates_whose_answer_was_lost_are_adopted() {
    let env = TestEnv::new(&[]).await;
    // The create happened but the caller was told it already exists (a racing twin's view).
    let account = env.new_account("aws-lost-409", &[]).await;
    env.proxy.inject(aws_lost(
        "CreateOpenIDConnectProvider",
        409,
        "EntityAlreadyExists",
    ));
    env.proxy
        .inject(aws_lost("CreateRole", 409, "EntityAlreadyExists"));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("CreateOpenIDConnectProvider"), 1);
    assert_eq!(env.proxy.count("CreateRole"), 1);
    assert_eq!(
        actions(&r, "role_policy_attachment"),
        [Action::Create],
        "the adopted role still gets its policy"
    );
    assert_complete(&env, &account).await;

    // The create happened but its answer was a 500: the retry meets the real EntityAlreadyExists.
    let other = env.new_account("aws-lost-500", &[]).await;
    env.clear_counts();
    env.proxy.inject(aws_lost(
        "CreateOpenIDConnectProvider",
        500,
        "ServiceFailure",
    ));
    env.proxy
        .inject(aws_lost("CreateRole", 500, "ServiceFailure"));
    let r = report(env.handle(&manual(&other)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("CreateOpenIDConnectProvider"), 2);
    assert_eq!(env.proxy.count("CreateRole"), 2);
    let iam = env.member_iam(&other).await;
    assert_eq!(provider_count(&iam).await, 1);
    assert_eq!(
        trust_policy_of(&iam, ROLE).await,
        expected_trust_policy(&other, SUB)
    );
    assert_eq!(attached_policies(&iam, ROLE).await, [ADMIN]);
    assert_eq!(set_vars(&env.tfc, &set_name(&other)), default_vars(&other));
}

#[tokio::test]
async fn a_policy_attach_that_cannot_see_the_new_role_yet_is_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("aws-propagation", &[]).await;
    env.proxy
        .inject(aws_error("AttachRolePolicy", 1, 404, "NoSuchEntity"));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("AttachRolePolicy"), 2);
    assert_complete(&env, &account).await;
}

#[tokio::test]
async fn concurrent_modification_while_converging_an_existing_role_is_retried() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("aws-concurrent-mod", &[]).await;
    let iam = env.member_iam(&account).await;
    let wrong = expected_trust_policy(&account, "organization:*:project:*:workspace:*:run_phase:*");
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(wrong.to_string())
        .send()
        .await
        .unwrap();
    env.proxy.inject(aws_error(
        "UpdateAssumeRolePolicy",
        2,
        409,
        "ConcurrentModification",
    ));
    env.proxy.inject(aws_error(
        "AttachRolePolicy",
        1,
        409,
        "ConcurrentModification",
    ));
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("UpdateAssumeRolePolicy"), 3);
    assert_eq!(env.proxy.count("AttachRolePolicy"), 2);
    assert_eq!(
        env.proxy.count("CreateRole"),
        0,
        "the existing role is converged, not replaced"
    );
    assert_complete(&env, &account).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Partial failure
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn terraform_cloud_down_after_iam_then_a_rerun_completes_without_duplicates() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("partial", &[]).await;
    // Someone else's things, in the same account and organization, must come through untouched.
    let iam = env.member_iam(&account).await;
    let theirs = expected_trust_policy(
        &account,
        "organization:other:project:*:workspace:*:run_phase:*",
    );
    iam.create_role()
        .role_name("someone-else")
        .assume_role_policy_document(theirs.to_string())
        .send()
        .await
        .unwrap();
    env.tfc.seed_varset(
        ORG,
        "someone-elses-set",
        &[(
            "TFC_AWS_RUN_ROLE_ARN",
            "arn:aws:iam::999988887777:role/x",
            "env",
        )],
    );

    // Terraform Cloud is read before anything is written; it goes away after that read,
    // while IAM is being converged, so every write to it fails.
    env.tfc.inject(tfc_fault(
        Some("POST"),
        "/api/v2/",
        1000,
        FaultKind::Status(503),
    ));
    let err = error(env.handle(&manual(&account)).await);
    assert_eq!(err.error_type(), "Retryable.VariableSet", "{err}");
    assert!(
        err.message.contains(&account) && err.message.contains("VariableSet"),
        "{err}"
    );
    assert_eq!(
        provider_count(&iam).await,
        1,
        "IAM was done before Terraform Cloud went away"
    );
    assert_eq!(
        trust_policy_of(&iam, ROLE).await,
        expected_trust_policy(&account, SUB)
    );
    assert_eq!(env.tfc.write_count(), 0);

    // The outage ends; the re-run only does what is missing.
    drain(&env.tfc, reqwest::Method::POST, "/ping").await;
    env.clear_counts();
    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(actions(&r, "oidc_provider"), [Action::Unchanged]);
    assert_eq!(actions(&r, "role"), [Action::Unchanged]);
    assert_eq!(actions(&r, "variable_set"), [Action::Create]);
    assert_eq!(env.proxy.write_count(), 0, "IAM is not written twice");
    assert_complete(&env, &account).await;

    env.clear_counts();
    assert_eq!(
        report(env.handle(&manual(&account)).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));

    assert_eq!(trust_policy_of(&iam, "someone-else").await, theirs);
    assert_eq!(
        set_vars(&env.tfc, "someone-elses-set"),
        [(
            "TFC_AWS_RUN_ROLE_ARN".to_owned(),
            "arn:aws:iam::999988887777:role/x".to_owned()
        )]
    );
    assert_eq!(env.tfc.varsets(ORG).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_invocations_for_one_new_account_converge() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("twins", &[]).await;
    let event = manual(&account);
    let (a, b) = tokio::join!(env.handle(&event), env.handle(&event));
    let (a, b) = (report(a), report(b));
    let both = [&a, &b];
    let created = |resource: &str| {
        both.iter()
            .flat_map(|r| actions(r, resource))
            .filter(|a| *a == Action::Create)
            .count()
    };
    assert_eq!(created("oidc_provider"), 1, "{a:?}\n{b:?}");
    assert_eq!(created("role"), 1, "{a:?}\n{b:?}");
    assert_eq!(created("variable_set"), 1, "{a:?}\n{b:?}");
    assert!(both
        .iter()
        .all(|r| r.variable_set.as_ref().and_then(|v| v.id.clone()).is_some()));
    assert_eq!(a.variable_set, b.variable_set, "both name the same set");
    assert!(
        env.proxy.count("CreateOpenIDConnectProvider") <= 2 && env.proxy.count("CreateRole") <= 2
    );
    assert_complete(&env, &account).await;
    assert_eq!(env.tfc.varsets(ORG).len(), 1);

    env.clear_counts();
    assert_eq!(report(env.handle(&event).await).outcome, Outcome::Unchanged);
    assert_eq!(env.writes(), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_gets_its_documented_outcome_and_writes_nothing() {
    use tfc_onboarder::event::{parse_bytes, MAX_EVENT_BYTES};

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let raw: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not valid JSON"),
        (b"".to_vec(), "not valid JSON"),
        (vec![0xff, 0xfe, b'{'], "not valid JSON"),
        (deep.into_bytes(), "not valid JSON"),
        (
            format!("{{\"account_id\":\"{}\"}}", "1".repeat(MAX_EVENT_BYTES)).into_bytes(),
            "largest accepted event",
        ),
    ];
    for (bytes, expected) in raw {
        let err = HandlerError::from(parse_bytes(&bytes).expect_err("rejected"));
        assert_eq!(err.error_type(), "NonRetryable.InvalidEvent");
        assert!(
            err.message.contains(expected),
            "{}: {err}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        );
        assert!(
            err.message.len() < 1000,
            "message size {}",
            err.message.len()
        );
    }

    let env = TestEnv::new(&[]).await;
    let account = env.new_account("bad-input", &[]).await;
    let failed_ct = sample_event("control-tower-create-managed-account-failed.json", &account);
    let failed_org = sample_event("create-account-result-failed.json", &account);
    let mut close_failed = sample_event("close-account-result.json", &account);
    close_failed["detail"]["serviceEventDetails"]["closeAccountStatus"]["state"] = json!("FAILED");
    for (event, state) in [
        (failed_ct, "FAILED"),
        (failed_org, "FAILED"),
        (close_failed, "FAILED"),
    ] {
        match env.handle(&event).await {
            Ok(Response::Skipped { outcome, reason }) => {
                assert_eq!(outcome, Outcome::Skipped);
                assert!(reason.contains(state), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    let mut no_id = sample_event("create-account-result.json", &account);
    no_id["detail"]["serviceEventDetails"]["createAccountStatus"]
        .as_object_mut()
        .unwrap()
        .remove("accountId");
    let mut no_state = sample_event("create-account-result.json", &account);
    no_state["detail"]["serviceEventDetails"]["createAccountStatus"]
        .as_object_mut()
        .unwrap()
        .remove("state");
    let mut numeric_id = sample_event("create-account-result.json", &account);
    numeric_id["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] =
        json!(123456789012u64);
    let huge = json!({"account_id": account, "account_name": "x".repeat(300 * 1024)});
    let cases: Vec<(Value, &str)> = vec![
        (json!(null), "expected a JSON object, got null"),
        (json!([1, 2, 3]), "expected a JSON object, got an array"),
        (
            json!("123456789012"),
            "expected a JSON object, got a string",
        ),
        (
            json!(123456789012u64),
            "expected a JSON object, got a number",
        ),
        (json!({}), "without `account_id`"),
        (json!({"something": "else"}), "without `account_id`"),
        (
            json!({"account_id": "12345678901"}),
            "`12345678901` is not a 12-digit",
        ),
        (
            json!({"account_id": "1234567890123"}),
            "`1234567890123` is not a 12-digit",
        ),
        (json!({"account_id": "12345678901x"}), "not a 12-digit"),
        (json!({"account_id": "abcdefghijkl"}), "not a 12-digit"),
        (
            json!({"account_id": "１２３４５６７８９０１２"}),
            "not a 12-digit",
        ),
        (json!({"account_id": " 123456789012"}), "not a 12-digit"),
        (json!({"account_id": 123456789012u64}), "not a 12-digit"),
        (json!({"account_id": null}), "not a 12-digit"),
        (json!({"account_id": account, "dry_run": "yes"}), "dry_run"),
        (
            json!({"account_id": account, "attach_workspaces": "ws"}),
            "attach_workspaces",
        ),
        (json!({"account_id": account, "project": 7}), "project"),
        (
            json!({"account_id": account, "projcet": "typo"}),
            "unknown field `projcet`",
        ),
        (
            json!({"account_id": account, "account_name": ""}),
            "account_name",
        ),
        (
            json!({"account_id": account, "account_name": "n".repeat(51)}),
            "account_name",
        ),
        (
            json!({"action": "destroy", "account_id": account}),
            "must be one of",
        ),
        (json!({"action": 1}), "must be one of"),
        (json!({"action": "offboard"}), "offboard event"),
        (
            json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
            "aws.ec2",
        ),
        (
            json!({"source": "aws.organizations", "detail-type": "x", "detail": {"eventName": "DeleteOrganization"}}),
            "DeleteOrganization",
        ),
        (json!({"detail-type": "x"}), "EventBridge event source"),
        (
            no_id,
            "without `detail.serviceEventDetails.createAccountStatus.accountId`",
        ),
        (
            no_state,
            "without serviceEventDetails.createAccountStatus.state",
        ),
        (numeric_id, "not a 12-digit"),
        (huge, "largest accepted event"),
    ];
    env.clear_counts();
    for (event, expected) in cases {
        let shown = event.to_string().chars().take(80).collect::<String>();
        let err = error(env.handle(&event).await);
        assert_eq!(
            err.error_type(),
            "NonRetryable.InvalidEvent",
            "{shown}: {err}"
        );
        assert!(
            err.message.contains(expected),
            "{shown}: `{}` lacks `{expected}`",
            err.message
        );
        assert!(
            err.message.len() < 1000,
            "{shown}: message size {}",
            err.message.len()
        );
    }
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.calls());
    assert_eq!(env.tfc.request_count(), 0);

    // Well formed, but for an account outside the organization: refused after one read.
    let stranger = "210987654321";
    let err = error(
        env.handle(&sample_event("create-account-result.json", stranger))
            .await,
    );
    assert_eq!(err.error_type(), "NonRetryable.DescribeAccount", "{err}");
    assert!(
        err.message.contains(stranger) && err.message.contains("not a member of this organization"),
        "{err}"
    );
    assert_eq!(env.writes(), (0, 0));
    assert_eq!(env.tfc.request_count(), 0);

    // A set whose role variable names another account is refused without a single write,
    // also when everything else is already in place.
    report(env.handle(&manual(&account)).await);
    let foreign = "arn:aws:iam::999988887777:role/terraform-cloud";
    env.tfc.seed_varset(
        ORG,
        "shared-aws",
        &[("TFC_AWS_RUN_ROLE_ARN", foreign, "env")],
    );
    env.clear_counts();
    let err = error(
        env.handle(&json!({"account_id": account, "variable_set": "shared-aws"}))
            .await,
    );
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert!(
        err.message.contains("999988887777") && err.message.contains(&account),
        "{err}"
    );
    assert_eq!(env.writes(), (0, 0));
    assert_eq!(
        set_vars(&env.tfc, "shared-aws"),
        [("TFC_AWS_RUN_ROLE_ARN".to_owned(), foreign.to_owned())]
    );

    // On a fresh account the set is read before IAM is touched: no provider, no role.
    let fresh = env.new_account("fresh-foreign", &[]).await;
    env.clear_counts();
    let err = error(
        env.handle(&json!({"account_id": fresh, "variable_set": "shared-aws"}))
            .await,
    );
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert_eq!(env.writes(), (0, 0));
    assert_eq!(
        env.proxy.count("AssumeRole"),
        0,
        "refused before assuming into the account"
    );
    assert_eq!(provider_count(&env.member_iam(&fresh).await).await, 0);
}

// ---------------------------------------------------------------------------------------------
// 6. Token secrecy
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// Fails with the offending context if the token (or a recognisable piece of it) is in `text`.
fn assert_no_token(what: &str, text: &str) {
    for needle in [TOKEN, &TOKEN[TOKEN.len() - 20..], &TOKEN[..16]] {
        if let Some(at) = text.find(needle) {
            let start = at.saturating_sub(200);
            panic!(
                "{what} contains the token: …{}…",
                &text[start..(at + needle.len() + 50).min(text.len())]
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_never_appears_in_logs_errors_reports_or_debug_output() {
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::prelude::*;

    let capture = Capture::default();
    // Both the human and the Lambda (JSON) formats, every level, span fields included; the
    // servers run on this thread too, so nothing escapes the capture.
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
                .with_writer(capture.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(capture.clone()),
        );
    // With a single registered dispatcher, tracing caches each callsite's interest from
    // whichever thread reaches it first; a test running on another thread (no subscriber)
    // would switch those callsites off for this one. A second dispatcher forces the interest
    // to be computed over all of them.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    // The metrics of the same invocations, as Lambda writes them (EMF), into the same capture.
    let emf = capture.clone();
    let metrics = tfc_onboarder::metrics::Invocation::with_sink(
        "secrecy",
        "secrecy-request",
        Box::new(move |line| {
            use std::io::Write;
            let _ = writeln!(emf.clone(), "{line}");
        }),
    );

    let mut texts: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, text: String| texts.push((what.to_owned(), text));

    // A success that lives through throttling, 5xx, a timeout and a not-yet-ready account.
    let env = TestEnv::new(&[("TFE_TIMEOUT_MS", "300")]).await;
    keep("config Debug", format!("{:?}", env.ob.cfg));
    let account = env.new_account("secrecy", &[]).await;
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::RateLimitedReset(0.05),
    ));
    env.tfc
        .inject(tfc_fault(Some("GET"), VARSETS, 1, FaultKind::Status(503)));
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::PlainErrors(500),
    ));
    env.tfc.inject(tfc_fault(
        Some("GET"),
        VARSETS,
        1,
        FaultKind::Delay(Duration::from_millis(600)),
    ));
    env.proxy
        .inject(aws_error("AssumeRole", 2, 403, "AccessDenied"));
    env.proxy
        .inject(aws_error("CreateRole", 1, 400, "Throttling"));
    let ok = metrics.scope(env.handle(&manual(&account))).await;
    keep(
        "success response",
        serde_json::to_string(ok.as_ref().expect("onboarded")).unwrap(),
    );
    keep("success response Debug", format!("{ok:?}"));
    assert_complete(&env, &account).await;

    let mut failures: Vec<HandlerError> = Vec::new();
    let mut reports: Vec<Report> = Vec::new();
    let request = match tfc_onboarder::event::parse(&manual(&account)).unwrap() {
        tfc_onboarder::event::Request::Onboard(req) => req,
        other => panic!("{other:?}"),
    };
    let lookup = tfc_onboarder::onboard::Lookup::Query;
    let deadline = || Instant::now() + Duration::from_secs(60);

    // Terraform Cloud down for good.
    env.tfc
        .inject(tfc_fault(None, "/api/v2/", 1000, FaultKind::Status(503)));
    failures.push(error(metrics.scope(env.handle(&manual(&account))).await));
    reports.push(
        metrics
            .scope(env.ob.onboard(&request, None, &lookup, deadline()))
            .await,
    );
    drain(&env.tfc, reqwest::Method::GET, "/ping").await;

    // The server does not accept this token: 401.
    let fake = FakeOptions {
        token: "the-token-the-server-wants".into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    };
    let rejected = TestEnv::with(Moto::shared(), fake, &[]).await;
    keep("401 config Debug", format!("{:?}", rejected.ob.cfg));
    failures.push(error(
        metrics.scope(rejected.handle(&manual(&account))).await,
    ));
    reports.push(
        metrics
            .scope(rejected.ob.onboard(&request, None, &lookup, deadline()))
            .await,
    );
    let direct = tfc_onboarder::tfc::varsets::list_all(&rejected.ob.tfc(deadline()))
        .await
        .expect_err("401");
    assert!(
        matches!(direct, tfc_onboarder::error::TfcError::Unauthorized),
        "{direct:?}"
    );
    keep("TfcError", format!("{direct} {direct:?}"));
    let failure = tfc_onboarder::error::Failure {
        step: tfc_onboarder::error::Step::VariableSet,
        account: request.account.clone(),
        source: direct.into(),
    };
    keep("Failure", format!("{failure} {failure:?}"));

    // Unreachable, and an account that will never let us in.
    let nowhere = closed_port_url();
    let unreachable = TestEnv::new(&[("TFE_ADDRESS", &nowhere)]).await;
    failures.push(error(
        metrics.scope(unreachable.handle(&manual(&account))).await,
    ));
    let denied = TestEnv::new(&[("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0")]).await;
    denied
        .proxy
        .inject(aws_error("AssumeRole", 1000, 403, "AccessDenied"));
    failures.push(error(metrics.scope(denied.handle(&manual(&account))).await));
    reports.push(
        metrics
            .scope(denied.ob.onboard(&request, None, &lookup, deadline()))
            .await,
    );

    let types: Vec<String> = failures.iter().map(HandlerError::error_type).collect();
    assert_eq!(
        types,
        [
            "Retryable.VariableSet",
            "NonRetryable.VariableSet",
            "Retryable.VariableSet",
            "NonRetryable.AssumeRole"
        ]
    );
    for e in &failures {
        keep("HandlerError", format!("{e} {e:?} {}", e.error_type()));
        assert!(e.message.contains(&account), "{e}");
    }
    assert!(
        reports.iter().all(|r| r.outcome == Outcome::Failed),
        "{reports:?}"
    );
    for r in &reports {
        keep("failure report", serde_json::to_string(r).unwrap());
        keep("failure report Debug", format!("{r:?}"));
    }

    metrics.finish();
    let logs = capture.text();
    assert!(
        logs.len() > 10_000,
        "the capture works: {} bytes",
        logs.len()
    );
    for sign in [
        account.as_str(),
        "onboarding report",
        "rate limited",
        "Terraform Cloud request failed",
        "retrying",
        "TRACE",
        "\"level\":\"ERROR\"",
        "\"_aws\"",
        "\"Outcome\":\"failed\"",
        "\"TfcThrottled\"",
    ] {
        assert!(logs.contains(sign), "captured logs lack `{sign}`");
    }
    assert_no_token("captured logs", &logs);
    for (what, text) in &texts {
        assert!(!text.is_empty(), "{what}");
        assert_no_token(what, text);
    }
}
