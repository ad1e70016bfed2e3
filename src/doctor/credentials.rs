//! Whose credentials are these? They must be the Organizations management account's: only
//! it receives the organization's events, lists its accounts and is trusted by their
//! access roles.

use super::{aws_fix, denied, Check};
use crate::aws::organizations::Organizations;
use crate::aws::{sts, Retrying};
use crate::onboard::Onboarder;

const NAME: &str = "credentials";

/// The check, and the management account's id when the credentials are its own.
pub(super) async fn check(ob: &Onboarder, retrying: Retrying) -> (Check, Option<String>) {
    let me = match sts::caller_identity(&ob.clients.sts, retrying).await {
        Ok(me) => me,
        Err(e) => {
            let fix = if denied(&e) || e.retryable {
                aws_fix(&e)
            } else {
                "give the AWS SDK credentials of the Organizations management account (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the function's role) and run doctor again".to_owned()
            };
            return (
                Check::fail(NAME, format!("the AWS credentials do not work: {e}"), fix),
                None,
            );
        }
    };
    let orgs = Organizations {
        client: &ob.clients.organizations,
        retrying,
    };
    let outcome = match orgs.management_account().await {
        Ok(Some(management)) if management == me.account => {
            return (
                Check::pass(
                    NAME,
                    format!(
                        "account {} is the organization's management account ({})",
                        me.account, me.arn
                    ),
                ),
                Some(management),
            )
        }
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
