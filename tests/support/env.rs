//! A complete local world for one test: moto (shared per test process) behind a fresh fault
//! proxy, a fresh Terraform Cloud fake, and a real `Onboarder` built from environment-style
//! configuration, exactly as the binary builds it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tfc_onboarder::error::HandlerError;
use tfc_onboarder::handler::Response;
use tfc_onboarder::{Clients, Config, Onboarder};

use super::fault_proxy::FaultProxy;
use super::moto::{sdk_config_in, Moto};
use super::tfc_fake::{FakeOptions, Fault, FaultKind, TfcFake};

pub const ORG: &str = "acme";
pub const TOKEN: &str = "tfc-test-token-s3cr3t-VALUE-0123456789";
pub const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

pub struct TestEnv {
    pub moto: &'static Moto,
    pub proxy: FaultProxy,
    pub tfc: TfcFake,
    pub ob: Onboarder,
}

/// The variables every test environment sets; `extra` overrides or adds.
pub fn base_vars(tfc_url: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("TFE_ORGANIZATION", ORG),
        ("TFE_TOKEN", TOKEN),
        ("TFE_ADDRESS", tfc_url),
        ("ONBOARD_RETRY_BASE_MS", "5"),
        ("TFE_TIMEOUT_MS", "2000"),
        ("ONBOARD_REGION", "eu-west-1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

/// A private, empty server (without the AWS-managed policies) for the rest of the test
/// process: for tests that go over every account of their organization. A leaked server is
/// still killed with the process.
pub async fn private_moto() -> &'static Moto {
    let moto = tokio::task::spawn_blocking(|| Moto::start(false))
        .await
        .expect("start moto");
    Box::leak(Box::new(moto))
}

/// The environment of the binary, configured like a deployment: [`base_vars`] with `extra`,
/// and the standard AWS variables with test credentials and `aws_endpoint`.
pub fn binary_env(
    tfc_url: &str,
    aws_endpoint: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = base_vars(tfc_url, extra).into_iter().collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", aws_endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        vars.push((k.into(), v.into()));
    }
    vars
}

impl TestEnv {
    pub async fn new(extra: &[(&str, &str)]) -> Self {
        Self::with(
            Moto::shared(),
            FakeOptions {
                token: TOKEN.into(),
                organizations: vec![ORG.into()],
                max_page_size: 3,
                ..FakeOptions::default()
            },
            extra,
        )
        .await
    }

    pub async fn with(moto: &'static Moto, fake: FakeOptions, extra: &[(&str, &str)]) -> Self {
        Self::in_region(moto, fake, "us-east-1", extra).await
    }

    /// The function running in `region` (its partition decides which of moto's worlds it sees).
    pub async fn in_region(
        moto: &'static Moto,
        fake: FakeOptions,
        region: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        moto.ensure_organization_in(region).await;
        let proxy = FaultProxy::start(&moto.url()).await;
        let tfc = TfcFake::start(fake).await;
        let vars = base_vars(&tfc.url(), extra);
        let cfg =
            Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
        let clients = Clients::new(sdk_config_in(&proxy.url(), region), &cfg).expect("clients");
        Self {
            moto,
            proxy,
            tfc,
            ob: Onboarder { cfg, clients },
        }
    }

    pub async fn new_account(&self, name: &str, tags: &[(&str, &str)]) -> String {
        self.moto.create_account(name, tags).await
    }

    /// IAM in the member account, straight to moto (not counted by the proxy).
    pub async fn member_iam(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.moto.member_sdk_config(account).await)
    }

    pub async fn handle(&self, event: &Value) -> Result<Response, HandlerError> {
        tfc_onboarder::handler::handle(
            &self.ob,
            event,
            tokio::time::Instant::now() + Duration::from_secs(120),
        )
        .await
    }

    /// Forgets the calls made so far on both sides.
    pub fn clear_counts(&self) {
        self.proxy.clear_calls();
        self.tfc.clear_requests();
    }

    pub fn writes(&self) -> (usize, usize) {
        (self.proxy.write_count(), self.tfc.write_count())
    }
}

/// A sample event from `events/`, with its account id replaced.
pub fn sample_event(file: &str, account: &str) -> Value {
    let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text.replace("444455556666", account)).expect("sample events are JSON")
}

/// A manual onboarding event for `account`.
pub fn manual(account: &str) -> Value {
    json!({ "account_id": account })
}

/// The variable set name of the default template.
pub fn set_name(account: &str) -> String {
    format!("aws-{account}")
}

/// The run role of the default settings.
pub fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/terraform-cloud")
}

