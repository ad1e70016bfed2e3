//! Checks the test stand-ins themselves against moto and the real AWS SDK clients.

// The dice also serve the Terraform Cloud fake, which uses parts the proxy does not.
#[allow(dead_code)]
#[path = "support/dice.rs"]
mod dice;
#[path = "support/fault_proxy/mod.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;
// Also holds helpers only the integration tests use.
#[allow(dead_code)]
#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_iam::error::ProvideErrorMetadata;
use fault_proxy::{AwsFault, AwsFaultKind, FaultProxy};
use moto::{sdk_config_at, Moto};
use runtime_api::{Outcome, RuntimeApi};
use serde_json::json;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

/// moto's AssumeRole accepts any account id, which gives each test an empty account of its own.
fn unique_account_id() -> String {
    fastrand::u64(100_000_000_000..1_000_000_000_000).to_string()
}

async fn member_via(moto: &Moto, proxy: &FaultProxy) -> SdkConfig {
    moto.member_sdk_config(&unique_account_id())
        .await
        .to_builder()
        .endpoint_url(proxy.url())
        .build()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn shared_moto_runs_organizations_and_isolates_member_accounts() {
    let moto = Moto::shared();
    assert!(std::ptr::eq(moto, Moto::shared()));
    assert!(moto.url().starts_with("http://127.0.0.1:"));

    let (a, b) = tokio::join!(moto.ensure_organization(), moto.ensure_organization());
    assert_eq!(a, b);
    let management = a;
    assert_eq!(management.len(), 12);

    let account = moto.create_account("selftest", &[("team", "blue")]).await;
    assert_eq!(account.len(), 12);
    assert!(account.bytes().all(|b| b.is_ascii_digit()));

    let org = aws_sdk_organizations::Client::new(&moto.sdk_config());
    let tags = org
        .list_tags_for_resource()
        .resource_id(&account)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), "team");
    assert_eq!(tags.tags()[0].value(), "blue");

    let ou = moto.create_ou("selftest-ou").await;
    moto.move_account(&account, &ou).await;
    let parents = org.list_parents().child_id(&account).send().await.unwrap();
    assert_eq!(parents.parents()[0].id(), Some(ou.as_str()));

    let member = moto.member_sdk_config(&account).await;
    let identity = aws_sdk_sts::Client::new(&member)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.account(), Some(account.as_str()));
    aws_sdk_iam::Client::new(&member)
        .get_role()
        .role_name("OrganizationAccountAccessRole")
        .send()
        .await
        .expect("OrganizationAccountAccessRole in the new account");
    let in_management = aws_sdk_iam::Client::new(&moto.sdk_config())
        .get_role()
        .role_name("OrganizationAccountAccessRole")
        .send()
        .await;
    assert!(in_management
        .unwrap_err()
        .into_service_error()
        .is_no_such_entity_exception());
}

#[tokio::test]
async fn private_moto_is_separate_and_dies_on_drop() {
    let private = Moto::start(false);
    assert_ne!(private.url(), Moto::shared().url());
    let data = format!("{}/moto-api/data.json", private.url());
    assert!(http()
        .get(&data)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let policy = aws_sdk_iam::Client::new(&private.sdk_config())
        .get_policy()
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await;
    assert!(policy.is_err(), "managed policies must not be loaded");

    drop(private);
    assert!(http().get(&data).send().await.is_err());
}

#[tokio::test]
async fn proxy_records_actions_and_access_keys() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let management = sdk_config_at(&proxy.url());
    let member = member_via(moto, &proxy).await;

    aws_sdk_sts::Client::new(&management)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&member);
    iam.create_role()
        .role_name("recorded")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam.get_role().role_name("recorded").send().await.unwrap();
    aws_sdk_organizations::Client::new(&management)
        .describe_organization()
        .send()
        .await
        .unwrap();

    let calls = proxy.calls();
    let seen: Vec<(&str, &str, u16)> = calls
        .iter()
        .map(|c| (c.service.as_str(), c.action.as_str(), c.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("sts", "GetCallerIdentity", 200),
            ("iam", "CreateRole", 200),
            ("iam", "GetRole", 200),
            ("organizations", "DescribeOrganization", 200),
        ]
    );
    assert_eq!(calls[0].access_key, "testing");
    assert_eq!(calls[3].access_key, "testing");
    assert_ne!(calls[1].access_key, "testing");
    assert_eq!(calls[1].access_key, calls[2].access_key);
    assert_eq!(proxy.count("CreateRole"), 1);
    assert_eq!(proxy.write_count(), 1);

    proxy.clear_calls();
    assert!(proxy.calls().is_empty());
}

