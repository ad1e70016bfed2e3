//! Issue 11 §3: a Control Tower landing-zone update, one `UpdateManagedAccount` event per
//! account at once, through the module's design. As in AWS:
//!
//! - EventBridge puts every event on the events queue: here they are sent to a queue of
//!   moto's real SQS (with the module's visibility timeout and redrive policy) in one go;
//! - Lambda's event source mapping, with a maximum concurrency of `event_max_concurrency`,
//!   runs that many pollers, each feeding one container: a poller receives up to 10
//!   messages, invokes its container with them (Lambda's SQS event), and deletes the
//!   messages the answer does not name in `batchItemFailures`. Here each container is the
//!   release binary behind a Runtime API of its own, with the module's TFE_RATE_LIMIT
//!   (28 per second split between the containers);
//! - Terraform Cloud admits 30 requests per second per user: the fake's limit.
//!
//! The clock runs from the first event queued to the last batch answered.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::org::{each_once, lambda_env, logged_reports, peak_check, private_organization};
use super::support::env::sample_event;
use super::support::fault_proxy::FaultProxy;
use super::support::sqs::Sqs;
use super::support::tfc_fake::TfcFake;
use super::{round, step, Counts, Ctx, Lambda, Results};

/// The module's defaults: 28 requests per second for the events, split between 2 containers,
/// a 360 s function timeout, 6 times that as the visibility timeout, 3 receives.
const TFE_BUDGET: usize = 28;
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(360);
const MAX_RECEIVES: &str = "3";
const TARGET_RATIO: f64 = 1.3;

pub struct Plan {
    pub events: usize,
    pub containers: usize,
}

/// `--quick`: 60 events; otherwise 300. Two containers, the module's default.
pub fn plan(quick: bool, events: Option<usize>, containers: Option<usize>) -> Plan {
    Plan {
        events: events.unwrap_or(if quick { 60 } else { 300 }).max(1),
        containers: containers.unwrap_or(2).clamp(2, TFE_BUDGET),
    }
}

struct Container {
    lambda: Lambda,
    batches: usize,
    messages: usize,
    failed: Vec<String>,
}

