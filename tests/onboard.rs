//! One account, end to end, against moto and the Terraform Cloud fake: the documented end
//! state, idempotence (a second run writes nothing), dry runs, adoption and refusals.

mod support;

use std::time::Instant;

use serde_json::json;
use support::env::*;
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::{Action, Outcome};

#[tokio::test]
async fn create_account_result_onboards_the_account_and_a_replay_writes_nothing() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("team-payments", &[]).await;
    let event = sample_event("create-account-result.json", &account);

    let started = Instant::now();
    let first = report(env.handle(&event).await);
    let wall = started.elapsed();
    assert_eq!(first.outcome, Outcome::Onboarded, "{first:?}");
    assert_eq!(
        first.account_name.as_deref(),
        Some("team-payments"),
        "real name from DescribeAccount, not ****"
    );
    let role_arn = format!("arn:aws:iam::{account}:role/terraform-cloud");
    assert_eq!(
        first.role_arn.as_ref().map(|r| r.as_str()),
        Some(role_arn.as_str())
    );
    let aws_calls = env.proxy.calls().len();
    let tfc_calls = env.tfc.request_count();
    let list_pages = env
        .tfc
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/varsets"))
        .count();
    println!("fresh account: {aws_calls} AWS calls ({} writes), {tfc_calls} Terraform Cloud calls ({} writes), {wall:?}", env.proxy.write_count(), env.tfc.write_count());
    assert!(aws_calls <= 10, "{:?}", env.proxy.calls());
    assert!(tfc_calls <= 2 + list_pages, "{:?}", env.tfc.requests());

    // The provider and the role exist in the *new* account with exactly the documented content.
    let iam = env.member_iam(&account).await;
    assert_eq!(
        provider_client_ids(&iam, &account).await,
        Some(vec!["aws.workload.identity".to_owned()])
    );
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud").await,
        expected_trust_policy(
            &account,
            "organization:acme:project:*:workspace:*:run_phase:*"
        )
    );
    assert_eq!(attached_policies(&iam, "terraform-cloud").await, [ADMIN]);
    let management = env.member_iam(&env.moto.ensure_organization().await).await;
    assert!(
        provider_client_ids(&management, &account).await.is_none(),
        "nothing lands in the management account"
    );

    let set = env
        .tfc
        .varset_by_name(ORG, &format!("aws-{account}"))
        .expect("variable set");
    assert!(!set.global);
    assert!(set.vars.iter().all(|v| v.category == "env" && !v.sensitive));
    assert_eq!(
        set_vars(&env.tfc, &format!("aws-{account}")),
        [
            ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
            ("TFC_AWS_PROVIDER_AUTH".to_owned(), "true".to_owned()),
            ("TFC_AWS_RUN_ROLE_ARN".to_owned(), role_arn.clone()),
        ]
    );

    // EventBridge delivers at least once: the replay changes nothing and writes nothing.
    env.clear_counts();
    let second = report(env.handle(&event).await);
    assert_eq!(second.outcome, Outcome::Unchanged, "{second:?}");
    assert!(second.changes.iter().all(|c| c.action == Action::Unchanged));
    assert_eq!(
        env.writes(),
        (0, 0),
        "AWS calls {:?}; Terraform Cloud {:?}",
        env.proxy.calls(),
        env.tfc.requests()
    );
    println!(
        "re-run: {} AWS calls, {} Terraform Cloud calls, 0 writes",
        env.proxy.calls().len(),
        env.tfc.request_count()
    );
    assert_eq!(env.tfc.varsets(ORG).len(), 1);
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_writes_nothing() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("dry", &[]).await;
    let planned = report(
        env.handle(&json!({"account_id": account, "dry_run": true}))
            .await,
    );
    assert_eq!(planned.outcome, Outcome::Planned);
    assert!(planned.dry_run);
    let created: Vec<_> = planned
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .map(|c| c.resource)
        .collect();
    assert!(
        created.contains(&"oidc_provider")
            && created.contains(&"role")
            && created.contains(&"variable_set"),
        "{created:?}"
    );
    assert_eq!(env.writes(), (0, 0));
    let iam = env.member_iam(&account).await;
    assert_eq!(provider_count(&iam).await, 0);
    assert!(env.tfc.varsets(ORG).is_empty());

    // After a real run, a dry run plans nothing.
    report(env.handle(&json!({"account_id": account})).await);
    env.clear_counts();
    let again = report(
        env.handle(&json!({"account_id": account, "dry_run": true}))
            .await,
    );
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn failed_creations_and_bad_events_touch_nothing() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("never", &[]).await;
    match env
        .handle(&sample_event("create-account-result-failed.json", &account))
        .await
    {
        Ok(Response::Skipped { reason, .. }) => assert!(reason.contains("FAILED"), "{reason}"),
        other => panic!("{other:?}"),
    }
    for bad in [
        json!({"account_id": "12345678901"}),
        json!({"account_id": "1234567890123"}),
        json!({"account_id": "12345678901x"}),
        json!({"source": "aws.ec2", "detail-type": "x", "detail": {}}),
        json!({"something": "else"}),
        json!([1, 2, 3]),
    ] {
        let err = env.handle(&bad).await.expect_err("bad input is an error");
        assert!(!err.retryable, "{err}");
        assert!(
            err.error_type().starts_with("NonRetryable."),
            "{}",
            err.error_type()
        );
    }
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.calls());
    assert_eq!(env.tfc.request_count(), 0);
    assert_eq!(provider_count(&env.member_iam(&account).await).await, 0);
}