#[tokio::test]
async fn proxy_error_faults_surface_through_the_sdk() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let management = sdk_config_at(&proxy.url());
    let member = member_via(moto, &proxy).await;
    let error = |status, code, message| AwsFault::error("", 1, status, code, message);

    proxy.inject(AwsFault {
        action: "AssumeRole",
        ..error(
            403,
            "AccessDenied",
            "not authorized to perform sts:AssumeRole",
        )
    });
    // This test is about injected faults; the strict AssumeRole has tests of its own.
    proxy.set_strict_assume_role(false);
    let sts = aws_sdk_sts::Client::new(&management);
    let assume = || {
        sts.assume_role()
            .role_arn("arn:aws:iam::210987654321:role/OrganizationAccountAccessRole")
            .role_session_name("s")
            .send()
    };
    let denied = assume().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDenied"));
    assert_eq!(
        denied.message(),
        Some("not authorized to perform sts:AssumeRole")
    );
    assume().await.expect("the fault applies once");

    let iam = aws_sdk_iam::Client::new(&member);
    proxy.inject(AwsFault {
        action: "GetRole",
        ..error(400, "Throttling", "Rate exceeded")
    });
    let throttled = iam.get_role().role_name("x").send().await.unwrap_err();
    assert_eq!(throttled.code(), Some("Throttling"));

    proxy.inject(AwsFault {
        action: "CreateRole",
        ..error(
            409,
            "EntityAlreadyExists",
            "Role with name taken already exists.",
        )
    });
    let exists = iam
        .create_role()
        .role_name("taken")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert!(exists
        .into_service_error()
        .is_entity_already_exists_exception());
    let not_created = iam.get_role().role_name("taken").send().await.unwrap_err();
    assert!(not_created
        .into_service_error()
        .is_no_such_entity_exception());

    proxy.inject(AwsFault {
        action: "DescribeOrganization",
        ..error(400, "TooManyRequestsException", "slow down")
    });
    let org = aws_sdk_organizations::Client::new(&management);
    let too_many = org.describe_organization().send().await.unwrap_err();
    assert_eq!(too_many.code(), Some("TooManyRequestsException"));
    assert!(too_many
        .into_service_error()
        .is_too_many_requests_exception());

    let statuses: Vec<u16> = proxy.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [403, 200, 400, 409, 404, 400]);
}

#[tokio::test]
async fn proxy_forward_then_error_and_delay() {
    let moto = Moto::shared();
    let proxy = FaultProxy::start(&moto.url()).await;
    let iam = aws_sdk_iam::Client::new(&member_via(moto, &proxy).await);

    proxy.inject(AwsFault {
        action: "CreateRole",
        times: 1,
        kind: AwsFaultKind::ForwardThenError {
            status: 500,
            code: "ServiceFailure",
            message: "response lost",
        },
    });
    let lost = iam
        .create_role()
        .role_name("raced")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(lost.code(), Some("ServiceFailure"));
    iam.get_role()
        .role_name("raced")
        .send()
        .await
        .expect("the role was created in moto despite the error");

    proxy.inject(AwsFault {
        action: "GetRole",
        times: 1,
        kind: AwsFaultKind::Delay(Duration::from_millis(300)),
    });
    let started = Instant::now();
    iam.get_role().role_name("raced").send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn proxy_emulates_add_client_id_to_oidc_provider() {
    let moto = Moto::shared();
    let proxy = FaultProxy::start(&moto.url()).await;
    let iam = aws_sdk_iam::Client::new(&member_via(moto, &proxy).await);
    let thumbprint = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

    let created = iam
        .create_open_id_connect_provider()
        .url("https://app.terraform.io")
        .client_id_list("aws.workload.identity")
        .thumbprint_list(thumbprint)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("managed-by")
                .value("selftest")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = created.open_id_connect_provider_arn().unwrap().to_string();

    for _ in 0..2 {
        iam.add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .client_id("other-audience")
            .send()
            .await
            .expect("AddClientIDToOpenIDConnectProvider");
        let provider = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(provider.url(), Some("app.terraform.io"));
        assert_eq!(
            provider.client_id_list(),
            ["aws.workload.identity", "other-audience"]
        );
        assert_eq!(provider.thumbprint_list(), [thumbprint]);
        let tags = iam
            .list_open_id_connect_provider_tags()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(tags.tags().len(), 1);
        assert_eq!(tags.tags()[0].key(), "managed-by");
        assert_eq!(tags.tags()[0].value(), "selftest");
    }
    assert_eq!(proxy.count("AddClientIDToOpenIDConnectProvider"), 2);
    assert_eq!(proxy.count("DeleteOpenIDConnectProvider"), 0);
    assert_eq!(proxy.write_count(), 3);

    let missing = iam
        .add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn("arn:aws:iam::123456789012:oidc-provider/nowhere.example")
        .client_id("x")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_no_such_entity_exception());
}

