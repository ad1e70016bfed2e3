//! The deployed token path: the function reads the API token from Secrets Manager (moto) on
//! first use, keeps it for the container's life, and reads it again once after a 401, so a
//! rotated token is picked up without a cold start and a wrong one fails clearly.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::env::*;
use support::fault_proxy::FaultProxy;
use support::moto::{sdk_config_at, Moto};
use support::tfc_fake::{FakeOptions, TfcFake};
use tfc_onboarder::report::Outcome;
use tfc_onboarder::{Clients, Config, Onboarder};

/// A world whose token lives in a new Secrets Manager secret (`value`, or none at all), and an
/// Onboarder configured with TFE_TOKEN_SECRET_ID only, talking to AWS through the proxy.
async fn secret_world(
    value: Option<&str>,
) -> (&'static Moto, FaultProxy, TfcFake, String, Onboarder) {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    })
    .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let arn = secrets
        .create_secret()
        .name(format!("tfc-onboarder-token-{}", fastrand::u64(..)))
        .set_secret_string(value.map(str::to_owned))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut vars: HashMap<String, String> = base_vars(&tfc.url(), &[("TFE_TOKEN_SECRET_ID", &arn)]);
    vars.remove("TFE_TOKEN");
    let cfg = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let ob = Onboarder {
        clients: Clients::new(sdk_config_at(&proxy.url()), &cfg).unwrap(),
        cfg,
    };
    (moto, proxy, tfc, arn, ob)
}

#[tokio::test]
async fn the_token_comes_from_secrets_manager_and_rotation_is_picked_up_after_a_401() {
    let (moto, proxy, tfc, arn, ob) = secret_world(Some(TOKEN)).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config());
    let handle = |account: String| {
        let ob = &ob;
        async move {
            tfc_onboarder::handler::handle(
                ob,
                &json!({"account_id": account}),
                tokio::time::Instant::now() + Duration::from_secs(60),
            )
            .await
        }
    };

    // No secret is read at start: nothing slow at cold start.
    assert_eq!(proxy.count("GetSecretValue"), 0);
    let first = moto.create_account("secret-1", &[]).await;
    assert_eq!(report(handle(first).await).outcome, Outcome::Onboarded);
    let second = moto.create_account("secret-2", &[]).await;
    assert_eq!(report(handle(second).await).outcome, Outcome::Onboarded);
    assert_eq!(
        proxy.count("GetSecretValue"),
        1,
        "read once, cached for the container"
    );

    // Rotation: Terraform Cloud and the secret move to a new token.
    let rotated = "tfc-rotated-token-0987654321";
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(rotated)
        .send()
        .await
        .unwrap();
    tfc.set_token(rotated);
    let third = moto.create_account("secret-3", &[]).await;
    assert_eq!(report(handle(third).await).outcome, Outcome::Onboarded);
    assert_eq!(
        proxy.count("GetSecretValue"),
        2,
        "read again once, after the 401"
    );

    // A token that Terraform Cloud does not accept fails clearly, without looping.
    tfc.set_token("revoked-everywhere");
    let fourth = moto.create_account("secret-4", &[]).await;
    let err = handle(fourth.clone()).await.expect_err("401 is an error");
    assert!(!err.retryable);
    assert!(err.message.contains("token invalid or expired"), "{err}");
    assert_eq!(err.error_type(), "NonRetryable.VariableSet");
    assert_eq!(proxy.count("GetSecretValue"), 3);
    assert!(!err.message.contains(rotated) && !err.message.contains(TOKEN));
}

#[tokio::test]
async fn a_secret_without_a_value_is_a_clear_error() {
    let (moto, _proxy, tfc, _arn, ob) = secret_world(None).await;
    let account = moto.create_account("no-secret", &[]).await;
    let err = tfc_onboarder::handler::handle(
        &ob,
        &json!({"account_id": account}),
        tokio::time::Instant::now() + Duration::from_secs(60),
    )
    .await
    .expect_err("no token");
    assert!(
        err.message.contains("Secrets Manager") || err.message.contains("secret"),
        "{err}"
    );
    assert_eq!(tfc.request_count(), 0, "nothing was sent without a token");
}
