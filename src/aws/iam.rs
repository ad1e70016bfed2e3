//! The OIDC provider and the role in the member account: create, or adopt and converge.
//! Nothing another party added (client ids, attached policies, tags) is ever removed.

use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{transient, Retrying};
use crate::domain::{Hostname, ProviderArn, RoleArn};
use crate::error::AwsError;
use crate::policy::policies_equivalent;
use crate::report::{Action, Change};

pub const MANAGED_BY_KEY: &str = "managed-by";

/// IAM calls with the retry policy every step shares.
pub struct Iam<'a> {
    pub client: &'a aws_sdk_iam::Client,
    pub retrying: Retrying,
    pub dry_run: bool,
}

fn tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| AwsError {
            operation: "iam:Tag",
            code: None,
            message: e.to_string(),
            retryable: false,
            source: None,
        })
}

fn managed_tags() -> Result<Vec<Tag>, AwsError> {
    Ok(vec![tag(MANAGED_BY_KEY, crate::config::TOOL_NAME)?])
}

/// Right after a create, IAM may still answer NoSuchEntity for a while.
fn transient_or_not_yet_visible(e: &AwsError) -> bool {
    e.retryable || e.has_code("NoSuchEntity")
}

/// A trust policy naming the OIDC provider created moments ago can be refused as
/// MalformedPolicyDocument "Invalid principal in policy" until IAM has propagated the provider
/// (terraform-provider-aws retries exactly this within its propagation timeout). IAM has no
/// code of its own for it, so this one decision reads the message; every other
/// MalformedPolicyDocument is a real defect and is not retried.
fn principal_not_yet_visible(e: &AwsError) -> bool {
    e.has_code("MalformedPolicyDocument") && e.message.contains("Invalid principal in policy")
}

/// How a read retries: an entity known to exist (a create met EntityAlreadyExists) may still
/// answer NoSuchEntity for a moment; otherwise NoSuchEntity means it is not there.
fn read_retry(exists: bool) -> fn(&AwsError) -> bool {
    if exists {
        transient_or_not_yet_visible
    } else {
        transient
    }
}

fn transient_or_principal_not_yet_visible(e: &AwsError) -> bool {
    e.retryable || principal_not_yet_visible(e)
}

fn trust_policy_retryable(e: &AwsError) -> bool {
    transient_or_not_yet_visible(e) || principal_not_yet_visible(e)
}

/// The ARN IAM gives a role: with its path, which the role's name alone does not tell.
fn arn_of(role: &aws_sdk_iam::types::Role, operation: &'static str) -> Result<RoleArn, AwsError> {
    RoleArn::parse(role.arn()).ok_or_else(|| AwsError {
        operation,
        code: None,
        message: format!("IAM returned `{}`, which is not a role ARN", role.arn()),
        retryable: false,
        source: None,
    })
}

/// A role as it now stands (or, in a dry run, would stand) and what was done to it.
pub struct EnsuredRole {
    /// From IAM's answer; only a dry run for a role that does not exist yet has the planned one.
    pub arn: RoleArn,
    pub changes: Vec<Change>,
}

