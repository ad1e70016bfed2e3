//! One error type per boundary (input, configuration, AWS, Terraform Cloud), and the single
//! place where each failure is classified as retryable or not for the Lambda service.

use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::domain::AccountId;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The incoming event was not something this tool acts on. Never retryable: the same bytes
/// will be just as wrong next time.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("event is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("event is {size} bytes; the largest accepted event is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("account id `{0}` is not a 12-digit AWS account id")]
    BadAccountId(String),
    #[error("field `{field}`: {reason}")]
    BadField { field: &'static str, reason: String },
    #[error("unrecognised event: {0}. Accepted: an Organizations CreateAccountResult/CloseAccountResult/RemoveAccountFromOrganization event, a Control Tower CreateManagedAccount/UpdateManagedAccount event, {{\"account_id\": \"123456789012\"}}, {{\"action\": \"reconcile\"}}, {{\"action\": \"offboard\", \"account_id\": \"123456789012\"}} or {{\"action\": \"doctor\"}}")]
    Unrecognised(String),
}

/// A configuration variable is missing or invalid; raised at cold start.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// A failed AWS call, with the SDK error kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub retryable: bool,
    #[source]
    pub source: Option<BoxError>,
}

impl AwsError {
    /// Wraps an SDK error, keeping its error code (never its message) for decisions.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if let Some(refused) = crate::aws::broker::Refused::behind(&err) {
            return Self {
                operation,
                code: Some(crate::aws::broker::NOT_ASSUMABLE.to_owned()),
                message: refused.to_string(),
                retryable: refused.retryable(),
                source: Some(Box::new(err)),
            };
        }
        let code = err.code().map(str::to_owned);
        let message = err
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| match &err {
                SdkError::TimeoutError(_) => "request timed out".to_owned(),
                SdkError::DispatchFailure(_) => "could not reach the AWS endpoint".to_owned(),
                other => other.to_string(),
            });
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        // A 5xx is the service's own failure, whatever its code: Organizations says
        // ServiceException, EventBridge InternalException, IAM ServiceFailure.
        let server_error = err
            .raw_response()
            .is_some_and(|r| r.status().is_server_error());
        let retryable =
            transport || server_error || code.as_deref().is_some_and(is_transient_aws_code);
        let message = match (code.as_deref(), iam_quota(operation)) {
            (Some("LimitExceeded"), Some(quota)) => format!(
                "{message}: the account is at its IAM quota of {quota}. This does not pass by waiting: remove unused ones or raise the quota in Service Quotas (IAM), then re-run"
            ),
            _ => message,
        };
        Self {
            operation,
            code,
            message,
            retryable,
            source: Some(Box::new(err)),
        }
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The IAM quota an operation's `LimitExceeded` is about. IAM throttles with `Throttling`;
/// its `LimitExceeded` means the account is at a quota, which no retry gets past.
fn iam_quota(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "iam:CreateRole" => "roles per account (default 1,000), or tags per role (50)",
        "iam:CreateOpenIDConnectProvider" => "OpenID Connect providers per account (100)",
        "iam:AddClientIDToOpenIDConnectProvider" => "client IDs per OpenID Connect provider (100)",
        "iam:AttachRolePolicy" => "managed policies per role (default 10)",
        "iam:UpdateAssumeRolePolicy" => "role trust policy length (default 2,048 characters)",
        "iam:TagRole" => "tags per role (50)",
        _ => return None,
    })
}

/// Codes that mean "try again shortly" for any AWS API we call (besides any answer with a 5xx
/// status). Not IAM's `LimitExceeded`: that one is a quota (see [`iam_quota`]).
pub fn is_transient_aws_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "ConcurrentModification"
            | "ConcurrentModificationException"
            | "ServiceFailure"
            | "ServiceFailureException"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "InternalError"
            | "RequestTimeout"
            | "RequestTimeoutException"
    )
}

