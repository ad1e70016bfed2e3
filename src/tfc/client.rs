//! The only type that talks HTTP to Terraform Cloud: headers, JSON:API errors, pagination,
//! retries (429 as the server says, until the invocation's deadline; 5xx and transport errors
//! on idempotent calls, a bounded number of times) and a client-side rate limiter shared by
//! every concurrent onboarding.
//!
//! [`TfcClient`] is built once per container; each invocation talks through a [`Tfc`] handle
//! that carries its deadline, as the AWS steps carry theirs in a `Retrying`.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::config::{Config, TokenSource};
use crate::error::{AwsError, TfcError};

const JSONAPI: &str = "application/vnd.api+json";
/// Attempts for one request before giving up on 5xx answers and transport errors. A 429 does
/// not count: it is waited out until the deadline.
pub const MAX_ATTEMPTS: u32 = 6;
/// A 5xx answer asking for a longer pause than this gets this pause.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);
/// The pause after a 429 that names none.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
const MAX_PAGES: u32 = 1000;

/// Spaces requests evenly: no burst can exceed the configured rate in any one-second window.
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn acquire(&self) {
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// After a 429 every caller waits, not only the one that was told. The hold never
    /// outlasts the deadline of the request that set it (longer waits fail instead), and the
    /// requests of one container share that deadline (one invocation at a time, or one sweep).
    fn hold_until(&self, until: Instant) {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *next = (*next).max(until);
    }
}

enum Token {
    Static(SecretString),
    /// Read on first use and cached per container; read again once after a 401 (rotation).
    Secret {
        client: aws_sdk_secretsmanager::Client,
        id: String,
        cached: RwLock<Option<SecretString>>,
    },
}

impl Token {
    async fn header(&self) -> Result<HeaderValue, TfcError> {
        let bearer = |t: &SecretString| {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", t.expose_secret())).map_err(|_| {
                    TfcError::Decode(
                        "the API token contains characters not allowed in an HTTP header".into(),
                    )
                })?;
            v.set_sensitive(true);
            Ok(v)
        };
        match self {
            Self::Static(t) => bearer(t),
            Self::Secret { cached, .. } => {
                if let Some(t) = cached.read().await.as_ref() {
                    return bearer(t);
                }
                self.refresh().await?;
                match cached.read().await.as_ref() {
                    Some(t) => bearer(t),
                    None => Err(TfcError::Unauthorized),
                }
            }
        }
    }

    /// Returns whether a fresh token was fetched (only secrets can rotate).
    async fn refresh(&self) -> Result<bool, TfcError> {
        let Self::Secret { client, id, cached } = self else {
            return Ok(false);
        };
        let out = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| TfcError::Token(AwsError::from_sdk("secretsmanager:GetSecretValue", e)))?;
        let value = out.secret_string().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
            TfcError::Token(AwsError {
                operation: "secretsmanager:GetSecretValue",
                code: None,
                message: format!("secret {id} has no string value; store the token with put-secret-value --secret-string"),
                retryable: false,
                source: None,
            })
        })?;
        *cached.write().await = Some(SecretString::from(value.to_owned()));
        Ok(true)
    }
}

pub struct TfcClient {
    http: reqwest::Client,
    api: String,
    pub organization: String,
    token: Token,
    limiter: RateLimiter,
    retry_base: Duration,
}

/// A response body, or nothing for 204.
pub type Body = Option<Value>;

