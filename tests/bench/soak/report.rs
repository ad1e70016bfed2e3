//! What a soak run comes to: the console lines, the JSON, and the table's rows.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::super::support::fault_proxy::FaultProxy;
use super::super::support::tfc_fake::TfcFake;
use super::super::{mib, Results, Verdict, MIB};
use super::world::{Class, World};
use super::{check, events, MAX_SWEEPS};

/// The findings of one fault rate, across its sweeps.
pub struct Outcome {
    pub rate: f64,
    pub converged_after: Option<usize>,
    /// The last sweep's verdict.
    pub verdict: check::Verdict,
    pub false_claims: Vec<String>,
    pub wrong_events: Vec<String>,
    pub peak_rss: u64,
    pub tfc_peak: usize,
    pub faults: Value,
    pub wall: Duration,
}

pub fn census(world: &World) -> String {
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

pub fn summarise(handled: &[events::Handled]) -> String {
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
pub fn unexpected(world: &World, handled: &[events::Handled]) -> Vec<String> {
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

pub fn event_json(h: &events::Handled) -> Value {
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

/// `complete 400/400, untouched 100/100`, and the first problems.
pub fn state(world: &World, verdict: &check::Verdict) -> String {
    let managed = world.of_class(Class::managed).len();
    let others = world.accounts.len() - managed;
    format!(
        "complete {}/{managed}, untouched {}/{others}{}",
        verdict.complete.len(),
        others - verdict.touched.len(),
        first_problems(world, verdict)
    )
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
pub fn fault_counts(proxy: &FaultProxy, tfc: &TfcFake, new: &HashSet<String>) -> Value {
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

/// The measures for one fault rate, against their targets.
pub fn rows(res: &mut Results, o: &Outcome) {
    let Outcome {
        rate,
        converged_after,
        verdict,
        false_claims,
        wrong_events,
        peak_rss,
        tfc_peak,
        faults,
        wall,
    } = o;
    let (rate, peak_rss, tfc_peak) = (*rate, *peak_rss, *tfc_peak);
    let pct = format!("{:.0}%", rate * 100.0);
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
