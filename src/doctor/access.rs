//! Into the member accounts: every access role tried in a sample of them (which role works
//! where), then the managed policies and the permissions boundary looked up from inside one,
//! since that is where they get attached.

use aws_config::SdkConfig;
use futures::StreamExt;
use tokio::time::Instant;

use super::{aws_fix, Check, Status, NEEDS_MANAGEMENT};
use crate::aws::iam::Iam;
use crate::aws::organizations::{AccountInfo, Organizations};
use crate::aws::{sts, Retrying};
use crate::config::RoleMode;
use crate::domain::AccountId;
use crate::error::AwsError;
use crate::onboard::Onboarder;

const ACCESS: &str = "access roles";
const POLICIES: &str = "role policies";

/// One sampled account and what each access role answered there.
struct Probe {
    account: AccountInfo,
    /// In the configured order: `None` for a role that worked, else AWS's error code.
    answers: Vec<(String, Option<String>)>,
    /// The account as the first working role enters it.
    entered: Option<SdkConfig>,
    /// The time budget ran out before this account's turn.
    skipped: bool,
}

pub(super) async fn check(
    ob: &Onboarder,
    retrying: Retrying,
    management: Option<&str>,
    sample: usize,
    until: Instant,
) -> (Check, Check) {
    let Some(management) = management else {
        return (
            Check::not_checked(ACCESS, NEEDS_MANAGEMENT),
            policies(ob, retrying, None, NEEDS_MANAGEMENT).await,
        );
    };
    let orgs = Organizations::new(&ob.clients, retrying);
    let mut members: Vec<AccountInfo> = match orgs.list_accounts().await {
        Ok(accounts) => accounts
            .into_iter()
            .filter(|a| a.active && a.id.as_str() != management)
            .collect(),
        Err(e) => {
            return (
                Check::aws_failure(ACCESS, "cannot list the organization's accounts", &e),
                policies(
                    ob,
                    retrying,
                    None,
                    "the organization's accounts could not be listed",
                )
                .await,
            )
        }
    };
    let total = members.len();
    if total == 0 {
        let why = "the organization has no active member account yet";
        return (
            Check::not_checked(ACCESS, why),
            policies(ob, retrying, None, why).await,
        );
    }
    // The newest accounts are the most like the next ones (same creation path, same
    // roles); ties by id keep the choice stable.
    // One instant for every age, so that the order is a total one.
    let now = std::time::SystemTime::now();
    members.sort_by(|a, b| {
        let age = |x: &AccountInfo| x.joined_secs_before(now).unwrap_or(u64::MAX);
        age(a).cmp(&age(b)).then_with(|| a.id.cmp(&b.id))
    });
    members.truncate(sample);
    let roles = sts::AccessRoles {
        sts: &ob.clients.sts,
        base: &ob.clients.base,
        partition: &ob.cfg.partition,
        roles: &ob.cfg.access_roles,
    };
    let mut probes: Vec<Probe> = futures::stream::iter(members)
        .map(|account| probe(&roles, account, retrying, until))
        .buffered(ob.cfg.concurrency)
        .collect()
        .await;
    // Printed by name: the order an operator looks for.
    probes.sort_by(|a, b| {
        (a.account.name.as_str(), &a.account.id).cmp(&(b.account.name.as_str(), &b.account.id))
    });
    let access = judge_access(ob, management, &probes, total);
    let entered = probes
        .iter()
        .find_map(|p| p.entered.as_ref().map(|c| (&p.account.id, c)));
    let policies = match entered {
        Some(inside) => policies(ob, retrying, Some(inside), "").await,
        None => {
            policies(
                ob,
                retrying,
                None,
                "no sampled member account could be entered",
            )
            .await
        }
    };
    (access, policies)
}

/// Tries every access role in `account` (never waiting for a new account to be ready).
async fn probe(
    roles: &sts::AccessRoles<'_>,
    account: AccountInfo,
    retrying: Retrying,
    until: Instant,
) -> Probe {
    let mut probe = Probe {
        account,
        answers: Vec::new(),
        entered: None,
        skipped: Instant::now() >= until,
    };
    if probe.skipped {
        return probe;
    }
    for role in roles.roles {
        let answer = match roles.assume_named(&probe.account.id, role, retrying).await {
            Ok(config) => {
                probe.entered.get_or_insert(config);
                None
            }
            Err(e) => Some(e.code.clone().unwrap_or_else(|| e.message.clone())),
        };
        probe.answers.push((role.clone(), answer));
    }
    probe
}