impl TfcClient {
    pub fn new(
        cfg: &Config,
        secrets: Option<aws_sdk_secretsmanager::Client>,
    ) -> Result<Self, TfcError> {
        let token = match (&cfg.token, secrets) {
            (TokenSource::Inline(t), _) => Token::Static(t.clone()),
            (TokenSource::SecretsManager(id), Some(client)) => Token::Secret {
                client,
                id: id.clone(),
                cached: RwLock::new(None),
            },
            (TokenSource::SecretsManager(_), None) => {
                return Err(TfcError::Decode(
                    "a Secrets Manager client is needed for TFE_TOKEN_SECRET_ID".into(),
                ))
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSONAPI));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("tfc-onboarder/", env!("CARGO_PKG_VERSION")))
            .timeout(cfg.tfe_timeout)
            .connect_timeout(cfg.tfe_timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| TfcError::Transport {
                attempts: 0,
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            api: format!("{}/api/v2", cfg.tfe_address),
            organization: cfg.organization.to_string(),
            token,
            limiter: RateLimiter::new(cfg.tfe_rate_limit),
            retry_base: cfg.retry_base,
        })
    }

    /// The handle one invocation uses: its requests wait for a 429 until `deadline`, never past.
    pub fn until(&self, deadline: Instant) -> Tfc<'_> {
        Tfc {
            client: self,
            deadline,
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        deadline: Instant,
    ) -> Result<Body, TfcError> {
        // POST is not idempotent: a 5xx or timeout may hide a create that happened, which
        // only the caller can check (by listing again), so it is not blindly repeated.
        let idempotent = method != Method::POST;
        let url = format!("{}{}", self.api, path);
        let mut refreshed_token = false;
        // 5xx answers and transport errors (bounded by MAX_ATTEMPTS), and 429s (bounded by
        // the deadline), counted apart.
        let mut attempt = 0;
        let mut throttled = 0;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .query(query)
                .header(AUTHORIZATION, self.token.header().await?);
            if method != Method::GET {
                req = req.header(CONTENT_TYPE, JSONAPI);
            }
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let started = Instant::now();
            // The whole answer, body included: a connection that breaks off mid-body is as
            // much a transport failure as one that never answered.
            let answer = match req.send().await {
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    resp.bytes().await.map(|body| (status, headers, body))
                }
                Err(e) => Err(e),
            };
            let (status, headers, bytes) = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    let reason = if e.is_timeout() {
                        "request timed out".to_owned()
                    } else {
                        transport_reason(&e)
                    };
                    tracing::warn!(%method, path, attempt, reason, "Terraform Cloud request failed");
                    if idempotent && attempt < MAX_ATTEMPTS {
                        crate::metrics::tfc_retry();
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(TfcError::Transport {
                        attempts: attempt,
                        reason,
                    });
                }
            };
            tracing::debug!(%method, path, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "Terraform Cloud");
            if status.is_success() {
                if bytes.is_empty() || status == StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                return serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| TfcError::Decode(format!("{method} {path}: {e}")));
            }
            let wait = server_wait(&headers);
            let detail = error_detail(&bytes);
            match status.as_u16() {
                401 if !refreshed_token && self.token.refresh().await? => refreshed_token = true,
                401 => return Err(TfcError::Unauthorized),
                404 => {
                    return Err(TfcError::NotFound {
                        what: format!("{method} {path}"),
                    })
                }
                // The limit is per user, shared with every other container and automation
                // of that user: being told to wait says nothing about being broken, so the
                // wait is honoured for as long as the invocation can afford it.
                429 => {
                    crate::metrics::tfc_throttled();
                    throttled += 1;
                    attempt -= 1; // not a failed attempt: MAX_ATTEMPTS does not apply
                    let wait = wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
                    let now = Instant::now();
                    if now + wait >= deadline {
                        return Err(TfcError::RateLimited {
                            wait,
                            left: deadline.saturating_duration_since(now),
                            throttled,
                        });
                    }
                    tracing::info!(
                        path,
                        throttled,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited by Terraform Cloud; waiting as told"
                    );
                    self.limiter.hold_until(now + wait);
                    tokio::time::sleep_until(now + wait).await;
                }
                s @ 500..=599 if !idempotent || attempt >= MAX_ATTEMPTS => {
                    return Err(TfcError::Unavailable {
                        status: s,
                        attempts: attempt,
                        detail,
                    });
                }
                500..=599 => {
                    crate::metrics::tfc_retry();
                    tokio::time::sleep(
                        wait.unwrap_or_else(|| self.backoff(attempt))
                            .min(MAX_SERVER_WAIT),
                    )
                    .await
                }
                s => return Err(TfcError::Rejected { status: s, detail }),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .retry_base
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(20));
        ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