#[tokio::test]
async fn existing_provider_role_and_set_are_adopted_and_fixed_without_touching_others() {
    let env = TestEnv::new(&[("ONBOARD_TFC_PROJECT", "payments")]).await;
    let account = env.new_account("adopt", &[]).await;
    let iam = env.member_iam(&account).await;
    // Someone made these by hand: a provider for another audience, a role with a wrong trust
    // policy and a policy of their own, and a set with a variable of their own.
    iam.create_open_id_connect_provider()
        .url("https://app.terraform.io")
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    let wrong = expected_trust_policy(&account, "organization:*:project:*:workspace:*:run_phase:*");
    iam.create_role()
        .role_name("terraform-cloud")
        .assume_role_policy_document(wrong.to_string())
        .send()
        .await
        .unwrap();
    let theirs = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    iam.attach_role_policy()
        .role_name("terraform-cloud")
        .policy_arn(theirs)
        .send()
        .await
        .unwrap();
    env.tfc.seed_varset(
        ORG,
        &format!("aws-{account}"),
        &[
            ("TF_LOG", "info", "env"),
            ("AWS_DEFAULT_REGION", "us-west-2", "env"),
        ],
    );

    let r = report(env.handle(&json!({"account_id": account})).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let mut ids = provider_client_ids(&iam, &account).await.unwrap();
    ids.sort();
    assert_eq!(
        ids,
        ["aws.workload.identity", "sts.amazonaws.com"],
        "audience added, nothing removed"
    );
    assert_eq!(provider_count(&iam).await, 1);
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud").await,
        expected_trust_policy(
            &account,
            "organization:acme:project:payments:workspace:*:run_phase:*"
        )
    );
    assert_eq!(
        attached_policies(&iam, "terraform-cloud").await,
        [ADMIN, theirs],
        "their policy stays attached"
    );
    let vars = set_vars(&env.tfc, &format!("aws-{account}"));
    assert!(vars.contains(&("TF_LOG".into(), "info".into())), "{vars:?}");
    assert!(
        vars.contains(&("AWS_DEFAULT_REGION".into(), "eu-west-1".into())),
        "{vars:?}"
    );
    assert_eq!(env.tfc.varsets(ORG).len(), 1);

    env.clear_counts();
    assert_eq!(
        report(env.handle(&json!({"account_id": account})).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn a_set_that_names_another_accounts_role_is_refused() {
    let env = TestEnv::new(&[("ONBOARD_VARSET_NAME", "shared-aws")]).await;
    let account = env.new_account("victim", &[]).await;
    env.tfc.seed_varset(
        ORG,
        "shared-aws",
        &[(
            "TFC_AWS_RUN_ROLE_ARN",
            "arn:aws:iam::999988887777:role/terraform-cloud",
            "env",
        )],
    );
    let err = env
        .handle(&json!({"account_id": account}))
        .await
        .expect_err("refused");
    assert!(!err.retryable);
    assert!(
        err.message.contains("999988887777") && err.message.contains(&account),
        "{err}"
    );
    assert_eq!(env.tfc.write_count(), 0);
    assert_eq!(
        set_vars(&env.tfc, "shared-aws"),
        [(
            "TFC_AWS_RUN_ROLE_ARN".to_owned(),
            "arn:aws:iam::999988887777:role/terraform-cloud".to_owned()
        )]
    );
}

#[tokio::test]
async fn control_tower_events_use_the_event_name_and_overrides_shape_the_trust() {
    let env = TestEnv::new(&[("ONBOARD_VARSET_NAME", "aws-{account_name}")]).await;
    let account = env.new_account("ct-account", &[]).await;
    let r = report(
        env.handle(&sample_event(
            "control-tower-create-managed-account.json",
            &account,
        ))
        .await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert!(
        env.tfc
            .varset_by_name(ORG, "aws-team-payments-prod")
            .is_some(),
        "name from the Control Tower event"
    );
    assert_eq!(
        serde_json::to_value(&r).unwrap()["access_role"],
        "OrganizationAccountAccessRole",
        "the same access roles, in the same order, as for any other event"
    );

    let other = env.new_account("manual", &[]).await;
    let event = json!({"account_id": other, "project": "Default Project", "workspace": "networking", "variable_set": "net-prod"});
    report(env.handle(&event).await);
    let iam = env.member_iam(&other).await;
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud").await,
        expected_trust_policy(
            &other,
            "organization:acme:project:Default Project:workspace:networking:run_phase:*"
        )
    );
    assert!(env.tfc.varset_by_name(ORG, "net-prod").is_some());
}
