//! Issue 13: the function in a tooling account, entering member accounts through the
//! management account's broker role (`ONBOARD_MANAGEMENT_ROLE_ARN`) and reading Organizations
//! with its own credentials under the organization's delegation policy. Against moto behind
//! the fault proxy, whose strict AssumeRole checks every role's trust policy (the broker's
//! `aws:PrincipalArn` condition included) and which evaluates the delegation policy for every
//! Organizations read of a member account, with the function signing as a role of a member
//! account of moto's organization, as a deployed tooling function does.

mod support;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use serde_json::json;
use support::env::*;
use support::fault_proxy::Call;
use support::moto::{sdk_config_at, Moto};
use support::tfc_fake::{FakeOptions, TfcFake};
use tfc_onboarder::doctor::{Diagnosis, Status};
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::Outcome;
use tfc_onboarder::{Clients, Config, Onboarder};

const FUNCTION_ROLE: &str = "tfc-onboarder";
/// The delegation policy names the function's role, as infra/management writes it.
const DELEGATED: Option<fn(&str) -> String> = Some(function_role_arn);

/// A tooling account with the function's role, and a broker role in the management account.
struct Tooling {
    env: TestEnv,
    management: String,
    tooling: String,
    broker_arn: String,
    /// The access key of the function's own session: what the broker AssumeRole is signed with.
    function_key: String,
}

fn function_role_arn(tooling: &str) -> String {
    format!("arn:aws:iam::{tooling}:role/{FUNCTION_ROLE}")
}

/// The broker's trust policy as infra/management writes it: the tooling account, narrowed by
/// `aws:PrincipalArn` to one role.
fn broker_trust(tooling: &str, principal_arn: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "ToolingFunctionOnly", "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": format!("arn:aws:iam::{tooling}:root")},
        "Condition": {"ArnEquals": {"aws:PrincipalArn": principal_arn}}}]})
    .to_string()
}

/// The organization's delegation policy as infra/management writes it (issue 13): the
/// Organizations reads the function makes, for the tooling account narrowed by
/// `aws:PrincipalArn` to `principals` (the function's role, then any operator roles).
fn delegation_policy(
    partition: &str,
    management: &str,
    organization: &str,
    tooling: &str,
    principals: &[String],
) -> String {
    let principal = json!({"AWS": format!("arn:{partition}:iam::{tooling}:root")});
    let condition = json!({"ArnEquals": {"aws:PrincipalArn": principals}});
    let arn =
        |kind: &str| format!("arn:{partition}:organizations::{management}:{kind}/{organization}/");
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "TfcOnboarderReadAccountsOusAndRoots", "Effect": "Allow",
         "Principal": principal,
         "Action": ["organizations:DescribeAccount", "organizations:DescribeOrganizationalUnit",
                    "organizations:ListParents", "organizations:ListTagsForResource"],
         "Resource": [arn("account") + "*", arn("ou") + "ou-*", arn("root") + "r-*"],
         "Condition": condition},
        {"Sid": "TfcOnboarderListOrganization", "Effect": "Allow",
         "Principal": principal,
         "Action": ["organizations:DescribeOrganization", "organizations:ListAccounts"],
         "Resource": "*", "Condition": condition}]})
    .to_string()
}