/// A failed Terraform Cloud call. Messages never include the token or request headers.
#[derive(Debug, thiserror::Error)]
pub enum TfcError {
    #[error("Terraform Cloud rejected the API token (401): token invalid or expired")]
    Unauthorized,
    #[error(
        "organization `{0}` not found, or the token lacks permission to manage variable sets (404)"
    )]
    OrganizationNotFound(String),
    #[error("{what} not found, or the token may not see it (404)")]
    NotFound { what: String },
    #[error("Terraform Cloud refused the request ({status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("Terraform Cloud kept answering {status} after {attempts} attempts: {detail}")]
    Unavailable {
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error("Terraform Cloud is rate limiting this token's user ({throttled} × 429 in a row) and asked to wait {:.1} s, past the invocation's deadline ({:.1} s left): the 30 requests per second are shared by every container and every automation using that user; retry later, or lower TFE_RATE_LIMIT so that everything using that user stays under 30 per second", wait.as_secs_f64(), left.as_secs_f64())]
    RateLimited {
        wait: Duration,
        left: Duration,
        throttled: u32,
    },
    #[error("Terraform Cloud could not be reached after {attempts} attempts: {reason}")]
    Transport { attempts: u32, reason: String },
    #[error("Terraform Cloud answered with an unexpected document: {0}")]
    Decode(String),
    #[error("the API token could not be read from Secrets Manager: {0}")]
    Token(#[source] AwsError),
}

impl TfcError {
    pub fn retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Transport { .. } | Self::RateLimited { .. } => true,
            Self::Token(e) => e.retryable,
            Self::Unauthorized
            | Self::OrganizationNotFound(_)
            | Self::NotFound { .. }
            | Self::Rejected { .. }
            | Self::Decode(_) => false,
        }
    }
}

/// The steps of one onboarding, named in reports and error types so an operator knows where
/// an account stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    DescribeAccount,
    Settings,
    AssumeRole,
    OidcProvider,
    Role,
    VariableSet,
    Attach,
    Offboard,
    ListAccounts,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::DescribeAccount => "DescribeAccount",
            Self::Settings => "Settings",
            Self::AssumeRole => "AssumeRole",
            Self::OidcProvider => "OidcProvider",
            Self::Role => "Role",
            Self::VariableSet => "VariableSet",
            Self::Attach => "Attach",
            Self::Offboard => "Offboard",
            Self::ListAccounts => "ListAccounts",
        };
        f.write_str(name)
    }
}

/// Why one step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Tfc(#[from] TfcError),
    #[error(
        "account {account} is not ready yet: {detail}; Lambda's asynchronous retry will try again"
    )]
    NotReady { account: AccountId, detail: String },
    #[error("{0}")]
    Refused(String),
}

impl StepError {
    pub fn retryable(&self) -> bool {
        match self {
            Self::Aws(e) => e.retryable,
            Self::Tfc(e) => e.retryable(),
            Self::NotReady { .. } => true,
            Self::Refused(_) => false,
        }
    }
}

/// A step that failed for one account.
#[derive(Debug, thiserror::Error)]
#[error("{step} failed for account {account}: {source}")]
pub struct Failure {
    pub step: Step,
    pub account: AccountId,
    #[source]
    pub source: StepError,
}

impl Failure {
    pub fn retryable(&self) -> bool {
        self.source.retryable()
    }
}

/// What the Lambda service sees: `errorType` says retryable or not and where it stopped.
#[derive(Debug)]
pub struct HandlerError {
    pub retryable: bool,
    pub kind: String,
    pub message: String,
}

impl HandlerError {
    pub fn error_type(&self) -> String {
        let class = if self.retryable {
            "Retryable"
        } else {
            "NonRetryable"
        };
        format!("{class}.{}", self.kind)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type(), self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<InputError> for HandlerError {
    fn from(e: InputError) -> Self {
        Self {
            retryable: false,
            kind: "InvalidEvent".into(),
            message: e.to_string(),
        }
    }
}

impl From<&Failure> for HandlerError {
    fn from(f: &Failure) -> Self {
        Self {
            retryable: f.retryable(),
            kind: f.step.to_string(),
            message: f.to_string(),
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type(),
            error_message: e.message,
        }
    }
}
