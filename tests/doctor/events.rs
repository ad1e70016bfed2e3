//! The management account's side: whose credentials, the trail that feeds EventBridge, and
//! the function's own rules.

use super::*;
use aws_credential_types::provider::ProvideCredentials;
use support::fault_proxy::AwsFault;

/// The test configuration aimed at the proxy, signed with the credentials of `account`
/// (moto's AssumeRole works for any account, so the key lands there).
async fn as_account(world: &World, account: &str) -> SdkConfig {
    let provider = world
        .moto
        .member_sdk_config(account)
        .await
        .credentials_provider()
        .expect("assumed credentials");
    let credentials = provider.provide_credentials().await.expect("credentials");
    sdk_config_in(&world.proxy.url(), REGION)
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check() {
    let world = World::start(true).await;
    let trail = world.deployed().await;
    let plain = world.moto.create_account("team-payments-prod", &[]).await;
    let enrolled = world.moto.create_account("team-data-dev", &[]).await;
    world.moto.make_control_tower_account(&enrolled).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[]);

    let d = world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await;
    assert!(d.ok, "{d:#?}");
    assert_eq!(
        d.checks.iter().map(|c| c.check).collect::<Vec<_>>(),
        [
            "credentials",
            "cloudtrail",
            "event rules",
            "terraform cloud",
            "access roles",
            "role policies"
        ]
    );
    assert!(d
        .checks
        .iter()
        .all(|c| c.status == Status::Pass && c.fix.is_none()));
    assert!(check(&d, "credentials")
        .summary
        .starts_with("account 123456789012 is the organization's management account"));
    assert_eq!(
        check(&d, "cloudtrail").summary,
        format!("{trail} records management events in us-east-1 (organization trail, all Regions)")
    );
    assert_eq!(
        check(&d, "event rules").details,
        [
            "tfc-onboarder-create-account-result: ENABLED, delivers CreateAccountResult",
            "tfc-onboarder-reconcile: ENABLED, schedule rate(1 day)"
        ]
    );
    // Which role works where, by account name.
    assert_eq!(
        check(&d, "access roles").details,
        [
            format!("{enrolled} team-data-dev: entered with AWSControlTowerExecution (OrganizationAccountAccessRole: AccessDenied)"),
            format!("{plain} team-payments-prod: entered with OrganizationAccountAccessRole (AWSControlTowerExecution: AccessDenied)"),
        ]
    );
    let policies = check(&d, "role policies");
    assert!(
        policies.summary
            == format!("the configured policy exists (looked up from account {enrolled})")
            || policies.summary
                == format!("the configured policy exists (looked up from account {plain})"),
        "{policies:?}"
    );
    assert_eq!(
        policies.details,
        ["ONBOARD_ROLE_POLICY_ARNS arn:aws:iam::aws:policy/AdministratorAccess: exists"]
    );
    // Looked up inside the member account, where it is attached.
    let lookups = world.calls("GetPolicy");
    assert_eq!(lookups.len(), 1);
    assert_ne!(
        lookups[0].access_key, "testing",
        "looked up with the management account's key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_credentials_fail_and_leave_the_management_checks_undone() {
    let world = World::start(false).await;
    let member = world.moto.create_account("team-a", &[]).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder_with(as_account(&world, &member).await, &tfc, &[NO_POLICIES]);

    let d = world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await;
    assert!(!d.ok);
    let c = expect(&d, "credentials", Status::Fail);
    assert!(
        c.summary.starts_with(&format!(
            "account {member} is a member account; the organization's management account is {MANAGEMENT}"
        )),
        "{c:?}"
    );
    assert!(fix(c).contains(&format!(
        "credentials of the management account {MANAGEMENT}"
    )));
    for name in ["cloudtrail", "event rules", "access roles"] {
        let skipped = expect(&d, name, Status::NotChecked);
        assert_eq!(
            skipped.summary,
            "not checked: needs the credentials of the organization's management account (see credentials)"
        );
    }
    // Terraform Cloud does not depend on AWS.
    expect(&d, "terraform cloud", Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_outside_any_organization_fail_clearly() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let outsider = "999988887777";
    let ob = world.onboarder_with(as_account(&world, outsider).await, &tfc, &[NO_POLICIES]);

    let d = world.doctor(&ob, &tfc, None).await;
    let c = expect(&d, "credentials", Status::Fail);
    assert!(
        c.summary
            .starts_with(&format!("account {outsider} is not in an organization")),
        "{c:?}"
    );
    assert!(fix(c).contains("management account"));
    expect(&d, "access roles", Status::NotChecked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_must_log_write_management_events_in_the_region() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    let trail_check = |d: &Diagnosis| check(d, "cloudtrail").clone();

    // No trail at all.
    let c = trail_check(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "no trail records management events in us-east-1, so Organizations events never reach EventBridge"
    );
    assert_eq!(c.details, ["no trail shows in us-east-1"]);
    assert!(fix(&c).contains("apply the infra module with -var create_cloudtrail=true"));

    // A trail that is not logging: the fix is the command for that trail.
    let arn = world
        .trail("management-events", false, false, false, ReadWriteType::All)
        .await;
    let c = trail_check(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.details,
        [format!("{arn} (home Region us-east-1 only): not logging")]
    );
    assert!(
        fix(&c).contains(&format!(
            "aws cloudtrail start-logging --region us-east-1 --name {arn}"
        )),
        "{c:?}"
    );

    // Logging, but only reads.
    world.start_logging(&arn).await;
    aws_sdk_cloudtrail::Client::new(&world.management())
        .put_event_selectors()
        .trail_name(&arn)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::ReadOnly)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .expect("PutEventSelectors");
    let c = trail_check(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(
        c.details,
        [format!("{arn} (home Region us-east-1 only): its event selectors leave out write management events of organizations.amazonaws.com")]
    );

    // Advanced selectors: read-only management events are not enough, all of them are.
    world
        .advanced_selectors(
            &arn,
            &[("eventCategory", "Management"), ("readOnly", "true")],
        )
        .await;
    assert_eq!(
        trail_check(&world.doctor(&ob, &tfc, None).await).status,
        Status::Fail
    );
    world
        .advanced_selectors(&arn, &[("eventCategory", "Management")])
        .await;
    let c = trail_check(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert_eq!(
        c.summary,
        format!("{arn} records management events in us-east-1 (home Region us-east-1 only)")
    );

    // Credentials that may not read the trail's status: said, with the action to allow.
    world.proxy.inject(AwsFault::error(
        "GetTrailStatus",
        1,
        400,
        "AccessDeniedException",
        "User is not authorized to perform: cloudtrail:GetTrailStatus",
    ));
    let c = trail_check(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "cannot tell whether a trail records management events in us-east-1: the trails cannot be read"
    );
    assert!(
        fix(&c).starts_with("allow cloudtrail:GetTrailStatus for these credentials"),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_region_trail_of_another_region_counts_and_is_read_in_its_home_region() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    // Created in eu-west-1; us-east-1 sees its shadow. moto answers GetEventSelectors only
    // in the trail's own Region, as CloudTrail does for a shadow trail's settings.
    world.bucket("home-elsewhere-logs").await;
    let cloudtrail = aws_sdk_cloudtrail::Client::new(&world.moto.sdk_config_in("eu-west-1"));
    let arn = cloudtrail
        .create_trail()
        .name("home-elsewhere")
        .s3_bucket_name("home-elsewhere-logs")
        .is_multi_region_trail(true)
        .send()
        .await
        .expect("CreateTrail")
        .trail_arn
        .expect("ARN");
    cloudtrail
        .put_event_selectors()
        .trail_name(&arn)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::WriteOnly)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .expect("PutEventSelectors");
    cloudtrail
        .start_logging()
        .name(&arn)
        .send()
        .await
        .expect("StartLogging");

    let c = check(&world.doctor(&ob, &tfc, None).await, "cloudtrail").clone();
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert_eq!(
        c.summary,
        format!("{arn} records management events in us-east-1 (all Regions)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_rules_must_exist_be_enabled_and_deliver_new_accounts() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    let rules = |d: &Diagnosis| check(d, "event rules").clone();

    // The CLI without --function-arn: said plainly, never a silent pass.
    let c = rules(&world.doctor(&ob, &tfc, None).await);
    assert_eq!(c.status, Status::NotChecked);
    assert!(
        c.summary
            .starts_with("not checked: the function's ARN is not known here; pass --function-arn"),
        "{c:?}"
    );

    let c = rules(&world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        format!("no EventBridge rule on the default bus of us-east-1 targets {FUNCTION_ARN}, so no event ever invokes it")
    );

    // The classic mistake: CreateAccountResult is a service event, not an API call.
    world
        .rule(
            "api-call-pattern",
            Some(r#"{"source":["aws.organizations"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["CreateAccountResult"]}}"#),
            None,
            true,
        )
        .await;
    let c = rules(&world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary
            .ends_with("none of them delivers CreateAccountResult"),
        "{c:?}"
    );

    world.account_rule(false).await;
    let c = rules(&world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "2 rules target the function, but tfc-onboarder-create-account-result is disabled",
        "{c:?}"
    );
    assert!(fix(&c).contains(
        "aws events enable-rule --region us-east-1 --name tfc-onboarder-create-account-result"
    ));

    world
        .switch_rule("tfc-onboarder-create-account-result", true)
        .await;
    // An alias-qualified ARN, as a Lambda context may carry, finds the same rules.
    let c = rules(
        &world
            .doctor(&ob, &tfc, Some(&format!("{FUNCTION_ARN}:live")))
            .await,
    );
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert_eq!(
        c.details,
        [
            "api-call-pattern: ENABLED, event pattern",
            "tfc-onboarder-create-account-result: ENABLED, delivers CreateAccountResult"
        ]
    );

    // A rule that cannot be read is not taken for a missing one.
    world.proxy.inject(AwsFault::error(
        "DescribeRule",
        1,
        400,
        "AccessDeniedException",
        "User is not authorized to perform: events:DescribeRule",
    ));
    let c = rules(&world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(
        c.summary,
        "2 rules target the function, but 1 cannot be read"
    );
    assert!(fix(&c).starts_with("allow events:DescribeRule"), "{c:?}");

    // A function of another account is not the one the organization's events reach.
    let c = rules(
        &world
            .doctor(
                &ob,
                &tfc,
                Some("arn:aws:lambda:us-east-1:210987654321:function:tfc-onboarder"),
            )
            .await,
    );
    assert_eq!(c.status, Status::Fail);
    assert!(fix(&c).contains("deploy the function in the management account 123456789012"));
}

/// The infra module puts account events on a queue drained into the function: its rules
/// target the queue, which the module names in ONBOARD_EVENTS_QUEUE_ARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_that_target_the_events_queue_count_as_the_functions() {
    const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:tfc-onboarder-events";
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    world
        .rule_to(
            QUEUE_ARN,
            "tfc-onboarder-create-account-result",
            Some(CREATE_ACCOUNT_PATTERN),
            None,
            true,
        )
        .await;
    let rules = |d: &Diagnosis| check(d, "event rules").clone();

    // Without the queue's ARN the rules are not the function's: nothing targets it.
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    let c = rules(&world.doctor(&ob, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(c.status, Status::Fail, "{c:?}");

    let queued = world.onboarder(
        &tfc,
        &[NO_POLICIES, ("ONBOARD_EVENTS_QUEUE_ARN", QUEUE_ARN)],
    );
    let c = rules(&world.doctor(&queued, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert_eq!(
        c.summary,
        "1 rule on the default bus targets the function or its events queue, all enabled"
    );
    assert_eq!(
        c.details,
        ["tfc-onboarder-create-account-result: ENABLED, delivers CreateAccountResult"]
    );
    // Both targets are asked, the function's too (a rule may still invoke it directly).
    let asked: Vec<String> = world
        .calls("ListRuleNamesByTarget")
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked.iter().any(|b| b.contains(QUEUE_ARN))
            && asked.iter().any(|b| b.contains(FUNCTION_ARN))
    );

    world
        .switch_rule("tfc-onboarder-create-account-result", false)
        .await;
    let c = rules(&world.doctor(&queued, &tfc, Some(FUNCTION_ARN)).await);
    assert_eq!(
        c.summary,
        "1 rule targets the function or its events queue, but tfc-onboarder-create-account-result is disabled"
    );
}
