//! `doctor`: a read-only preflight for an operator's first day. Each check reads one thing
//! the function depends on (its credentials, the trail that feeds EventBridge, its own
//! rules, the Terraform Cloud token, the access roles in a sample of member accounts, the
//! policies it attaches there) and passes or fails; a fail carries the fix. Nothing is
//! ever written, in AWS or in Terraform Cloud.

mod access;
mod credentials;
mod rules;
mod token;
mod trail;

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::aws::organizations::NotDelegated;
use crate::error::AwsError;
use crate::onboard::Onboarder;

pub use rules::unqualified_function_arn;

/// Member accounts the access roles are tried in when the request does not say.
pub const DEFAULT_SAMPLE: usize = 5;
/// Each sampled account costs up to one AssumeRole per access role (at most 5).
pub const MAX_SAMPLE: usize = 50;
/// Kept back from the deadline to assemble and return the answer.
const RESERVE: Duration = Duration::from_secs(3);
/// Why the checks of the management account's resources were not run.
const NEEDS_MANAGEMENT: &str =
    "needs the credentials of the organization's management account (see credentials)";
/// Why tooling mode skips the checks of the trail and the rules: both are in the management
/// account, where the broker role may do nothing but assume the access roles (the function
/// reads Organizations itself, under the organization's delegation policy), and the
/// function's own rules are on a bus of its own.
const IN_MANAGEMENT_ACCOUNT: &str = "tooling mode (ONBOARD_MANAGEMENT_ROLE_ARN): the trail and the forwarding rules are in the management account, where the broker role may only assume the access roles, so doctor does not check them in this mode; the forwarding rules' dead-letter queue in the management account keeps what they could not deliver";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorRequest {
    /// How many member accounts (the newest) the access roles are tried in.
    pub sample: usize,
    /// The function whose EventBridge rules are checked: the Lambda context's ARN, or the
    /// CLI's `--function-arn`.
    pub function_arn: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotChecked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub summary: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What to do about a fail: which variable, policy or command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: &'static str, summary: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Pass,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    fn fail(check: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Fail,
            summary: summary.into(),
            details: Vec::new(),
            fix: Some(fix.into()),
        }
    }

    fn not_checked(check: &'static str, why: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::NotChecked,
            summary: format!("not checked: {}", why.into()),
            details: Vec::new(),
            fix: None,
        }
    }

    fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    /// A read that failed: AccessDenied names the action to allow; anything else is shown
    /// as AWS said it.
    fn aws_failure(check: &'static str, what: &str, e: &AwsError) -> Self {
        // The refusal's own text carries the fix, which the check shows on its own line.
        let summary = match NotDelegated::behind(e) {
            Some(refused) => format!(
                "{what}: {} failed ({}): {}: the organization's delegation policy does not let {} read Organizations",
                e.operation,
                e.code.as_deref().unwrap_or_default(),
                refused.message,
                refused.principal
            ),
            None => format!("{what}: {e}"),
        };
        Self::fail(check, summary, aws_fix(e))
    }
}

fn denied(e: &AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
    )
}

/// The fix for a failed AWS read.
fn aws_fix(e: &AwsError) -> String {
    if let Some(refused) = NotDelegated::behind(e) {
        format!(
            "let this function's role {} read Organizations through the organization's delegation policy: {}",
            refused.principal,
            NotDelegated::FIX
        )
    } else if denied(e) {
        format!(
            "allow {} for these credentials: the infra module's function policy grants it (apply the current module); for the CLI, use a principal of the management account that has it",
            e.operation
        )
    } else if e.retryable {
        "AWS answered with a transient error: run doctor again".to_owned()
    } else {
        format!(
            "see AWS's answer to {} above; run doctor again once it is resolved",
            e.operation
        )
    }
}

/// Every check, in the order they are printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub ok: bool,
    pub region: String,
    pub organization: String,
    pub checks: Vec<Check>,
}

impl Diagnosis {
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.check)
            .collect()
    }
}

/// Runs every check and never fails as a whole: a check that cannot run says why.
pub async fn run(ob: &Onboarder, req: &DoctorRequest, deadline: Instant) -> Diagnosis {
    let until = deadline
        .checked_sub(RESERVE)
        .unwrap_or(deadline)
        .max(Instant::now());
    let retrying = ob.retrying(until);
    let region = ob
        .clients
        .base
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let (credentials, management) = credentials::check(ob, retrying).await;
    let management = management.as_deref();
    let (trail, rules, token, (access, policies)) = tokio::join!(
        trail::check(ob, retrying, &region, management),
        rules::check(
            ob,
            retrying,
            &region,
            management,
            req.function_arn.as_deref()
        ),
        token::check(ob, until),
        access::check(ob, retrying, management, req.sample, until),
    );
    let checks = vec![credentials, trail, rules, token, access, policies];
    let diagnosis = Diagnosis {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        region,
        organization: ob.cfg.organization.to_string(),
        checks,
    };
    let failed = diagnosis.failed();
    if failed.is_empty() {
        tracing::info!(ok = true, "doctor: no problem found");
    } else {
        tracing::warn!(ok = false, failed = %failed.join(", "), "doctor found problems");
    }
    diagnosis
}

/// One line per check with its mark, its details indented below, and the fix of a fail.
pub fn render(d: &Diagnosis) -> String {
    let mut out = format!(
        "tfc-onboarder doctor: AWS Region {}, Terraform Cloud organization {}\n",
        d.region, d.organization
    );
    for c in &d.checks {
        let mark = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotChecked => "SKIP",
        };
        out.push_str(&format!("{mark} {}: {}\n", c.check, c.summary));
        for detail in &c.details {
            out.push_str(&format!("     {detail}\n"));
        }
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     fix: {fix}\n"));
        }
    }
    let count = |s: Status| d.checks.iter().filter(|c| c.status == s).count();
    let mut tally = vec![format!("{} passed", count(Status::Pass))];
    for (n, what) in [
        (count(Status::Fail), "failed"),
        (count(Status::NotChecked), "not checked"),
    ] {
        if n > 0 {
            tally.push(format!("{n} {what}"));
        }
    }
    out.push_str(&format!("doctor: {}\n", tally.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_line_per_check_with_details_and_the_fix_of_a_fail() {
        let d = Diagnosis {
            ok: false,
            region: "us-east-1".into(),
            organization: "acme".into(),
            checks: vec![
                Check::pass("credentials", "fine"),
                Check::fail("cloudtrail", "no trail", "create one")
                    .with_details(vec!["trail a: not logging".into()]),
                Check::not_checked("event rules", "no ARN"),
            ],
        };
        assert_eq!(
            render(&d),
            "tfc-onboarder doctor: AWS Region us-east-1, Terraform Cloud organization acme\n\
             PASS credentials: fine\n\
             FAIL cloudtrail: no trail\n     trail a: not logging\n     fix: create one\n\
             SKIP event rules: not checked: no ARN\n\
             doctor: 1 passed, 1 failed, 1 not checked\n"
        );
        assert_eq!(d.failed(), ["cloudtrail"]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["checks"][2]["status"], "not_checked");
        assert!(json["checks"][0].get("fix").is_none());
    }

    #[test]
    fn an_access_denial_names_the_action_to_allow() {
        let e = AwsError {
            operation: "cloudtrail:GetTrailStatus",
            code: Some("AccessDeniedException".into()),
            message: "no".into(),
            retryable: false,
            source: None,
        };
        let c = Check::aws_failure("cloudtrail", "cannot read", &e);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.fix
                .unwrap()
                .starts_with("allow cloudtrail:GetTrailStatus"),
            "the fix names the action"
        );
    }
}