fn judge_access(ob: &Onboarder, management: &str, probes: &[Probe], total: usize) -> Check {
    let window = ob.cfg.new_account_window.as_secs();
    let young = |p: &Probe| p.account.joined_secs_ago().is_some_and(|age| age < window);
    let mut details = Vec::new();
    let (mut shut, mut skipped, mut young_shut) = (0, 0, false);
    for p in probes {
        let who = format!("{} {}", p.account.id, p.account.name);
        let line = if p.skipped {
            skipped += 1;
            format!("{who}: not tried, the time budget ran out")
        } else if p.entered.is_some() {
            format!("{who}: {}", entered_with(&p.answers))
        } else {
            shut += 1;
            young_shut |= young(p);
            let note = if young(p) {
                format!(
                    "; it joined {} s ago, and a new account denies every role until AWS has set it up",
                    p.account.joined_secs_ago().unwrap_or(0)
                )
            } else {
                String::new()
            };
            format!(
                "{who}: no access role works ({}){note}",
                refusals(&p.answers)
            )
        };
        details.push(line);
    }
    let n = probes.len();
    let sampled = if n == total {
        format!("the {n} member accounts")
    } else {
        format!("the {n} newest member accounts (of {total})")
    };
    if shut == 0 && skipped == 0 {
        let every = if total == 1 {
            "the only member account".to_owned()
        } else {
            format!("each of {sampled}")
        };
        return Check::pass(ACCESS, format!("the access roles enter {every}"))
            .with_details(details);
    }
    let mut problems = Vec::new();
    let mut fix = Vec::new();
    if shut > 0 {
        problems.push(format!("{shut} cannot be entered with any access role"));
        let names = ob.cfg.access_roles.join(", ");
        fix.push(format!(
            "In each account where no access role works, create one of {names} with a trust policy that lets the management account {management} assume it (invited accounts have none of them), or add a role those accounts have to ONBOARD_ACCESS_ROLE_NAMES (infra variable access_role_names, which also allows the function to assume it)."
        ));
        if young_shut {
            fix.push("An account that joined minutes ago may just not be ready: run doctor again in a few minutes.".to_owned());
        }
    }
    if skipped > 0 {
        problems.push(format!(
            "{skipped} not tried before the time budget ran out"
        ));
        fix.push("Give doctor more time (--budget-secs, or the function's timeout) or a smaller sample (--sample, or \"sample\" in the event).".to_owned());
    }
    Check::fail(
        ACCESS,
        format!("of {sampled}, {}", problems.join(", and ")),
        fix.join(" "),
    )
    .with_details(details)
}

/// "OrganizationAccountAccessRole (AWSControlTowerExecution: AccessDenied)": the role an
/// onboarding would use, then what the others answered.
fn entered_with(answers: &[(String, Option<String>)]) -> String {
    let Some(used) = answers.iter().position(|(_, a)| a.is_none()) else {
        return refusals(answers);
    };
    let others: Vec<String> = answers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != used)
        .map(|(_, (role, answer))| match answer {
            None => format!("{role}: works too"),
            Some(code) => format!("{role}: {code}"),
        })
        .collect();
    if others.is_empty() {
        format!("entered with {}", answers[used].0)
    } else {
        format!("entered with {} ({})", answers[used].0, others.join(", "))
    }
}