pub async fn burst(ctx: &Ctx, plan: &Plan, res: &mut Results) -> Result<Value, String> {
    let n = plan.events;
    step(&format!(
        "burst of {n} UpdateManagedAccount events, {} containers: creating the accounts in a private moto",
        plan.containers
    ));
    let (moto, accounts) = private_organization(n, "burst").await?;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(ctx.fake.clone()).await;
    let sqs = Sqs::new(&moto.url());
    let failed_queue = sqs.create_queue("burst-events-failed", json!({})).await?;
    let failed_arn = sqs.attribute(&failed_queue, "QueueArn").await?;
    let redrive =
        json!({"deadLetterTargetArn": failed_arn, "maxReceiveCount": MAX_RECEIVES}).to_string();
    let visibility = (6 * FUNCTION_TIMEOUT.as_secs()).to_string();
    let queue = sqs
        .create_queue(
            "burst-events",
            json!({"VisibilityTimeout": visibility, "RedrivePolicy": redrive}),
        )
        .await?;
    let queue_arn = sqs.attribute(&queue, "QueueArn").await?;

    let rate_limit = (TFE_BUDGET / plan.containers).to_string();
    let vars = lambda_env(ctx, &proxy, &tfc, Some(&rate_limit));
    let mut containers = Vec::new();
    for i in 0..plan.containers {
        let mut lambda = Lambda::spawn(ctx, &vars, &format!("burst-{i}"), FUNCTION_TIMEOUT).await?;
        lambda.ready().await?;
        containers.push(Container {
            lambda,
            batches: 0,
            messages: 0,
            failed: Vec::new(),
        });
    }
    let events: Vec<String> = accounts
        .iter()
        .map(|a| sample_event("control-tower-update-managed-account.json", a).to_string())
        .collect();
    proxy.clear_calls();
    tfc.clear_requests();

    step(&format!(
        "burst of {n} events: queued at once, drained by {} pollers",
        plan.containers
    ));
    let started = Instant::now();
    sqs.send_all(&queue, &events).await?;
    futures::future::try_join_all(
        containers
            .iter_mut()
            .map(|c| poll(c, &sqs, &queue, &queue_arn)),
    )
    .await?;
    let total = started.elapsed();
    let counts = Counts::take(&proxy, &tfc);

    // Nothing lost: the queue and its dead-letter queue are empty, every message was deleted
    // after its account was reported onboarded, once.
    let left = (sqs.depth(&queue).await?, sqs.depth(&failed_queue).await?);
    let failed: Vec<String> = containers.iter().flat_map(|c| c.failed.clone()).collect();
    let handled: usize = containers.iter().map(|c| c.messages).sum();
    let mut reports = std::collections::BTreeMap::new();
    for c in &containers {
        for (account, outcomes) in logged_reports(&c.lambda.log)? {
            reports
                .entry(account)
                .or_insert_with(Vec::new)
                .extend(outcomes);
        }
    }
    let once = each_once(&reports, &accounts, "Onboarded");
    let stored_sets = tfc.varsets(super::ORG).len();
    let per_container: Vec<Value> = containers
        .iter()
        .map(|c| json!({"batches": c.batches, "messages": c.messages, "failed": c.failed.len()}))
        .collect();
    drop(containers);
    eprintln!(
        "  {:.1} s, {} Terraform Cloud calls (peak {}/s, {} throttled), {} failed messages, left {left:?}",
        total.as_secs_f64(),
        counts.tfc,
        counts.tfc_peak_1s,
        counts.tfc_throttled,
        failed.len()
    );

    let secs = total.as_secs_f64();
    let bound = counts.tfc as f64 / f64::from(ctx.rate_limit);
    let ratio = secs / bound;
    let what = format!("burst {n}");
    res.check(
        format!("{what}: failed accounts"),
        format!(
            "{} ({} batch item failures)",
            reports
                .values()
                .filter(|o| o.iter().any(|o| o != "Onboarded"))
                .count(),
            failed.len()
        ),
        "0",
        failed.is_empty() && once.is_ok(),
        "batchItemFailures of every batch; outcome of every onboarding report",
    );
    res.check(
        format!("{what}: lost events"),
        format!(
            "{} ({handled} of {n} messages handled and deleted; {} queued, {} in flight, {} dead-lettered; {stored_sets} variable sets)",
            n.saturating_sub(handled),
            left.0 .0,
            left.0 .1,
            left.1 .0 + left.1 .1
        ),
        "0",
        handled == n && left == ((0, 0), (0, 0)) && stored_sets == n && once.is_ok(),
        "moto's SQS after the burst; the fake's state; one report per account",
    );
    peak_check(ctx, res, &what, &counts);
    res.check(
        format!("{what}: time / rate-limit bound"),
        format!(
            "{ratio:.2}x ({secs:.1} s vs {} calls / {} per s = {bound:.1} s)",
            counts.tfc, ctx.rate_limit
        ),
        format!("<= {TARGET_RATIO}x"),
        ratio <= TARGET_RATIO,
        "first event queued -> last batch answered, over (Terraform Cloud calls / 30 per s)",
    );
    // Which accounts were not reported exactly once, after the rows above said how many.
    once?;
    Ok(json!({
        "events": n,
        "containers": plan.containers,
        "tfe_rate_limit_per_container": rate_limit,
        "total_s": round(secs, 3),
        "tfc_calls": counts.tfc,
        "tfc_writes": counts.tfc_writes,
        "tfc_throttled": counts.tfc_throttled,
        "tfc_peak_requests_in_1s": counts.tfc_peak_1s,
        "rate_limit_lower_bound_s": round(bound, 3),
        "ratio_to_lower_bound": round(ratio, 3),
        "aws_calls": counts.aws,
        "failed_messages": failed,
        "per_container": per_container,
    }))
}

/// What one of Lambda's pollers does for its container: receive, invoke, delete what
/// succeeded; it stops once nothing is left to receive (messages in flight are another
/// poller's).
async fn poll(
    container: &mut Container,
    sqs: &Sqs,
    queue: &str,
    queue_arn: &str,
) -> Result<(), String> {
    loop {
        let messages = sqs.receive(queue, 10).await?;
        if messages.is_empty() {
            if sqs.depth(queue).await?.0 == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let event =
            json!({"Records": messages.iter().map(|m| m.record(queue_arn)).collect::<Vec<_>>()});
        let (answer, _) = container
            .lambda
            .invoke(event, FUNCTION_TIMEOUT + Duration::from_secs(10))
            .await?;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["itemIdentifier"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let done: Vec<_> = messages
            .iter()
            .filter(|m| !failed.contains(&m.id.as_str()))
            .collect();
        sqs.delete(queue, &done).await?;
        container.batches += 1;
        container.messages += done.len();
        container
            .failed
            .extend(failed.iter().map(|id| (*id).to_owned()));
    }
}
