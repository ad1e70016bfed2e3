//! Issue 12, the chaos soak: a large sweep under random faults on both sides, with account
//! events handled by other Lambda containers at the same time, must converge with nothing
//! lost and nothing duplicated.
//!
//! For each fault rate, a fresh world: a seeded moto (with the two AWS-managed policies the
//! function uses) behind the fault proxy, and the Terraform Cloud fake, holding an
//! organization with accounts in every state (`world`). Then rounds: random faults on, a
//! reconcile sweep by the release binary as a Lambda (in the first round, with the events
//! arriving meanwhile, `events`), faults off, and the end state read straight from moto and
//! the fake and judged (`check`). Rounds repeat until every account has converged.

mod check;
mod events;
mod world;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::time::Instant;

use super::support::fault_proxy::{self, FaultProxy};
use super::support::moto::Moto;
use super::support::tfc_fake::{self, TfcFake};
use super::{mib, round, step, Ctx, Lambda, Results, Verdict, MIB, SWEEP_DEADLINE};
use world::{Class, World};

/// Containers running at once: the sweep's and the events'. Each paces itself at
/// TFE_RATE_LIMIT, so the function's configuration shares the API's 30 requests per second
/// among them (see the README's TFE_RATE_LIMIT): 4 x 7 = 28.
const EVENT_CONTAINERS: usize = 3;
const TFE_RATE_LIMIT: u32 = 7;
/// A slow answer, on either side: longer than the function waits (TFE_TIMEOUT_MS and
/// ONBOARD_AWS_TIMEOUT_MS, 10 s by default), so the client gives up while the server goes on.
const SLOW: Duration = Duration::from_secs(12);
/// After this many sweeps without convergence the soak gives up.
const MAX_SWEEPS: usize = 4;

pub struct Plan {
    pub accounts: usize,
    pub events: usize,
    pub rates: Vec<f64>,
    pub seed: u64,
}

impl Plan {
    pub fn new(
        quick: bool,
        accounts: Option<usize>,
        events: Option<usize>,
        rates: Option<&[f64]>,
        seed: u64,
    ) -> Plan {
        Plan {
            accounts: accounts.unwrap_or(if quick { 60 } else { 500 }).max(20),
            events: events.unwrap_or(if quick { 10 } else { 50 }),
            rates: rates.map_or_else(|| vec![0.05, 0.15], <[f64]>::to_vec),
            seed,
        }
    }
}

pub async fn soak(ctx: &Ctx, plan: &Plan, res: &mut Results) -> Result<(), String> {
    eprintln!(
        "bench: soak seed {} (replay with --seed {}), {} accounts, {} events, fault rates {:?}",
        plan.seed, plan.seed, plan.accounts, plan.events, plan.rates
    );
    let mut runs = Vec::new();
    for &rate in &plan.rates {
        runs.push(one(ctx, plan, rate, res).await?);
    }
    res.json.insert(
        "soak".into(),
        json!({"seed": plan.seed, "accounts": plan.accounts, "events": plan.events,
               "event_containers": EVENT_CONTAINERS, "tfe_rate_limit": TFE_RATE_LIMIT, "runs": runs}),
    );
    Ok(())
}

/// What the function said about each account in one round (the last word wins).
type Claims = BTreeMap<String, String>;

