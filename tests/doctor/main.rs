//! `doctor` against moto and the Terraform Cloud fake: a healthy setup, each failure mode,
//! the Lambda and CLI paths, and the README's sample output made by the binary. Every run
//! is checked to have written nothing, in AWS (the fault proxy's count) and in Terraform
//! Cloud (the fake's).
//!
//! doctor reads account-wide state (trails, rules, every account of the organization), so
//! each test has a moto of its own instead of the process's shared one.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod binary;
mod events;
mod tfc;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType,
};
use aws_sdk_eventbridge::types::{RuleState, Target};
use support::env::{base_vars, ORG, TOKEN};
use support::fault_proxy::FaultProxy;
use support::moto::{sdk_config_in, Moto};
use support::tfc_fake::{FakeOptions, TfcFake};
use tfc_onboarder::doctor::{Check, Diagnosis, DoctorRequest, Status, DEFAULT_SAMPLE};
use tfc_onboarder::event::Request;
use tfc_onboarder::handler::Response;
use tfc_onboarder::{Clients, Config, Onboarder};
use tokio::time::Instant;

const REGION: &str = "us-east-1";
const MANAGEMENT: &str = "123456789012";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:tfc-onboarder";
/// The infra module's pattern for new accounts.
const CREATE_ACCOUNT_PATTERN: &str = r#"{"source":["aws.organizations"],"detail-type":["AWS Service Event via CloudTrail"],"detail":{"eventSource":["organizations.amazonaws.com"],"eventName":["CreateAccountResult"],"serviceEventDetails":{"createAccountStatus":{"state":["SUCCEEDED"]}}}}"#;
/// Configuration of the worlds without AWS managed policies (moto loads them only on request,
/// at a cost per account).
const NO_POLICIES: (&str, &str) = ("ONBOARD_ROLE_POLICY_ARNS", "none");

/// A private moto behind a fresh fault proxy, with an organization.
struct World {
    moto: Moto,
    proxy: FaultProxy,
}

impl World {
    async fn start(managed_policies: bool) -> World {
        let moto = tokio::task::spawn_blocking(move || Moto::start(managed_policies))
            .await
            .expect("start moto");
        moto.ensure_organization().await;
        let proxy = FaultProxy::start(&moto.url()).await;
        World { moto, proxy }
    }

    /// The function's configuration with the management account's credentials, through the
    /// proxy.
    fn onboarder(&self, tfc: &TfcFake, extra: &[(&str, &str)]) -> Onboarder {
        self.onboarder_with(sdk_config_in(&self.proxy.url(), REGION), tfc, extra)
    }

    fn onboarder_with(&self, sdk: SdkConfig, tfc: &TfcFake, extra: &[(&str, &str)]) -> Onboarder {
        let vars = base_vars(&tfc.url(), extra);
        let cfg = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
        let clients = Clients::new(sdk, &cfg).expect("clients");
        Onboarder { cfg, clients }
    }

    /// doctor as the handler runs it, with the default sample and a minute of budget.
    async fn doctor(&self, ob: &Onboarder, tfc: &TfcFake, function_arn: Option<&str>) -> Diagnosis {
        let req = DoctorRequest {
            sample: DEFAULT_SAMPLE,
            function_arn: function_arn.map(str::to_owned),
        };
        self.doctor_with(ob, tfc, req, Duration::from_secs(60))
            .await
    }

    async fn doctor_with(
        &self,
        ob: &Onboarder,
        tfc: &TfcFake,
        req: DoctorRequest,
        budget: Duration,
    ) -> Diagnosis {
        self.proxy.clear_calls();
        tfc.clear_requests();
        let response =
            tfc_onboarder::handler::dispatch(ob, Request::Doctor(req), Instant::now() + budget)
                .await;
        let Ok(Response::Doctor(diagnosis)) = response else {
            panic!("doctor answers with a diagnosis, not {response:?}");
        };
        assert_eq!(
            (self.proxy.write_count(), tfc.write_count()),
            (0, 0),
            "doctor wrote something: {:?}",
            self.proxy.calls()
        );
        assert_eq!(
            diagnosis.ok,
            diagnosis.checks.iter().all(|c| c.status != Status::Fail)
        );
        *diagnosis
    }

    /// The management account's AWS, straight to moto (not counted by the proxy).
    fn management(&self) -> SdkConfig {
        self.moto.sdk_config()
    }

    /// A bucket for a trail. The tests have no S3 client: moto picks the service from the
    /// credential scope and does not check signatures.
    async fn bucket(&self, name: &str) {
        let status = reqwest::Client::new()
            .put(format!("{}/{name}", self.moto.url()))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .expect("CreateBucket")
            .status();
        assert!(status.is_success(), "CreateBucket answered {status}");
    }

