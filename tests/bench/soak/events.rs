//! Account events that arrive while the sweep runs, each handled by another Lambda container
//! (another process of the release binary) at the same time, with Lambda's asynchronous
//! retries: an invocation that fails is run again twice (after 1 and 2 minutes in Lambda,
//! compressed here to 2 and 4 seconds).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::super::support::env::sample_event;
use super::super::{Ctx, Lambda};
use super::world::{Class, World};

/// The module's function timeout.
const EVENT_TIMEOUT: Duration = Duration::from_secs(300);
pub const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(4)];

pub struct Event {
    pub account: String,
    pub kind: &'static str,
    body: Value,
    /// When it arrives, from the start of the sweep.
    pub at: Duration,
}

/// Every new account's CreateAccountResult, and manual events for other accounts of every
/// state up to `count`, arriving at random within `spread`.
pub fn plan(world: &World, count: usize, spread: Duration, rng: &mut fastrand::Rng) -> Vec<Event> {
    let mut shuffle = fastrand::Rng::with_seed(rng.u64(..));
    let mut at = || spread.mul_f64(rng.f64());
    let mut events: Vec<Event> = world
        .of_class(|c| c == Class::New)
        .into_iter()
        .map(|a| Event {
            account: a.id.clone(),
            kind: "CreateAccountResult",
            body: sample_event("create-account-result.json", &a.id),
            at: at(),
        })
        .collect();
    let mut others = world.of_class(|c| c != Class::New);
    shuffle.shuffle(&mut others);
    for account in others.into_iter().take(count.saturating_sub(events.len())) {
        events.push(Event {
            account: account.id.clone(),
            kind: "manual",
            body: json!({ "account_id": account.id }),
            at: at(),
        });
    }
    events.sort_by_key(|e| e.at);
    events
}

/// What became of one event: every attempt's response or error.
pub struct Handled {
    pub account: String,
    pub kind: &'static str,
    pub attempts: Vec<Result<Value, String>>,
}

impl Handled {
    /// The last attempt's outcome, or its error type.
    pub fn ending(&self) -> String {
        match self.attempts.last() {
            Some(Ok(report)) => report["outcome"].as_str().unwrap_or("?").to_owned(),
            Some(Err(e)) => e.split(':').next().unwrap_or("error").to_owned(),
            None => "never run".into(),
        }
    }

    /// Whether it ended, after Lambda's retries, as the account's state says it must: an
    /// unreachable account refused for good, an opted-out one skipped, any other onboarded.
    pub fn as_expected(&self, class: Class) -> bool {
        let ending = self.ending();
        match class {
            Class::Unreachable => ending == "NonRetryable.AssumeRole",
            Class::OptedOut => ending == "skipped",
            _ => matches!(ending.as_str(), "onboarded" | "unchanged"),
        }
    }
}

/// Delivers each event at its time to the first free of `containers` Lambda processes.
pub async fn deliver(
    ctx: &Ctx,
    vars: &[(String, String)],
    name: &str,
    events: Vec<Event>,
    containers: usize,
    started: Instant,
) -> Result<Vec<Handled>, String> {
    let (free, idle) = tokio::sync::mpsc::channel(containers.max(1));
    for i in 0..containers.max(1) {
        let mut lambda =
            Lambda::spawn(ctx, vars, &format!("{name}-events-{i}"), EVENT_TIMEOUT).await?;
        lambda.ready().await?;
        free.send(lambda)
            .await
            .map_err(|_| "container pool closed")?;
    }
    let idle = tokio::sync::Mutex::new(idle);
    let handle = |event: Event| {
        let (free, idle) = (free.clone(), &idle);
        async move {
            tokio::time::sleep_until(started + event.at).await;
            let mut attempts = Vec::new();
            loop {
                let mut lambda = idle
                    .lock()
                    .await
                    .recv()
                    .await
                    .ok_or("container pool closed")?;
                let outcome = lambda
                    .invoke(event.body.clone(), EVENT_TIMEOUT + Duration::from_secs(10))
                    .await
                    .map(|(response, _)| response);
                free.send(lambda)
                    .await
                    .map_err(|_| "container pool closed")?;
                let failed = outcome.is_err();
                attempts.push(outcome);
                match RETRY_AFTER.get(attempts.len() - 1) {
                    Some(pause) if failed => tokio::time::sleep(*pause).await,
                    _ => break,
                }
            }
            Ok::<_, String>(Handled {
                account: event.account,
                kind: event.kind,
                attempts,
            })
        }
    };
    futures::future::join_all(events.into_iter().map(handle))
        .await
        .into_iter()
        .collect()
}