async fn one(ctx: &Ctx, plan: &Plan, rate: f64, res: &mut Results) -> Result<Value, String> {
    let pct = format!("{:.0}%", rate * 100.0);
    step(&format!(
        "soak at {pct} faults: an organization of {} accounts",
        plan.accounts
    ));
    let moto = tokio::task::spawn_blocking(|| Moto::start_with_policies(world::MANAGED_POLICIES))
        .await
        .map_err(|e| e.to_string())?;
    moto.seed(plan.seed).await;
    let proxy = FaultProxy::start(&moto.url()).await;
    let tfc = TfcFake::start(ctx.fake.clone()).await;
    let setup = std::time::Instant::now();
    let world = world::build(&moto, &tfc, plan.accounts, plan.seed).await?;
    let new: HashSet<String> = world
        .of_class(|c| c == Class::New)
        .iter()
        .map(|a| a.id.clone())
        .collect();
    // Every other account joined long ago, as far as the function can tell.
    let long_ago = SystemTime::now() - Duration::from_secs(400 * 86_400);
    let old = world
        .accounts
        .iter()
        .map(|a| a.id.clone())
        .filter(|id| !new.contains(id));
    proxy.set_joined(old, long_ago);
    let before = check::snapshot(&world, &moto, &tfc).await?;
    eprintln!(
        "  built in {:.1} s: {}",
        setup.elapsed().as_secs_f64(),
        census(&world)
    );

    let vars = ctx.lambda_env(
        &proxy,
        &tfc,
        &[
            ("ONBOARD_CONCURRENCY", &ctx.concurrency.to_string()),
            ("TFE_RATE_LIMIT", &TFE_RATE_LIMIT.to_string()),
            ("ONBOARD_READY_EVENTS", "true"),
        ],
    );
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    // The sweep sends about 1.3 Terraform Cloud requests per account at TFE_RATE_LIMIT.
    let sweep_estimate =
        Duration::from_secs_f64(plan.accounts as f64 * 1.3 / f64::from(TFE_RATE_LIMIT));
    let events = events::plan(&world, plan.events, sweep_estimate.mul_f64(0.6), &mut rng);
    let closed: Vec<(String, Duration)> = events
        .iter()
        .filter(|e| new.contains(&e.account))
        .map(|e| {
            (
                e.account.clone(),
                e.at + Duration::from_secs_f64(5.0 + 15.0 * rng.f64()),
            )
        })
        .collect();
    let mut events = Some(events);
    proxy.clear_calls();
    tfc.clear_requests();

    let name = format!("soak-{:.0}", rate * 100.0);
    let soak_started = Instant::now();
    let mut rounds = Vec::new();
    let mut peak_rss = 0;
    let mut converged_after = None;
    let mut false_claims = Vec::new();
    let mut wrong_events = Vec::new();
    let mut last = None;
    for n in 1..=MAX_SWEEPS {
        let seed = plan.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64;
        proxy.set_chaos(Some(fault_proxy::Chaos {
            seed,
            rate,
            new_accounts: new.clone(),
            slow: SLOW,
        }));
        tfc.set_chaos(Some(tfc_fake::Chaos {
            seed,
            rate,
            slow: SLOW,
        }));
        let started = Instant::now();
        for (account, open_after) in &closed {
            proxy.close_account_until(account, (started + *open_after).into_std());
        }
        step(&format!("soak at {pct} faults: sweep {n}"));
        let container = format!("{name}-sweep-{n}");
        let sweep = sweep(ctx, &vars, &container);
        let deliveries = async {
            match events.take() {
                Some(e) => events::deliver(ctx, &vars, &name, e, EVENT_CONTAINERS, started).await,
                None => Ok(Vec::new()),
            }
        };
        let (sweep, handled) = tokio::join!(sweep, deliveries);
        let (sweep, handled) = (sweep?, handled?);
        proxy.set_chaos(None);
        tfc.set_chaos(None);

        let mut claims = sweep.claims.clone();
        for h in &handled {
            if let Some(Ok(report)) = h.attempts.last() {
                if let Some(outcome) = report.get("outcome").and_then(Value::as_str) {
                    claims.insert(h.account.clone(), outcome.to_owned());
                }
            }
        }
        let now = check::snapshot(&world, &moto, &tfc).await?;
        let verdict = check::judge(&world, &before, &now);
        let lies: Vec<String> = claims
            .iter()
            .filter(|(_, outcome)| matches!(outcome.as_str(), "onboarded" | "unchanged"))
            .filter(|(id, _)| !verdict.complete.contains(*id))
            .map(|(id, outcome)| format!("{id} reported {outcome}"))
            .collect();
        false_claims.extend(lies.iter().cloned());
        wrong_events.extend(unexpected(&world, &handled));
        peak_rss = peak_rss.max(sweep.peak_rss);
        eprintln!(
            "  sweep {n}: {:.1} s, {:?}{}; events: {}; complete {}/{}, untouched {}/{}{}",
            sweep.wall.as_secs_f64(),
            sweep.counts,
            if sweep.errors.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} invocations failed as a whole: {:?})",
                    sweep.errors.len(),
                    sweep.errors
                )
            },
            summarise(&handled),
            verdict.complete.len(),
            world.of_class(Class::managed).len(),
            world.accounts.len() - world.of_class(Class::managed).len() - verdict.touched.len(),
            world.accounts.len() - world.of_class(Class::managed).len(),
            first_problems(&world, &verdict)
        );
        rounds.push(json!({
            "round": n,
            "sweep_wall_s": round(sweep.wall.as_secs_f64(), 1),
            "sweep_invocations": sweep.invocations,
            "sweep_counts": sweep.counts,
            "sweep_failures": sweep.failures,
            "sweep_errors": sweep.errors,
            "sweep_peak_rss_bytes": sweep.peak_rss,
            "events": handled.iter().map(event_json).collect::<Vec<_>>(),
            "complete": verdict.complete.len(),
            "incomplete": verdict.incomplete,
            "touched": verdict.touched,
            "duplicates": verdict.duplicates,
            "foreign_changed": verdict.foreign_changed,
            "reported_complete_but_not": lies,
            "events_not_ending_as_expected": unexpected(&world, &handled),
        }));
        let done = verdict.converged();
        last = Some(verdict);
        if done {
            converged_after = Some(n);
            break;
        }
    }
    let verdict = last.ok_or("no sweep ran")?;
    let wall = soak_started.elapsed();
    let faults = fault_counts(&proxy, &tfc, &new);
    let tfc_peak = tfc.max_requests_in_any_window(Duration::from_secs(1));
    rows(
        res,
        &pct,
        rate,
        converged_after,
        &verdict,
        &false_claims,
        &wrong_events,
        peak_rss,
        tfc_peak,
        &faults,
        wall,
    );
    drop((proxy, tfc, moto));
    Ok(json!({
        "fault_rate": rate,
        "sweeps_until_converged": converged_after,
        "wall_s": round(wall.as_secs_f64(), 1),
        "census": census(&world),
        "faults": faults,
        "tfc_peak_requests_in_1s": tfc_peak,
        "peak_rss_bytes": peak_rss,
        "rounds": rounds,
    }))
}

