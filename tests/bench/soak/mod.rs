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
mod report;
mod sweep;
mod world;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::time::Instant;

use super::support::fault_proxy::{self, FaultProxy};
use super::support::moto::Moto;
use super::support::tfc_fake::{self, TfcFake};
use super::{round, step, Ctx, Results};
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

/// One fault rate's world: the stand-ins, the organization, and what the function must meet.
struct Stage {
    moto: Moto,
    proxy: FaultProxy,
    tfc: TfcFake,
    world: World,
    /// Both sides as they were before the first sweep.
    before: check::Snapshot,
    /// Accounts that joined moments ago.
    new: HashSet<String>,
    /// The function's environment, for every container.
    vars: Vec<(String, String)>,
}

async fn stage(ctx: &Ctx, plan: &Plan) -> Result<Stage, String> {
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
        report::census(&world)
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
    Ok(Stage {
        moto,
        proxy,
        tfc,
        world,
        before,
        new,
        vars,
    })
}

async fn one(ctx: &Ctx, plan: &Plan, rate: f64, res: &mut Results) -> Result<Value, String> {
    let pct = format!("{:.0}%", rate * 100.0);
    step(&format!(
        "soak at {pct} faults: an organization of {} accounts",
        plan.accounts
    ));
    let stage = stage(ctx, plan).await?;
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    // The sweep sends about 1.3 Terraform Cloud requests per account at TFE_RATE_LIMIT.
    let sweep_estimate =
        Duration::from_secs_f64(plan.accounts as f64 * 1.3 / f64::from(TFE_RATE_LIMIT));
    let events = events::plan(
        &stage.world,
        plan.events,
        sweep_estimate.mul_f64(0.6),
        &mut rng,
    );
    // AWS keeps a new account's roles closed until a while after its creation event.
    let closed: Vec<(String, Duration)> = events
        .iter()
        .filter(|e| stage.new.contains(&e.account))
        .map(|e| {
            let open_after = e.at + Duration::from_secs_f64(5.0 + 15.0 * rng.f64());
            (e.account.clone(), open_after)
        })
        .collect();
    let mut events = Some(events);
    stage.proxy.clear_calls();
    stage.tfc.clear_requests();

    let started = Instant::now();
    let mut rounds = Vec::new();
    let mut outcome = report::Outcome {
        rate,
        converged_after: None,
        verdict: check::Verdict::default(),
        false_claims: Vec::new(),
        wrong_events: Vec::new(),
        peak_rss: 0,
        tfc_peak: 0,
        faults: Value::Null,
        wall: Duration::ZERO,
    };
    for n in 1..=MAX_SWEEPS {
        let seed = plan.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64;
        let round_started = Instant::now();
        for (account, open_after) in &closed {
            let until = (round_started + *open_after).into_std();
            stage.proxy.close_account_until(account, until);
        }
        step(&format!("soak at {pct} faults: sweep {n}"));
        let (json, done) =
            sweep_round(ctx, &stage, rate, seed, n, events.take(), &mut outcome).await?;
        rounds.push(json);
        if done {
            outcome.converged_after = Some(n);
            break;
        }
    }
    outcome.wall = started.elapsed();
    outcome.faults = report::fault_counts(&stage.proxy, &stage.tfc, &stage.new);
    outcome.tfc_peak = stage.tfc.max_requests_in_any_window(Duration::from_secs(1));
    report::rows(res, &outcome);
    Ok(json!({
        "fault_rate": rate,
        "sweeps_until_converged": outcome.converged_after,
        "wall_s": round(outcome.wall.as_secs_f64(), 1),
        "census": report::census(&stage.world),
        "faults": outcome.faults,
        "tfc_peak_requests_in_1s": outcome.tfc_peak,
        "peak_rss_bytes": outcome.peak_rss,
        "rounds": rounds,
    }))
}

/// One round: faults on, a sweep (with `events` arriving meanwhile), faults off, and the end
/// state judged. Returns the round's JSON and whether every account has converged.
async fn sweep_round(
    ctx: &Ctx,
    stage: &Stage,
    rate: f64,
    seed: u64,
    n: usize,
    events: Option<Vec<events::Event>>,
    outcome: &mut report::Outcome,
) -> Result<(Value, bool), String> {
    let Stage {
        proxy, tfc, world, ..
    } = stage;
    proxy.set_chaos(Some(fault_proxy::Chaos {
        seed,
        rate,
        new_accounts: stage.new.clone(),
        slow: SLOW,
    }));
    tfc.set_chaos(Some(tfc_fake::Chaos {
        seed,
        rate,
        slow: SLOW,
    }));
    let started = Instant::now();
    let name = format!("soak-{:.0}", rate * 100.0);
    let container = format!("{name}-sweep-{n}");
    let sweep = sweep::sweep(ctx, &stage.vars, &container);
    let deliveries = async {
        match events {
            Some(e) => events::deliver(ctx, &stage.vars, &name, e, EVENT_CONTAINERS, started).await,
            None => Ok(Vec::new()),
        }
    };
    let (sweep, handled) = tokio::join!(sweep, deliveries);
    proxy.set_chaos(None);
    tfc.set_chaos(None);
    let (sweep, handled) = (sweep?, handled?);

    let mut claims = sweep.claims.clone();
    for h in &handled {
        if let Some(Ok(report)) = h.attempts.last() {
            if let Some(said) = report.get("outcome").and_then(Value::as_str) {
                claims.insert(h.account.clone(), said.to_owned());
            }
        }
    }
    let now = check::snapshot(world, &stage.moto, tfc).await?;
    let verdict = check::judge(world, &stage.before, &now);
    let lies: Vec<String> = claims
        .iter()
        .filter(|(_, said)| matches!(said.as_str(), "onboarded" | "unchanged"))
        .filter(|(id, _)| !verdict.complete.contains(*id))
        .map(|(id, said)| format!("{id} reported {said}"))
        .collect();
    let wrong_events = report::unexpected(world, &handled);
    eprintln!(
        "  sweep {n}: {}; events: {}; {}",
        sweep.describe(),
        report::summarise(&handled),
        report::state(world, &verdict)
    );
    let json = json!({
        "round": n,
        "sweep_wall_s": round(sweep.wall.as_secs_f64(), 1),
        "sweep_invocations": sweep.invocations,
        "sweep_counts": sweep.counts,
        "sweep_failures": sweep.failures,
        "sweep_errors": sweep.errors,
        "sweep_peak_rss_bytes": sweep.peak_rss,
        "events": handled.iter().map(report::event_json).collect::<Vec<_>>(),
        "complete": verdict.complete.len(),
        "incomplete": verdict.incomplete,
        "touched": verdict.touched,
        "duplicates": verdict.duplicates,
        "foreign_changed": verdict.foreign_changed,
        "reported_complete_but_not": lies,
        "events_not_ending_as_expected": wrong_events,
    });
    outcome.false_claims.extend(lies);
    outcome.wrong_events.extend(wrong_events);
    outcome.peak_rss = outcome.peak_rss.max(sweep.peak_rss);
    let done = verdict.converged();
    outcome.verdict = verdict;
    Ok((json, done))
}
