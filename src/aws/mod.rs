//! AWS steps. Each reads actual state first and writes only what differs.

pub mod broker;
pub mod cloudtrail;
pub mod events;
pub mod iam;
pub mod organizations;
pub mod rules;
pub mod sts;

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::error::AwsError;

/// Exponential backoff with full jitter, bounded by attempts *and* by a deadline: never an
/// unbounded loop, and never past the point where the invocation could still report.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Backoff {
    /// The pause before attempt `attempt + 1`, or `None` when the budget says stop.
    pub fn pause(&self, attempt: u32, deadline: Instant) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let pause = ceiling.mul_f64(0.5 + fastrand::f64() / 2.0);
        (Instant::now() + pause < deadline).then_some(pause)
    }
}

/// Runs `call` until it succeeds, fails with an error `retry_if` rejects, or the backoff
/// gives up; the last error is returned with the attempt count in its message.
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    deadline: Instant,
    retry_if: impl Fn(&AwsError) -> bool,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if retry_if(&e) => match backoff.pause(attempt, deadline) {
                Some(pause) => {
                    crate::metrics::aws_retry();
                    tracing::debug!(
                        operation = e.operation,
                        code = e.code.as_deref(),
                        attempt,
                        pause_ms = pause.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                None => {
                    let mut e = e;
                    e.message = format!("{} (gave up after {} attempts)", e.message, attempt + 1);
                    return Err(e);
                }
            },
            Err(e) => return Err(e),
        }
    }
}

/// The retry policy of one invocation: a backoff bound to its deadline.
#[derive(Clone, Copy, Debug)]
pub struct Retrying {
    pub backoff: Backoff,
    pub deadline: Instant,
}

impl Retrying {
    /// One SDK call under [`retry`], its error mapped once with the operation's name.
    pub async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        retry_if: fn(&AwsError) -> bool,
        mut send: impl FnMut() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        retry(self.backoff, self.deadline, retry_if, || {
            let sent = send();
            async move { sent.await.map_err(|e| AwsError::from_sdk(operation, e)) }
        })
        .await
    }
}

/// Throttling, concurrent modification and service hiccups.
pub fn transient(e: &AwsError) -> bool {
    e.retryable
}

/// Counts the SDK's own retries for the metrics: its standard retry mode repeats throttled
/// and transient calls before [`retry`] ever sees an error, so those would go uncounted.
#[derive(Debug)]
pub struct SdkRetries;

impl Intercept for SdkRetries {
    fn name(&self) -> &'static str {
        "SdkRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            crate::metrics::aws_retry();
        }
        Ok(())
    }
}

/// A client of the SDK crate `$service` from an `SdkConfig`, its retries counted by
/// [`SdkRetries`].
macro_rules! sdk_client {
    ($service:ident, $config:expr) => {
        $service::Client::from_conf(
            $service::config::Builder::from($config)
                .interceptor($crate::aws::SdkRetries)
                .build(),
        )
    };
}
pub(crate) use sdk_client;

/// The error of type `T` in `err`'s chain of sources, if there is one: how a refusal carried
/// as the source of a failed call (the broker's, the delegation policy's) is found again.
pub fn behind<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_respects_attempts_and_deadline() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(800),
            max_attempts: 6,
        };
        let far = Instant::now() + Duration::from_secs(3600);
        for attempt in 0..6 {
            let p = b.pause(attempt, far).unwrap();
            let ceiling =
                Duration::from_millis(100 * (1 << attempt)).min(Duration::from_millis(800));
            assert!(p <= ceiling && p >= ceiling / 2, "attempt {attempt}: {p:?}");
        }
        assert!(b.pause(6, far).is_none(), "attempts are bounded");
        assert!(
            b.pause(0, Instant::now()).is_none(),
            "the deadline is respected"
        );
    }
}