#[tokio::test]
async fn runtime_api_speaks_the_lambda_protocol() {
    let api = RuntimeApi::start().await;
    let env = api.env_for_process();
    for key in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        assert!(env.iter().any(|(k, _)| k == key), "{key} missing");
    }
    assert!(api.first_next_at().is_none());
    let base = format!("http://{}/2018-06-01/runtime", api.address());
    let http = http();

    let waiting = tokio::spawn(http.get(format!("{base}/invocation/next")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(api.first_next_at().is_some(), "long poll reached the API");
    let id = api.push_event(json!({"detail": {"id": 1}}));
    let next = waiting.await.unwrap().unwrap();
    assert_eq!(next.status(), 200);
    let header = |name: &str| next.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("Lambda-Runtime-Aws-Request-Id"), id);
    assert!(header("Lambda-Runtime-Invoked-Function-Arn").starts_with("arn:aws:lambda:"));
    assert!(header("Lambda-Runtime-Trace-Id").starts_with("Root=1-"));
    let deadline: u128 = header("Lambda-Runtime-Deadline-Ms").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(deadline > now + 290_000 && deadline <= now + 300_000);
    assert_eq!(
        next.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": {"id": 1}})
    );
    let posted = http
        .post(format!("{base}/invocation/{id}/response"))
        .body(r#"{"onboarded":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    assert_eq!(
        api.wait_outcome(&id, Duration::from_secs(5)).await,
        Outcome::Response(json!({"onboarded": true}))
    );

    api.set_deadline(Duration::from_secs(10));
    let id = api.push_event(json!({}));
    let next = http
        .get(format!("{base}/invocation/next"))
        .send()
        .await
        .unwrap();
    let deadline: u128 = next.headers()["Lambda-Runtime-Deadline-Ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(deadline <= now + 20_000);
    let outcome = api.wait_outcome(&id, Duration::from_secs(5));
    let posted = http
        .post(format!("{base}/invocation/{id}/error"))
        .header("Lambda-Runtime-Function-Error-Type", "unhandled")
        .body(r#"{"errorType":"OnboardError","errorMessage":"boom"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    assert_eq!(
        outcome.await,
        Outcome::Error {
            error_type: "OnboardError".into(),
            message: "boom".into()
        }
    );

    let unknown = http
        .post(format!("{base}/invocation/not-issued/response"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert_eq!(
        api.wait_outcome("not-issued", Duration::from_millis(50))
            .await,
        Outcome::TimedOut
    );

    let init = http
        .post(format!("{base}/init/error"))
        .body(r#"{"errorType":"Runtime.InitError","errorMessage":"no config"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 202);
    assert_eq!(
        api.init_error().as_deref(),
        Some("Runtime.InitError: no config")
    );
}

fn assume_via<'a>(
    sts: &'a aws_sdk_sts::Client,
    arn: &'a str,
) -> impl std::future::Future<
    Output = Result<
        aws_sdk_sts::operation::assume_role::AssumeRoleOutput,
        aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>,
    >,
> + 'a {
    sts.assume_role()
        .role_arn(arn)
        .role_session_name("selftest")
        .send()
}

#[tokio::test]
async fn strict_assume_role_needs_the_role_and_a_trust_policy_that_lets_the_caller_in() {
    let moto = Moto::shared();
    let management = moto.ensure_organization().await;
    let account = moto.create_account("strict-sts", &[]).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let sts = aws_sdk_sts::Client::new(&sdk_config_at(&proxy.url()));
    let iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await);
    let arn = |role: &str| format!("arn:aws:iam::{account}:role/{role}");
    let create = |name: &'static str, path: &'static str, trust: String| {
        let iam = iam.clone();
        async move {
            iam.create_role()
                .role_name(name)
                .path(path)
                .assume_role_policy_document(trust)
                .send()
                .await
                .expect("CreateRole");
        }
    };
    let statement = |extra: serde_json::Value| {
        let mut s = json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{management}:root")}, "Action": "sts:AssumeRole"});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s
    };
    let doc = |statements: Vec<serde_json::Value>| {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    };

    // moto's own OrganizationAccountAccessRole trusts the management account.
    let out = assume_via(&sts, &arn("OrganizationAccountAccessRole"))
        .await
        .expect("trusted role");
    assert!(out.credentials().is_some());

    create("path-role", "/custom/", doc(vec![statement(json!({}))])).await;
    assume_via(&sts, &arn("custom/path-role"))
        .await
        .expect("a role with a path");
    // Without its path the ARN names no role: AWS finds roles by ARN, not by name.
    create(
        "wildcard-action",
        "/",
        doc(vec![statement(
            json!({"Action": ["sts:*"], "Principal": {"AWS": [management.clone()]}}),
        )]),
    )
    .await;
    assume_via(&sts, &arn("wildcard-action"))
        .await
        .expect("sts:* and a bare account id");

    create(
        "other-account",
        "/",
        doc(vec![statement(
            json!({"Principal": {"AWS": "arn:aws:iam::111122223333:root"}}),
        )]),
    )
    .await;
    create(
        "conditional",
        "/",
        doc(vec![statement(
            json!({"Condition": {"StringEquals": {"sts:ExternalId": "x"}}}),
        )]),
    )
    .await;
    create(
        "denied",
        "/",
        doc(vec![
            statement(json!({})),
            statement(json!({"Effect": "Deny"})),
        ]),
    )
    .await;
    create(
        "web-identity",
        "/",
        doc(vec![statement(
            json!({"Action": "sts:AssumeRoleWithWebIdentity"}),
        )]),
    )
    .await;
    for role in [
        "does-not-exist",
        "other-account",
        "conditional",
        "denied",
        "web-identity",
        "path-role",
    ] {
        let err = assume_via(&sts, &arn(role)).await.expect_err(role);
        assert_eq!(err.code(), Some("AccessDenied"), "{role}: {err:?}");
        let message = err.message().unwrap_or_default();
        assert!(
            message.contains("is not authorized to perform: sts:AssumeRole on resource")
                && message.contains(&arn(role)),
            "{role}: {message}"
        );
    }
    let statuses: Vec<u16> = proxy.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [200, 200, 200, 403, 403, 403, 403, 403, 403]);
    let partition = format!("arn:aws-cn:iam::{account}:role/OrganizationAccountAccessRole");
    assert_eq!(
        assume_via(&sts, &partition).await.unwrap_err().code(),
        Some("AccessDenied"),
        "a role in another partition"
    );
    let garbage = assume_via(&sts, "arn:aws:iam::12:role/x")
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Some("ValidationError"));

    // Off, it is moto's own AssumeRole again: any role, any account.
    proxy.set_strict_assume_role(false);
    assume_via(&sts, &arn("does-not-exist"))
        .await
        .expect("lenient");
    proxy.set_strict_assume_role(true);

    // A closed account denies every role until it opens, whatever the strict mode says.
    proxy.close_account_until(&account, Instant::now() + Duration::from_millis(300));
    let closed = assume_via(&sts, &arn("OrganizationAccountAccessRole"))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Some("AccessDenied"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assume_via(&sts, &arn("OrganizationAccountAccessRole"))
        .await
        .expect("open again");
    let calls = proxy.assume_role_calls(&account);
    assert_eq!(calls.len(), 13);
    assert!(calls.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(fault_proxy::peak_per_second(&calls) >= 2);
    assert_eq!(fault_proxy::peak_per_second(&calls[..1]), 1);
    assert_eq!(
        calls[0].param("RoleArn").as_deref(),
        Some(arn("OrganizationAccountAccessRole").as_str())
    );
}

#[tokio::test]
async fn strict_assume_role_evaluates_principal_arn_conditions_and_can_shorten_sessions() {
    let moto = Moto::shared();
    let management = moto.ensure_organization().await;
    let account = moto.create_account("principal-arn", &[]).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let sts = aws_sdk_sts::Client::new(&sdk_config_at(&proxy.url()));
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    let caller = me.arn().expect("caller ARN").to_owned();
    let iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await);
    let arn = |role: &str| format!("arn:aws:iam::{account}:role/{role}");
    for (role, condition) in [
        ("exact", json!({"ArnEquals": {"aws:PrincipalArn": caller}})),
        (
            "string",
            json!({"StringEquals": {"aws:principalarn": [caller, "x"]}}),
        ),
        (
            "like",
            json!({"ArnLike": {"aws:PrincipalArn": format!("arn:aws:sts::{management}:*")}}),
        ),
        (
            "other",
            json!({"ArnEquals": {"aws:PrincipalArn": format!("arn:aws:iam::{management}:role/other")}}),
        ),
        (
            "and",
            json!({"ArnEquals": {"aws:PrincipalArn": caller}, "StringEquals": {"sts:ExternalId": "x"}}),
        ),
        (
            "negated",
            json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/x"}}),
        ),
    ] {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{management}:root")},
            "Action": "sts:AssumeRole", "Condition": condition}]});
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("CreateRole");
    }
    for role in ["exact", "string", "like"] {
        assume_via(&sts, &arn(role)).await.expect(role);
    }
    // Another principal, or a condition the proxy cannot evaluate: the stricter reading.
    for role in ["other", "and", "negated"] {
        let err = assume_via(&sts, &arn(role)).await.expect_err(role);
        assert_eq!(err.code(), Some("AccessDenied"), "{role}");
    }

    proxy.set_session_lifetime(&arn("exact"), Duration::from_secs(30));
    let expires = |out: aws_sdk_sts::operation::assume_role::AssumeRoleOutput| {
        let at = std::time::SystemTime::try_from(*out.credentials().unwrap().expiration())
            .expect("a time");
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    };
    let short = expires(assume_via(&sts, &arn("exact")).await.expect("exact"));
    assert!(
        short <= Duration::from_secs(30) && short >= Duration::from_secs(25),
        "{short:?}"
    );
    let other = expires(assume_via(&sts, &arn("like")).await.expect("like"));
    assert!(
        other >= Duration::from_secs(600),
        "other roles keep moto's: {other:?}"
    );
}