struct Sweep {
    wall: Duration,
    invocations: usize,
    counts: BTreeMap<String, u64>,
    /// Accounts that failed, as the summaries list them.
    failures: Vec<Value>,
    /// Invocations that failed as a whole.
    errors: Vec<String>,
    claims: Claims,
    peak_rss: u64,
}

/// One sweep in a fresh container, resumed from its continuation until it is done. The
/// schedule invokes it asynchronously, so an invocation that fails as a whole is retried as
/// Lambda does (twice), in a fresh container.
async fn sweep(ctx: &Ctx, vars: &[(String, String)], name: &str) -> Result<Sweep, String> {
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

fn census(world: &World) -> String {
    let mut by_class = BTreeMap::<Class, usize>::new();
    for a in &world.accounts {
        *by_class.entry(a.class).or_default() += 1;
    }
    by_class
        .iter()
        .map(|(class, n)| format!("{n} {}", class.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summarise(handled: &[events::Handled]) -> String {
    if handled.is_empty() {
        return "none".into();
    }
    let mut outcomes = BTreeMap::<String, usize>::new();
    for h in handled {
        *outcomes.entry(h.ending()).or_default() += 1;
    }
    let retried = handled.iter().filter(|h| h.attempts.len() > 1).count();
    format!(
        "{} ({retried} retried by Lambda), last outcomes {outcomes:?}",
        handled.len()
    )
}

/// Events that did not end as their account's state says they must.
fn unexpected(world: &World, handled: &[events::Handled]) -> Vec<String> {
    handled
        .iter()
        .filter(|h| {
            world
                .class_of(&h.account)
                .is_some_and(|c| !h.as_expected(c))
        })
        .map(|h| format!("{} {} ended {}", h.kind, h.account, h.ending()))
        .collect()
}

fn event_json(h: &events::Handled) -> Value {
    let attempts: Vec<Value> = h
        .attempts
        .iter()
        .map(|a| match a {
            Ok(r) => json!({"outcome": r["outcome"], "reason": r.get("reason")}),
            Err(e) => json!({"error": e}),
        })
        .collect();
    json!({"account": h.account, "kind": h.kind, "attempts": attempts})
}

fn first_problems(world: &World, verdict: &check::Verdict) -> String {
    let mut problems: Vec<String> = verdict
        .incomplete
        .iter()
        .chain(&verdict.touched)
        .take(3)
        .map(|(id, what)| {
            let class = world.class_of(id).map_or("?", Class::label);
            format!("{id} ({class}): {what}")
        })
        .collect();
    problems.extend(verdict.duplicates.iter().take(2).cloned());
    problems.extend(verdict.foreign_changed.iter().take(2).cloned());
    if problems.is_empty() {
        String::new()
    } else {
        format!("\n    {}", problems.join("\n    "))
    }
}

/// Injected faults by side and kind, and the share of calls they hit.
fn fault_counts(proxy: &FaultProxy, tfc: &TfcFake, new: &HashSet<String>) -> Value {
    let calls = proxy.calls();
    // Besides the random AccessDenied, a new account denies every role while it is closed.
    let denied_while_new = new
        .iter()
        .flat_map(|account| proxy.assume_role_calls(account))
        .filter(|c| c.status == 403)
        .count();
    let requests = tfc.requests();
    let tally = |labels: Vec<&'static str>| {
        let mut by = BTreeMap::<&str, usize>::new();
        for l in labels {
            *by.entry(l).or_default() += 1;
        }
        by
    };
    let aws = tally(calls.iter().filter_map(|c| c.fault).collect());
    let tf = tally(requests.iter().filter_map(|r| r.fault).collect());
    json!({
        "aws": {"calls": calls.len(), "faulted": aws.values().sum::<usize>(), "by_kind": aws,
                "assume_role_denied_by_new_accounts": denied_while_new},
        "tfc": {"requests": requests.len(), "faulted": tf.values().sum::<usize>(), "by_kind": tf,
                "throttled_by_rate_limit": requests.iter().filter(|r| r.status == 429 && r.fault.is_none()).count()},
    })
}

#[allow(clippy::too_many_arguments)] // one row per measure of the issue
fn rows(
    res: &mut Results,
    pct: &str,
    rate: f64,
    converged_after: Option<usize>,
    verdict: &check::Verdict,
    false_claims: &[String],
    wrong_events: &[String],
    peak_rss: u64,
    tfc_peak: usize,
    faults: &Value,
    wall: Duration,
) {
    let what = format!("soak {pct}");
    let allowed = if rate <= 0.05 { 1 } else { 2 };
    res.check(
        format!("{what}: sweeps until every account converged"),
        match converged_after {
            Some(n) => format!("{n} ({:.0} s in all)", wall.as_secs_f64()),
            None => format!(
                "not after {MAX_SWEEPS}: {} incomplete, {} touched",
                verdict.incomplete.len(),
                verdict.touched.len()
            ),
        },
        if allowed == 1 {
            "1".to_owned()
        } else {
            format!("<= {allowed}")
        },
        converged_after.is_some_and(|n| n <= allowed),
        "end state read from moto and the fake after each sweep, faults off",
    );
    let side = |s: &str, total: &str| {
        format!(
            "{} of {} ({:.1}%)",
            faults[s]["faulted"],
            faults[s][total],
            100.0 * faults[s]["faulted"].as_f64().unwrap_or(0.0)
                / faults[s][total].as_f64().unwrap_or(1.0).max(1.0)
        )
    };
    res.row(
        format!("{what}: faults injected, AWS / Terraform Cloud"),
        format!("{} / {}", side("aws", "calls"), side("tfc", "requests")),
        "-",
        Verdict::Info,
        "calls the proxy and requests the fake answered with a random fault",
    );
    for (measure, count, source) in [
        (
            "duplicate providers, roles, sets or variables",
            verdict.duplicates.len(),
            "moto's IAM and the fake's sets, read directly",
        ),
        (
            "foreign objects changed or removed",
            verdict.foreign_changed.len(),
            "other roles, policies, client ids, variables and sets against their state before",
        ),
        (
            "reported onboarded that are not complete",
            false_claims.len(),
            "accounts a report called onboarded or unchanged, against the end state",
        ),
        (
            "events not ending as their account's state says",
            wrong_events.len(),
            "last answer after Lambda's retries: unreachable refused, opted out skipped, others onboarded",
        ),
    ] {
        res.check(
            format!("{what}: {measure}"),
            count.to_string(),
            "0",
            count == 0,
            source,
        );
    }
    res.check(
        format!("{what}: peak RSS of a sweep"),
        mib(peak_rss),
        "<= 64 MiB",
        peak_rss as f64 <= 64.0 * MIB,
        "VmHWM of each sweep's Lambda process",
    );
    res.check(
        format!("{what}: peak TFC requests in any 1 s"),
        tfc_peak.to_string(),
        "<= 30",
        tfc_peak <= 30,
        "sliding 1 s window over every request the fake saw (sweep and events, faulted and throttled included)",
    );
}
