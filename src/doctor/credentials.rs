//! Whose credentials are these? They must be the Organizations management account's: only
//! it receives the organization's events, lists its accounts and is trusted by their
//! access roles. In tooling mode the function's own credentials are not, by design: the
//! check is then made of the broker session (`ONBOARD_MANAGEMENT_ROLE_ARN`), which signs
//! every AssumeRole into a member account; Organizations is read with the function's own
//! credentials under the organization's delegation policy (DescribeOrganization, which this
//! check reads, every member account may call; the access check lists the accounts).

use super::{aws_fix, denied, Check};
use crate::aws::organizations::Organizations;
use crate::aws::{sts, Retrying};
use crate::config::MANAGEMENT_ROLE_VAR;
use crate::onboard::Onboarder;

const NAME: &str = "credentials";

/// The check, and the management account's id when the credentials are its own.
pub(super) async fn check(ob: &Onboarder, retrying: Retrying) -> (Check, Option<String>) {
    let broker = ob.cfg.management_role_arn.as_deref();
    let me = match sts::caller_identity(&ob.clients.sts, retrying).await {
        Ok(me) => me,
        Err(e) => {
            let fix = if broker.is_some() && e.has_code(crate::aws::broker::NOT_ASSUMABLE) {
                format!("let the function's role assume the broker role: apply infra/management with this function's role as tooling_role_arn, and the root module with {MANAGEMENT_ROLE_VAR} set to its broker_role_arn output")
            } else if denied(&e) || e.retryable {
                aws_fix(&e)
            } else {
                "give the AWS SDK credentials of the Organizations management account (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the function's role) and run doctor again".to_owned()
            };
            return (
                Check::fail(
                    NAME,
                    match broker {
                        Some(arn) => format!(
                            "the broker session ({MANAGEMENT_ROLE_VAR}={arn}) does not work: {e}"
                        ),
                        None => format!("the AWS credentials do not work: {e}"),
                    },
                    fix,
                ),
                None,
            );
        }
    };
    let orgs = Organizations::new(&ob.clients, retrying);
    let outcome = match orgs.management_account().await {
        Ok(Some(management)) if management == me.account => {
            let summary = match broker {
                Some(arn) => format!(
                    "the broker session ({MANAGEMENT_ROLE_VAR}={arn}) is in the organization's management account {} ({})",
                    me.account, me.arn
                ),
                None => format!(
                    "account {} is the organization's management account ({})",
                    me.account, me.arn
                ),
            };
            return (Check::pass(NAME, summary), Some(management));
        }
        Ok(Some(management)) if broker.is_some() => Check::fail(
            NAME,
            format!(
                "the broker session ({MANAGEMENT_ROLE_VAR}={}) is in member account {}; the organization's management account is {management} ({})",
                broker.unwrap_or_default(), me.account, me.arn
            ),
            format!("apply infra/management with credentials of the management account {management} and set {MANAGEMENT_ROLE_VAR} to its broker_role_arn output: only that account is trusted by the access roles"),
        ),
        Ok(Some(management)) => Check::fail(
            NAME,
            format!(
                "account {} is a member account; the organization's management account is {management} ({})",
                me.account, me.arn
            ),
            format!(
                "run doctor, and deploy the function, with credentials of the management account {management} (for example an AWS_PROFILE of that account): only it receives the organization's events and is trusted by the access roles"
            ),
        ),
        Ok(None) => Check::fail(
            NAME,
            format!("Organizations did not name the management account of account {}", me.account),
            "run doctor again; if this persists, check the organization in the Organizations console",
        ),
        Err(e) if e.has_code("AWSOrganizationsNotInUseException") => Check::fail(
            NAME,
            format!("account {} is not in an organization ({})", me.account, me.arn),
            "use credentials of your organization's management account, the account that created the organization (aws organizations describe-organization shows its id as MasterAccountId)",
        ),
        Err(e) => Check::aws_failure(
            NAME,
            &format!("cannot tell whether account {} is the management account", me.account),
            &e,
        ),
    };
    (outcome, None)
}
