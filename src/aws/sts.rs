//! Into the member account: `AssumeRole`, waiting (boundedly) for a brand-new account.

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

use super::Retrying;
use crate::error::AwsError;

/// Codes a freshly created account answers until it is ready; AWS documents no bound, so the
/// caller's deadline is the bound.
pub fn is_readiness_code(e: &AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some(
            "AccessDenied"
                | "RegionDisabledException"
                | "SubscriptionRequiredException"
                | "OptInRequired"
        )
    )
}

/// What is worth waiting for while a new account becomes ready: its readiness codes and the
/// usual transient failures.
pub fn not_ready_yet(e: &AwsError) -> bool {
    e.retryable || is_readiness_code(e)
}

/// Assumes `role_arn` and returns a config for the member account that keeps the base
/// config's region, endpoints and retry settings.
pub async fn assume(
    sts: &aws_sdk_sts::Client,
    base: &SdkConfig,
    role_arn: &str,
    retrying: Retrying,
    retry_if: fn(&AwsError) -> bool,
) -> Result<SdkConfig, AwsError> {
    let out = retrying
        .call("sts:AssumeRole", retry_if, || {
            sts.assume_role()
                .role_arn(role_arn)
                .role_session_name(crate::config::TOOL_NAME)
                .duration_seconds(900)
                .send()
        })
        .await?;
    let c = out.credentials().ok_or_else(|| AwsError {
        operation: "sts:AssumeRole",
        code: None,
        message: "the response carried no credentials".into(),
        retryable: true,
        source: None,
    })?;
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "tfc-onboarder-assumed-role",
    );
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build())
}
