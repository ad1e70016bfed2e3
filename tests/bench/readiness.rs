//! Issue 11 §1: how soon a brand-new account is onboarded once AWS lets the function in.
//! The fault proxy keeps the account closed (every AssumeRole into it answers AccessDenied)
//! for X seconds after the CreateAccountResult event reaches the release binary, then opens
//! it. Overshoot is the time from the opening to the Lambda's response; the AssumeRole rate
//! while closed is read from the proxy's record of each call's arrival.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::env::sample_event;
use super::support::fault_proxy::{peak_per_second, FaultProxy};
use super::support::moto::Moto;
use super::support::tfc_fake::TfcFake;
use super::{expect_outcome, ms, round, stats, step, Ctx, Lambda, Results};

/// Targets of the issue: every closed time from 5 s to 5 min.
const MAX_OVERSHOOT: Duration = Duration::from_secs(2);
const MAX_CALLS_PER_SECOND: usize = 2;
/// The module's function timeout: the poll runs until 20 s before it.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(300);

/// One closed time, measured `runs` times at once (one account and one Lambda each).
pub struct Plan {
    pub closed: Duration,
    pub runs: usize,
}

/// `--quick`: a short version for CI; otherwise X in {10 s, 40 s, 120 s}.
pub fn plan(quick: bool, closed_secs: Option<&[u64]>, runs: Option<usize>) -> Vec<Plan> {
    let default: &[u64] = if quick { &[5] } else { &[10, 40, 120] };
    let runs = runs.unwrap_or(if quick { 2 } else { 5 }).max(1);
    closed_secs
        .unwrap_or(default)
        .iter()
        .map(|&s| Plan {
            closed: Duration::from_secs(s),
            runs,
        })
        .collect()
}

struct Run {
    overshoot: Duration,
    calls_while_closed: usize,
    peak_per_second: usize,
}

pub async fn readiness(
    ctx: &Ctx,
    moto: &Moto,
    proxy: &FaultProxy,
    tfc: &TfcFake,
    plans: &[Plan],
    res: &mut Results,
) -> Result<(), String> {
    let mut figures = Vec::new();
    for plan in plans {
        step(&format!(
            "readiness: {} new account(s) closed for {} s, then opened",
            plan.runs,
            plan.closed.as_secs()
        ));
        let runs: Vec<Run> = futures::future::try_join_all(
            (0..plan.runs).map(|i| one(ctx, moto, proxy, tfc, plan, i)),
        )
        .await?;
        let overshoot: Vec<f64> = runs.iter().map(|r| ms(r.overshoot)).collect();
        let s = stats(&overshoot);
        let peak = runs.iter().map(|r| r.peak_per_second).max().unwrap_or(0);
        eprintln!(
            "  overshoot median {:.0} ms, max {:.0} ms; peak {peak} AssumeRole/s",
            s.median, s.max
        );
        let x = plan.closed.as_secs();
        res.check(
            format!("ready after {x} s closed: overshoot median / max"),
            format!(
                "{:.2} / {:.2} s ({} runs)",
                s.median / 1000.0,
                s.max / 1000.0,
                runs.len()
            ),
            format!("max <= {} s", MAX_OVERSHOOT.as_secs()),
            s.max <= ms(MAX_OVERSHOOT),
            "the proxy opens the account -> the Lambda's response reaches the Runtime API",
        );
        res.check(
            format!("ready after {x} s closed: peak AssumeRole calls in any 1 s"),
            format!("{peak}"),
            format!("<= {MAX_CALLS_PER_SECOND} (two access roles)"),
            peak <= MAX_CALLS_PER_SECOND,
            "arrival times of the AssumeRole calls into the closed account, at the proxy",
        );
        figures.push(json!({
            "closed_s": x,
            "overshoot_ms": {"median": round(s.median, 1), "max": round(s.max, 1), "min": round(s.min, 1),
                             "samples": overshoot.iter().map(|v| round(*v, 1)).collect::<Vec<_>>()},
            "assume_role_calls_while_closed": runs.iter().map(|r| r.calls_while_closed).collect::<Vec<_>>(),
            "peak_assume_role_per_s": peak,
        }));
    }
    res.json.insert("readiness".into(), Value::Array(figures));
    Ok(())
}

async fn one(
    ctx: &Ctx,
    moto: &Moto,
    proxy: &FaultProxy,
    tfc: &TfcFake,
    plan: &Plan,
    i: usize,
) -> Result<Run, String> {
    let x = plan.closed.as_secs();
    let account = moto.create_account(&format!("ready-{x}s-{i}"), &[]).await;
    // moto builds the account's IAM backend on first use; real IAM has no such cost.
    aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await)
        .list_roles()
        .send()
        .await
        .map_err(|e| format!("warming moto's IAM for {account}: {e}"))?;
    let vars = ctx.lambda_env(proxy, tfc, &[]);
    let mut lambda =
        Lambda::spawn(ctx, &vars, &format!("readiness-{x}s-{i}"), LAMBDA_TIMEOUT).await?;
    lambda.ready().await?;

    let opens = Instant::now() + plan.closed;
    proxy.close_account_until(&account, opens);
    let (response, _) = lambda
        .invoke(
            sample_event("create-account-result.json", &account),
            LAMBDA_TIMEOUT,
        )
        .await?;
    let finished = Instant::now();
    expect_outcome(&response, "onboarded")?;
    if finished < opens {
        return Err(format!(
            "{account} was onboarded while the proxy kept it closed"
        ));
    }
    let closed: Vec<_> = proxy
        .assume_role_calls(&account)
        .into_iter()
        .filter(|c| c.at < opens)
        .collect();
    Ok(Run {
        overshoot: finished - opens,
        calls_while_closed: closed.len(),
        peak_per_second: peak_per_second(&closed),
    })
}
