//! Offboarding a closed or removed account: remove the variables this tool registered for it
//! (or the whole set, when this tool created it and nothing else is left). Anything that is
//! not provably this account's is left alone.

use tokio::time::Instant;

use crate::config::OffboardMode;
use crate::domain::{AccountId, RoleArn};
use crate::error::{Failure, Step, StepError};
use crate::mapping::{self, Overrides, Placement};
use crate::onboard::Onboarder;
use crate::policy::{owned_keys, role_keys};
use crate::report::{Action, Change, ErrorInfo, Outcome, Report, VarsetRef};
use crate::tfc::varsets;

pub async fn offboard(
    ob: &Onboarder,
    account: &AccountId,
    dry_run: bool,
    deadline: Instant,
) -> Report {
    let dry_run = dry_run || ob.cfg.dry_run;
    let mut report = Report::new(account.clone(), dry_run);
    if ob.cfg.offboard == OffboardMode::Off {
        report.outcome = Outcome::Skipped;
        report.reason = Some("offboarding is off (ONBOARD_OFFBOARD=off)".into());
        return report;
    }
    match run(ob, account, &mut report, deadline).await {
        Ok(None) => {
            report.settle();
            if report.outcome == Outcome::Onboarded {
                report.outcome = Outcome::Offboarded;
            }
        }
        Ok(Some(reason)) => {
            report.outcome = Outcome::Skipped;
            report.reason = Some(reason);
        }
        Err(f) => {
            report.outcome = Outcome::Failed;
            report.error = Some(ErrorInfo {
                step: f.step,
                retryable: f.retryable(),
                message: f.to_string(),
            });
        }
    }
    tracing::info!(account_id = %account, outcome = ?report.outcome, report = %serde_json::to_string(&report).unwrap_or_default(), "offboarding report");
    report
}

async fn run(
    ob: &Onboarder,
    account: &AccountId,
    report: &mut Report,
    deadline: Instant,
) -> Result<Option<String>, Failure> {
    let fail = |step| {
        move |source: StepError| Failure {
            step,
            account: account.clone(),
            source,
        }
    };
    let orgs = ob.organizations(deadline);
    // A removed account is no longer visible to Organizations; fall back to the defaults.
    let (name, tags) = match orgs.describe_account(account).await {
        Ok(info) => (
            info.name,
            orgs.tags(account)
                .await
                .map_err(|e| fail(Step::DescribeAccount)(e.into()))?,
        ),
        Err(e) if e.has_code("AccountNotFoundException") => (String::new(), Vec::new()),
        Err(e) => return Err(fail(Step::DescribeAccount)(e.into())),
    };
    if name.is_empty() && ob.cfg.varset_name_template.contains("{account_name}") {
        return Ok(Some("the account left the organization and ONBOARD_VARSET_NAME needs its name; remove its variables by hand".into()));
    }
    report.account_name = (!name.is_empty()).then_some(name.clone());
    // The opt-out tag only stops onboarding: an account that opted out after it was onboarded
    // still has variables to remove, found through its other tags.
    let opt_out = format!("{}onboard", ob.cfg.tag_prefix);
    let tags: Vec<(String, String)> = tags.into_iter().filter(|(k, _)| *k != opt_out).collect();
    let settings = mapping::resolve(
        &ob.cfg,
        account,
        &name,
        &Overrides::default(),
        &tags,
        &Placement::default(),
    )
    .map_err(|r| fail(Step::Settings)(StepError::Refused(r)))?
    .ok_or_else(|| {
        fail(Step::Settings)(StepError::Refused(
            "no settings without the opt-out tag".into(),
        ))
    })?;
    let tfc = &ob.tfc(deadline);
    let offboard = |e: crate::error::TfcError| fail(Step::Offboard)(e.into());
    let Some(set) = varsets::find(tfc, &settings.varset_name)
        .await
        .map_err(offboard)?
    else {
        report.variable_set = Some(VarsetRef {
            id: None,
            name: settings.varset_name.to_string(),
        });
        return Ok(None);
    };
    report.variable_set = Some(VarsetRef {
        id: Some(set.id.clone()),
        name: set.name.clone(),
    });
    if let Some(project) = varsets::project_owner(tfc, &set).await {
        return Ok(Some(format!(
            "variable set `{}` belongs to {project}, not to the organization: tfc-onboarder never writes project-owned sets, so nothing in it is this tool's to remove; left untouched",
            set.name
        )));
    }
    let vars = varsets::list_vars(tfc, &set.id).await.map_err(offboard)?;
    let alias = settings.alias.as_deref();
    let ours = owned_keys(alias);
    let role_keys = role_keys(alias);
    let names_this_account = vars.iter().any(|v| {
        role_keys.contains(&v.key)
            && v.value
                .as_deref()
                .and_then(RoleArn::parse)
                .is_some_and(|arn| arn.account() == account.as_str())
    });
    if !names_this_account {
        // A sensitive role variable may well name this account, but cannot be read to check.
        if let Some(hidden) = vars
            .iter()
            .find(|v| v.sensitive && role_keys.contains(&v.key))
        {
            return Ok(Some(format!("variable set `{}`'s {} is sensitive: its value cannot be read back to check that it names account {account}, so nothing was removed; remove this account's variables by hand", set.name, hidden.key)));
        }
        return Ok(Some(format!("variable set `{}` holds no role of account {account}; nothing of this account to remove", set.name)));
    }
    let (remove, keep): (Vec<_>, Vec<_>) = vars
        .iter()
        .partition(|v| v.category == "env" && ours.contains(&v.key));
    let delete_set = ob.cfg.offboard == OffboardMode::DeleteSet
        && keep.is_empty()
        && set.description.starts_with(varsets::DESCRIPTION_PREFIX);
    if delete_set {
        if !report.dry_run {
            varsets::delete(tfc, &set.id).await.map_err(offboard)?;
        }
        report.changes.push(
            Change::new("variable_set", set.id.as_str(), Action::Delete)
                .with_detail(set.name.clone()),
        );
        return Ok(None);
    }
    for var in remove {
        if !report.dry_run {
            varsets::delete_var(tfc, &set.id, &var.id)
                .await
                .map_err(offboard)?;
        }
        report
            .changes
            .push(Change::new("variable", var.key.as_str(), Action::Delete));
    }
    Ok(None)
}
