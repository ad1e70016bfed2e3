//! The reconcile sweep: every active member account brought to the desired state through the
//! same code path as one onboarding, with bounded concurrency and a resumable time budget.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::error::{HandlerError, Step};
use crate::event::{OnboardRequest, Trigger};
use crate::mapping::Overrides;
use crate::onboard::{Lookup, Onboarder};
use crate::report::{Outcome, Summary};

/// No account is started with less time than this left: one onboarding fits well inside it.
const PER_ACCOUNT_RESERVE: Duration = Duration::from_secs(30);

/// Fails as a whole only when the organization or the variable sets cannot be listed; each
/// account's failure is in the summary.
pub async fn reconcile(
    ob: &Onboarder,
    dry_run: bool,
    continuation: Option<String>,
    deadline: Instant,
) -> Result<Summary, HandlerError> {
    let dry_run = dry_run || ob.cfg.dry_run;
    // The marker is compared by order, so a typo would silently skip part of the organization.
    let continuation = continuation
        .map(|c| crate::domain::AccountId::parse(c.trim()))
        .transpose()
        .map_err(|e| HandlerError {
            retryable: false,
            kind: "InvalidEvent".into(),
            message: format!("continuation: {e} (pass back the marker a sweep returned)"),
        })?;
    // In tooling mode every account is entered through the broker session: one that cannot be
    // had fails the sweep at once, not every account on its own.
    if ob.cfg.management_role_arn.is_some() {
        crate::aws::sts::caller_identity(&ob.clients.sts, ob.retrying(deadline))
            .await
            .map_err(|e| HandlerError {
                retryable: e.retryable,
                kind: Step::AssumeRole.to_string(),
                message: e.to_string(),
            })?;
    }
    let orgs = ob.organizations(deadline);
    let listing_failed = |e: crate::error::AwsError| HandlerError {
        retryable: e.retryable,
        kind: Step::ListAccounts.to_string(),
        message: e.to_string(),
    };
    let management = orgs.management_account().await.map_err(listing_failed)?;
    let mut accounts: Vec<_> = orgs
        .list_accounts()
        .await
        .map_err(listing_failed)?
        .into_iter()
        .filter(|a| a.active && Some(a.id.as_str()) != management.as_deref())
        .collect();
    let in_organization = accounts.len();
    accounts.retain(|a| continuation.as_ref().is_none_or(|c| a.id >= *c));
    // A stable order makes the continuation marker meaningful.
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    tracing::info!(
        accounts = accounts.len(),
        dry_run,
        continuation = continuation.as_ref().map(|c| c.as_str()),
        "reconcile sweep"
    );
    crate::metrics::sweep_started(in_organization, accounts.len());

    let lookup = Lookup::index(&ob.tfc(deadline))
        .await
        .map_err(|e| HandlerError {
            retryable: e.retryable(),
            kind: Step::VariableSet.to_string(),
            message: e.to_string(),
        })?;
    let stop_starting_at = deadline
        .checked_sub(PER_ACCOUNT_RESERVE)
        .unwrap_or(deadline);
    let lookup = &lookup;
    // Accounts start in id order; unordered completion keeps a slow account from holding up
    // the ones behind it, and sorting afterwards restores the order for the continuation.
    let mut results: Vec<_> = futures::stream::iter(accounts)
        .map(|info| async move {
            if Instant::now() >= stop_starting_at {
                return (info.id, None);
            }
            let req = OnboardRequest {
                account: info.id.clone(),
                account_name: None,
                overrides: Overrides::default(),
                dry_run,
                trigger: Trigger::Reconcile,
            };
            let report = ob.onboard(&req, Some(info), lookup, deadline).await;
            crate::metrics::sweep_account_done(report.outcome);
            if matches!(report.outcome, Outcome::Onboarded | Outcome::Failed) {
                crate::handler::announce(ob, &report).await;
            }
            (req.account, Some(report))
        })
        .buffer_unordered(ob.cfg.concurrency)
        .collect()
        .await;
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let next = results
        .iter()
        .find(|(_, r)| r.is_none())
        .map(|(id, _)| id.to_string());
    let remaining = results.iter().filter(|(_, r)| r.is_none()).count();
    crate::metrics::sweep_finished(remaining, next.as_deref());
    if let Some(n) = &next {
        tracing::warn!(
            continuation = n,
            "time budget ran out; pass the continuation to resume"
        );
    }
    Ok(Summary::from_reports(
        dry_run,
        results.into_iter().filter_map(|(_, r)| r).collect(),
        next,
    ))
}