/// One invocation's view of the shared client: the same connection pool, token and rate
/// limiter, bounded by the invocation's deadline.
#[derive(Clone, Copy)]
pub struct Tfc<'a> {
    pub client: &'a TfcClient,
    pub deadline: Instant,
}

impl Tfc<'_> {
    pub fn organization(&self) -> &str {
        &self.client.organization
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Body, TfcError> {
        self.client
            .request(Method::GET, path, query, None, self.deadline)
            .await
    }

    /// The pause before attempt `attempt + 1` of a request the caller repeats itself (a POST
    /// that provably did not land), the same as between attempts of an idempotent one.
    pub async fn pause(&self, attempt: u32) {
        tokio::time::sleep(self.client.backoff(attempt)).await;
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Body, TfcError> {
        self.client
            .request(Method::POST, path, &[], Some(body), self.deadline)
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Body, TfcError> {
        self.client
            .request(Method::PATCH, path, &[], Some(body), self.deadline)
            .await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Result<Body, TfcError> {
        self.client
            .request(Method::DELETE, path, &[], body, self.deadline)
            .await
    }

    /// Every item of a paginated list, following `meta.pagination.next-page`.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, TfcError> {
        let mut items = Vec::new();
        let mut page = 1u32;
        while page <= MAX_PAGES {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("page[number]", page.to_string()));
            q.push(("page[size]", "100".into()));
            let body = self.get(path, &q).await?.unwrap_or(Value::Null);
            match body.get("data") {
                Some(Value::Array(data)) => items.extend(data.iter().cloned()),
                _ => return Err(TfcError::Decode(format!("GET {path}: no `data` list"))),
            }
            // The docs nest pagination under meta.pagination; the OpenAPI spec puts it in meta.
            let meta = body.get("meta");
            let next = meta
                .and_then(|m| m.get("pagination").or(Some(m)))
                .and_then(|p| p.get("next-page"))
                .and_then(Value::as_u64);
            match next {
                Some(n) if n > u64::from(page) => page = n as u32,
                _ => break,
            }
        }
        Ok(items)
    }
}

/// `X-RateLimit-Reset` (seconds, fractional) or `Retry-After` (seconds or an HTTP date).
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("x-ratelimit-reset").and_then(|v| v.parse::<f64>().ok()) {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let retry_after = header("retry-after")?;
    if let Ok(secs) = retry_after.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(retry_after).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Both documented error shapes: `{"errors":[{"status":..,"title":..,"detail":..}]}` (status a
/// string or a number) and `{"errors":["..."]}`.
pub fn error_detail(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let messages: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| match e {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => {
                        let text =
                            |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
                        match (text("title"), text("detail")) {
                            (Some(t), Some(d)) => Some(format!("{t}: {d}")),
                            (t, d) => t.or(d).map(str::to_owned),
                        }
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        crate::domain::truncate_for_message(&String::from_utf8_lossy(body))
    } else {
        crate::domain::truncate_for_message(&messages.join("; "))
    }
}

/// reqwest errors name the URL (never headers); keep the chain short for operators.
fn transport_reason(e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_are_understood() {
        assert_eq!(
            error_detail(br#"{"errors":[{"status":"422","title":"invalid attribute","detail":"Name has already been taken"}]}"#),
            "invalid attribute: Name has already been taken"
        );
        assert_eq!(
            error_detail(br#"{"errors":[{"status":429,"title":"Too many requests"}]}"#),
            "Too many requests"
        );
        assert_eq!(error_detail(br#"{"errors":["boom","bang"]}"#), "boom; bang");
        assert_eq!(
            error_detail(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn every_wait_header_form_is_honoured() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("0.25"));
        assert_eq!(server_wait(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(3)));
        let mut h = HeaderMap::new();
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(5));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let w = server_wait(&h).unwrap();
        assert!(
            w <= Duration::from_secs(5) && w >= Duration::from_secs(3),
            "{w:?}"
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(server_wait(&h), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limiter_spaces_requests() {
        let limiter = RateLimiter::new(30);
        let start = Instant::now();
        for _ in 0..31 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(999),
            "{:?}",
            start.elapsed()
        );
    }
}