#[tokio::test]
async fn a_control_tower_account_has_only_its_own_role() {
    let moto = Moto::shared();
    let account = moto.create_account("selftest-ct", &[]).await;
    moto.make_control_tower_account(&account).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let sts = aws_sdk_sts::Client::new(&sdk_config_at(&proxy.url()));
    let oaar = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    let ct = format!("arn:aws:iam::{account}:role/AWSControlTowerExecution");
    assert_eq!(
        assume_via(&sts, &oaar).await.unwrap_err().code(),
        Some("AccessDenied")
    );
    assume_via(&sts, &ct)
        .await
        .expect("AWSControlTowerExecution trusts the management account");
}

/// The calls of [`proxy_random_faults_are_aws_answers_replayable_from_the_seed`], and what
/// each came to: the fault label the proxy recorded and the answer the SDK saw.
async fn chaotic_calls(
    proxy: &FaultProxy,
    member: &SdkConfig,
    account: &str,
) -> Vec<(Option<&'static str>, Result<(), String>)> {
    let member = member.to_builder().endpoint_url(proxy.url()).build();
    let iam = aws_sdk_iam::Client::new(&member);
    let sts = aws_sdk_sts::Client::new(&sdk_config_at(&proxy.url()));
    let org = aws_sdk_organizations::Client::new(&sdk_config_at(&proxy.url()));
    let code = |e: Option<&str>| e.unwrap_or("no service error: transport").to_owned();
    let mut answers = Vec::new();
    for _ in 0..30 {
        let got = iam.list_roles().send().await;
        answers.push(got.map(|_| ()).map_err(|e| code(e.code())));
        let got = sts
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("chaos")
            .send()
            .await;
        answers.push(got.map(|_| ()).map_err(|e| code(e.code())));
        let got = org.describe_organization().send().await;
        answers.push(got.map(|_| ()).map_err(|e| code(e.code())));
    }
    let labels = proxy.calls().into_iter().map(|c| c.fault);
    labels.zip(answers).collect()
}

