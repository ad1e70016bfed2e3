//! One entry point for every invocation (Lambda or CLI): parse the event, dispatch, and turn
//! the outcome into a response or a classified error.

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::HandlerError;
use crate::event::{self, Request};
use crate::onboard::{Lookup, Onboarder};
use crate::queue::BatchResponse;
use crate::report::{Outcome, Report, Summary, SweepStep};

/// What an invocation returns.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(Box<Report>),
    Summary(Box<Summary>),
    SweepStep(SweepStep),
    Batch(BatchResponse),
    Doctor(Box<crate::doctor::Diagnosis>),
    Skipped { outcome: Outcome, reason: String },
}

pub async fn handle(
    ob: &Onboarder,
    event: &Value,
    deadline: Instant,
) -> Result<Response, HandlerError> {
    dispatch(ob, parse(event)?, deadline).await
}

/// [`handle`] for the Lambda runtime, whose context names the function invoked: `doctor`
/// finds the function's own EventBridge rules from it.
pub async fn handle_in_lambda(
    ob: &Onboarder,
    event: &Value,
    deadline: Instant,
    function_arn: &str,
) -> Result<Response, HandlerError> {
    let mut request = parse(event)?;
    if let Request::Doctor(doctor) = &mut request {
        doctor.function_arn = Some(function_arn.to_owned());
    }
    dispatch(ob, request, deadline).await
}

fn parse(event: &Value) -> Result<Request, HandlerError> {
    event::parse(event).map_err(|e| {
        tracing::error!(error = %e, "rejected event");
        HandlerError::from(e)
    })
}

pub async fn dispatch(
    ob: &Onboarder,
    request: Request,
    deadline: Instant,
) -> Result<Response, HandlerError> {
    match request {
        Request::Skip { reason } => {
            tracing::info!(reason, "nothing to do for this event");
            Ok(Response::Skipped {
                outcome: Outcome::Skipped,
                reason,
            })
        }
        Request::Onboard(req) => {
            let report = ob.onboard(&req, None, &Lookup::Query, deadline).await;
            announce(ob, &report).await;
            finish(report)
        }
        Request::Offboard {
            account,
            dry_run,
            cause,
        } => {
            tracing::info!(account_id = %account, cause, "offboarding");
            let report = crate::offboard::offboard(ob, &account, dry_run, deadline).await;
            // Only a real removal is news; an offboarding with nothing left to remove would
            // otherwise go out as "Account Onboarded" (the detail type of an unchanged report).
            if report.outcome == Outcome::Offboarded {
                announce(ob, &report).await;
            }
            finish(report)
        }
        // A failed check is an answer, not an error: an error would replace the checks and
        // their fixes with an error type, and an asynchronous invocation would be retried
        // twice to the same result and then land in the failure queue meant for accounts.
        // Boxed: its checks run side by side, and their state inline would make every
        // invocation's future as large as all of them.
        Request::Doctor(req) => Ok(Response::Doctor(Box::new(
            Box::pin(crate::doctor::run(ob, &req, deadline)).await,
        ))),
        Request::Reconcile {
            dry_run,
            continuation,
            brief,
        } => {
            let summary = crate::sweep::reconcile(ob, dry_run, continuation, deadline).await?;
            tracing::info!(accounts_seen = summary.accounts_seen, counts = ?summary.counts, failures = summary.failures.len(), continuation = summary.continuation.as_deref(), "reconcile summary");
            Ok(if brief {
                Response::SweepStep(SweepStep::from(&summary))
            } else {
                Response::Summary(Box::new(summary))
            })
        }
        Request::Batch(batch) => Ok(Response::Batch(
            crate::queue::process(ob, batch, deadline).await,
        )),
    }
}

/// A failed account fails the invocation, so Lambda's retry and on-failure destination see it.
fn finish(report: Report) -> Result<Response, HandlerError> {
    match &report.error {
        Some(error) => Err(HandlerError {
            retryable: error.retryable,
            kind: error.step.to_string(),
            message: error.message.clone(),
        }),
        None => Ok(Response::Report(Box::new(report))),
    }
}

/// Publishes the ready signal when configured; a failure to publish is logged, not fatal:
/// the account itself is done.
pub async fn announce(ob: &Onboarder, report: &Report) {
    if !ob.cfg.ready_events || report.dry_run || report.outcome == Outcome::Skipped {
        return;
    }
    if let Err(e) = crate::aws::events::publish(&ob.clients.events, &ob.cfg.event_bus, report).await
    {
        tracing::warn!(account_id = %report.account_id, error = %e, "could not publish the ready event");
    }
}
