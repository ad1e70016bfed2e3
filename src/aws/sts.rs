//! Into the member account: `AssumeRole` with each access role in turn, and the readiness poll
//! that waits (boundedly) for a brand-new account.

use std::collections::VecDeque;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tokio::time::Instant;

use super::{transient, Retrying};
use crate::domain::{AccountId, RoleArn};
use crate::error::AwsError;

/// AssumeRole calls per second while a new account is not ready: gentle on STS, and frequent
/// enough that an account is onboarded within about one round (N roles / 2 per second) of
/// AWS making its role assumable.
pub const POLL_CALLS_PER_SECOND: usize = 2;
/// Added to each pause, so invocations started together (AFT creating accounts in a batch) do
/// not poll in lockstep. Only ever added, so the rate stays under the cap.
const POLL_JITTER: Duration = Duration::from_millis(100);
/// A second bound besides the deadline: more rounds than Lambda's longest timeout (15 minutes)
/// holds even with a single role.
const MAX_POLL_ROUNDS: usize = 2 * POLL_CALLS_PER_SECOND * 900;

/// Codes a freshly created account answers to *every* role until it is ready (STS not yet
/// active for it); AccessDenied is the one code that is about a single role.
fn account_not_ready(e: &AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some("RegionDisabledException" | "SubscriptionRequiredException" | "OptInRequired")
    )
}

/// The member account, reached through `role`.
pub struct Assumed {
    pub config: SdkConfig,
    pub role: String,
}

/// A role that could not be assumed, and the code AWS answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub role: String,
    pub code: String,
}

pub enum Access {
    Assumed(Box<Assumed>),
    /// No role could be assumed; the last answer for each role tried, in order.
    Refused(Vec<Refusal>),
}

/// `OrganizationAccountAccessRole (AccessDenied), AWSControlTowerExecution (AccessDenied)`.
pub fn describe(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| format!("{} ({})", r.role, r.code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the member account is entered: the management account's STS client and config,
/// and the access roles to try, in order.
pub struct AccessRoles<'a> {
    pub sts: &'a aws_sdk_sts::Client,
    pub base: &'a SdkConfig,
    pub partition: &'a str,
    pub roles: &'a [String],
}

impl AccessRoles<'_> {
    /// One round tries every role in order and stops at the first that works; a role that
    /// answers AccessDenied moves on to the next. With `poll_until`, rounds repeat, paced at
    /// [`POLL_CALLS_PER_SECOND`], until a role works or the next call would start after it:
    /// a new account denies all its roles until AWS has propagated them. Transient errors are
    /// retried under `retrying`; any other error ends the attempt.
    pub async fn first_assumable(
        &self,
        account: &AccountId,
        retrying: Retrying,
        poll_until: Option<Instant>,
    ) -> Result<Access, AwsError> {
        let mut pacer = Pacer::new(POLL_CALLS_PER_SECOND);
        let mut last: Vec<Option<String>> = vec![None; self.roles.len()];
        'rounds: for _ in 0..MAX_POLL_ROUNDS {
            for (i, role) in self.roles.iter().enumerate() {
                if let Some(until) = poll_until {
                    if !pacer.wait(until).await {
                        break 'rounds;
                    }
                }
                let arn = RoleArn::new(self.partition, account, role);
                let answer = self.assume(&arn, retrying).await;
                // Counted from the answer, not from the start: STS then sees at most the rate
                // however long each call took to reach it.
                pacer.record(Instant::now());
                match answer {
                    Ok(config) => {
                        return Ok(Access::Assumed(Box::new(Assumed {
                            config,
                            role: role.clone(),
                        })))
                    }
                    Err(e) if e.has_code("AccessDenied") || account_not_ready(&e) => {
                        tracing::debug!(account_id = %account, role, code = e.code.as_deref(), "access role not assumable");
                        last[i] = e.code.clone();
                        // The other roles would get the same answer from an account STS does
                        // not serve yet.
                        if account_not_ready(&e) {
                            break;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if poll_until.is_none() {
                break;
            }
        }
        Ok(Access::Refused(
            self.roles
                .iter()
                .zip(last)
                .filter_map(|(role, code)| {
                    code.map(|code| Refusal {
                        role: role.clone(),
                        code,
                    })
                })
                .collect(),
        ))
    }

    /// Tries one role, without polling: what `doctor` asks of every role in turn.
    pub async fn assume_named(
        &self,
        account: &AccountId,
        role: &str,
        retrying: Retrying,
    ) -> Result<SdkConfig, AwsError> {
        self.assume(&RoleArn::new(self.partition, account, role), retrying)
            .await
    }

    /// Assumes `arn` and returns a config for the member account that keeps the base config's
    /// region, endpoints and retry settings.
    async fn assume(&self, arn: &RoleArn, retrying: Retrying) -> Result<SdkConfig, AwsError> {
        let out = retrying
            .call("sts:AssumeRole", transient, || {
                self.sts
                    .assume_role()
                    .role_arn(arn.as_str())
                    .role_session_name(crate::config::TOOL_NAME)
                    .duration_seconds(900)
                    .send()
            })
            .await?;
        let c = out.credentials().ok_or_else(|| AwsError {
            operation: "sts:AssumeRole",
            code: None,
            message: "the response carried no credentials".into(),
            retryable: true,
            source: None,
        })?;
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "tfc-onboarder-assumed-role",
        );
        Ok(self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build())
    }
}

/// Who the credentials belong to.
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// `sts:GetCallerIdentity`, which needs no permission: the account and principal of the
/// credentials in use.
pub async fn caller_identity(
    sts: &aws_sdk_sts::Client,
    retrying: Retrying,
) -> Result<Identity, AwsError> {
    let out = retrying
        .call("sts:GetCallerIdentity", transient, || {
            sts.get_caller_identity().send()
        })
        .await?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_owned(),
        arn: out.arn().unwrap_or_default().to_owned(),
    })
}