#[tokio::test]
async fn proxy_random_faults_are_aws_answers_replayable_from_the_seed() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let account = moto.create_account("chaos-selftest", &[]).await;
    let member = moto.member_sdk_config(&account).await;
    let chaos = fault_proxy::Chaos {
        seed: 42,
        rate: 0.5,
        new_accounts: [account.clone()].into(),
        slow: Duration::from_millis(20),
    };
    let first = FaultProxy::start(&moto.url()).await;
    first.set_chaos(Some(chaos.clone()));
    let seen = chaotic_calls(&first, &member, &account).await;

    let faulted = seen.iter().filter(|(label, _)| label.is_some()).count();
    assert!((20..=70).contains(&faulted), "{faulted} of 90 faulted");
    for (label, answer) in &seen {
        let expected: &[&str] = match label {
            None | Some("slow") => &[],
            Some("throttling") => &["Throttling", "TooManyRequestsException"],
            Some("internal-error") => &["ServiceFailure", "InternalFailure", "ServiceException"],
            Some("unavailable") => &["ServiceUnavailable"],
            Some("access-denied") => &["AccessDenied"],
            Some("connection-reset") => &["no service error: transport"],
            Some(other) => panic!("{other} is not a fault for a read or an AssumeRole"),
        };
        match answer {
            Ok(()) => assert!(expected.is_empty(), "{label:?} answered fine"),
            Err(code) => assert!(expected.contains(&code.as_str()), "{label:?}: {code}"),
        }
    }

    // The same calls through another proxy with the same seed meet the same fates.
    let again = FaultProxy::start(&moto.url()).await;
    again.set_chaos(Some(chaos.clone()));
    assert_eq!(chaotic_calls(&again, &member, &account).await, seen);

    // A different seed, a different run; no AccessDenied for an account that is not new.
    let other = FaultProxy::start(&moto.url()).await;
    other.set_chaos(Some(fault_proxy::Chaos {
        seed: 43,
        new_accounts: Default::default(),
        ..chaos
    }));
    let differently = chaotic_calls(&other, &member, &account).await;
    assert_ne!(differently, seen);
    assert!(differently
        .iter()
        .all(|(label, _)| *label != Some("access-denied")));
    other.set_chaos(None);
    other.clear_calls();
    let calm = chaotic_calls(&other, &member, &account).await;
    assert!(calm
        .iter()
        .all(|(label, answer)| label.is_none() && answer.is_ok()));
}

#[tokio::test]
async fn proxy_random_faults_include_not_yet_visible_entities_and_lost_writes() {
    let moto = Moto::shared();
    let proxy = FaultProxy::start(&moto.url()).await;
    let iam = aws_sdk_iam::Client::new(&member_via(moto, &proxy).await);
    proxy.set_chaos(Some(fault_proxy::Chaos {
        seed: 7,
        rate: 1.0,
        new_accounts: Default::default(),
        slow: Duration::from_millis(1),
    }));
    // Every call is faulted; only a slow answer lets a create be answered, and IAM then
    // does not see the new role for a moment.
    let wanted = [
        "write-then-500",
        "write-then-reset",
        "concurrent-modification",
        "no-such-entity",
    ];
    let seen = || -> std::collections::BTreeSet<&'static str> {
        proxy.calls().iter().filter_map(|c| c.fault).collect()
    };
    for i in 0..400 {
        if wanted.iter().all(|k| seen().contains(k)) {
            break;
        }
        let name = format!("fresh-{i}");
        let create = iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(TRUST);
        if create.send().await.is_ok() {
            let missing = iam.get_role().role_name(&name).send().await.unwrap_err();
            assert!(
                missing.into_service_error().is_no_such_entity_exception(),
                "IAM does not see a role created moments ago"
            );
        }
    }
    for kind in wanted {
        assert!(seen().contains(kind), "{kind} never came: {:?}", seen());
    }
    // The lost writes took effect in moto all the same.
    proxy.set_chaos(None);
    let lost: Vec<String> = proxy
        .calls()
        .iter()
        .filter(|c| matches!(c.fault, Some("write-then-500" | "write-then-reset")))
        .filter_map(|c| c.param("RoleName"))
        .collect();
    for name in lost {
        iam.get_role()
            .role_name(&name)
            .send()
            .await
            .expect("created despite the answer");
    }
}

