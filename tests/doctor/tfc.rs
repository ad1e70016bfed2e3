//! The Terraform Cloud token: invalid, in the wrong organization, without the permission to
//! manage variable sets, on a server that does not say, or not stored yet.

use super::*;
use support::tfc_fake::TokenAccess;

/// The token check of a doctor run against a fake started with `options`.
async fn token_check(world: &World, options: FakeOptions, extra: &[(&str, &str)]) -> Check {
    let tfc = TfcFake::start(options).await;
    let mut vars = vec![NO_POLICIES];
    vars.extend_from_slice(extra);
    let d = world
        .doctor(&world.onboarder(&tfc, &vars), &tfc, None)
        .await;
    check(&d, "terraform cloud").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_problem_fails_with_what_to_do() {
    let world = World::start(false).await;

    let c = token_check(&world, fake(), &[]).await;
    assert_eq!(c.status, Status::Pass);
    assert_eq!(
        c.summary,
        "the token may manage variable sets in organization acme"
    );

    // Rejected (expired, revoked, or never valid).
    let other_token = FakeOptions {
        token: "someone-elses-token-0123456789".into(),
        ..fake()
    };
    let c = token_check(&world, other_token, &[]).await;
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "Terraform Cloud rejected the API token (401): it is invalid, expired or revoked"
    );
    assert!(fix(&c).ends_with("and set TFE_TOKEN to it"), "{c:?}");

    // An organization the token does not know.
    let c = token_check(&world, fake(), &[("TFE_ORGANIZATION", "acme-typo")]).await;
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.summary,
        "organization acme-typo not found, or the token cannot see it (404)"
    );
    assert!(fix(&c).starts_with("check TFE_ORGANIZATION (infra variable tfe_organization)"));

    // A token of a team that may only read variables.
    let reader = FakeOptions {
        token_access: TokenAccess::ReadVarsets,
        ..fake()
    };
    let c = token_check(&world, reader, &[]).await;
    assert_eq!(c.status, Status::Fail);
    assert!(c
        .summary
        .starts_with("the token may not manage variable sets in organization acme"));
    assert!(fix(&c).contains("\"Manage all projects\" or \"Manage all workspaces\""));

    // A server that does not report the permission: the stricter reading.
    let older = FakeOptions {
        token_access: TokenAccess::Unreported,
        ..fake()
    };
    let c = token_check(&world, older, &[]).await;
    assert_eq!(c.status, Status::Fail);
    assert!(c
        .summary
        .contains("does not say whether the token may manage variable sets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_the_token_says_how_to_store_it() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let ob = world.onboarder(
        &tfc,
        &[
            NO_POLICIES,
            ("TFE_TOKEN", ""),
            ("TFE_TOKEN_SECRET_ID", "tfc-onboarder/tfe-api-token"),
        ],
    );
    let d = world.doctor(&ob, &tfc, None).await;
    let c = expect(&d, "terraform cloud", Status::Fail);
    assert!(
        c.summary.starts_with("the API token could not be read"),
        "{c:?}"
    );
    assert!(
        fix(c).contains(
            "aws secretsmanager put-secret-value --secret-id tfc-onboarder/tfe-api-token"
        ),
        "{c:?}"
    );
    assert_eq!(tfc.request_count(), 0, "no token, no request");
}
