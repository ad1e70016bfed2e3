//! Read-only Organizations calls made with the management account's credentials.

use aws_sdk_organizations::types::{AccountState, ParentType};

use super::{transient, Retrying};
use crate::domain::AccountId;
use crate::error::AwsError;
use crate::mapping::Placement;

pub struct Organizations<'a> {
    pub client: &'a aws_sdk_organizations::Client,
    pub retrying: Retrying,
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
            .retrying
            .call("organizations:DescribeAccount", transient, || {
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
                .retrying
                .call("organizations:ListTagsForResource", transient, || {
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
                .retrying
                .call("organizations:ListParents", transient, || {
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
                .retrying
                .call(
                    "organizations:DescribeOrganizationalUnit",
                    transient,
                    || {
                        self.client
                            .describe_organizational_unit()
                            .organizational_unit_id(id)
                            .send()
                    },
                )
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
            .retrying
            .call("organizations:DescribeOrganization", transient, || {
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
                .retrying
                .call("organizations:ListAccounts", transient, || {
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