#[tokio::test]
async fn proxy_shows_chosen_accounts_as_joined_when_told() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let old = moto.create_account("joined-long-ago", &[]).await;
    let new = moto.create_account("joined-now", &[]).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    proxy.set_joined([old.clone()], when);
    let org = aws_sdk_organizations::Client::new(&sdk_config_at(&proxy.url()));
    let joined = |a: &aws_sdk_organizations::types::Account| {
        a.joined_timestamp().map(|t| t.secs()).unwrap_or_default()
    };
    let described = org
        .describe_account()
        .account_id(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(described.account().map(joined), Some(1_500_000_000));
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let page = org
            .list_accounts()
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        listed.extend(
            page.accounts()
                .iter()
                .map(|a| (a.id().unwrap_or_default().to_owned(), joined(a))),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let of = |id: &str| listed.iter().find(|(a, _)| a == id).map(|(_, t)| *t);
    assert_eq!(of(&old), Some(1_500_000_000));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        of(&new).is_some_and(|t| now - t < 600),
        "untouched: {:?}",
        of(&new)
    );
}

#[tokio::test]
async fn a_private_moto_with_a_few_managed_policies_and_seeded_ids() {
    let start =
        || tokio::task::spawn_blocking(|| Moto::start_with_policies(&["AdministratorAccess"]));
    let (one, two) = (start().await.unwrap(), start().await.unwrap());
    let mut ids = Vec::new();
    for moto in [&one, &two] {
        moto.seed(2024).await;
        moto.ensure_organization().await;
        ids.push(moto.create_account("seeded", &[]).await);
    }
    assert_eq!(ids[0], ids[1], "the same seed gives the same account ids");

    let iam = aws_sdk_iam::Client::new(&one.member_sdk_config(&ids[0]).await);
    iam.create_role()
        .role_name("admin")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    let attach = |arn: &'static str| {
        iam.attach_role_policy()
            .role_name("admin")
            .policy_arn(arn)
            .send()
    };
    attach("arn:aws:iam::aws:policy/AdministratorAccess")
        .await
        .expect("a chosen policy is there");
    let other = attach("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .await
        .unwrap_err();
    assert_eq!(
        other.code(),
        Some("NoSuchEntity"),
        "only the chosen ones are"
    );
}

#[tokio::test]
async fn a_slow_call_the_client_gave_up_on_still_reaches_moto() {
    let moto = Moto::shared();
    let proxy = FaultProxy::start(&moto.url()).await;
    let member = member_via(moto, &proxy).await;
    let impatient = member
        .to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(200))
                .build(),
        )
        .build();
    proxy.inject(AwsFault {
        action: "CreateRole",
        times: 1,
        kind: AwsFaultKind::Delay(Duration::from_millis(600)),
    });
    let gave_up = aws_sdk_iam::Client::new(&impatient)
        .create_role()
        .role_name("late")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(gave_up, aws_sdk_iam::error::SdkError::TimeoutError(_)),
        "{gave_up:?}"
    );
    // The proxy forwards the call after its 600 ms delay; on a loaded machine moto may take
    // a while longer to apply it, so look until a generous bound rather than once.
    let iam = aws_sdk_iam::Client::new(&member);
    let looked_until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match iam.get_role().role_name("late").send().await {
            // The proxy records a call once moto has answered it, a moment after moto applied it.
            Ok(_) if proxy.count("CreateRole") == 1 => break,
            Ok(_) if tokio::time::Instant::now() < looked_until => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) if tokio::time::Instant::now() < looked_until => {
                assert!(
                    e.as_service_error()
                        .is_some_and(|e| e.is_no_such_entity_exception()),
                    "{e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(_) => panic!(
                "the proxy recorded {} CreateRole calls, not the one late create",
                proxy.count("CreateRole")
            ),
            Err(e) => panic!("the create never landed after the client gave up: {e:?}"),
        }
    }
}

/// Asserts that a call failed with AWS's error `code`.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    answer: Result<T, E>,
    code: &str,
) {
    let e = answer.expect_err(code);
    assert_eq!(e.code(), Some(code), "{e:?}");
}

/// A delegation policy statement that allows `actions` on `resources` to `principal`.
fn delegate(principal: &str, actions: &[&str], resources: serde_json::Value) -> serde_json::Value {
    json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions,
        "Resource": resources})
}