    /// A trail in us-east-1 with classic selectors `read_write` of management events;
    /// logging when `logging`. Returns its ARN.
    async fn trail(
        &self,
        name: &str,
        multi_region: bool,
        organization: bool,
        logging: bool,
        read_write: ReadWriteType,
    ) -> String {
        let bucket = format!("{}-logs", name.to_ascii_lowercase());
        self.bucket(&bucket).await;
        let cloudtrail = aws_sdk_cloudtrail::Client::new(&self.management());
        let arn = cloudtrail
            .create_trail()
            .name(name)
            .s3_bucket_name(bucket)
            .is_multi_region_trail(multi_region)
            .is_organization_trail(organization)
            .include_global_service_events(true)
            .send()
            .await
            .expect("CreateTrail")
            .trail_arn
            .expect("trail ARN");
        cloudtrail
            .put_event_selectors()
            .trail_name(&arn)
            .event_selectors(
                EventSelector::builder()
                    .read_write_type(read_write)
                    .include_management_events(true)
                    .build(),
            )
            .send()
            .await
            .expect("PutEventSelectors");
        if logging {
            self.start_logging(&arn).await;
        }
        arn
    }

    /// By name: moto before 5.2.5 finds a trail to start only by its name.
    async fn start_logging(&self, arn: &str) {
        aws_sdk_cloudtrail::Client::new(&self.management())
            .start_logging()
            .name(arn.rsplit('/').next().unwrap_or(arn))
            .send()
            .await
            .expect("StartLogging");
    }

    /// Replaces the trail's selectors with one advanced selector of `fields` (field, equals).
    async fn advanced_selectors(&self, arn: &str, fields: &[(&str, &str)]) {
        let mut selector = AdvancedEventSelector::builder().name("management");
        for (field, equals) in fields {
            selector = selector.field_selectors(
                AdvancedFieldSelector::builder()
                    .field(*field)
                    .equals(*equals)
                    .build()
                    .expect("field selector"),
            );
        }
        aws_sdk_cloudtrail::Client::new(&self.management())
            .put_event_selectors()
            .trail_name(arn)
            .advanced_event_selectors(selector.build().expect("selector"))
            .send()
            .await
            .expect("PutEventSelectors");
    }

    /// A rule on the default bus that targets the function.
    async fn rule(&self, name: &str, pattern: Option<&str>, schedule: Option<&str>, enabled: bool) {
        self.rule_to(FUNCTION_ARN, name, pattern, schedule, enabled)
            .await;
    }

    /// A rule on the default bus that targets `target`.
    async fn rule_to(
        &self,
        target: &str,
        name: &str,
        pattern: Option<&str>,
        schedule: Option<&str>,
        enabled: bool,
    ) {
        let events = aws_sdk_eventbridge::Client::new(&self.management());
        events
            .put_rule()
            .name(name)
            .set_event_pattern(pattern.map(str::to_owned))
            .set_schedule_expression(schedule.map(str::to_owned))
            .state(if enabled {
                RuleState::Enabled
            } else {
                RuleState::Disabled
            })
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule(name)
            .targets(
                Target::builder()
                    .id("target")
                    .arn(target)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
    }

    /// The infra module's rule for new accounts.
    async fn account_rule(&self, enabled: bool) {
        self.rule(
            "tfc-onboarder-create-account-result",
            Some(CREATE_ACCOUNT_PATTERN),
            None,
            enabled,
        )
        .await;
    }

    async fn switch_rule(&self, name: &str, enabled: bool) {
        let events = aws_sdk_eventbridge::Client::new(&self.management());
        if enabled {
            events
                .enable_rule()
                .name(name)
                .send()
                .await
                .expect("EnableRule");
        } else {
            events
                .disable_rule()
                .name(name)
                .send()
                .await
                .expect("DisableRule");
        }
    }

    /// The calls of `action` that reached the proxy since the last doctor run began.
    fn calls(&self, action: &str) -> Vec<support::fault_proxy::Call> {
        self.proxy
            .calls()
            .into_iter()
            .filter(|c| c.action == action)
            .collect()
    }

    /// What the infra module and a Control Tower landing zone leave behind: an organization
    /// trail of management events in all Regions, and the function's rules.
    async fn deployed(&self) -> String {
        let trail = self
            .trail(
                "aws-controltower-BaselineCloudTrail",
                true,
                true,
                true,
                ReadWriteType::All,
            )
            .await;
        self.account_rule(true).await;
        self.rule("tfc-onboarder-reconcile", None, Some("rate(1 day)"), true)
            .await;
        trail
    }
}

fn fake() -> FakeOptions {
    FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    }
}

fn check<'a>(d: &'a Diagnosis, name: &str) -> &'a Check {
    d.checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no check {name} in {d:#?}"))
}

/// The check, asserted to have `status`, for further assertions.
fn expect<'a>(d: &'a Diagnosis, name: &str, status: Status) -> &'a Check {
    let c = check(d, name);
    assert_eq!(c.status, status, "{name}: {c:#?}");
    c
}

fn fix(c: &Check) -> &str {
    c.fix
        .as_deref()
        .unwrap_or_else(|| panic!("a fail has a fix: {c:#?}"))
}
