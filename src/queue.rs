//! SQS batches from the event source mapping between the rules' queue and the function. Every
//! message is handled as the event it carries; the answer names the messages that failed
//! (`batchItemFailures`), so that only those come back after the queue's visibility timeout
//! and, after the queue's last receive, land in its dead-letter queue.

use std::collections::HashMap;

use futures::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::HandlerError;
use crate::event::{QueuedEvent, Request};
use crate::onboard::Onboarder;

/// The partial batch response the event source mapping reads (with `ReportBatchItemFailures`).
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// Messages about one account run one after another, in batch order (an offboarding and an
/// onboarding of the same account must not race); different accounts run at once, up to
/// `ONBOARD_CONCURRENCY`, sharing the container's Terraform Cloud rate limit as a sweep does.
/// Every message shares the invocation's deadline.
pub async fn process(ob: &Onboarder, batch: Vec<QueuedEvent>, deadline: Instant) -> BatchResponse {
    let mut lanes: Vec<Vec<(usize, QueuedEvent)>> = Vec::new();
    let mut lane_of_account: HashMap<crate::domain::AccountId, usize> = HashMap::new();
    for (index, message) in batch.into_iter().enumerate() {
        match message.account().cloned() {
            Some(account) => match lane_of_account.get(&account) {
                Some(&lane) => lanes[lane].push((index, message)),
                None => {
                    lane_of_account.insert(account, lanes.len());
                    lanes.push(vec![(index, message)]);
                }
            },
            None => lanes.push(vec![(index, message)]),
        }
    }
    let mut failed: Vec<(usize, String)> = futures::stream::iter(lanes)
        .map(|lane| async move {
            let mut failed = Vec::new();
            for (index, message) in lane {
                if let Err(e) = handle(ob, message.request, deadline).await {
                    tracing::error!(
                        message_id = message.message_id,
                        error_type = e.error_type(),
                        error = %e.message,
                        "queued event failed; it comes back after the visibility timeout, and goes to the dead-letter queue after the last receive"
                    );
                    failed.push((index, message.message_id));
                }
            }
            failed
        })
        .buffer_unordered(ob.cfg.concurrency)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    failed.sort();
    BatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|(_, item_identifier)| ItemFailure { item_identifier })
            .collect(),
    }
}

/// The rules only queue account events; a sweep belongs to the state machine (it would hold
/// the whole batch for minutes) and a doctor's answer to whoever invoked it (a queue would
/// swallow it), so both are refused here like any other unexpected message.
async fn handle(
    ob: &Onboarder,
    request: Result<Request, String>,
    deadline: Instant,
) -> Result<(), HandlerError> {
    let refused = |message: String| HandlerError {
        retryable: false,
        kind: "InvalidEvent".into(),
        message,
    };
    match request.map_err(refused)? {
        Request::Reconcile { .. } | Request::Batch(_) | Request::Doctor(_) => Err(refused(
            "a queued message may only carry an account event; start the sweep's state machine, or invoke the function, for a reconcile or a doctor".into(),
        )),
        // Boxed: `dispatch` hands batches to this module, so its future would contain itself.
        request => Box::pin(crate::handler::dispatch(ob, request, deadline))
            .await
            .map(drop),
    }
}