#[test]
fn delegation_policies_are_evaluated_as_iam_does() {
    use fault_proxy::policy::{allows, Caller, Resource};
    let caller = Caller {
        account: "111111111111".into(),
        arn: "arn:aws:sts::111111111111:assumed-role/tfc-onboarder/lambda".into(),
    };
    let account = "arn:aws:organizations::999999999999:account/o-abc/222222222222";
    let policy = |statements: Vec<serde_json::Value>| json!({"Version": "2012-10-17", "Statement": statements});
    let read = |p: &serde_json::Value, action: &str, resource: Resource<'_>| {
        allows(p, &caller, &format!("organizations:{action}"), resource)
    };
    let on_accounts = json!(["arn:aws:organizations::999999999999:account/o-abc/*"]);

    // No statement, or none naming this caller: denied.
    assert!(!read(
        &policy(vec![]),
        "DescribeAccount",
        Resource::Arn(account)
    ));
    let other = policy(vec![delegate(
        "arn:aws:iam::333333333333:root",
        &["organizations:DescribeAccount"],
        on_accounts.clone(),
    )]);
    assert!(!read(&other, "DescribeAccount", Resource::Arn(account)));

    // The caller's account (by id or root ARN), its role, or its session: allowed.
    for principal in [
        "111111111111",
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::111111111111:role/tfc-onboarder",
        caller.arn.as_str(),
    ] {
        let p = policy(vec![delegate(
            principal,
            &["organizations:Describe*"],
            on_accounts.clone(),
        )]);
        assert!(
            read(&p, "DescribeAccount", Resource::Arn(account)),
            "{principal}"
        );
        assert!(
            read(&p, "describeaccount", Resource::Arn(account)),
            "case-insensitive actions"
        );
        assert!(
            !read(&p, "ListAccounts", Resource::Unscoped),
            "another action"
        );
        let ou = "arn:aws:organizations::999999999999:ou/o-abc/ou-1";
        assert!(
            !read(&p, "DescribeOrganizationalUnit", Resource::Arn(ou)),
            "another resource"
        );
    }

    // An action without a resource type is matched by "*" only.
    let root = "arn:aws:iam::111111111111:root";
    let list = |resource: serde_json::Value| {
        policy(vec![delegate(
            root,
            &["organizations:ListAccounts"],
            resource,
        )])
    };
    assert!(read(&list(json!("*")), "ListAccounts", Resource::Unscoped));
    assert!(!read(
        &list(on_accounts.clone()),
        "ListAccounts",
        Resource::Unscoped
    ));

    // An explicit Deny wins, a conditional one too unless its condition is known to fail.
    let allow = delegate(
        root,
        &["organizations:DescribeAccount"],
        on_accounts.clone(),
    );
    let mut deny = allow.clone();
    deny["Effect"] = json!("Deny");
    assert!(!read(
        &policy(vec![allow.clone(), deny.clone()]),
        "DescribeAccount",
        Resource::Arn(account)
    ));
    let mut deny_unknown = deny.clone();
    deny_unknown["Condition"] = json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}});
    assert!(!read(
        &policy(vec![allow.clone(), deny_unknown]),
        "DescribeAccount",
        Resource::Arn(account)
    ));
    let mut deny_other = deny.clone();
    deny_other["Condition"] = json!({"StringEquals": {"aws:PrincipalAccount": "333333333333"}});
    assert!(read(
        &policy(vec![allow.clone(), deny_other]),
        "DescribeAccount",
        Resource::Arn(account)
    ));

    // Conditions: aws:PrincipalArn and aws:PrincipalAccount hold or fail; any other key fails.
    let with = |condition: serde_json::Value| {
        let mut s = allow.clone();
        s["Condition"] = condition;
        read(&policy(vec![s]), "DescribeAccount", Resource::Arn(account))
    };
    let role = "arn:aws:iam::111111111111:role/tfc-onboarder";
    assert!(with(
        json!({"ArnEquals": {"aws:PrincipalArn": [role, "arn:aws:iam::111111111111:role/operator"]}})
    ));
    assert!(with(
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/tfc-*"}})
    ));
    assert!(with(
        json!({"StringEquals": {"aws:PrincipalAccount": "111111111111"}})
    ));
    assert!(!with(
        json!({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/other"}})
    ));
    assert!(
        !with(json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})),
        "another key"
    );
    assert!(
        !with(json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}})),
        "another operator"
    );
    assert!(!with(
        json!({"ArnEquals": {"aws:PrincipalArn": role}, "StringEquals": {"aws:SourceVpc": "vpc-1"}})
    ));
}