fn refusals(answers: &[(String, Option<String>)]) -> String {
    answers
        .iter()
        .map(|(role, answer)| format!("{role}: {}", answer.as_deref().unwrap_or("works")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What IAM would be asked to attach to the roles, with the variable each comes from.
fn configured(ob: &Onboarder) -> Vec<(&'static str, &'static str, &str)> {
    let mut arns: Vec<(&'static str, &'static str, &str)> = ob
        .cfg
        .role_policy_arns
        .iter()
        .map(|a| ("ONBOARD_ROLE_POLICY_ARNS", "role_policy_arns", a.as_str()))
        .collect();
    if ob.cfg.role_mode == RoleMode::Split {
        arns.extend(
            ob.cfg
                .plan_policy_arns
                .iter()
                .map(|a| ("ONBOARD_PLAN_POLICY_ARNS", "plan_policy_arns", a.as_str())),
        );
    }
    if let Some(boundary) = &ob.cfg.permissions_boundary_arn {
        arns.push((
            "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
            "permissions_boundary_arn",
            boundary.as_str(),
        ));
    }
    arns
}

/// The account a managed policy ARN names: `aws` for an AWS managed policy.
fn owner(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

enum Finding {
    Exists,
    Missing,
    /// A customer-managed policy of one account: attachable there only.
    OtherAccount(String),
    Unreadable(AwsError),
    NotLookedUp,
}

/// Every configured ARN, looked up from `inside` (an account and its credentials) when there
/// is one; `why_not` says why there is not.
async fn policies(
    ob: &Onboarder,
    retrying: Retrying,
    inside: Option<(&AccountId, &SdkConfig)>,
    why_not: &str,
) -> Check {
    let arns = configured(ob);
    if arns.is_empty() {
        return Check::pass(
            POLICIES,
            "no managed policy or permissions boundary is configured (ONBOARD_ROLE_POLICY_ARNS=none)",
        );
    }
    let client = inside.map(|(_, config)| crate::aws::sdk_client!(aws_sdk_iam, config));
    let mut findings = Vec::new();
    for (var, tfvar, arn) in arns {
        let finding = match (owner(arn), &client) {
            ("aws", Some(client)) => {
                let iam = Iam {
                    client,
                    retrying,
                    dry_run: true,
                };
                match iam.policy_exists(arn).await {
                    Ok(true) => Finding::Exists,
                    Ok(false) => Finding::Missing,
                    Err(e) => Finding::Unreadable(e),
                }
            }
            ("aws", None) => Finding::NotLookedUp,
            (account, _) => Finding::OtherAccount(account.to_owned()),
        };
        findings.push((var, tfvar, arn, finding));
    }
    judge_policies(inside.map(|(id, _)| id), why_not, &findings)
}

fn judge_policies(
    inside: Option<&AccountId>,
    why_not: &str,
    findings: &[(&'static str, &'static str, &str, Finding)],
) -> Check {
    let mut details = Vec::new();
    let mut fix = Vec::new();
    let mut bad = 0;
    for (var, tfvar, arn, finding) in findings {
        let (text, problem) = match finding {
            Finding::Exists => ("exists".to_owned(), None),
            Finding::NotLookedUp => (format!("not looked up: {why_not}"), None),
            Finding::Missing => (
                "does not exist".to_owned(),
                Some(format!("Correct or remove {arn} in {var} (infra variable {tfvar}): IAM has no such policy, so every onboarding fails at the Role step.")),
            ),
            Finding::OtherAccount(account) => (
                format!("a customer-managed policy of account {account}, which IAM attaches only in that account"),
                Some(if *var == "ONBOARD_PERMISSIONS_BOUNDARY_ARN" {
                    format!("Unset {var} (infra variable {tfvar}) or name an AWS managed policy there: a boundary of account {account} cannot be set on roles of any other account.")
                } else {
                    format!("In {var} (infra variable {tfvar}) use AWS managed policies only, or set it to none and attach your own policy in each account (for example with a CloudFormation StackSet): {arn} cannot be attached outside account {account}.")
                }),
            ),
            Finding::Unreadable(e) => (format!("cannot be read: {e}"), Some(format!("{}.", aws_fix(e)))),
        };
        details.push(format!("{var} {arn}: {text}"));
        if let Some(problem) = problem {
            bad += 1;
            if !fix.contains(&problem) {
                fix.push(problem);
            }
        }
    }
    let n = findings.len();
    let looked_up = findings
        .iter()
        .any(|(_, _, _, f)| !matches!(f, Finding::NotLookedUp));
    let status = match (bad, looked_up || bad > 0) {
        (0, true) => Status::Pass,
        (0, false) => Status::NotChecked,
        _ => Status::Fail,
    };
    let check = match status {
        Status::Pass => {
            let from = inside
                .map(|id| format!(" (looked up from account {id})"))
                .unwrap_or_default();
            let what = if n == 1 {
                "the configured policy exists".to_owned()
            } else {
                format!("all {n} configured policies exist")
            };
            Check::pass(POLICIES, format!("{what}{from}"))
        }
        Status::NotChecked => Check::not_checked(POLICIES, why_not),
        Status::Fail => Check::fail(
            POLICIES,
            format!("{bad} of {n} configured policies cannot be attached in the member accounts"),
            fix.join(" "),
        ),
    };
    check.with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_used_comes_first_and_every_other_answer_is_shown() {
        let a = |role: &str, code: Option<&str>| (role.to_owned(), code.map(str::to_owned));
        assert_eq!(
            entered_with(&[a("Org", None), a("CT", Some("AccessDenied"))]),
            "entered with Org (CT: AccessDenied)"
        );
        assert_eq!(
            entered_with(&[a("Org", Some("AccessDenied")), a("CT", None)]),
            "entered with CT (Org: AccessDenied)"
        );
        assert_eq!(
            entered_with(&[a("Org", None), a("CT", None)]),
            "entered with Org (CT: works too)"
        );
        assert_eq!(entered_with(&[a("Org", None)]), "entered with Org");
    }

    #[test]
    fn customer_managed_policies_are_flagged_without_looking_them_up() {
        let findings = [
            (
                "ONBOARD_ROLE_POLICY_ARNS",
                "role_policy_arns",
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                Finding::NotLookedUp,
            ),
            (
                "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
                "permissions_boundary_arn",
                "arn:aws:iam::111122223333:policy/Boundary",
                Finding::OtherAccount("111122223333".into()),
            ),
        ];
        let c = judge_policies(None, "no account entered", &findings);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.summary,
            "1 of 2 configured policies cannot be attached in the member accounts"
        );
        assert!(c.details[0].ends_with("not looked up: no account entered"));
        assert!(c
            .fix
            .unwrap()
            .starts_with("Unset ONBOARD_PERMISSIONS_BOUNDARY_ARN"));
        // Nothing looked up and nothing wrong: not checked, never a silent pass.
        let c = judge_policies(None, "no account entered", &findings[..1]);
        assert_eq!(c.status, Status::NotChecked);
        assert_eq!(c.summary, "not checked: no account entered");
    }
}
