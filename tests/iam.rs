//! Issue 10, the IAM items: partitions, quotas, the role's ARN as IAM gives it, and the
//! propagation of a brand-new OIDC provider. Against moto, through the fault proxy where moto
//! cannot produce IAM's answer.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::env::*;
use support::fault_proxy::AwsFault;
use support::moto::Moto;
use support::tfc_fake::FakeOptions;
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::{Action, Outcome};
use tokio::time::Instant;

fn error(response: Result<Response, HandlerError>) -> HandlerError {
    match response {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

/// One invocation with a 60 s budget: what is retried is bounded by it, what is not comes
/// back at once.
async fn handle_within_a_minute(env: &TestEnv, event: &Value) -> Result<Response, HandlerError> {
    tfc_onboarder::handler::handle(&env.ob, event, Instant::now() + Duration::from_secs(60)).await
}

fn manual(account: &str) -> Value {
    json!({ "account_id": account })
}

#[tokio::test]
async fn a_us_gov_deployment_uses_its_own_partition_for_every_arn() {
    const REGION: &str = "us-gov-west-1";
    const GOV_ADMIN: &str = "arn:aws-us-gov:iam::aws:policy/AdministratorAccess";
    let fake = FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    };
    let env = TestEnv::in_region(
        Moto::shared(),
        fake,
        REGION,
        &[
            ("ONBOARD_PARTITION", "aws-us-gov"),
            ("ONBOARD_REGION", REGION),
        ],
    )
    .await;
    let management = env.moto.ensure_organization_in(REGION).await;
    let account = env.moto.create_account_in(REGION, "gov", &[]).await;
    // moto creates the access role where only its `aws` partition sees it; AWS creates it in
    // the account's own partition, so the test does.
    let iam = aws_sdk_iam::Client::new(&env.moto.member_sdk_config_in(REGION, &account).await);
    iam.create_role()
        .role_name("OrganizationAccountAccessRole")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws-us-gov:iam::{management}:root")},
                "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("CreateRole");

    let r = report(
        handle_within_a_minute(&env, &sample_event("create-account-result.json", &account)).await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let provider = format!("arn:aws-us-gov:iam::{account}:oidc-provider/app.terraform.io");
    let role = format!("arn:aws-us-gov:iam::{account}:role/terraform-cloud");
    let doc = serde_json::to_value(&r).unwrap();
    assert_eq!(doc["provider_arn"], provider.as_str());
    assert_eq!(doc["role_arn"], role.as_str());
    assert_eq!(
        attached_policies(&iam, "terraform-cloud").await,
        [GOV_ADMIN]
    );
    assert_eq!(
        env.proxy.count("AttachRolePolicy"),
        1,
        "the default policy exists in this partition: no NoSuchEntity retries"
    );
    let trust = trust_policy_of(&iam, "terraform-cloud").await;
    assert_eq!(
        trust["Statement"][0]["Principal"]["Federated"],
        provider.as_str()
    );
    assert!(set_vars(&env.tfc, &format!("aws-{account}"))
        .contains(&("TFC_AWS_RUN_ROLE_ARN".to_owned(), role.clone())));

    // An ARN of another partition is refused at cold start, naming the variable.
    let vars = base_vars(
        &env.tfc.url(),
        &[
            ("ONBOARD_PARTITION", "aws-us-gov"),
            ("ONBOARD_ROLE_POLICY_ARNS", ADMIN),
        ],
    );
    let refused = tfc_onboarder::Config::from_lookup(|k| vars.get(k).cloned())
        .expect_err("an aws ARN in aws-us-gov");
    assert_eq!(refused.var, "ONBOARD_ROLE_POLICY_ARNS", "{refused}");
    assert!(refused.to_string().contains(GOV_ADMIN), "{refused}");
}

#[tokio::test]
async fn an_iam_quota_fails_at_once_naming_the_quota_and_a_rerun_completes() {
    let env = TestEnv::new(&[]).await;
    for (action, error_type, quota, message) in [
        (
            "CreateOpenIDConnectProvider",
            "NonRetryable.OidcProvider",
            "OpenID Connect providers per account",
            "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100",
        ),
        (
            "CreateRole",
            "NonRetryable.Role",
            "roles per account",
            "Cannot exceed quota for RolesPerAccount: 1000",
        ),
        (
            "AttachRolePolicy",
            "NonRetryable.Role",
            "managed policies per role",
            "Cannot exceed quota for PoliciesPerRole: 10",
        ),
    ] {
        let account = env.new_account("quota", &[]).await;
        env.clear_counts();
        env.proxy
            .inject(AwsFault::error(action, 1, 409, "LimitExceeded", message));
        let err = error(handle_within_a_minute(&env, &manual(&account)).await);
        assert_eq!(err.error_type(), error_type, "{action}: {err}");
        for needle in [quota, message, "Service Quotas", account.as_str()] {
            assert!(
                err.message.contains(needle),
                "{action}: `{needle}` missing: {err}"
            );
        }
        assert_eq!(
            env.proxy.count(action),
            1,
            "{action}: a quota is not retried"
        );
        assert_eq!(env.tfc.write_count(), 0, "Terraform Cloud comes after IAM");

        // Once the quota is raised (the fault is used up), a re-run finishes the account.
        let r = report(env.handle(&manual(&account)).await);
        assert_eq!(r.outcome, Outcome::Onboarded, "{action}: {r:?}");
        let iam = env.member_iam(&account).await;
        assert_eq!(provider_count(&iam).await, 1);
        assert_eq!(attached_policies(&iam, "terraform-cloud").await, [ADMIN]);
    }
}

#[tokio::test]
async fn an_adopted_role_with_a_path_is_registered_under_the_arn_iam_gives_it() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("role-path", &[]).await;
    let iam = env.member_iam(&account).await;
    let stale = expected_trust_policy(&account, "organization:*:project:*:workspace:*:run_phase:*");
    iam.create_role()
        .role_name("terraform-cloud")
        .path("/custom/")
        .assume_role_policy_document(stale.to_string())
        .send()
        .await
        .expect("CreateRole");
    let with_path = format!("arn:aws:iam::{account}:role/custom/terraform-cloud");

    let r = report(env.handle(&manual(&account)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        r.role_arn.as_ref().map(|a| a.as_str()),
        Some(with_path.as_str())
    );
    let role_change = r
        .changes
        .iter()
        .find(|c| c.resource == "role")
        .expect("role change");
    assert_eq!(
        (role_change.id.as_str(), role_change.action),
        (with_path.as_str(), Action::Update)
    );
    assert!(set_vars(&env.tfc, &format!("aws-{account}"))
        .contains(&("TFC_AWS_RUN_ROLE_ARN".to_owned(), with_path.clone())));
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud").await,
        expected_trust_policy(
            &account,
            "organization:acme:project:*:workspace:*:run_phase:*"
        )
    );
    env.clear_counts();
    let again = report(env.handle(&manual(&account)).await);
    assert_eq!(again.outcome, Outcome::Unchanged, "{again:?}");
    assert_eq!(env.writes(), (0, 0));

    // Split roles too; and a dry run for roles that do not exist yet plans the computed ARNs.
    let split = TestEnv::new(&[("ONBOARD_ROLE_MODE", "split")]).await;
    let other = split.new_account("role-path-split", &[]).await;
    split
        .member_iam(&other)
        .await
        .create_role()
        .role_name("terraform-cloud-plan")
        .path("/ci/")
        .assume_role_policy_document(stale.to_string())
        .send()
        .await
        .expect("CreateRole");
    let planned = report(
        split
            .handle(&json!({"account_id": other, "dry_run": true}))
            .await,
    );
    let doc = serde_json::to_value(&planned).unwrap();
    assert_eq!(
        doc["plan_role_arn"],
        format!("arn:aws:iam::{other}:role/ci/terraform-cloud-plan")
    );
    assert_eq!(
        doc["apply_role_arn"],
        format!("arn:aws:iam::{other}:role/terraform-cloud-apply")
    );
    report(split.handle(&manual(&other)).await);
    let vars = set_vars(&split.tfc, &format!("aws-{other}"));
    assert!(
        vars.contains(&(
            "TFC_AWS_PLAN_ROLE_ARN".to_owned(),
            format!("arn:aws:iam::{other}:role/ci/terraform-cloud-plan")
        )),
        "{vars:?}"
    );
}

#[tokio::test]
async fn a_trust_policy_refused_for_a_provider_iam_cannot_see_yet_is_retried_and_nothing_else_is() {
    const NOT_VISIBLE: &str =
        "Invalid principal in policy: \"FEDERATED\":\"arn:aws:iam::111122223333:oidc-provider/app.terraform.io\"";
    let env = TestEnv::new(&[]).await;

    // CreateRole right after CreateOpenIDConnectProvider.
    let fresh = env.new_account("propagation-create", &[]).await;
    env.proxy.inject(AwsFault::error(
        "CreateRole",
        2,
        400,
        "MalformedPolicyDocument",
        NOT_VISIBLE,
    ));
    let r = report(handle_within_a_minute(&env, &manual(&fresh)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("CreateRole"), 3);
    assert_eq!(
        trust_policy_of(&env.member_iam(&fresh).await, "terraform-cloud").await,
        expected_trust_policy(
            &fresh,
            "organization:acme:project:*:workspace:*:run_phase:*"
        )
    );

    // UpdateAssumeRolePolicy of an adopted role, right after the provider was created.
    let adopted = env.new_account("propagation-update", &[]).await;
    env.member_iam(&adopted)
        .await
        .create_role()
        .role_name("terraform-cloud")
        .assume_role_policy_document(
            expected_trust_policy(&adopted, "organization:*:project:*:workspace:*:run_phase:*")
                .to_string(),
        )
        .send()
        .await
        .expect("CreateRole");
    env.clear_counts();
    env.proxy.inject(AwsFault::error(
        "UpdateAssumeRolePolicy",
        2,
        400,
        "MalformedPolicyDocument",
        NOT_VISIBLE,
    ));
    let r = report(handle_within_a_minute(&env, &manual(&adopted)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(env.proxy.count("UpdateAssumeRolePolicy"), 3);

    // Any other MalformedPolicyDocument is a defect, not propagation: it fails at once.
    let broken = env.new_account("propagation-other", &[]).await;
    env.clear_counts();
    env.proxy.inject(AwsFault::error(
        "CreateRole",
        1,
        400,
        "MalformedPolicyDocument",
        "Syntax errors in policy.",
    ));
    let err = error(handle_within_a_minute(&env, &manual(&broken)).await);
    assert_eq!(err.error_type(), "NonRetryable.Role", "{err}");
    assert!(err.message.contains("Syntax errors in policy"), "{err}");
    assert_eq!(env.proxy.count("CreateRole"), 1);
    let r = report(env.handle(&manual(&broken)).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "a re-run completes: {r:?}");
}