/// At most `per_second` calls in any one-second window: a call may start only once the call
/// `per_second` places before it was answered at least a second (plus jitter) ago. A round of
/// N roles therefore repeats about every N / `per_second` seconds, without delaying a round
/// that is not over the rate (the second role of the first round goes out at once).
struct Pacer {
    per_second: usize,
    /// When each of the last `per_second` calls allows the next but `per_second` - 1 calls.
    releases: VecDeque<Instant>,
}

impl Pacer {
    fn new(per_second: usize) -> Self {
        Self {
            per_second: per_second.max(1),
            releases: VecDeque::new(),
        }
    }

    fn next_slot(&self, now: Instant) -> Instant {
        match self.releases.front() {
            Some(release) if self.releases.len() >= self.per_second => (*release).max(now),
            _ => now,
        }
    }

    fn record(&mut self, answered: Instant) {
        let jitter = POLL_JITTER.mul_f64(fastrand::f64());
        self.releases
            .push_back(answered + Duration::from_secs(1) + jitter);
        while self.releases.len() > self.per_second {
            self.releases.pop_front();
        }
    }

    /// Sleeps until the next call may start; `false` (without sleeping) when that is after
    /// `until`. A call that needs no wait always may start, so the first round is never
    /// skipped, however little time is left.
    async fn wait(&self, until: Instant) -> bool {
        let now = Instant::now();
        let slot = self.next_slot(now);
        if slot > now.max(until) {
            return false;
        }
        tokio::time::sleep_until(slot).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_any_second_to_the_rate_and_a_round_to_n_over_the_rate() {
        let start = Instant::now();
        let until = start + Duration::from_secs(30);
        let mut pacer = Pacer::new(2);
        let mut calls = Vec::new();
        while pacer.wait(until).await {
            let now = Instant::now();
            pacer.record(now);
            calls.push(now - start);
        }
        // The first two calls go out at once: the second role of a round is never delayed.
        assert_eq!(calls[0], Duration::ZERO);
        assert_eq!(calls[1], Duration::ZERO);
        for pair in calls.windows(3) {
            assert!(
                pair[2] - pair[0] >= Duration::from_secs(1),
                "three calls within a second: {pair:?}"
            );
            assert!(pair[2] - pair[0] <= Duration::from_secs(1) + POLL_JITTER);
        }
        // 30 s at 2 per second (periods of 1 s to 1.1 s), and nothing after `until`.
        assert!((54..=62).contains(&calls.len()), "{}", calls.len());
        assert!(*calls.last().unwrap() <= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_refuses_a_slot_after_the_bound_without_sleeping() {
        let start = Instant::now();
        let mut pacer = Pacer::new(2);
        pacer.record(start);
        pacer.record(start);
        assert!(!pacer.wait(start + Duration::from_millis(500)).await);
        assert_eq!(
            Instant::now(),
            start,
            "no sleep when the slot is out of bounds"
        );
        // Within the rate, a call may go even when the bound has passed: the first round
        // always runs.
        let fresh = Pacer::new(2);
        assert!(fresh.wait(start - Duration::from_secs(1)).await);
    }

    #[test]
    fn refusals_are_described_in_order() {
        let r = |role: &str, code: &str| Refusal {
            role: role.into(),
            code: code.into(),
        };
        assert_eq!(
            describe(&[r("A", "AccessDenied"), r("B", "OptInRequired")]),
            "A (AccessDenied), B (OptInRequired)"
        );
    }
}
