//! CloudWatch metrics in Embedded Metric Format (EMF): JSON log lines that CloudWatch Logs
//! turns into metrics, with no API call and no SDK. Lambda only; the CLI stays plain.
//!
//! Each invocation runs inside an [`Invocation`] scope (task-local), through which the code
//! that retries, throttles or finishes an account reports it; outside a scope (the library
//! in tests, the CLI's single-account commands) every hook is a no-op. Two documents come
//! out: one per account at the end of its onboarding ([`onboarding`]), and one per
//! invocation with its retries and, for a sweep, its progress ([`invocation`]). Both are
//! built by pure functions; [`Invocation::emit`] is the one place that writes them.
//!
//! Dimensions are few on purpose, since every distinct combination is a billed custom
//! metric: `FunctionName` on everything (one deployment's metrics stay apart from
//! another's), plus `Outcome` on the onboarding count. The account id is a plain member,
//! for Logs Insights, never a dimension.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::event::Trigger;
use crate::report::{Outcome, Report};

/// The namespace of every metric. infra/dashboard.json.tftpl graphs them; tests/metrics.rs
/// holds the two against each other.
pub const NAMESPACE: &str = "TfcOnboarder";
/// Dimension on every metric: the function's name.
pub const FUNCTION_NAME: &str = "FunctionName";
/// Dimension of [`ONBOARDINGS`]: the report's outcome (`onboarded`, `unchanged`, ...).
pub const OUTCOME: &str = "Outcome";

/// Accounts that went through an onboarding, by outcome.
pub const ONBOARDINGS: &str = "Onboardings";
/// From the start of one account's onboarding to its report, readiness wait included.
pub const ONBOARDING_DURATION: &str = "OnboardingDuration";
/// From the moment a new account joined the organization to the moment it was onboarded.
pub const TIME_TO_READY: &str = "TimeToReady";
/// AWS requests repeated after a transient error: the SDK's own retries and ours.
pub const AWS_RETRIES: &str = "AwsRetries";
/// Terraform Cloud requests repeated after a 5xx answer or a transport error.
pub const TFC_RETRIES: &str = "TfcRetries";
/// Terraform Cloud 429 answers (each one waited out and repeated, or failing the step).
pub const TFC_THROTTLED: &str = "TfcThrottled";
/// Active member accounts a sweep covers (the whole organization but its management account).
pub const SWEEP_ACCOUNTS_TOTAL: &str = "SweepAccountsTotal";
/// Accounts a sweep invocation went through.
pub const SWEEP_ACCOUNTS_DONE: &str = "SweepAccountsDone";
/// Accounts left for the continuation when the invocation's time ran out (0: complete).
pub const SWEEP_ACCOUNTS_REMAINING: &str = "SweepAccountsRemaining";
/// 1 when a sweep handed a continuation on, 0 when it finished the organization.
pub const SWEEP_CONTINUATIONS: &str = "SweepContinuations";

/// The EMF specification's limit on metric definitions per directive.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;

/// The units this function uses, as CloudWatch spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

/// Metrics that share one dimension set.
struct Directive {
    dimensions: &'static [&'static str],
    metrics: Vec<(&'static str, Unit, Value)>,
}

/// One EMF document: the metric directives, the dimension values and plain members.
struct Document {
    timestamp: SystemTime,
    dimensions: Vec<(&'static str, String)>,
    directives: Vec<Directive>,
    members: Map<String, Value>,
}

impl Document {
    fn new(function: &str, timestamp: SystemTime) -> Self {
        Self {
            timestamp,
            dimensions: vec![(FUNCTION_NAME, function.to_owned())],
            directives: Vec::new(),
            members: Map::new(),
        }
    }

    fn dimension(mut self, key: &'static str, value: &str) -> Self {
        self.dimensions.push((key, value.to_owned()));
        self
    }

    fn metrics(
        mut self,
        dimensions: &'static [&'static str],
        metrics: Vec<(&'static str, Unit, Value)>,
    ) -> Self {
        if !metrics.is_empty() {
            self.directives.push(Directive {
                dimensions,
                metrics,
            });
        }
        self
    }