impl Tooling {
    /// `trusted`: the principal ARN the broker's trust policy names, from the tooling account's
    /// id (the function's role, or another one to see it refused). `delegated`: the role the
    /// organization's delegation policy lets read Organizations, likewise; `None`: no
    /// delegation policy.
    async fn new(
        trusted: fn(&str) -> String,
        delegated: Option<fn(&str) -> String>,
        extra: &[(&str, &str)],
    ) -> Self {
        let moto = Moto::shared();
        let management = moto.ensure_organization().await;
        let tooling = moto
            .create_account(&format!("tooling-{}", fastrand::u32(..)), &[])
            .await;
        let function = function_role_arn(&tooling);
        // The function's role, trusting the management account only so that the test can
        // sign as it; Lambda signs as it in a deployment.
        let tooling_iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&tooling).await);
        tooling_iam
            .create_role()
            .role_name(FUNCTION_ROLE)
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{management}:root")},
                    "Action": "sts:AssumeRole"}]})
                .to_string(),
            )
            .send()
            .await
            .expect("CreateRole (function)");
        let broker_name = format!("tfc-onboarder-broker-{tooling}");
        aws_sdk_iam::Client::new(&moto.sdk_config())
            .create_role()
            .role_name(&broker_name)
            .assume_role_policy_document(broker_trust(&tooling, &trusted(&tooling)))
            .send()
            .await
            .expect("CreateRole (broker)");
        let broker_arn = format!("arn:aws:iam::{management}:role/{broker_name}");

        let session = aws_sdk_sts::Client::new(&moto.sdk_config())
            .assume_role()
            .role_arn(&function)
            .role_session_name("lambda")
            .send()
            .await
            .expect("AssumeRole (function)");
        let c = session.credentials().expect("credentials");
        let function_key = c.access_key_id().to_owned();
        let proxy = support::fault_proxy::FaultProxy::start(&moto.url()).await;
        if let Some(delegated) = delegated {
            // Through the proxy, as the management account: the proxy keeps the policy.
            let org = aws_sdk_organizations::Client::new(&sdk_config_at(&proxy.url()));
            let organization = org
                .describe_organization()
                .send()
                .await
                .expect("DescribeOrganization")
                .organization()
                .and_then(|o| o.id())
                .expect("an organization id")
                .to_owned();
            org.put_resource_policy()
                .content(delegation_policy(
                    "aws",
                    &management,
                    &organization,
                    &tooling,
                    &[delegated(&tooling)],
                ))
                .send()
                .await
                .expect("PutResourcePolicy");
            proxy.clear_calls();
        }
        let signed_as_function: SdkConfig = sdk_config_at(&proxy.url())
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "tooling-function",
            )))
            .build();

        let tfc = TfcFake::start(FakeOptions {
            token: TOKEN.into(),
            organizations: vec![ORG.into()],
            ..FakeOptions::default()
        })
        .await;
        let mut vars = base_vars(&tfc.url(), extra);
        vars.insert("ONBOARD_MANAGEMENT_ROLE_ARN".into(), broker_arn.clone());
        let cfg = Config::from_lookup(|k| vars.get(k).cloned()).expect("valid configuration");
        let clients = Clients::new(signed_as_function, &cfg).expect("clients");
        Self {
            env: TestEnv {
                moto,
                proxy,
                tfc,
                ob: Onboarder { cfg, clients },
            },
            management,
            tooling,
            broker_arn,
            function_key,
        }
    }

    /// The error of an onboarding from the account's creation event, and its text.
    async fn onboarding_fails(&self, account: &str) -> (HandlerError, String) {
        let e = error(
            self.env
                .handle(&sample_event("create-account-result.json", account))
                .await,
        );
        let message = e.to_string();
        (e, message)
    }

    /// AssumeRole calls of the broker role.
    fn broker_calls(&self) -> Vec<Call> {
        self.env
            .proxy
            .calls()
            .into_iter()
            .filter(|c| {
                c.action == "AssumeRole" && c.param("RoleArn").as_deref() == Some(&self.broker_arn)
            })
            .collect()
    }
}

fn other_role(tooling: &str) -> String {
    format!("arn:aws:iam::{tooling}:role/other-role")
}

