//! Issue 11 §2: a sweep that needs several invocations, driven the way the module's state
//! machine drives it: `{"action": "reconcile", "brief": true, "continuation": …}`, the
//! continuation each answer returned passed back until there is none. The invocation budget
//! is shrunk (the Runtime API hands out a deadline of the 30 s reserve plus a few seconds)
//! so that one invocation cannot finish the organization; the release binary runs with the
//! TFE_RATE_LIMIT the module gives it by default.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::org::{each_once, lambda_env, logged_reports, private_organization};
use super::support::fault_proxy::FaultProxy;
use super::support::tfc_fake::TfcFake;
use super::{round, step, Counts, Ctx, Lambda, Results, Verdict};

/// No account is started with less time left than this (src/sweep.rs).
const RESERVE: Duration = Duration::from_secs(30);
/// The module's TFE_RATE_LIMIT with its defaults: 28 requests per second over 2 containers.
const MODULE_RATE_LIMIT: &str = "14";
/// The module's sweep_max_invocations.
const MAX_INVOCATIONS: usize = 100;
/// Step Functions' limit on a state, and on a task's result.
const STATE_LIMIT: usize = 256 * 1024;

pub struct Plan {
    pub accounts: usize,
    /// Time each invocation may start accounts in, beyond the reserve.
    pub budget: Duration,
}

/// `--quick`: 60 accounts and 1.5 s; otherwise 1000 accounts and 15 s (a few hundred
/// accounts per invocation at 14 requests per second).
pub fn plan(quick: bool, accounts: Option<usize>) -> Plan {
    Plan {
        accounts: accounts.unwrap_or(if quick { 60 } else { 1000 }).max(1),
        budget: if quick {
            Duration::from_millis(1500)
        } else {
            Duration::from_secs(15)
        },
    }
}

pub async fn sweep_loop(ctx: &Ctx, plan: &Plan, res: &mut Results) -> Result<Value, String> {
    let n = plan.accounts;
    step(&format!(
        "sweep loop over {n} accounts ({:.1} s budget per invocation): creating them in a private moto",
        plan.budget.as_secs_f64()
    ));
    let (moto, accounts) = private_organization(n, "loop").await?;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(ctx.fake.clone()).await;
    let vars = lambda_env(ctx, &proxy, &tfc, Some(MODULE_RATE_LIMIT));
    let mut lambda = Lambda::spawn(ctx, &vars, "sweep-loop", RESERVE + plan.budget).await?;
    lambda.ready().await?;
    proxy.clear_calls();
    tfc.clear_requests();

    step(&format!(
        "sweep loop over {n} accounts: invoking until no continuation is left"
    ));
    let started = Instant::now();
    let mut continuation = Value::Null;
    let mut steps: Vec<Value> = Vec::new();
    loop {
        if steps.len() == MAX_INVOCATIONS {
            return Err(format!(
                "still a continuation after {MAX_INVOCATIONS} invocations"
            ));
        }
        let event = json!({"action": "reconcile", "brief": true, "continuation": continuation});
        let (answer, wall) = lambda
            .invoke(event, RESERVE + plan.budget + Duration::from_secs(60))
            .await?;
        let bytes = answer.to_string().len();
        eprintln!(
            "  invocation {}: {} accounts in {:.1} s, {bytes} bytes, continuation {}",
            steps.len() + 1,
            answer["accounts_seen"],
            wall.as_secs_f64(),
            answer["continuation"]
        );
        if answer["continuation"].is_string() && answer["accounts_seen"] == 0 {
            return Err(format!("an invocation made no progress: {answer}"));
        }
        continuation = answer["continuation"].clone();
        steps.push(
            json!({"answer": answer, "wall_s": round(wall.as_secs_f64(), 3), "bytes": bytes}),
        );
        if continuation.is_null() {
            break;
        }
    }
    let total = started.elapsed();
    let counts = Counts::take(&proxy, &tfc);
    let log = lambda.log.clone();
    drop(lambda);

    // Every account exactly once: one report in the log, one variable set created, one role.
    let sum = |field: &str| -> u64 {
        steps
            .iter()
            .map(|s| s["answer"][field].as_u64().unwrap_or(0))
            .sum()
    };
    let reports = logged_reports(&log)?;
    let once = each_once(&reports, &accounts, "Onboarded");
    let created_sets = tfc
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/varsets"))
        .count();
    let stored_sets = tfc.varsets(super::ORG).len();
    let roles = proxy.count("CreateRole");
    let answered = (sum("accounts_seen"), sum("onboarded"), sum("failed"));
    let reached = once.is_ok()
        && answered == (n as u64, n as u64, 0)
        && (created_sets, stored_sets, roles) == (n, n, n);
    let tally = format!(
        "answers: {} seen, {} onboarded, {} failed; {created_sets} sets created, {stored_sets} stored, {roles} roles created",
        answered.0, answered.1, answered.2
    );

    let invocations = steps.len();
    let largest = steps
        .iter()
        .filter_map(|s| s["bytes"].as_u64())
        .max()
        .unwrap_or(0) as usize;
    let secs = total.as_secs_f64();
    let what = format!("sweep loop {n} fresh");
    res.check(
        format!("{what}: invocations"),
        format!(
            "{invocations} ({:.1} s budget each)",
            plan.budget.as_secs_f64()
        ),
        ">= 3",
        invocations >= 3,
        "reconcile invocations until the continuation was null",
    );
    res.check(
        format!("{what}: accounts reached"),
        format!(
            "{n} accounts, {} ({tally})",
            once.as_ref()
                .map_or_else(Clone::clone, |()| "each reported once".to_owned())
        ),
        "every account exactly once",
        reached,
        "the function's log (1 report each), the fake's request log and state, the proxy's CreateRole calls",
    );
    once?;
    if !reached {
        return Err(format!("expected {n} accounts onboarded once: {tally}"));
    }
    res.row(
        format!("{what}: total time"),
        format!(
            "{secs:.1} s ({:.1} accounts/s at TFE_RATE_LIMIT {MODULE_RATE_LIMIT}; {} TFC calls)",
            n as f64 / secs,
            counts.tfc
        ),
        "-",
        Verdict::Info,
        "first invocation pushed -> last answer posted",
    );
    res.check(
        format!("{what}: largest answer"),
        format!("{largest} bytes"),
        "<= 256 KiB (Step Functions state)",
        largest <= STATE_LIMIT,
        "bytes of each brief answer",
    );
    Ok(json!({
        "accounts": n,
        "budget_s": plan.budget.as_secs_f64(),
        "tfe_rate_limit": MODULE_RATE_LIMIT,
        "invocations": invocations,
        "total_s": round(secs, 3),
        "tfc_calls": counts.tfc,
        "tfc_throttled": counts.tfc_throttled,
        "tfc_peak_requests_in_1s": counts.tfc_peak_1s,
        "largest_answer_bytes": largest,
        "steps": steps,
    }))
}