    fn member(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.members.insert(key.to_owned(), value.into());
        self
    }

    /// The document as the specification wants it: `_aws` with the timestamp in
    /// milliseconds and the directives, every dimension and metric a top-level member.
    fn to_json(&self) -> Value {
        let millis = self
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let directives: Vec<Value> = self
            .directives
            .iter()
            .map(|d| {
                debug_assert!(d.metrics.len() <= MAX_METRICS_PER_DIRECTIVE);
                let definitions: Vec<Value> = d
                    .metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect();
                json!({
                    "Namespace": NAMESPACE,
                    "Dimensions": [d.dimensions],
                    "Metrics": definitions,
                })
            })
            .collect();
        let mut root = self.members.clone();
        root.insert(
            "_aws".into(),
            json!({"Timestamp": millis, "CloudWatchMetrics": directives}),
        );
        for (key, value) in &self.dimensions {
            root.insert((*key).into(), Value::from(value.as_str()));
        }
        for d in &self.directives {
            for (name, _, value) in &d.metrics {
                root.insert((*name).into(), value.clone());
            }
        }
        Value::Object(root)
    }
}

/// The outcome as the report spells it (`onboarded`, `unchanged`, ...).
fn outcome_name(outcome: Outcome) -> String {
    match serde_json::to_value(outcome) {
        Ok(Value::String(name)) => name,
        _ => format!("{outcome:?}").to_lowercase(),
    }
}

fn trigger_name(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Organizations => "organizations",
        Trigger::ControlTower => "control_tower",
        Trigger::Manual => "manual",
        Trigger::Reconcile => "reconcile",
    }
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> Value {
    Value::from((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// Seconds, to the millisecond.
fn seconds(d: Duration) -> Value {
    Value::from((d.as_secs_f64() * 1e3).round() / 1e3)
}

/// How long a new account waited to be usable: from joining the organization to this
/// onboarding, when this onboarding is the one that made it ready (it wrote something) and
/// the account joined within `window` (the new-account window: older accounts were not
/// waiting, they were missed or refused). `None` otherwise.
pub fn time_to_ready(
    outcome: Outcome,
    joined: Option<SystemTime>,
    now: SystemTime,
    window: Duration,
) -> Option<Duration> {
    if outcome != Outcome::Onboarded {
        return None;
    }
    // A joined time ahead of this clock is skew: the account is as new as can be.
    let age = now.duration_since(joined?).unwrap_or(Duration::ZERO);
    (age < window).then_some(age)
}

/// The document of one account's onboarding.
pub fn onboarding(
    function: &str,
    at: SystemTime,
    report: &Report,
    trigger: Trigger,
    duration: Duration,
    time_to_ready: Option<Duration>,
) -> Value {
    let mut timing = vec![(ONBOARDING_DURATION, Unit::Milliseconds, millis(duration))];
    if let Some(ready) = time_to_ready {
        timing.push((TIME_TO_READY, Unit::Seconds, seconds(ready)));
    }
    let mut doc = Document::new(function, at)
        .dimension(OUTCOME, &outcome_name(report.outcome))
        .metrics(
            &[FUNCTION_NAME, OUTCOME],
            vec![(ONBOARDINGS, Unit::Count, Value::from(1))],
        )
        .metrics(&[FUNCTION_NAME], timing)
        .member("account_id", report.account_id.as_str())
        .member("trigger", trigger_name(trigger))
        .member("dry_run", report.dry_run);
    if let Some(e) = &report.error {
        doc = doc.member("step", e.step.to_string());
    }
    doc.to_json()
}

/// Counters of one invocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub aws_retries: u64,
    pub tfc_retries: u64,
    pub tfc_throttled: u64,
}

/// How far a sweep got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepProgress {
    /// Active member accounts of the organization.
    pub in_organization: usize,
    /// Accounts this invocation set out to do (from the continuation on).
    pub to_do: usize,
    pub done: usize,
    pub failed: usize,
    /// Set when the sweep ended.
    pub remaining: Option<usize>,
    pub continuation: Option<String>,
    pub started: Instant,
}

/// The document of one invocation: its retries, and how far its sweep got, if it ran one.
pub fn invocation(
    function: &str,
    at: SystemTime,
    request_id: &str,
    counts: Counts,
    sweep: Option<&SweepProgress>,
) -> Value {
    let mut doc = Document::new(function, at)
        .metrics(
            &[FUNCTION_NAME],
            vec![
                (AWS_RETRIES, Unit::Count, Value::from(counts.aws_retries)),
                (TFC_RETRIES, Unit::Count, Value::from(counts.tfc_retries)),
                (
                    TFC_THROTTLED,
                    Unit::Count,
                    Value::from(counts.tfc_throttled),
                ),
            ],
        )
        .member("request_id", request_id);
    // A sweep that stopped before its end (it could not list the accounts or the variable
    // sets) has no progress to report.
    if let Some((s, remaining)) = sweep.and_then(|s| Some((s, s.remaining?))) {
        doc = doc.metrics(
            &[FUNCTION_NAME],
            vec![
                (
                    SWEEP_ACCOUNTS_TOTAL,
                    Unit::Count,
                    Value::from(s.in_organization),
                ),
                (SWEEP_ACCOUNTS_DONE, Unit::Count, Value::from(s.done)),
                (
                    SWEEP_ACCOUNTS_REMAINING,
                    Unit::Count,
                    Value::from(remaining),
                ),
                (
                    SWEEP_CONTINUATIONS,
                    Unit::Count,
                    Value::from(u64::from(s.continuation.is_some())),
                ),
            ],
        );
        if let Some(c) = &s.continuation {
            doc = doc.member("continuation", c.as_str());
        }
    }
    doc.to_json()
}

/// Where documents go: one call per line, newline not included.
pub type Sink = Box<dyn Fn(&str) + Send + Sync>;

struct Emf {
    function: String,
    request_id: String,
    sink: Sink,
}

tokio::task_local! {
    static CURRENT: Arc<Invocation>;
}

/// One invocation's metrics: its counters, its sweep's progress, and (in Lambda) where its
/// EMF documents go.
pub struct Invocation {
    emf: Option<Emf>,
    aws_retries: AtomicU64,
    tfc_retries: AtomicU64,
    tfc_throttled: AtomicU64,
    sweep: Mutex<Option<SweepProgress>>,
}

impl Invocation {
    fn new(emf: Option<Emf>) -> Arc<Self> {
        Arc::new(Self {
            emf,
            aws_retries: AtomicU64::new(0),
            tfc_retries: AtomicU64::new(0),
            tfc_throttled: AtomicU64::new(0),
            sweep: Mutex::new(None),
        })
    }

    /// In Lambda: EMF on standard output, where the Lambda documentation says to write it.
    /// Each document is one write of one line, so no other output can split it.
    pub fn lambda(function: &str, request_id: &str) -> Arc<Self> {
        Self::with_sink(
            function,
            request_id,
            Box::new(|line| {
                let mut bytes = Vec::with_capacity(line.len() + 1);
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
                let mut out = std::io::stdout().lock();
                // Metrics must never fail the invocation.
                let _ = out.write_all(&bytes).and_then(|()| out.flush());
            }),
        )
    }

    /// EMF documents handed to `sink` (tests capture them this way).
    pub fn with_sink(function: &str, request_id: &str, sink: Sink) -> Arc<Self> {
        Self::new(Some(Emf {
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            sink,
        }))
    }

    /// Counters and progress only, no EMF: the CLI.
    pub fn plain() -> Arc<Self> {
        Self::new(None)
    }

    /// Runs `fut` with this invocation as the one the hooks report to.
    pub async fn scope<F: std::future::Future>(self: &Arc<Self>, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    pub fn counts(&self) -> Counts {
        Counts {
            aws_retries: self.aws_retries.load(Ordering::Relaxed),
            tfc_retries: self.tfc_retries.load(Ordering::Relaxed),
            tfc_throttled: self.tfc_throttled.load(Ordering::Relaxed),
        }
    }

    pub fn sweep_progress(&self) -> Option<SweepProgress> {
        self.sweep_state().clone()
    }

    fn sweep_state(&self) -> std::sync::MutexGuard<'_, Option<SweepProgress>> {
        self.sweep
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the invocation's own document; call once, when the handler has returned.
    pub fn finish(&self) {
        if let Some(emf) = &self.emf {
            let sweep = self.sweep_progress();
            self.emit(&invocation(
                &emf.function,
                SystemTime::now(),
                &emf.request_id,
                self.counts(),
                sweep.as_ref(),
            ));
        }
    }

    /// The one place documents are written.
    fn emit(&self, document: &Value) {
        if let Some(emf) = &self.emf {
            (emf.sink)(&document.to_string());
        }
    }
}

fn with_current(f: impl FnOnce(&Invocation)) {
    let _ = CURRENT.try_with(|current| f(current));
}

pub fn aws_retry() {
    with_current(|i| {
        i.aws_retries.fetch_add(1, Ordering::Relaxed);
    });
}

pub fn tfc_retry() {
    with_current(|i| {
        i.tfc_retries.fetch_add(1, Ordering::Relaxed);
    });
}

pub fn tfc_throttled() {
    with_current(|i| {
        i.tfc_throttled.fetch_add(1, Ordering::Relaxed);
    });
}

/// An account's onboarding ended with `report` after `duration`.
pub fn onboarded(
    report: &Report,
    trigger: Trigger,
    duration: Duration,
    time_to_ready: Option<Duration>,
) {
    with_current(|i| {
        let Some(emf) = &i.emf else { return };
        i.emit(&onboarding(
            &emf.function,
            SystemTime::now(),
            report,
            trigger,
            duration,
            time_to_ready,
        ));
    });
}

/// A sweep listed `in_organization` accounts and sets out to do `to_do` of them.
pub fn sweep_started(in_organization: usize, to_do: usize) {
    with_current(|i| {
        *i.sweep_state() = Some(SweepProgress {
            in_organization,
            to_do,
            done: 0,
            failed: 0,
            remaining: None,
            continuation: None,
            started: Instant::now(),
        });
    });
}

/// One account of the sweep is done.
pub fn sweep_account_done(outcome: Outcome) {
    with_current(|i| {
        if let Some(s) = i.sweep_state().as_mut() {
            s.done += 1;
            s.failed += usize::from(outcome == Outcome::Failed);
        }
    });
}

/// The sweep ended, leaving `remaining` accounts to `continuation`.
pub fn sweep_finished(remaining: usize, continuation: Option<&str>) {
    with_current(|i| {
        if let Some(s) = i.sweep_state().as_mut() {
            s.remaining = Some(remaining);
            s.continuation = continuation.map(str::to_owned);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountId;
    use crate::error::Step;
    use crate::report::ErrorInfo;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_600_000_123)
    }

    fn report(outcome: Outcome) -> Report {
        let mut r = Report::new(AccountId::parse("123456789012").unwrap(), false);
        r.outcome = outcome;
        r
    }

    /// The specification's rules, for the documents built here (tests/metrics.rs checks the
    /// ones the binary writes with its own reading of the same rules).
    fn assert_valid(doc: &Value) {
        let root = doc.as_object().expect("an object");
        let aws = root["_aws"].as_object().expect("_aws");
        assert!(aws["Timestamp"].is_u64());
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert!(!directives.is_empty());
        for d in directives {
            assert_eq!(d["Namespace"], NAMESPACE);
            let metrics = d["Metrics"].as_array().unwrap();
            assert!(!metrics.is_empty() && metrics.len() <= MAX_METRICS_PER_DIRECTIVE);
            for set in d["Dimensions"].as_array().unwrap() {
                for key in set.as_array().unwrap() {
                    let key = key.as_str().unwrap();
                    assert!(root[key].is_string(), "dimension {key} is a string member");
                }
            }
            for m in metrics {
                let name = m["Name"].as_str().unwrap();
                assert!(root[name].is_number(), "metric {name} is a number member");
                assert!(["Count", "Milliseconds", "Seconds"].contains(&m["Unit"].as_str().unwrap()));
            }
        }
    }

    /// The README's example document.
    #[test]
    fn an_onboarding_is_one_count_by_outcome_with_its_timings() {
        let doc = onboarding(
            "tfc-onboarder",
            at(),
            &report(Outcome::Onboarded),
            Trigger::Organizations,
            Duration::from_micros(812_345),
            Some(Duration::from_millis(14_250)),
        );
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_764_600_000_123u64,
                    "CloudWatchMetrics": [
                        {"Namespace": "TfcOnboarder", "Dimensions": [["FunctionName", "Outcome"]],
                         "Metrics": [{"Name": "Onboardings", "Unit": "Count"}]},
                        {"Namespace": "TfcOnboarder", "Dimensions": [["FunctionName"]],
                         "Metrics": [{"Name": "OnboardingDuration", "Unit": "Milliseconds"},
                                     {"Name": "TimeToReady", "Unit": "Seconds"}]},
                    ],
                },
                "FunctionName": "tfc-onboarder",
                "Outcome": "onboarded",
                "Onboardings": 1,
                "OnboardingDuration": 812.345,
                "TimeToReady": 14.25,
                "account_id": "123456789012",
                "trigger": "organizations",
                "dry_run": false,
            })
        );
        assert_valid(&doc);
    }

