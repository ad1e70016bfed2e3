//! Tooling mode: the function runs outside the management account and reaches the
//! organization through the management account's broker role (`ONBOARD_MANAGEMENT_ROLE_ARN`).
//! Its session signs only the AssumeRole into each member account, whose access roles trust
//! only the management account; Organizations is read with the function's own credentials,
//! under the organization's delegation policy.

use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::{MANAGEMENT_ROLE_VAR, TOOL_NAME};

/// The function's own credentials are a role session, so the broker session is a chained
/// one, which AWS caps at one hour (a longer DurationSeconds is refused). The member sessions
/// chained from it are shorter still (see `sts`).
pub const SESSION: Duration = Duration::from_secs(3600);

/// The error code an AWS call reports when the broker could not be assumed: a code of its
/// own, so that no caller mistakes it for a member account's AccessDenied (which the
/// readiness poll would wait out).
pub const NOT_ASSUMABLE: &str = "ManagementRoleNotAssumable";

/// A configuration whose credentials are the broker's session: assumed with `base`'s
/// credentials on first use, kept in one cache shared by every client built from it (so once
/// per cold start, not once per client or call), and assumed again by that cache shortly
/// before the session expires, which a long sweep or a CLI `reconcile` outlives.
///
/// The provider is aws-config's `AssumeRoleProvider` in substance (one AssumeRole, no cache of
/// its own), written out because that one is built asynchronously and reports a refusal
/// without STS's error code, which decides here whether the failure may be retried.
pub fn session(base: &SdkConfig, role_arn: &str) -> SdkConfig {
    let broker = Broker {
        // Signed with the function's own credentials; never through the cache below.
        sts: aws_sdk_sts::Client::new(base),
        role_arn: role_arn.to_owned(),
    };
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(broker))
        .identity_cache(IdentityCache::lazy().build())
        .build()
}

#[derive(Debug)]
struct Broker {
    sts: aws_sdk_sts::Client,
    role_arn: String,
}

impl Broker {
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let answer = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(TOOL_NAME)
            .duration_seconds(SESSION.as_secs() as i32)
            .send()
            .await;
        let refused = |code: Option<&str>, message: String| {
            let refused = Refused {
                role_arn: self.role_arn.clone(),
                code: code.map(str::to_owned),
                message,
            };
            tracing::error!(role_arn = %self.role_arn, code, error = %refused, "broker role not assumable");
            CredentialsError::provider_error(refused)
        };
        let out = answer.map_err(|e| {
            let message = e
                .message()
                .map_or_else(|| DisplayErrorContext(&e).to_string(), str::to_owned);
            refused(e.code(), message)
        })?;
        let c = out
            .credentials()
            .ok_or_else(|| refused(None, "STS answered without credentials".into()))?;
        tracing::info!(role_arn = %self.role_arn, "broker session assumed");
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            SystemTime::try_from(*c.expiration()).ok(),
            "tfc-onboarder-broker",
        ))
    }
}

impl ProvideCredentials for Broker {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// The broker role could not be assumed; carried as the source of the failed call's error.
#[derive(Debug, thiserror::Error)]
#[error("cannot assume the management account's broker role {role_arn} ({MANAGEMENT_ROLE_VAR}){}: {message}. Check that the role exists in the management account (infra/management's broker_role_arn), that it trusts this function's role, and that this role may sts:AssumeRole it", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct Refused {
    pub role_arn: String,
    /// STS's error code, when STS answered.
    pub code: Option<String>,
    pub message: String,
}

impl Refused {
    /// Only an answer that is not STS's verdict on the role (throttling, a 5xx, no answer at
    /// all) may pass: a refusal stays a refusal until someone changes a policy.
    pub fn retryable(&self) -> bool {
        self.code
            .as_deref()
            .is_none_or(crate::error::is_transient_aws_code)
    }

    /// The refusal behind a failed AWS call, if that is why it failed.
    pub fn behind<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
        super::behind(err)
    }
}
