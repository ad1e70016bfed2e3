//! tfc-onboarder: makes every new AWS account usable from Terraform Cloud with OIDC dynamic
//! credentials. The flow, one module per step:
//! [`event`] in -> [`config`] + [`mapping`] decide the settings -> [`aws`] assumes into the
//! account and converges the OIDC provider and role ([`policy`] computes the documents) ->
//! [`tfc`] registers the role in a variable set -> [`report`] out. [`onboard`] ties one
//! account together, [`sweep`] reconciles a whole organization, [`offboard`] cleans up after
//! closed accounts, [`queue`] handles the SQS batches of the rules' queue, and [`handler`] is
//! the single entry point for Lambda and the CLI. [`metrics`] reports what happened as
//! CloudWatch metrics, [`progress`] as the CLI's progress line.

pub mod aws;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod event;
pub mod handler;
pub mod mapping;
pub mod metrics;
pub mod offboard;
pub mod onboard;
pub mod policy;
pub mod progress;
pub mod queue;
pub mod report;
pub mod sweep;
pub mod tfc;

pub use config::Config;
pub use onboard::{Clients, Onboarder};

/// Builds the AWS SDK configuration from the standard chain (credentials and
/// `AWS_ENDPOINT_URL*` endpoints) without any network call. The region must come from the
/// environment or the profile files: without one, the SDK's default chains would ask the EC2
/// instance metadata service at cold start.
pub async fn sdk_config() -> Result<aws_config::SdkConfig, error::ConfigError> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let region = aws_config::meta::region::RegionProviderChain::first_try(
        aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(aws_config::profile::ProfileFileRegionProvider::new())
    .region()
    .await
    .ok_or_else(|| error::ConfigError {
        var: "AWS_REGION",
        reason: "no AWS region is configured; set AWS_REGION (for example us-east-1) or a region in your AWS profile".into(),
    })?;
    // One HTTP client for every SDK client, including the IAM client built per member
    // account: without it each gets its own connection pool and trust store, so a sweep
    // would open a new TLS connection to IAM for every account.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .region(region)
        .load()
        .await)
}

/// Deadline of a Lambda invocation (epoch milliseconds) as a monotonic instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
