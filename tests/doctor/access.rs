//! The member accounts' side: which access role works where, the sample and its bounds, and
//! the policies looked up from inside an account.

use super::*;

const NOT_NEW: (&str, &str) = ("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_role_works_where_and_accounts_no_role_reaches_are_listed() {
    let world = World::start(false).await;
    let plain = world.moto.create_account("a-plain", &[]).await;
    let enrolled = world.moto.create_account("b-enrolled", &[]).await;
    world.moto.make_control_tower_account(&enrolled).await;
    let invited = world.moto.create_account("c-invited", &[]).await;
    world.moto.delete_access_role(&invited).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES, NOT_NEW]);

    let d = world.doctor(&ob, &tfc, None).await;
    let c = expect(&d, "access roles", Status::Fail);
    assert_eq!(
        c.summary,
        "of the 3 member accounts, 1 cannot be entered with any access role"
    );
    assert_eq!(
        c.details,
        [
            format!("{plain} a-plain: entered with OrganizationAccountAccessRole (AWSControlTowerExecution: AccessDenied)"),
            format!("{enrolled} b-enrolled: entered with AWSControlTowerExecution (OrganizationAccountAccessRole: AccessDenied)"),
            format!("{invited} c-invited: no access role works (OrganizationAccountAccessRole: AccessDenied, AWSControlTowerExecution: AccessDenied)"),
        ]
    );
    let fix = fix(c);
    assert!(fix.contains("create one of OrganizationAccountAccessRole, AWSControlTowerExecution with a trust policy that lets the management account 123456789012 assume it"), "{fix}");
    assert!(fix.contains("ONBOARD_ACCESS_ROLE_NAMES (infra variable access_role_names"));
    assert!(!fix.contains("minutes"), "not a new account: {fix}");

    // A list with only the Control Tower role reaches only the enrolled account.
    let ob = world.onboarder(
        &tfc,
        &[
            NO_POLICIES,
            NOT_NEW,
            ("ONBOARD_ACCESS_ROLE_NAMES", "AWSControlTowerExecution"),
        ],
    );
    let d = world.doctor(&ob, &tfc, None).await;
    let c = expect(&d, "access roles", Status::Fail);
    assert_eq!(
        c.summary,
        "of the 3 member accounts, 2 cannot be entered with any access role"
    );
    assert_eq!(
        world.proxy.count("AssumeRole"),
        3,
        "one call per account and role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_is_the_newest_accounts() {
    let world = World::start(false).await;
    let mut accounts = Vec::new();
    for name in ["oldest", "middle", "newest"] {
        accounts.push(world.moto.create_account(name, &[]).await);
        // Organizations gives join times to the second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    let req = DoctorRequest {
        sample: 2,
        function_arn: None,
    };
    let d = world
        .doctor_with(&ob, &tfc, req, Duration::from_secs(60))
        .await;
    let c = expect(&d, "access roles", Status::Pass);
    assert_eq!(
        c.summary,
        "the access roles enter each of the 2 newest member accounts (of 3)"
    );
    assert_eq!(
        c.details,
        [
            format!("{} middle: entered with OrganizationAccountAccessRole (AWSControlTowerExecution: AccessDenied)", accounts[1]),
            format!("{} newest: entered with OrganizationAccountAccessRole (AWSControlTowerExecution: AccessDenied)", accounts[2]),
        ]
    );
    assert!(world.proxy.assume_role_calls(&accounts[0]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_that_is_not_ready_is_reported_not_waited_for() {
    let world = World::start(false).await;
    let account = world.moto.create_account("brand-new", &[]).await;
    world.proxy.close_account_until(
        &account,
        std::time::Instant::now() + Duration::from_secs(600),
    );
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);

    let started = Instant::now();
    let d = world.doctor(&ob, &tfc, None).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "doctor waited for the account: {:?}",
        started.elapsed()
    );
    let c = expect(&d, "access roles", Status::Fail);
    assert!(
        c.details[0].starts_with(&format!("{account} brand-new: no access role works (OrganizationAccountAccessRole: AccessDenied, AWSControlTowerExecution: AccessDenied); it joined ")),
        "{c:?}"
    );
    assert!(fix(c).contains("run doctor again in a few minutes"));
    assert_eq!(
        world.proxy.assume_role_calls(&account).len(),
        2,
        "one try per role, no readiness poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_bounds_the_sample() {
    let world = World::start(false).await;
    let account = world.moto.create_account("late", &[]).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(&tfc, &[NO_POLICIES]);
    let req = DoctorRequest {
        sample: 5,
        function_arn: None,
    };
    // Less than doctor keeps back for its answer: no account gets its turn.
    let d = world
        .doctor_with(&ob, &tfc, req, Duration::from_secs(2))
        .await;
    let c = expect(&d, "access roles", Status::Fail);
    assert_eq!(
        c.details,
        [format!(
            "{account} late: not tried, the time budget ran out"
        )]
    );
    assert!(c
        .summary
        .ends_with("1 not tried before the time budget ran out"));
    assert!(fix(c).contains("--budget-secs"));
    assert!(world.proxy.assume_role_calls(&account).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_looked_up_in_a_member_account_and_foreign_ones_flagged() {
    let world = World::start(true).await;
    let member = world.moto.create_account("team-a", &[]).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(
        &tfc,
        &[
            ("ONBOARD_ROLE_MODE", "split"),
            (
                "ONBOARD_PLAN_POLICY_ARNS",
                "arn:aws:iam::aws:policy/ReadOnlyAccesss",
            ),
            (
                "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
                "arn:aws:iam::111122223333:policy/TerraformBoundary",
            ),
        ],
    );
    let d = world.doctor(&ob, &tfc, None).await;
    let c = expect(&d, "role policies", Status::Fail);
    assert_eq!(
        c.summary,
        "2 of 3 configured policies cannot be attached in the member accounts"
    );
    assert_eq!(
        c.details,
        [
            "ONBOARD_ROLE_POLICY_ARNS arn:aws:iam::aws:policy/AdministratorAccess: exists",
            "ONBOARD_PLAN_POLICY_ARNS arn:aws:iam::aws:policy/ReadOnlyAccesss: does not exist",
            "ONBOARD_PERMISSIONS_BOUNDARY_ARN arn:aws:iam::111122223333:policy/TerraformBoundary: a customer-managed policy of account 111122223333, which IAM attaches only in that account",
        ]
    );
    let text = fix(c);
    assert!(text.contains("Correct or remove arn:aws:iam::aws:policy/ReadOnlyAccesss in ONBOARD_PLAN_POLICY_ARNS (infra variable plan_policy_arns)"), "{text}");
    assert!(
        text.contains(
            "Unset ONBOARD_PERMISSIONS_BOUNDARY_ARN (infra variable permissions_boundary_arn)"
        ),
        "{text}"
    );
    // Looked up inside the member account, not the management account.
    let lookups = world.calls("GetPolicy");
    assert_eq!(
        lookups.len(),
        2,
        "the customer-managed one is not looked up"
    );
    assert!(lookups.iter().all(|c| c.access_key != "testing"));

    // A customer-managed run policy gets the run-policy fix.
    let ob = world.onboarder(
        &tfc,
        &[(
            "ONBOARD_ROLE_POLICY_ARNS",
            &format!("arn:aws:iam::{member}:policy/TerraformRuns"),
        )],
    );
    let c = expect(
        &world.doctor(&ob, &tfc, None).await,
        "role policies",
        Status::Fail,
    )
    .clone();
    assert!(fix(&c).starts_with("In ONBOARD_ROLE_POLICY_ARNS (infra variable role_policy_arns) use AWS managed policies only, or set it to none"), "{c:?}");
}