pub fn error(response: Result<Response, HandlerError>) -> HandlerError {
    match response {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

pub fn tfc_fault(method: Option<&'static str>, path: &str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        method,
        path_contains: path.to_owned(),
        times,
        kind,
    }
}

/// Holds the next `method` request on a path containing `path` in flight for 300 ms, so that a
/// test can race it (see [`fault_taken`]).
pub fn hold_next(tfc: &TfcFake, method: &'static str, path: &str) {
    tfc.inject(tfc_fault(
        Some(method),
        path,
        1,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
}

/// The account's set with everything but its role variable, as a half-done run leaves it.
pub fn seed_set_without_role(tfc: &TfcFake, account: &str) -> String {
    tfc.seed_varset(
        ORG,
        &set_name(account),
        &[
            ("AWS_DEFAULT_REGION", "eu-west-1", "env"),
            ("TFC_AWS_PROVIDER_AUTH", "true", "env"),
        ],
    )
}

/// Statuses Terraform Cloud answered to `method` on paths ending in `suffix`, in arrival order.
pub fn statuses(tfc: &TfcFake, method: &str, suffix: &str) -> Vec<u16> {
    let mut hits: Vec<_> = tfc
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .collect();
    hits.sort_by_key(|r| r.at);
    hits.into_iter().map(|r| r.status).collect()
}

/// Looks every 50 ms until `done` holds, for at most `within`, and says whether it did: for
/// work the test cannot join, such as a call a client gave up on that still reaches the
/// server later. A fixed sleep guesses how late that is; on a loaded machine it guesses wrong.
pub async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let give_up = tokio::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= give_up {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resolves once the fake has picked up every injected fault (a fault is taken as its request
/// arrives, before any injected delay), so the test can act while that request is in flight.
pub async fn fault_taken(tfc: &TfcFake) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    while tfc.pending_faults() > 0 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "the faulted request never came"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub fn report(response: Result<Response, HandlerError>) -> tfc_onboarder::report::Report {
    match response {
        Ok(Response::Report(r)) => *r,
        Ok(other) => panic!("expected a report, got {other:?}"),
        Err(e) => panic!("expected a report, got error {e}"),
    }
}

/// The variables of `aws-<account>` with the test defaults (single role, region eu-west-1).
pub fn default_vars(account: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
        ("TFC_AWS_PROVIDER_AUTH".to_owned(), "true".to_owned()),
        (
            "TFC_AWS_RUN_ROLE_ARN".to_owned(),
            format!("arn:aws:iam::{account}:role/terraform-cloud"),
        ),
    ]
}

/// The trust policy the issue documents, for this account and settings.
pub fn expected_trust_policy(account: &str, sub: &str) -> Value {
    serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated": format!("arn:aws:iam::{account}:oidc-provider/app.terraform.io")},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity"},
                     "StringLike":{"app.terraform.io:sub": sub}}}]})
}

/// The role's trust policy as IAM stores it (percent-encoded in the API).
pub async fn trust_policy_of(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let out = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("role exists");
    let doc = out
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust policy");
    let decoded = percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned();
    serde_json::from_str(&decoded).expect("trust policy is JSON")
}

pub async fn attached_policies(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    let out = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list attached");
    let mut arns: Vec<String> = out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    arns.sort();
    arns
}

pub async fn provider_client_ids(iam: &aws_sdk_iam::Client, account: &str) -> Option<Vec<String>> {
    let arn = format!("arn:aws:iam::{account}:oidc-provider/app.terraform.io");
    iam.get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .ok()
        .map(|o| o.client_id_list().to_vec())
}

pub async fn provider_count(iam: &aws_sdk_iam::Client) -> usize {
    iam.list_open_id_connect_providers()
        .send()
        .await
        .expect("list providers")
        .open_id_connect_provider_list()
        .len()
}

/// (key, value) of every variable in the named set, sorted.
pub fn set_vars(tfc: &TfcFake, name: &str) -> Vec<(String, String)> {
    let set = tfc
        .varset_by_name(ORG, name)
        .unwrap_or_else(|| panic!("variable set {name} exists"));
    let mut vars: Vec<(String, String)> = set
        .vars
        .iter()
        .map(|v| (v.key.clone(), v.value.clone()))
        .collect();
    vars.sort();
    vars
}

pub async fn role_names(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let out = iam.list_roles().send().await.expect("ListRoles");
    out.roles()
        .iter()
        .map(|r| r.role_name().to_owned())
        .collect()
}

/// The complete, documented end state for `account` with the default settings, with nothing
/// duplicated.
pub async fn assert_complete(env: &TestEnv, account: &str) {
    let iam = env.member_iam(account).await;
    assert_eq!(provider_count(&iam).await, 1, "exactly one OIDC provider");
    assert_eq!(
        provider_client_ids(&iam, account).await,
        Some(vec!["aws.workload.identity".to_owned()])
    );
    assert_eq!(
        role_names(&iam)
            .await
            .iter()
            .filter(|n| *n == "terraform-cloud")
            .count(),
        1
    );
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud").await,
        expected_trust_policy(
            account,
            "organization:acme:project:*:workspace:*:run_phase:*"
        )
    );
    assert_eq!(attached_policies(&iam, "terraform-cloud").await, [ADMIN]);
    let sets: Vec<_> = env
        .tfc
        .varsets(ORG)
        .into_iter()
        .filter(|s| s.name == set_name(account))
        .collect();
    assert_eq!(sets.len(), 1, "exactly one variable set");
    assert!(!sets[0].global);
    // Sorted (key, value) pairs equal to the three wanted ones: each key exactly once.
    assert_eq!(
        set_vars(&env.tfc, &set_name(account)),
        default_vars(account)
    );
}