impl Iam<'_> {
    /// Ensures `https://<host>` exists with `audience` among its client ids.
    pub async fn ensure_provider(
        &self,
        arn: &ProviderArn,
        host: &Hostname,
        audience: &str,
    ) -> Result<Change, AwsError> {
        let change = |action| Change::new("oidc_provider", arn.as_str(), action);
        // Two passes at most: the second only after losing a creation race (or after a create
        // of ours whose answer was lost), when the provider exists though IAM may not show it
        // yet.
        for exists in [false, true] {
            match self.provider_client_ids(arn, exists).await? {
                Some(ids) if ids.iter().any(|id| id == audience) => {
                    return Ok(change(Action::Unchanged))
                }
                // Just read: NoSuchEntity can only mean "not visible everywhere yet".
                Some(_) => {
                    if !self.dry_run {
                        self.retrying
                            .call(
                                "iam:AddClientIDToOpenIDConnectProvider",
                                transient_or_not_yet_visible,
                                || {
                                    self.client
                                        .add_client_id_to_open_id_connect_provider()
                                        .open_id_connect_provider_arn(arn.as_str())
                                        .client_id(audience)
                                        .send()
                                },
                            )
                            .await?;
                    }
                    return Ok(
                        change(Action::Update).with_detail(format!("added client id {audience}"))
                    );
                }
                None if self.dry_run => return Ok(change(Action::Create)),
                None => {
                    let tags = managed_tags()?;
                    let created = self
                        .retrying
                        .call("iam:CreateOpenIDConnectProvider", transient, || {
                            self.client
                                .create_open_id_connect_provider()
                                .url(format!("https://{host}"))
                                .client_id_list(audience)
                                .set_tags(Some(tags.clone()))
                                .send()
                        })
                        .await;
                    match created {
                        Ok(_) => return Ok(change(Action::Create)),
                        // Another invocation won the race: adopt what it made.
                        Err(e) if e.has_code("EntityAlreadyExists") => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(AwsError {
            operation: "iam:CreateOpenIDConnectProvider",
            code: Some("EntityAlreadyExists".into()),
            message: format!("{arn} exists but could not be read back"),
            retryable: true,
            source: None,
        })
    }

    /// `exists`: the provider is known to exist, so NoSuchEntity means "not visible yet".
    async fn provider_client_ids(
        &self,
        arn: &ProviderArn,
        exists: bool,
    ) -> Result<Option<Vec<String>>, AwsError> {
        let got = self
            .retrying
            .call("iam:GetOpenIDConnectProvider", read_retry(exists), || {
                self.client
                    .get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn.as_str())
                    .send()
            })
            .await;
        match got {
            Ok(out) => Ok(Some(out.client_id_list().to_vec())),
            Err(e) if e.has_code("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the role, or converges an existing one onto `spec`.
    pub async fn ensure_role(&self, spec: &RoleSpec) -> Result<EnsuredRole, AwsError> {
        // As for the provider: the second pass knows the role exists.
        for exists in [false, true] {
            match self.get_role(&spec.name, exists).await? {
                Some(role) => {
                    let arn = arn_of(&role, "iam:GetRole")?;
                    let changes = self.converge_role(spec, &role, &arn).await?;
                    return Ok(EnsuredRole { arn, changes });
                }
                None if self.dry_run => {
                    let arn = spec.planned_arn.clone();
                    let mut changes = vec![Change::new("role", arn.as_str(), Action::Create)];
                    changes.extend(
                        spec.policy_arns
                            .iter()
                            .map(|p| Change::new("role_policy_attachment", p, Action::Create)),
                    );
                    return Ok(EnsuredRole { arn, changes });
                }
                None => match self.create_role(spec).await {
                    Ok(created) => return Ok(created),
                    Err(e) if e.has_code("EntityAlreadyExists") => continue,
                    Err(e) => return Err(e),
                },
            }
        }
        Err(AwsError {
            operation: "iam:CreateRole",
            code: Some("EntityAlreadyExists".into()),
            message: format!("role {} exists but could not be read back", spec.name),
            retryable: true,
            source: None,
        })
    }

    /// `exists`: the role is known to exist, so NoSuchEntity means "not visible yet".
    async fn get_role(
        &self,
        name: &str,
        exists: bool,
    ) -> Result<Option<aws_sdk_iam::types::Role>, AwsError> {
        let got = self
            .retrying
            .call("iam:GetRole", read_retry(exists), || {
                self.client.get_role().role_name(name).send()
            })
            .await;
        match got {
            Ok(out) => Ok(out.role),
            Err(e) if e.has_code("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the managed policy `arn` exists, as this account's IAM sees it.
    pub async fn policy_exists(&self, arn: &str) -> Result<bool, AwsError> {
        let got = self
            .retrying
            .call("iam:GetPolicy", transient, || {
                self.client.get_policy().policy_arn(arn).send()
            })
            .await;
        match got {
            Ok(_) => Ok(true),
            Err(e) if e.has_code("NoSuchEntity") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create_role(&self, spec: &RoleSpec) -> Result<EnsuredRole, AwsError> {
        let tags = managed_tags()?;
        let out = self
            .retrying
            .call(
                "iam:CreateRole",
                transient_or_principal_not_yet_visible,
                || {
                    self.client
                        .create_role()
                        .role_name(&spec.name)
                        .assume_role_policy_document(spec.trust_policy.to_string())
                        .description(&spec.description)
                        .set_permissions_boundary(spec.permissions_boundary.clone())
                        .set_max_session_duration(spec.max_session_duration)
                        .set_tags(Some(tags.clone()))
                        .send()
                },
            )
            .await?;
        let arn = match out.role() {
            Some(role) => arn_of(role, "iam:CreateRole")?,
            None => spec.planned_arn.clone(),
        };
        let mut changes = vec![Change::new("role", arn.as_str(), Action::Create)];
        for policy in &spec.policy_arns {
            self.attach(&spec.name, policy).await?;
            changes.push(Change::new(
                "role_policy_attachment",
                policy,
                Action::Create,
            ));
        }
        Ok(EnsuredRole { arn, changes })
    }

    async fn attach(&self, role: &str, policy: &str) -> Result<(), AwsError> {
        self.retrying
            .call("iam:AttachRolePolicy", transient_or_not_yet_visible, || {
                self.client
                    .attach_role_policy()
                    .role_name(role)
                    .policy_arn(policy)
                    .send()
            })
            .await
            .map(|_| ())
    }

    /// The role was just read, so NoSuchEntity from any call naming it means IAM has not
    /// shown it everywhere yet (it may have been created moments ago): such calls retry it.
    async fn converge_role(
        &self,
        spec: &RoleSpec,
        role: &aws_sdk_iam::types::Role,
        arn: &RoleArn,
    ) -> Result<Vec<Change>, AwsError> {
        let id = arn.as_str();
        let mut changes = Vec::new();
        let mut role_updates = Vec::new();

        let current = role
            .assume_role_policy_document()
            .map(|doc| {
                percent_encoding::percent_decode_str(doc)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .and_then(|doc| serde_json::from_str::<Value>(&doc).ok());
        if !current.is_some_and(|c| policies_equivalent(&c, &spec.trust_policy)) {
            role_updates.push("trust policy corrected");
            if !self.dry_run {
                self.retrying
                    .call("iam:UpdateAssumeRolePolicy", trust_policy_retryable, || {
                        self.client
                            .update_assume_role_policy()
                            .role_name(&spec.name)
                            .policy_document(spec.trust_policy.to_string())
                            .send()
                    })
                    .await?;
            }
        }

        let boundary = role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn());
        if let Some(wanted) = spec
            .permissions_boundary
            .as_deref()
            .filter(|w| boundary != Some(*w))
        {
            role_updates.push("permissions boundary set");
            if !self.dry_run {
                self.retrying
                    .call(
                        "iam:PutRolePermissionsBoundary",
                        transient_or_not_yet_visible,
                        || {
                            self.client
                                .put_role_permissions_boundary()
                                .role_name(&spec.name)
                                .permissions_boundary(wanted)
                                .send()
                        },
                    )
                    .await?;
            }
        }

        if let Some(wanted) = spec
            .max_session_duration
            .filter(|w| role.max_session_duration() != Some(*w))
        {
            role_updates.push("max session duration set");
            if !self.dry_run {
                self.retrying
                    .call("iam:UpdateRole", transient_or_not_yet_visible, || {
                        self.client
                            .update_role()
                            .role_name(&spec.name)
                            .max_session_duration(wanted)
                            .send()
                    })
                    .await?;
            }
        }

        let tagged = role.tags().iter().any(|t| t.key() == MANAGED_BY_KEY);
        if !tagged {
            role_updates.push("tagged");
            if !self.dry_run {
                let tags = managed_tags()?;
                self.retrying
                    .call("iam:TagRole", transient_or_not_yet_visible, || {
                        self.client
                            .tag_role()
                            .role_name(&spec.name)
                            .set_tags(Some(tags.clone()))
                            .send()
                    })
                    .await?;
            }
        }

        changes.push(if role_updates.is_empty() {
            Change::new("role", id, Action::Unchanged)
        } else {
            Change::new("role", id, Action::Update).with_detail(role_updates.join(", "))
        });

        let attached = self.attached_policies(&spec.name).await?;
        for policy in &spec.policy_arns {
            if attached.contains(policy) {
                changes.push(Change::new(
                    "role_policy_attachment",
                    policy,
                    Action::Unchanged,
                ));
            } else {
                if !self.dry_run {
                    self.attach(&spec.name, policy).await?;
                }
                changes.push(Change::new(
                    "role_policy_attachment",
                    policy,
                    Action::Create,
                ));
            }
        }
        Ok(changes)
    }

    async fn attached_policies(&self, role: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut marker: Option<String> = None;
        // IAM returns at most 100 per page and a role holds at most 20; the bound is generous.
        for _ in 0..50 {
            let page = self
                .retrying
                .call(
                    "iam:ListAttachedRolePolicies",
                    transient_or_not_yet_visible,
                    || {
                        self.client
                            .list_attached_role_policies()
                            .role_name(role)
                            .set_marker(marker.clone())
                            .send()
                    },
                )
                .await?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned)),
            );
            match (page.is_truncated(), page.marker()) {
                (true, Some(m)) => marker = Some(m.to_owned()),
                _ => break,
            }
        }
        Ok(arns)
    }
}

/// Everything that defines one role this tool manages.
#[derive(Clone, Debug)]
pub struct RoleSpec {
    pub name: String,
    /// The ARN the role gets when created without a path; reported only by a dry run for a
    /// role that does not exist yet. Otherwise the ARN comes from IAM.
    pub planned_arn: RoleArn,
    pub description: String,
    pub trust_policy: Value,
    pub policy_arns: Vec<String>,
    pub permissions_boundary: Option<String>,
    pub max_session_duration: Option<i32>,
}
