//! What the organization-wide measurements share: an organization of their own in a private
//! moto, and the per-account reports the function logged.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;

use super::support::fault_proxy::FaultProxy;
use super::support::moto::Moto;
use super::support::tfc_fake::TfcFake;
use super::{Counts, Ctx, Results};

/// A private moto holding an organization with `n` member accounts. Without managed policies
/// moto creates accounts much faster, but AdministratorAccess does not exist there: run the
/// binary with ONBOARD_ROLE_POLICY_ARNS=none, which costs a fresh account one AWS call
/// (AttachRolePolicy) fewer than the default.
pub async fn private_organization(n: usize, prefix: &str) -> Result<(Moto, Vec<String>), String> {
    let moto = tokio::task::spawn_blocking(|| Moto::start(false))
        .await
        .map_err(|e| e.to_string())?;
    moto.ensure_organization().await;
    let setup = Instant::now();
    let accounts: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let moto = &moto;
            async move { moto.create_account(&format!("{prefix}-{i:05}"), &[]).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    eprintln!(
        "  {} accounts created in {:.1} s",
        accounts.len(),
        setup.elapsed().as_secs_f64()
    );
    Ok((moto, accounts))
}

/// The function's environment against a private organization: no managed policy (see
/// [`private_organization`]), the sweep's concurrency, and `TFE_RATE_LIMIT` when given
/// (the function's default otherwise).
pub fn lambda_env(
    ctx: &Ctx,
    proxy: &FaultProxy,
    tfc: &TfcFake,
    tfe_rate_limit: Option<&str>,
) -> Vec<(String, String)> {
    let concurrency = ctx.concurrency.to_string();
    let mut extra = vec![
        ("ONBOARD_ROLE_POLICY_ARNS", "none"),
        ("ONBOARD_CONCURRENCY", concurrency.as_str()),
    ];
    extra.extend(tfe_rate_limit.map(|limit| ("TFE_RATE_LIMIT", limit)));
    ctx.lambda_env(proxy, tfc, &extra)
}

/// The row every organization-wide measurement has: Terraform Cloud's busiest second.
pub fn peak_check(ctx: &Ctx, res: &mut Results, what: &str, counts: &Counts) {
    res.check(
        format!("{what}: peak TFC requests in any 1 s"),
        format!(
            "{} ({} throttled)",
            counts.tfc_peak_1s, counts.tfc_throttled
        ),
        format!("<= {}", ctx.rate_limit),
        counts.tfc_peak_1s <= ctx.rate_limit as usize,
        "sliding 1 s window over the fake's request log (throttled requests included)",
    );
}

/// How many "onboarding report" lines the function logged (JSON, as in Lambda) per account,
/// and the outcome of each.
pub fn logged_reports(log: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut reports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["message"] == "onboarding report")
    {
        let account = entry["account_id"].as_str().unwrap_or_default().to_owned();
        let outcome = entry["outcome"].as_str().unwrap_or_default().to_owned();
        reports.entry(account).or_default().push(outcome);
    }
    Ok(reports)
}

/// Every account in `expected` reported exactly once with `outcome`, and no other account.
pub fn each_once(
    reports: &BTreeMap<String, Vec<String>>,
    expected: &[String],
    outcome: &str,
) -> Result<(), String> {
    let mut wrong: Vec<String> = expected
        .iter()
        .filter(|a| reports.get(*a).map(Vec::as_slice) != Some(&[outcome.to_owned()][..]))
        .map(|a| format!("{a}: {:?}", reports.get(a)))
        .collect();
    wrong.extend(
        reports
            .keys()
            .filter(|a| !expected.contains(a))
            .map(|a| format!("{a}: not expected")),
    );
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} account(s) not reported exactly once as {outcome}: {}",
            wrong.len(),
            wrong.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ))
    }
}