fn duration(call: &Call) -> u32 {
    call.param("DurationSeconds")
        .expect("DurationSeconds is set")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn organizations_is_read_as_the_function_and_the_broker_only_enters_member_accounts() {
    // A rule by OU path, so that the onboarding also reads the account's parents and their
    // names (ListParents, DescribeOrganizationalUnit), as the delegation policy allows.
    let ou_name = format!("Tooling-{}", fastrand::u32(..));
    let ou = Moto::shared().create_ou(&ou_name).await;
    let rules = json!([{"path": format!("Root/{ou_name}"), "region": "eu-west-1"}]).to_string();
    let t = Tooling::new(
        function_role_arn,
        DELEGATED,
        &[("ONBOARD_OU_RULES", rules.as_str())],
    )
    .await;
    let first = t.env.new_account("via-broker-1", &[]).await;
    t.env.moto.move_account(&first, &ou).await;
    let second = t.env.new_account("via-broker-2", &[]).await;

    for account in [&first, &second] {
        let r = report(
            t.env
                .handle(&sample_event("create-account-result.json", account))
                .await,
        );
        assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
        assert_complete(&t.env, account).await;
    }

    // One broker session for both accounts, asked for with the function's own credentials,
    // for the longest a chained session may last.
    let broker = t.broker_calls();
    assert_eq!(broker.len(), 1, "the broker is assumed once: {broker:?}");
    assert_eq!(broker[0].status, 200);
    assert_eq!(broker[0].access_key, t.function_key);
    assert_eq!(duration(&broker[0]), 3600);

    // Every member session is chained from the broker's, within the one-hour cap of chained
    // sessions.
    let broker_key = t.env.proxy.assume_role_calls(&first)[0].access_key.clone();
    assert_ne!(broker_key, t.function_key);
    for account in [&first, &second] {
        let member = t.env.proxy.assume_role_calls(account);
        assert_eq!(member.len(), 1, "{member:?}");
        assert_eq!(member[0].status, 200);
        assert_eq!(member[0].access_key, broker_key, "chained from the broker");
        assert!(duration(&member[0]) <= 3600);
    }
    // Every Organizations read is signed with the function's own key, under the delegation
    // policy; the broker's session signs nothing but the AssumeRole into member accounts.
    let mut read = std::collections::BTreeSet::new();
    for call in t.env.proxy.calls() {
        let what = format!(
            "{} {} {:?}",
            call.service,
            call.action,
            call.param("RoleArn")
        );
        if call.service == "organizations" {
            assert_eq!(call.access_key, t.function_key, "{what}");
            assert_eq!(call.status, 200, "{what}");
            read.insert(call.action.clone());
        }
        if call.access_key == broker_key {
            let into = call.param("RoleArn").and_then(|arn| {
                support::fault_proxy::parse_role_arn(&arn).map(|role| role.account)
            });
            assert!(
                call.action == "AssumeRole" && into.is_some_and(|a| a == first || a == second),
                "{what}"
            );
        }
        if call.access_key == t.function_key {
            assert!(
                call.service == "organizations"
                    || call.param("RoleArn").as_deref() == Some(&t.broker_arn),
                "{what}"
            );
        }
    }
    assert_eq!(
        read.into_iter().collect::<Vec<_>>(),
        [
            "DescribeAccount",
            "DescribeOrganizationalUnit",
            "ListParents",
            "ListTagsForResource"
        ]
    );

    // A replay goes the same way, with the same broker session, and writes nothing.
    t.env.clear_counts();
    let again = report(t.env.handle(&manual(&first)).await);
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert!(t.broker_calls().is_empty(), "the session is reused");
    assert_eq!(t.env.writes(), (0, 0));
}

#[tokio::test]
async fn the_broker_session_is_assumed_again_before_it_expires() {
    let t = Tooling::new(function_role_arn, DELEGATED, &[]).await;
    // The SDK's credentials cache renews a session 5 to 10 s before it expires; these last
    // 16 s, so the first stays fresh for at least 6 s and is renewed within 11 s.
    t.env
        .proxy
        .set_session_lifetime(&t.broker_arn, Duration::from_secs(16));
    let first = t.env.new_account("refresh-1", &[]).await;
    let second = t.env.new_account("refresh-2", &[]).await;

    let r = report(t.env.handle(&manual(&first)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(t.broker_calls().len(), 1);

    tokio::time::sleep(Duration::from_secs(12)).await;
    let r = report(t.env.handle(&manual(&second)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let broker = t.broker_calls();
    assert_eq!(broker.len(), 2, "renewed once: {broker:?}");
    assert!(broker.iter().all(|c| c.status == 200));
    let member = t.env.proxy.assume_role_calls(&second);
    assert_eq!(member.len(), 1);
    assert_ne!(
        member[0].access_key,
        t.env.proxy.assume_role_calls(&first)[0].access_key,
        "the second account is entered with the renewed session"
    );
    assert_complete(&t.env, &second).await;
}

#[tokio::test]
async fn a_broker_that_cannot_be_assumed_fails_at_once_naming_the_variable_and_changes_nothing() {
    // The broker trusts another role of the tooling account, not the function's: the account
    // alone is not enough.
    let t = Tooling::new(other_role, DELEGATED, &[]).await;
    let account = t.env.new_account("broker-refused", &[]).await;
    t.env.clear_counts();

    let (e, message) = t.onboarding_fails(&account).await;
    assert!(
        e.error_type().starts_with("NonRetryable."),
        "{}: {message}",
        e.error_type()
    );
    for needle in [
        "ONBOARD_MANAGEMENT_ROLE_ARN",
        &t.broker_arn,
        "ManagementRoleNotAssumable",
        "AccessDenied",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    let broker = t.broker_calls();
    assert_eq!(broker.len(), 1, "not retried: {broker:?}");
    assert_eq!(broker[0].status, 403);
    assert!(t.env.proxy.assume_role_calls(&account).is_empty());
    assert_eq!(t.env.writes(), (0, 0), "nothing written anywhere");
    assert!(t.env.tfc.varsets(ORG).is_empty());

    // The sweep says the same, without a storm of attempts.
    t.env.clear_counts();
    let e = error(t.env.handle(&json!({"action": "reconcile"})).await);
    assert!(!e.retryable, "{e}");
    assert!(e.to_string().contains("ONBOARD_MANAGEMENT_ROLE_ARN"), "{e}");
    assert_eq!(t.broker_calls().len(), 1);
    assert_eq!(t.env.writes(), (0, 0));
}

async fn diagnose(env: &TestEnv) -> Diagnosis {
    match env.handle(&json!({"action": "doctor", "sample": 1})).await {
        Ok(Response::Doctor(d)) => *d,
        other => panic!("expected a diagnosis, got {other:?}"),
    }
}

fn check<'a>(d: &'a Diagnosis, name: &str) -> &'a tfc_onboarder::doctor::Check {
    d.checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no check {name}: {d:?}"))
}

#[tokio::test]
async fn doctor_checks_the_broker_session_and_says_which_checks_do_not_apply() {
    let t = Tooling::new(function_role_arn, DELEGATED, &[]).await;
    t.env.new_account("doctor-sample", &[]).await;
    let d = diagnose(&t.env).await;
    let credentials = check(&d, "credentials");
    assert_eq!(credentials.status, Status::Pass, "{credentials:?}");
    for needle in [
        "broker session",
        "ONBOARD_MANAGEMENT_ROLE_ARN",
        t.management.as_str(),
        t.broker_arn.rsplit('/').next().unwrap(),
    ] {
        assert!(
            credentials.summary.contains(needle),
            "{needle}: {credentials:?}"
        );
    }
    for name in ["cloudtrail", "event rules"] {
        let c = check(&d, name);
        assert_eq!(c.status, Status::NotChecked, "{c:?}");
        assert!(c.summary.contains("tooling mode"), "{c:?}");
    }
    let access = check(&d, "access roles");
    assert_eq!(access.status, Status::Pass, "{access:?}");

    // A broker the function may not assume fails the credentials check, with the fix.
    let refused = Tooling::new(other_role, DELEGATED, &[]).await;
    let d = diagnose(&refused.env).await;
    let credentials = check(&d, "credentials");
    assert_eq!(credentials.status, Status::Fail, "{credentials:?}");
    assert!(credentials.summary.contains("ONBOARD_MANAGEMENT_ROLE_ARN"));
    assert!(credentials
        .fix
        .as_deref()
        .unwrap_or_default()
        .contains("tooling_role_arn"));
    assert_eq!(refused.env.writes(), (0, 0));
}

/// What an error or a fix must say when the delegation policy does not let the function read.
fn names_the_delegation(t: &Tooling, text: &str) {
    for needle in [
        "delegation policy",
        "infra/management",
        "manage_delegation_policy = true",
        "delegation_policy output",
        "identity half",
        &function_role_arn(&t.tooling),
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
}

#[tokio::test]
async fn without_the_delegation_an_onboarding_fails_at_once_naming_the_policy_and_changes_nothing()
{
    // No delegation policy at all, or one that names another role of the tooling account.
    for delegated in [None, Some(other_role as fn(&str) -> String)] {
        let t = Tooling::new(function_role_arn, delegated, &[]).await;
        let account = t.env.new_account("not-delegated", &[]).await;
        let iam = t.env.member_iam(&account).await;
        let roles_before = role_names(&iam).await;
        t.env.clear_counts();

        let (e, message) = t.onboarding_fails(&account).await;
        assert_eq!(e.error_type(), "NonRetryable.DescribeAccount", "{message}");
        names_the_delegation(&t, &message);
        for needle in ["organizations:DescribeAccount", "AccessDeniedException"] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
        // Refused once, as the function, and not retried; no account entered.
        let reads: Vec<Call> = t
            .env
            .proxy
            .calls()
            .into_iter()
            .filter(|c| c.service == "organizations")
            .collect();
        assert_eq!(reads.len(), 1, "{reads:?}");
        assert_eq!(reads[0].status, 400);
        assert_eq!(reads[0].access_key, t.function_key);
        assert!(t.env.proxy.assume_role_calls(&account).is_empty());
        // Nothing changed: no role, no provider, no variable set.
        assert_eq!(t.env.writes(), (0, 0));
        assert_eq!(role_names(&iam).await, roles_before);
        assert_eq!(provider_count(&iam).await, 0);
        assert!(t.env.tfc.varsets(ORG).is_empty());

        // The sweep cannot list the accounts, and says the same.
        let e = error(t.env.handle(&json!({"action": "reconcile"})).await);
        assert_eq!(e.error_type(), "NonRetryable.ListAccounts", "{e}");
        names_the_delegation(&t, &e.to_string());
        assert_eq!(t.env.writes(), (0, 0));
    }
}

#[tokio::test]
async fn doctor_without_the_delegation_fails_the_access_check_with_the_fix() {
    let t = Tooling::new(function_role_arn, None, &[]).await;
    t.env.new_account("doctor-undelegated", &[]).await;
    t.env.clear_counts();
    let d = diagnose(&t.env).await;
    assert!(!d.ok);
    // Every member account may describe its organization: the broker session is still checked.
    let credentials = check(&d, "credentials");
    assert_eq!(credentials.status, Status::Pass, "{credentials:?}");
    let access = check(&d, "access roles");
    assert_eq!(access.status, Status::Fail, "{access:?}");
    for needle in [
        "organizations:ListAccounts",
        "AccessDeniedException",
        "delegation policy does not let",
        &function_role_arn(&t.tooling),
    ] {
        assert!(access.summary.contains(needle), "{needle}: {access:?}");
    }
    names_the_delegation(&t, access.fix.as_deref().unwrap_or_default());
    assert_eq!(d.failed(), ["access roles"], "{d:?}");
    assert_eq!(t.env.writes(), (0, 0));
}
