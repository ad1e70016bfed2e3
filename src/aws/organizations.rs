//! Read-only Organizations calls: with the management account's credentials, or in tooling
//! mode with the function's own, which the organization's delegation policy must allow.

use std::future::Future;

use aws_sdk_organizations::types::{AccountState, ParentType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{sts, transient, Retrying};
use crate::config::MANAGEMENT_ROLE_VAR;
use crate::domain::AccountId;
use crate::error::AwsError;
use crate::mapping::Placement;
use crate::onboard::Clients;

pub struct Organizations<'a> {
    pub client: &'a aws_sdk_organizations::Client,
    pub retrying: Retrying,
    /// Tooling mode: STS with the function's own credentials, to name its role when the
    /// organization's delegation policy does not let it read.
    pub delegated: Option<&'a aws_sdk_sts::Client>,
}

/// A read the organization's delegation policy does not allow this function (tooling mode):
/// carried as the source of the failed call's error, and recognised by doctor for its fix.
#[derive(Debug, thiserror::Error)]
#[error("{message}. The organization's delegation policy must let this function's role {principal} read Organizations ({MANAGEMENT_ROLE_VAR} is set, so the function reads it with its own credentials): {}", Self::FIX)]
pub struct NotDelegated {
    /// The function's role ARN, or why it could not be told.
    pub principal: String,
    /// What AWS said.
    pub message: String,
    #[source]
    pub source: AwsError,
}

impl NotDelegated {
    /// What to do, in doctor's words too.
    pub const FIX: &'static str = "apply infra/management with manage_delegation_policy = true and this role as tooling_role_arn, or merge its delegation_policy output into the organization's delegation policy (Organizations, Settings, Delegated administrator for AWS Organizations); the root module grants the identity half, this role's own permission for the Organizations reads";

    /// The refusal behind a failed AWS call, if that is why it failed.
    pub fn behind(err: &AwsError) -> Option<&NotDelegated> {
        super::behind(err)
    }
}

/// The role an STS caller ARN is a session of (`arn:…:sts::<id>:assumed-role/<role>/<session>`
/// is `arn:…:iam::<id>:role/<role>`; STS leaves out the role's path); any other ARN as it is.
fn role_of(caller_arn: &str) -> String {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", partition, "sts", "", account, resource] => match resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
        {
            Some(role) => format!("arn:{partition}:iam::{account}:role/{role}"),
            None => caller_arn.to_owned(),
        },
        _ => caller_arn.to_owned(),
    }
}

impl<'a> Organizations<'a> {
    pub fn new(clients: &'a Clients, retrying: Retrying) -> Self {
        Self {
            client: &clients.organizations,
            retrying,
            delegated: clients.own_sts.as_ref(),
        }
    }

    /// One read under the retry policy; in tooling mode an AccessDenied says which policy
    /// to fix, for whom.
    async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        send: impl FnMut() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let err = match self.retrying.call(operation, transient, send).await {
            Err(e) if e.has_code("AccessDeniedException") => e,
            other => return other,
        };
        let Some(sts) = self.delegated else {
            return Err(err);
        };
        let principal = match sts::caller_identity(sts, self.retrying).await {
            Ok(me) => role_of(&me.arn),
            Err(e) => format!("(its ARN could not be read: {e})"),
        };
        let refused = NotDelegated {
            principal,
            message: err.message.trim_end_matches('.').to_owned(),
            source: err,
        };
        Err(AwsError {
            operation,
            code: refused.source.code.clone(),
            message: refused.to_string(),
            retryable: false,
            source: Some(Box::new(refused)),
        })
    }
}

#[derive(Clone, Debug)]
pub struct AccountInfo {
    pub id: AccountId,
    pub name: String,
    pub active: bool,
    pub state: String,
    /// When the account joined the organization (Organizations' `JoinedTimestamp`).
    pub joined: Option<std::time::SystemTime>,
}

impl AccountInfo {
    /// How long ago the account joined, in whole seconds; decides whether AccessDenied means
    /// "not ready yet".
    pub fn joined_secs_ago(&self) -> Option<u64> {
        self.joined_secs_before(std::time::SystemTime::now())
    }

    /// How long before `now` the account joined, in whole seconds (0 for a time ahead of it).
    pub fn joined_secs_before(&self, now: std::time::SystemTime) -> Option<u64> {
        let joined = self.joined?;
        Some(now.duration_since(joined).map(|d| d.as_secs()).unwrap_or(0))
    }
}

fn info(a: &aws_sdk_organizations::types::Account) -> Option<AccountInfo> {
    let id = AccountId::parse(a.id()?).ok()?;
    let state = a
        .state()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "UNKNOWN".into());
    let joined = a
        .joined_timestamp()
        .and_then(|t| std::time::SystemTime::try_from(*t).ok());
    Some(AccountInfo {
        id,
        name: a.name().unwrap_or_default().to_owned(),
        active: a.state() == Some(&AccountState::Active) || a.state().is_none(),
        state,
        joined,
    })
}

