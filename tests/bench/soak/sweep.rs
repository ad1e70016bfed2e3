//! One reconcile sweep as the schedule runs it: the release binary in a fresh Lambda
//! container, resumed from its continuation until it is done, and retried as Lambda retries
//! an asynchronous invocation that fails as a whole.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::super::{Ctx, Lambda, SWEEP_DEADLINE};
use super::events;

/// What the function said about each account (the last word wins).
pub type Claims = BTreeMap<String, String>;

pub struct Sweep {
    pub wall: Duration,
    pub invocations: usize,
    pub counts: BTreeMap<String, u64>,
    /// Accounts that failed, as the summaries list them.
    pub failures: Vec<Value>,
    /// Invocations that failed as a whole.
    pub errors: Vec<String>,
    pub claims: Claims,
    pub peak_rss: u64,
}

/// One sweep; an invocation that fails as a whole is retried (twice) in a fresh container.
pub async fn sweep(ctx: &Ctx, vars: &[(String, String)], name: &str) -> Result<Sweep, String> {
    let started = Instant::now();
    let mut event = json!({"action": "reconcile"});
    let mut sweep = Sweep {
        wall: Duration::ZERO,
        invocations: 0,
        counts: BTreeMap::new(),
        failures: Vec::new(),
        errors: Vec::new(),
        claims: Claims::new(),
        peak_rss: 0,
    };
    let mut lambda = None;
    loop {
        let container = match &mut lambda {
            Some(l) => l,
            None => {
                let mut fresh = Lambda::spawn(
                    ctx,
                    vars,
                    &format!("{name}-{}", sweep.invocations),
                    SWEEP_DEADLINE,
                )
                .await?;
                fresh.ready().await?;
                lambda.insert(fresh)
            }
        };
        sweep.invocations += 1;
        let answer = container.invoke(event.clone(), SWEEP_DEADLINE).await;
        sweep.peak_rss = sweep.peak_rss.max(container.peak_rss().unwrap_or(0));
        let summary = match answer {
            Ok((summary, _)) => summary,
            Err(e) => {
                sweep.errors.push(e);
                match events::RETRY_AFTER.get(sweep.errors.len() - 1) {
                    Some(pause) => {
                        lambda = None;
                        tokio::time::sleep(*pause).await;
                        continue;
                    }
                    None => break,
                }
            }
        };
        sweep.tally(&summary);
        match summary["continuation"].as_str() {
            Some(next) => event = json!({"action": "reconcile", "continuation": next}),
            None => break,
        }
    }
    sweep.wall = started.elapsed();
    Ok(sweep)
}

impl Sweep {
    /// `84.6 s, {"onboarded": 244, ...}`, and the invocations that failed as a whole.
    pub fn describe(&self) -> String {
        let mut text = format!("{:.1} s, {:?}", self.wall.as_secs_f64(), self.counts);
        if !self.errors.is_empty() {
            let n = self.errors.len();
            text.push_str(&format!(
                " ({n} invocations failed as a whole: {:?})",
                self.errors
            ));
        }
        text
    }

    fn tally(&mut self, summary: &Value) {
        for (outcome, n) in summary["counts"].as_object().into_iter().flatten() {
            *self.counts.entry(outcome.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
        self.failures
            .extend(summary["failures"].as_array().cloned().unwrap_or_default());
        for report in summary["reports"].as_array().into_iter().flatten() {
            if let (Some(id), Some(outcome)) =
                (report["account_id"].as_str(), report["outcome"].as_str())
            {
                self.claims.insert(id.to_owned(), outcome.to_owned());
            }
        }
        let unchanged = summary["unchanged"].as_array().into_iter().flatten();
        for id in unchanged.filter_map(Value::as_str) {
            self.claims.insert(id.to_owned(), "unchanged".to_owned());
        }
    }
}