    #[test]
    fn a_failure_names_its_step_and_an_old_account_has_no_time_to_ready() {
        let mut failed = report(Outcome::Failed);
        failed.error = Some(ErrorInfo {
            step: Step::AssumeRole,
            retryable: true,
            message: "no".into(),
        });
        let doc = onboarding("f", at(), &failed, Trigger::Reconcile, Duration::ZERO, None);
        assert_valid(&doc);
        assert_eq!(doc["Outcome"], "failed");
        assert_eq!(doc["step"], Step::AssumeRole.to_string());
        assert_eq!(doc["trigger"], "reconcile");
        assert!(doc.get(TIME_TO_READY).is_none());
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["Metrics"].as_array().unwrap())
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [ONBOARDINGS, ONBOARDING_DURATION],
            "no metric is declared without its value"
        );
    }

    #[test]
    fn the_account_id_is_a_member_never_a_dimension() {
        for doc in [
            onboarding(
                "f",
                at(),
                &report(Outcome::Unchanged),
                Trigger::Manual,
                Duration::ZERO,
                None,
            ),
            invocation("f", at(), "req", Counts::default(), None),
        ] {
            for d in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for set in d["Dimensions"].as_array().unwrap() {
                    for key in set.as_array().unwrap() {
                        assert!(
                            [FUNCTION_NAME, OUTCOME].contains(&key.as_str().unwrap()),
                            "{key}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn time_to_ready_is_only_for_a_new_account_this_run_made_ready() {
        let now = at();
        let hour = Duration::from_secs(3600);
        let joined = Some(now - Duration::from_secs(42));
        assert_eq!(
            time_to_ready(Outcome::Onboarded, joined, now, hour),
            Some(Duration::from_secs(42))
        );
        for outcome in [
            Outcome::Unchanged,
            Outcome::Planned,
            Outcome::Skipped,
            Outcome::Failed,
        ] {
            assert_eq!(
                time_to_ready(outcome, joined, now, hour),
                None,
                "{outcome:?}"
            );
        }
        let old = Some(now - Duration::from_secs(3600));
        assert_eq!(
            time_to_ready(Outcome::Onboarded, old, now, hour),
            None,
            "not new: missed, not waiting"
        );
        assert_eq!(time_to_ready(Outcome::Onboarded, None, now, hour), None);
        let ahead = Some(now + Duration::from_secs(3));
        assert_eq!(
            time_to_ready(Outcome::Onboarded, ahead, now, hour),
            Some(Duration::ZERO),
            "clock skew"
        );
    }

    #[test]
    fn an_invocation_has_its_retries_and_a_sweep_its_progress() {
        let counts = Counts {
            aws_retries: 3,
            tfc_retries: 1,
            tfc_throttled: 2,
        };
        let doc = invocation("f", at(), "req-1", counts, None);
        assert_valid(&doc);
        assert_eq!(
            (
                doc[AWS_RETRIES].clone(),
                doc[TFC_RETRIES].clone(),
                doc[TFC_THROTTLED].clone()
            ),
            (json!(3), json!(1), json!(2))
        );
        assert_eq!(doc["request_id"], "req-1");
        assert!(doc.get(SWEEP_ACCOUNTS_TOTAL).is_none());

        let mut sweep = SweepProgress {
            in_organization: 120,
            to_do: 100,
            done: 40,
            failed: 1,
            remaining: None,
            continuation: None,
            started: Instant::now(),
        };
        let running = invocation("f", at(), "req-2", counts, Some(&sweep));
        assert!(
            running.get(SWEEP_ACCOUNTS_DONE).is_none(),
            "a sweep that never ended has no progress to report"
        );
        sweep.remaining = Some(60);
        sweep.continuation = Some("210987654321".into());
        let doc = invocation("f", at(), "req-2", counts, Some(&sweep));
        assert_valid(&doc);
        assert_eq!(doc[SWEEP_ACCOUNTS_TOTAL], 120);
        assert_eq!(doc[SWEEP_ACCOUNTS_DONE], 40);
        assert_eq!(doc[SWEEP_ACCOUNTS_REMAINING], 60);
        assert_eq!(doc[SWEEP_CONTINUATIONS], 1);
        assert_eq!(doc["continuation"], "210987654321");
        sweep.remaining = Some(0);
        sweep.continuation = None;
        let done = invocation("f", at(), "req-3", counts, Some(&sweep));
        assert_eq!(done[SWEEP_CONTINUATIONS], 0);
        assert!(done.get("continuation").is_none());
    }

    #[tokio::test]
    async fn hooks_report_to_the_invocation_in_scope_and_nowhere_else() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let metrics = Invocation::with_sink(
            "f",
            "req",
            Box::new(move |line| sink.lock().unwrap().push(line.to_owned())),
        );
        // Outside any scope: nothing counts, nothing is written, nothing fails.
        aws_retry();
        onboarded(
            &report(Outcome::Onboarded),
            Trigger::Manual,
            Duration::ZERO,
            None,
        );
        metrics
            .scope(async {
                aws_retry();
                aws_retry();
                tfc_retry();
                tfc_throttled();
                sweep_started(5, 3);
                for outcome in [Outcome::Onboarded, Outcome::Failed] {
                    onboarded(
                        &report(outcome),
                        Trigger::Reconcile,
                        Duration::from_millis(5),
                        None,
                    );
                    sweep_account_done(outcome);
                }
                sweep_finished(1, Some("123456789012"));
            })
            .await;
        assert_eq!(
            metrics.counts(),
            Counts {
                aws_retries: 2,
                tfc_retries: 1,
                tfc_throttled: 1
            }
        );
        let progress = metrics.sweep_progress().unwrap();
        assert_eq!(
            (
                progress.in_organization,
                progress.to_do,
                progress.done,
                progress.failed,
                progress.remaining
            ),
            (5, 3, 2, 1, Some(1))
        );
        metrics.finish();
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let docs: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines.iter().all(|l| !l.contains('\n')), "one line each");
        assert_eq!(
            (docs[0]["Outcome"].as_str(), docs[1]["Outcome"].as_str()),
            (Some("onboarded"), Some("failed"))
        );
        assert_eq!(docs[2][AWS_RETRIES], 2);
        assert_eq!(docs[2][SWEEP_ACCOUNTS_REMAINING], 1);

        // The CLI's invocation counts but writes nothing.
        let plain = Invocation::plain();
        plain.scope(async { tfc_throttled() }).await;
        plain.finish();
        assert_eq!(plain.counts().tfc_throttled, 1);
    }
}