impl Organizations<'_> {
    pub async fn describe_account(&self, account: &AccountId) -> Result<AccountInfo, AwsError> {
        let out = self
            .call("organizations:DescribeAccount", || {
                self.client
                    .describe_account()
                    .account_id(account.as_str())
                    .send()
            })
            .await?;
        out.account().and_then(info).ok_or_else(|| AwsError {
            operation: "organizations:DescribeAccount",
            code: None,
            message: format!("no account data returned for {account}"),
            retryable: false,
            source: None,
        })
    }

    pub async fn tags(&self, account: &AccountId) -> Result<Vec<(String, String)>, AwsError> {
        let mut tags = Vec::new();
        let mut token: Option<String> = None;
        // Organizations allows 50 tags per resource; the bound only guards a broken paginator.
        for _ in 0..50 {
            let page = self
                .call("organizations:ListTagsForResource", || {
                    self.client
                        .list_tags_for_resource()
                        .resource_id(account.as_str())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            tags.extend(
                page.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            );
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        Ok(tags)
    }

    /// The account's parent OU and, when `with_path`, the OU path of names from the root.
    pub async fn placement(
        &self,
        account: &AccountId,
        with_path: bool,
    ) -> Result<Placement, AwsError> {
        let mut child = account.as_str().to_owned();
        let mut names = Vec::new();
        let mut parent_ou = None;
        // OUs nest at most five deep below the root.
        for depth in 0..6 {
            let out = self
                .call("organizations:ListParents", || {
                    self.client.list_parents().child_id(&child).send()
                })
                .await?;
            let Some(parent) = out.parents().first() else {
                break;
            };
            let (Some(id), Some(kind)) = (parent.id(), parent.r#type()) else {
                break;
            };
            if *kind != ParentType::OrganizationalUnit {
                names.push("Root".to_owned());
                break;
            }
            if depth == 0 {
                parent_ou = Some(id.to_owned());
            }
            if !with_path {
                break;
            }
            let ou = self
                .call("organizations:DescribeOrganizationalUnit", || {
                    self.client
                        .describe_organizational_unit()
                        .organizational_unit_id(id)
                        .send()
                })
                .await?;
            names.push(
                ou.organizational_unit()
                    .and_then(|o| o.name())
                    .unwrap_or_default()
                    .to_owned(),
            );
            child = id.to_owned();
        }
        names.reverse();
        Ok(Placement {
            parent_ou,
            ou_path: with_path.then(|| names.join("/")),
        })
    }

    pub async fn management_account(&self) -> Result<Option<String>, AwsError> {
        let out = self
            .call("organizations:DescribeOrganization", || {
                self.client.describe_organization().send()
            })
            .await?;
        Ok(out
            .organization()
            .and_then(|o| o.master_account_id())
            .map(str::to_owned))
    }

    /// Every account in the organization, in the order Organizations lists them.
    pub async fn list_accounts(&self) -> Result<Vec<AccountInfo>, AwsError> {
        let mut accounts = Vec::new();
        let mut token: Option<String> = None;
        // 20 per page; 10,000 pages is far beyond any organization's account quota.
        for _ in 0..10_000 {
            let page = self
                .call("organizations:ListAccounts", || {
                    self.client
                        .list_accounts()
                        // The service's own maximum; asking for it keeps the page size (and so the
                        // number of calls) the same against AWS and against emulators.
                        .max_results(20)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            accounts.extend(page.accounts().iter().filter_map(info));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_named_by_its_role_and_other_principals_as_they_are() {
        assert_eq!(
            role_of("arn:aws:sts::111122223333:assumed-role/tfc-onboarder/lambda"),
            "arn:aws:iam::111122223333:role/tfc-onboarder"
        );
        assert_eq!(
            role_of("arn:aws-us-gov:sts::111122223333:assumed-role/ops/alice"),
            "arn:aws-us-gov:iam::111122223333:role/ops"
        );
        for other in ["arn:aws:iam::111122223333:user/alice", "not an arn"] {
            assert_eq!(role_of(other), other);
        }
    }

    #[test]
    fn a_read_the_delegation_does_not_allow_names_the_role_the_policy_and_the_fix() {
        let refused = NotDelegated {
            principal: "arn:aws:iam::111122223333:role/tfc-onboarder".into(),
            message: "You don't have permissions to access this resource".into(),
            source: AwsError {
                operation: "organizations:ListAccounts",
                code: Some("AccessDeniedException".into()),
                message: "You don't have permissions to access this resource.".into(),
                retryable: false,
                source: None,
            },
        };
        let e = AwsError {
            operation: "organizations:ListAccounts",
            code: Some("AccessDeniedException".into()),
            message: refused.to_string(),
            retryable: false,
            source: Some(Box::new(refused)),
        };
        let text = e.to_string();
        assert!(text.starts_with("organizations:ListAccounts failed (AccessDeniedException): You don't have permissions to access this resource. The organization's delegation policy must let this function's role arn:aws:iam::111122223333:role/tfc-onboarder read Organizations"), "{text}");
        assert!(text.contains(NotDelegated::FIX));
        let found = NotDelegated::behind(&e).expect("found behind the error");
        assert_eq!(found.source.operation, "organizations:ListAccounts");
        assert!(
            NotDelegated::behind(&found.source).is_none(),
            "AWS's own AccessDenied is not one"
        );
    }
}