#[tokio::test]
async fn proxy_emulates_the_organization_delegation_policy() {
    use aws_sdk_organizations::types::Tag;
    let moto = Moto::shared();
    let management = moto.ensure_organization().await;
    let member = moto.create_account("delegated-reader", &[]).await;
    let target = moto.create_account("delegated-target", &[]).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let admin = aws_sdk_organizations::Client::new(&sdk_config_at(&proxy.url()));
    let reader = aws_sdk_organizations::Client::new(
        &moto
            .member_sdk_config(&member)
            .await
            .to_builder()
            .endpoint_url(proxy.url())
            .build(),
    );
    let org = admin.describe_organization().send().await.unwrap();
    let org_id = org.organization().and_then(|o| o.id()).unwrap().to_owned();
    let put = |content: String| admin.put_resource_policy().content(content);
    let describe_target = || reader.describe_account().account_id(&target).send();
    let accounts = json!([format!(
        "arn:aws:organizations::{management}:account/{org_id}/*"
    )]);
    let policy = |statements: Vec<serde_json::Value>| {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    };
    let root = format!("arn:aws:iam::{member}:root");

    // Without a policy: nothing to describe or delete, and a member's reads are denied.
    refused(
        admin.describe_resource_policy().send().await,
        "ResourcePolicyNotFoundException",
    );
    refused(
        admin.delete_resource_policy().send().await,
        "ResourcePolicyNotFoundException",
    );
    let e = describe_target().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("You don't have permissions to access this resource.")
    );
    assert_eq!(proxy.calls().last().map(|c| c.status), Some(400));
    // Every member may describe its organization.
    let seen = reader.describe_organization().send().await.unwrap();
    assert_eq!(
        seen.organization().and_then(|o| o.id()),
        Some(org_id.as_str())
    );

    // Only the management account writes the policy, and only a well-formed one.
    let allow_describe = policy(vec![delegate(
        &root,
        &["organizations:DescribeAccount"],
        accounts.clone(),
    )]);
    refused(
        reader
            .put_resource_policy()
            .content(&allow_describe)
            .send()
            .await,
        "AccessDeniedException",
    );
    for bad in [
        "not json".to_owned(),
        json!({"Statement": []}).to_string(),
        "x".repeat(40_001),
    ] {
        refused(put(bad).send().await, "InvalidInputException");
    }
    assert!(
        admin.describe_resource_policy().send().await.is_err(),
        "nothing was stored"
    );

    let tag = Tag::builder()
        .key("owner")
        .value("platform")
        .build()
        .unwrap();
    let out = put(allow_describe.clone())
        .tags(tag.clone())
        .send()
        .await
        .unwrap();
    let written = out.resource_policy().expect("the policy");
    let summary = written.resource_policy_summary().expect("its summary");
    let id = summary.id().unwrap().to_owned();
    assert!(
        id.len() == 11
            && id.starts_with("rp-")
            && id[3..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(
        summary.arn(),
        Some(format!("arn:aws:organizations::{management}:resourcepolicy/{org_id}/{id}").as_str())
    );
    assert_eq!(written.content(), Some(allow_describe.as_str()));
    let described = admin.describe_resource_policy().send().await.unwrap();
    assert_eq!(
        described.resource_policy().and_then(|p| p.content()),
        Some(allow_describe.as_str())
    );
    let tags_of = || admin.list_tags_for_resource().resource_id(&id).send();
    let tags = tags_of().await.unwrap();
    assert_eq!(tags.tags(), std::slice::from_ref(&tag));
    admin
        .tag_resource()
        .resource_id(&id)
        .tags(Tag::builder().key("team").value("").build().unwrap())
        .send()
        .await
        .unwrap();
    admin
        .untag_resource()
        .resource_id(&id)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let tags = tags_of().await.unwrap();
    assert_eq!(
        tags.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["team"]
    );
    refused(
        admin
            .list_tags_for_resource()
            .resource_id("rp-00000000")
            .send()
            .await,
        "TargetNotFoundException",
    );

    // A matching statement lets the member read, answered from the management account.
    let got = describe_target().await.expect("delegated");
    assert_eq!(got.account().and_then(|a| a.id()), Some(target.as_str()));
    assert_eq!(
        got.account().and_then(|a| a.name()),
        Some("delegated-target")
    );
    // Not the actions or the resources it does not name.
    refused(reader.list_accounts().send().await, "AccessDeniedException");
    refused(
        reader.list_parents().child_id(&target).send().await,
        "AccessDeniedException",
    );

    // Put replaces the policy (same id); tags are for the creation only.
    refused(
        put(allow_describe.clone()).tags(tag).send().await,
        "InvalidInputException",
    );
    let mut denied = delegate(&root, &["organizations:Describe*"], json!("*"));
    denied["Effect"] = json!("Deny");
    let replaced = put(policy(vec![
        delegate(&root, &["organizations:DescribeAccount"], accounts.clone()),
        denied,
    ]))
    .send()
    .await
    .unwrap();
    assert_eq!(
        replaced
            .resource_policy()
            .and_then(|p| p.resource_policy_summary())
            .and_then(|s| s.id()),
        Some(id.as_str())
    );
    refused(describe_target().await, "AccessDeniedException"); // Deny wins

    // Conditions: the member's role by aws:PrincipalArn holds; a condition on another key
    // does not.
    let role = format!("arn:aws:iam::{member}:role/OrganizationAccountAccessRole");
    let conditional = |condition: serde_json::Value| {
        let mut read = delegate(
            &root,
            &[
                "organizations:DescribeAccount",
                "organizations:ListAccounts",
            ],
            json!("*"),
        );
        read["Condition"] = condition;
        policy(vec![read])
    };
    put(conditional(
        json!({"ArnEquals": {"aws:PrincipalArn": role}}),
    ))
    .send()
    .await
    .unwrap();
    describe_target().await.expect("the role named");
    reader
        .list_accounts()
        .send()
        .await
        .expect("ListAccounts on *");
    put(conditional(
        json!({"StringEquals": {"aws:SourceVpc": "vpc-1"}}),
    ))
    .send()
    .await
    .unwrap();
    refused(describe_target().await, "AccessDeniedException"); // another key

    // Deleted: gone, and the member is denied again; the management account never is.
    admin.delete_resource_policy().send().await.unwrap();
    refused(
        admin.describe_resource_policy().send().await,
        "ResourcePolicyNotFoundException",
    );
    assert_eq!(
        describe_target().await.unwrap_err().code(),
        Some("AccessDeniedException")
    );
    admin
        .describe_account()
        .account_id(&target)
        .send()
        .await
        .expect("management reads");
}
