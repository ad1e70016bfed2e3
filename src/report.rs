//! The report returned by the Lambda and logged once per account, and the sweep summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{AccountId, ProviderArn, RoleArn};
use crate::error::Step;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One resource this run created, changed, removed or found already right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub resource: &'static str,
    pub id: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Change {
    pub fn new(resource: &'static str, id: impl Into<String>, action: Action) -> Self {
        Self {
            resource,
            id: id.into(),
            action,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Onboarded,
    Unchanged,
    Planned,
    Skipped,
    Offboarded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VarsetRef {
    pub id: Option<String>,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ErrorInfo {
    pub step: Step,
    pub retryable: bool,
    pub message: String,
}

/// What happened to one account.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub account_id: AccountId,
    pub account_name: Option<String>,
    /// The access role this run entered the account through (the first of
    /// `ONBOARD_ACCESS_ROLE_NAMES` that could be assumed).
    pub access_role: Option<String>,
    pub provider_arn: Option<ProviderArn>,
    pub role_arn: Option<RoleArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_role_arn: Option<RoleArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_role_arn: Option<RoleArn>,
    pub variable_set: Option<VarsetRef>,
    pub outcome: Outcome,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub changes: Vec<Change>,
    /// When the account joined the organization, for the time-to-ready metric; not part of
    /// the report's JSON.
    #[serde(skip)]
    pub joined: Option<std::time::SystemTime>,
}

impl Report {
    pub fn new(account_id: AccountId, dry_run: bool) -> Self {
        Self {
            account_id,
            account_name: None,
            access_role: None,
            provider_arn: None,
            role_arn: None,
            plan_role_arn: None,
            apply_role_arn: None,
            variable_set: None,
            outcome: Outcome::Unchanged,
            dry_run,
            reason: None,
            error: None,
            changes: Vec::new(),
            joined: None,
        }
    }

    pub fn writes(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .count()
    }

    /// Onboarded when anything changed, planned on a dry run with pending changes.
    pub fn settle(&mut self) {
        self.outcome = match (self.writes(), self.dry_run) {
            (0, _) => Outcome::Unchanged,
            (_, true) => Outcome::Planned,
            (_, false) => Outcome::Onboarded,
        };
    }
}

/// Result of a reconcile sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    pub accounts_seen: usize,
    pub counts: BTreeMap<Outcome, usize>,
    pub failures: Vec<SweepFailure>,
    pub skipped: Vec<SweepSkip>,
    /// Present when the time budget ran out: pass it back as `continuation` to resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    /// Accounts already in the desired state, by id only: full reports for them would push
    /// a large organization's summary past Lambda's 6 MB response limit.
    pub unchanged: Vec<AccountId>,
    /// Full reports for every account that changed, was planned, skipped or failed.
    pub reports: Vec<Report>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepFailure {
    pub account_id: AccountId,
    pub step: Step,
    pub retryable: bool,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepSkip {
    pub account_id: AccountId,
    pub reason: String,
}

impl Summary {
    pub fn from_reports(dry_run: bool, reports: Vec<Report>, continuation: Option<String>) -> Self {
        let mut counts = BTreeMap::new();
        let mut failures = Vec::new();
        let mut skipped = Vec::new();
        for r in &reports {
            *counts.entry(r.outcome).or_insert(0) += 1;
            if let Some(e) = &r.error {
                failures.push(SweepFailure {
                    account_id: r.account_id.clone(),
                    step: e.step,
                    retryable: e.retryable,
                    message: e.message.clone(),
                });
            } else if r.outcome == Outcome::Skipped {
                skipped.push(SweepSkip {
                    account_id: r.account_id.clone(),
                    reason: r.reason.clone().unwrap_or_default(),
                });
            }
        }
        let accounts_seen = reports.len();
        let (unchanged, reports): (Vec<Report>, Vec<Report>) = reports
            .into_iter()
            .partition(|r| r.outcome == Outcome::Unchanged);
        Self {
            dry_run,
            accounts_seen,
            counts,
            failures,
            skipped,
            continuation,
            unchanged: unchanged.into_iter().map(|r| r.account_id).collect(),
            reports,
        }
    }
}

/// Failed accounts a [`SweepStep`] names; the rest are counted, and every one is in the log.
const STEP_FAILED_ACCOUNTS: usize = 20;

/// One sweep invocation as a caller looping over continuations needs it: counts and the
/// continuation, a few hundred bytes whatever the size of the organization. The Step
/// Functions state machine that drives the daily sweep keeps its state under 256 KiB, and
/// fails a task whose result is larger, so it asks for this instead of the [`Summary`] (which
/// the function logs, with one report line per account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SweepStep {
    pub dry_run: bool,
    pub accounts_seen: usize,
    pub onboarded: usize,
    pub unchanged: usize,
    pub planned: usize,
    pub skipped: usize,
    pub failed: usize,
    /// The first failed accounts, in id order; `failed` counts them all.
    pub failed_accounts: Vec<AccountId>,
    /// Always present, null once the organization is done: a JSONPath selector on a missing
    /// field fails the state machine's step.
    pub continuation: Option<String>,
}

impl From<&Summary> for SweepStep {
    fn from(s: &Summary) -> Self {
        let count = |outcome| s.counts.get(&outcome).copied().unwrap_or(0);
        Self {
            dry_run: s.dry_run,
            accounts_seen: s.accounts_seen,
            onboarded: count(Outcome::Onboarded),
            unchanged: count(Outcome::Unchanged),
            planned: count(Outcome::Planned),
            skipped: count(Outcome::Skipped),
            failed: count(Outcome::Failed),
            failed_accounts: s
                .failures
                .iter()
                .take(STEP_FAILED_ACCOUNTS)
                .map(|f| f.account_id.clone())
                .collect(),
            continuation: s.continuation.clone(),
        }
    }
}

/// A plain-text table for the operator CLI.
pub fn table(reports: &[Report]) -> String {
    let mut out = format!(
        "{:<14} {:<11} {:<40} {:<30} {}\n",
        "ACCOUNT", "OUTCOME", "VARIABLE SET", "ACCESS ROLE", "CHANGES"
    );
    for r in reports {
        let changes: Vec<String> = r
            .changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .map(|c| format!("{:?} {} {}", c.action, c.resource, c.id).to_lowercase())
            .collect();
        let detail = match (&r.error, &r.reason) {
            (Some(e), _) => format!("{} failed: {}", e.step, e.message),
            (None, Some(reason)) => reason.clone(),
            (None, None) if changes.is_empty() => "-".into(),
            (None, None) => changes.join(", "),
        };
        let set = r
            .variable_set
            .as_ref()
            .map(|v| v.name.as_str())
            .unwrap_or("-");
        out.push_str(&format!(
            "{:<14} {:<11} {:<40} {:<30} {}\n",
            r.account_id,
            format!("{:?}", r.outcome).to_lowercase(),
            set,
            r.access_role.as_deref().unwrap_or("-"),
            detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(i: usize, outcome: Outcome) -> Report {
        let mut r = Report::new(
            AccountId::parse(&format!("{:012}", 100 + i)).unwrap(),
            false,
        );
        r.outcome = outcome;
        if outcome == Outcome::Failed {
            r.error = Some(ErrorInfo {
                step: Step::VariableSet,
                retryable: false,
                message: "x".repeat(500),
            });
        }
        r
    }

    #[test]
    fn a_sweep_step_counts_everything_and_stays_small() {
        let reports: Vec<Report> = (0..3000)
            .map(|i| match i % 100 {
                0 => report(i, Outcome::Failed),
                1 => report(i, Outcome::Skipped),
                2..=9 => report(i, Outcome::Onboarded),
                _ => report(i, Outcome::Unchanged),
            })
            .collect();
        let summary = Summary::from_reports(false, reports, Some("100000003000".into()));
        let step = SweepStep::from(&summary);
        assert_eq!(
            (
                step.accounts_seen,
                step.failed,
                step.skipped,
                step.onboarded,
                step.unchanged,
                step.planned
            ),
            (3000, 30, 30, 240, 2700, 0)
        );
        assert_eq!(step.failed_accounts.len(), STEP_FAILED_ACCOUNTS);
        assert_eq!(step.failed_accounts[0].as_str(), "000000000100");
        let json = serde_json::to_string(&step).unwrap();
        assert!(json.len() < 1024, "{} bytes", json.len());
        assert!(serde_json::to_string(&summary).unwrap().len() > 100 * json.len());

        let done = SweepStep::from(&Summary::from_reports(false, vec![], None));
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(
            json["continuation"],
            serde_json::Value::Null,
            "present, as null: {json}"
        );
    }
}
