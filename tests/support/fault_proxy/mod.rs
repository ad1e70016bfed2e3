//! An HTTP proxy between the AWS SDK and moto that records every call and injects the faults
//! moto cannot produce (AccessDenied on AssumeRole, throttling, lost responses, slowness).
//! It also provides AddClientIDToOpenIDConnectProvider, which moto does not implement, and a
//! strict AssumeRole (on by default): moto hands out credentials for any role ARN, while AWS
//! answers AccessDenied unless the role exists in the target account and its trust policy lets
//! the caller in, and the organization's delegation policy, which moto lacks (see
//! `organizations`). Besides faults injected one by one, it can fault a share of all calls at
//! random from a seed (`chaos`), and it can show chosen accounts as having joined long ago,
//! which moto cannot.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

mod assume_role;
mod chaos;
mod organizations;
pub mod policy;

use assume_role::check_assume_role;
pub use assume_role::parse_role_arn;
pub use chaos::Chaos;

const ADD_CLIENT_ID: &str = "AddClientIDToOpenIDConnectProvider";
const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Signing name from the SigV4 credential scope: "iam", "sts", "organizations", ...
    pub service: String,
    pub action: String,
    /// moto maps temporary keys to the assumed account, so this tells which account was hit.
    pub access_key: String,
    /// 0 when the connection was dropped without an answer.
    pub status: u16,
    /// The random fault this call got (see [`Chaos`]), e.g. `throttling`.
    pub fault: Option<&'static str>,
    /// The request body as sent (form-encoded or JSON), for asserting what was written.
    pub body: String,
    /// When the request arrived, for pacing and rate assertions.
    pub at: Instant,
}

/// The most calls that arrived within any one second (a window `[t, t + 1 s)`).
pub fn peak_per_second(calls: &[Call]) -> usize {
    let mut times: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

impl Call {
    /// A form field of a query-protocol request (STS, IAM), e.g. `RoleArn` of an AssumeRole.
    pub fn param(&self, key: &str) -> Option<String> {
        form_value(&self.body, key)
    }
}

#[derive(Debug, Clone)]
pub struct AwsFault {
    pub action: &'static str,
    /// How many matching calls this fault applies to before calls pass through again.
    pub times: usize,
    pub kind: AwsFaultKind,
}

#[derive(Debug, Clone)]
pub enum AwsFaultKind {
    /// Answered without reaching moto, in the protocol's error format.
    Error {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    /// Reaches moto (state changes) but the caller gets the error: a lost response or a race.
    ForwardThenError {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    /// Slows the call down, then lets it through.
    Delay(Duration),
    /// The connection is dropped before the call reaches moto.
    Reset,
    /// Reaches moto (state changes), then the connection is dropped: the answer is lost.
    ForwardThenReset,
    /// AssumeRole answers AccessDenied, worded as AWS does, as a new account does until AWS
    /// has propagated its role.
    Deny,
}

impl AwsFault {
    /// `times` calls of `action` answered with this error, without reaching moto.
    pub fn error(
        action: &'static str,
        times: usize,
        status: u16,
        code: &'static str,
        message: &'static str,
    ) -> AwsFault {
        AwsFault {
            action,
            times,
            kind: AwsFaultKind::Error {
                status,
                code,
                message,
            },
        }
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<Vec<Call>>,
    faults: Mutex<Vec<AwsFault>>,
    /// The AddClientID emulation is delete + create: two at once would lose a client id.
    oidc_update: tokio::sync::Mutex<()>,
    /// AssumeRole checks the role and its trust policy, as AWS does (see `assume_role`).
    strict_assume_role: AtomicBool,
    /// Accounts that deny every AssumeRole until the given instant: a brand-new account whose
    /// roles AWS has not propagated yet.
    closed_until: Mutex<HashMap<String, Instant>>,
    /// Caller account and ARN by access key; moto's mapping of a key never changes.
    identities: Mutex<HashMap<String, policy::Caller>>,
    /// The organizations' delegation policies (see `organizations`).
    delegation: organizations::Delegation,
    chaos: Mutex<Option<Arc<chaos::Run>>>,
    /// Accounts shown as having joined at the given time (seconds since the epoch).
    joined: Mutex<(HashSet<String>, f64)>,
    /// Sessions of this role ARN expire after the given time instead of when moto says.
    session_lifetime: Mutex<Option<(String, Duration)>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("build reqwest client"),
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            oidc_update: tokio::sync::Mutex::new(()),
            strict_assume_role: AtomicBool::new(true),
            closed_until: Mutex::new(HashMap::new()),
            identities: Mutex::new(HashMap::new()),
            delegation: organizations::Delegation::default(),
            chaos: Mutex::new(None),
            joined: Mutex::new((HashSet::new(), 0.0)),
            session_lifetime: Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Faults apply in injection order; one call consumes at most one fault.
    pub fn inject(&self, fault: AwsFault) {
        self.shared.faults.lock().unwrap().push(fault);
    }

    /// Strict AssumeRole is on by default, so every test meets AWS's rule (the role must exist
    /// and trust the caller); a test about moto's own leniency can turn it off.
    pub fn set_strict_assume_role(&self, strict: bool) {
        self.shared
            .strict_assume_role
            .store(strict, Ordering::SeqCst);
    }

    /// Every AssumeRole into `account` answers AccessDenied until `until`, whatever the role,
    /// as a new account does until AWS has propagated its access role.
    pub fn close_account_until(&self, account: &str, until: Instant) {
        self.shared
            .closed_until
            .lock()
            .unwrap()
            .insert(account.to_owned(), until);
    }

    /// Random faults on a share of all calls from now on (calls that match an injected fault
    /// get that one); `None` ends them.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.shared.chaos.lock().unwrap() = chaos.map(|c| Arc::new(chaos::Run::new(c)));
    }

    /// Organizations shows `accounts` as having joined at `when`: moto can only create accounts
    /// that joined just now, and the function treats new and old accounts differently.
    pub fn set_joined(&self, accounts: impl IntoIterator<Item = String>, when: SystemTime) {
        let secs = when
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        *self.shared.joined.lock().unwrap() = (accounts.into_iter().collect(), secs);
    }

    /// Sessions of `role_arn` expire `lifetime` after they are handed out: a credentials
    /// cache can then be seen refreshing them without waiting for STS's minimum of 15 minutes.
    pub fn set_session_lifetime(&self, role_arn: &str, lifetime: Duration) {
        *self.shared.session_lifetime.lock().unwrap() = Some((role_arn.to_owned(), lifetime));
    }

    /// AssumeRole calls into `account`, in arrival order.
    pub fn assume_role_calls(&self, account: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.action == "AssumeRole"
                    && c.param("RoleArn")
                        .and_then(|arn| parse_role_arn(&arn).map(|r| r.account == account))
                        .unwrap_or(false)
            })
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    pub fn clear_calls(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    pub fn count(&self, action: &str) -> usize {
        self.shared
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.action == action)
            .count()
    }

    /// Calls that may change state (everything but reads and identity calls).
    pub fn write_count(&self) -> usize {
        self.shared
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| is_write(&c.action))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn is_write(action: &str) -> bool {
    !(action.starts_with("Get")
        || action.starts_with("List")
        || action.starts_with("Describe")
        || action == "AssumeRole"
        || action == "GetCallerIdentity")
}

/// What the proxy knows about one incoming AWS call.
struct Incoming {
    service: String,
    region: String,
    access_key: String,
    action: String,
    /// awsJson services name the operation in X-Amz-Target; the query protocol uses the body.
    json_protocol: bool,
}

impl Incoming {
    fn parse(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Incoming {
        // "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request, ..."
        let scope: Vec<String> = header(headers, "authorization")
            .and_then(|auth| auth.split_once("Credential=").map(|(_, rest)| rest))
            .and_then(|rest| rest.split([',', ' ']).next())
            .map(|cred| cred.split('/').map(str::to_string).collect())
            .unwrap_or_default();
        let part = |i: usize| scope.get(i).cloned().unwrap_or_default();
        let target = header(headers, "x-amz-target");
        let action = match target {
            Some(t) => t.rsplit('.').next().unwrap_or_default().to_string(),
            None => form_value(std::str::from_utf8(body).unwrap_or_default(), "Action")
                .or_else(|| query.and_then(|q| form_value(q, "Action")))
                .unwrap_or_default(),
        };
        Incoming {
            access_key: part(0),
            region: part(2),
            service: part(3),
            action,
            json_protocol: target.is_some(),
        }
    }

    /// The region the caller signed for; moto picks the partition (aws, aws-cn, aws-us-gov)
    /// from it.
    fn signing_region(&self) -> Region {
        Region::new(if self.region.is_empty() {
            "us-east-1".to_string()
        } else {
            self.region.clone()
        })
    }

    /// The caller's own key: moto never checks signatures but picks the account from the key,
    /// so calls made with it reach the caller's account.
    fn credentials(&self, headers: &HeaderMap) -> Credentials {
        Credentials::new(
            &self.access_key,
            "moto-does-not-check-signatures",
            header(headers, "x-amz-security-token").map(str::to_string),
            None,
            "fault-proxy",
        )
    }

    /// A configuration for calls the proxy itself makes to moto, in the caller's partition.
    fn upstream(&self, shared: &Shared, credentials: Credentials) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(self.signing_region())
            .endpoint_url(&shared.upstream)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .retry_config(RetryConfig::disabled())
            .build()
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Response {
        let request_id = request_id();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let builder = Response::builder()
            .status(status)
            .header("x-amzn-RequestId", &request_id);
        let response = if self.json_protocol {
            builder
                .header("Content-Type", "application/x-amz-json-1.1")
                .header("x-amzn-ErrorType", code)
                .body(Body::from(
                    serde_json::json!({ "__type": code, "message": message }).to_string(),
                ))
        } else {
            let xmlns = if self.service == "sts" {
                STS_XMLNS
            } else {
                IAM_XMLNS
            };
            let kind = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            builder
                .header("Content-Type", "text/xml")
                .body(Body::from(format!(
                    "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{}</Code>\
                 <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    xml_escape(code),
                    xml_escape(message)
                )))
        };
        response.expect("valid error response")
    }
}

/// The work runs in its own task because hyper drops a handler when the client hangs up; AWS
/// keeps going after a client times out (a slow create still lands), and the record must
/// still see the call.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    match tokio::spawn(proxy(shared, req)).await {
        Ok(response) => response,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn proxy(shared: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from(format!("cannot read request body: {e}")))
                .expect("valid response")
        }
    };
    let at = Instant::now();
    let incoming = Incoming::parse(&parts.headers, parts.uri.query(), &body);
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let chaos = shared.chaos.lock().unwrap().clone();
    let target = match &chaos {
        Some(_) => chaos::Run::target(&shared, &incoming, &parts.headers, &body).await,
        None => None,
    };
    let (fault, label) = match take_fault(&shared, &incoming.action) {
        Some(kind) => (Some(kind), None),
        None => match (&chaos, &target) {
            (Some(run), Some(target)) => run.roll(&incoming, target, &body).unzip(),
            _ => (None, None),
        },
    };

    let pass = |deny| pass(&shared, &incoming, &parts, body.clone(), deny);
    // What moto made of the call (0: it never got there), and what the caller gets.
    let (served, response) = match &fault {
        Some(AwsFaultKind::Error {
            status,
            code,
            message,
        }) => (0, incoming.error(*status, code, message)),
        Some(AwsFaultKind::ForwardThenError {
            status,
            code,
            message,
        }) => {
            let served = pass(false).await.status().as_u16();
            (served, incoming.error(*status, code, message))
        }
        Some(AwsFaultKind::Delay(d)) => {
            tokio::time::sleep(*d).await;
            let response = pass(false).await;
            (response.status().as_u16(), response)
        }
        Some(AwsFaultKind::Reset) => (0, reset()),
        Some(AwsFaultKind::ForwardThenReset) => (pass(false).await.status().as_u16(), reset()),
        Some(AwsFaultKind::Deny) | None => {
            let response = pass(fault.is_some()).await;
            (response.status().as_u16(), response)
        }
    };
    let status = match fault {
        Some(AwsFaultKind::Reset | AwsFaultKind::ForwardThenReset) => 0,
        _ => response.status().as_u16(),
    };
    // A create whose answer was lost created all the same, and IAM may not see it yet.
    if let (Some(run), Some(target)) = (&chaos, &target) {
        run.note(&incoming, target, &body, served);
    }

    if !incoming.action.is_empty() {
        shared.calls.lock().unwrap().push(Call {
            service: incoming.service,
            action: incoming.action,
            access_key: incoming.access_key,
            status,
            fault: label,
            body: body_text,
            at,
        });
    }
    response
}

/// What AWS would answer: AssumeRole checked as AWS does (refused outright with `deny`, as by
/// an account that is not ready), everything else served by moto.
async fn pass(
    shared: &Shared,
    incoming: &Incoming,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
    deny: bool,
) -> Response {
    match check_assume_role(shared, incoming, &parts.headers, &body, deny).await {
        Some(denied) => denied,
        None => serve(shared, incoming, parts, body).await,
    }
}

/// A connection dropped before any answer: the body fails before a byte is written, and
/// hyper then closes the connection.
fn reset() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    });
    Response::new(Body::from_stream(failing))
}

fn take_fault(shared: &Shared, action: &str) -> Option<AwsFaultKind> {
    let mut faults = shared.faults.lock().unwrap();
    let fault = faults
        .iter_mut()
        .find(|f| f.action == action && f.times > 0)?;
    fault.times -= 1;
    Some(fault.kind.clone())
}

async fn serve(
    shared: &Shared,
    incoming: &Incoming,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Response {
    if incoming.action == ADD_CLIENT_ID && !incoming.json_protocol {
        return add_client_id(shared, incoming, &parts.headers, &body).await;
    }
    let as_account = match organizations::route(shared, incoming, &parts.headers, &body).await {
        organizations::Route::Answer(response) => return response,
        organizations::Route::Forward(as_account) => as_account,
    };
    let role_arn = form_value(std::str::from_utf8(&body).unwrap_or_default(), "RoleArn");
    let response = forward(shared, parts, body, as_account.as_deref()).await;
    match incoming.action.as_str() {
        "ListAccounts" | "DescribeAccount" if incoming.service == "organizations" => {
            set_joined(shared, response).await
        }
        "AssumeRole" if incoming.service == "sts" => {
            shorten_session(shared, role_arn.as_deref(), response).await
        }
        _ => response,
    }
}

/// Rewrites the `Expiration` of an AssumeRole answer for the role of
/// [`FaultProxy::set_session_lifetime`].
async fn shorten_session(shared: &Shared, role_arn: Option<&str>, response: Response) -> Response {
    let lifetime = match &*shared.session_lifetime.lock().unwrap() {
        Some((arn, lifetime)) if Some(arn.as_str()) == role_arn => *lifetime,
        _ => return response,
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let expiration = aws_smithy_types::DateTime::from(SystemTime::now() + lifetime)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("a time that can be formatted");
    let rewritten = match (text.find("<Expiration>"), text.find("</Expiration>")) {
        (Some(start), Some(end)) => {
            format!("{}<Expiration>{expiration}{}", &text[..start], &text[end..])
        }
        _ => text,
    };
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}

/// Rewrites `JoinedTimestamp` (seconds since the epoch in Organizations' JSON protocol) of the
/// accounts [`FaultProxy::set_joined`] names.
async fn set_joined(shared: &Shared, response: Response) -> Response {
    let (accounts, when) = shared.joined.lock().unwrap().clone();
    if accounts.is_empty() || !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let backdate = |account: &mut serde_json::Value| {
        let id = account.get("Id").and_then(serde_json::Value::as_str);
        if id.is_some_and(|id| accounts.contains(id)) {
            account["JoinedTimestamp"] = serde_json::json!(when);
        }
    };
    if let Some(serde_json::Value::Array(list)) = doc.get_mut("Accounts") {
        list.iter_mut().for_each(backdate);
    } else if let Some(account) = doc.get_mut("Account") {
        backdate(account);
    }
    Response::from_parts(parts, Body::from(doc.to_string()))
}

/// To moto as the caller, or, with `as_account`, as that account (moto's
/// `x-moto-account-id` header wins over the key).
async fn forward(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: axum::body::Bytes,
    as_account: Option<&str>,
) -> Response {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    for hop in ["host", "content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    if let Some(account) = as_account.and_then(|a| HeaderValue::from_str(a).ok()) {
        headers.insert("x-moto-account-id", account);
    }
    let upstream = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!("moto unreachable: {e}")))
                .expect("valid response")
        }
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    for hop in ["content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    let body = upstream.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// AddClientIDToOpenIDConnectProvider on top of moto: read the provider, and if the client id is
/// new, recreate it with the merged list, same thumbprints and tags. The calls are made with the
/// caller's access key: moto never checks signatures but picks the account from the key, so they
/// reach the same account as the original request.
async fn add_client_id(
    shared: &Shared,
    incoming: &Incoming,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let form = std::str::from_utf8(body).unwrap_or_default();
    let (Some(arn), Some(client_id)) = (
        form_value(form, "OpenIDConnectProviderArn"),
        form_value(form, "ClientID"),
    ) else {
        return incoming.error(
            400,
            "ValidationError",
            "OpenIDConnectProviderArn and ClientID are required",
        );
    };
    let iam = aws_sdk_iam::Client::new(&incoming.upstream(shared, incoming.credentials(headers)));

    let _guard = shared.oidc_update.lock().await;
    let result: Result<(), Response> = async {
        let provider = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_error(incoming, e))?;
        if provider.client_id_list().contains(&client_id) {
            return Ok(());
        }
        let tags = iam
            .list_open_id_connect_provider_tags()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_error(incoming, e))?;
        let url = provider.url().unwrap_or_default();
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_error(incoming, e))?;
        let mut client_ids = provider.client_id_list().to_vec();
        client_ids.push(client_id.clone());
        iam.create_open_id_connect_provider()
            .url(format!("https://{url}"))
            .set_client_id_list(Some(client_ids))
            .set_thumbprint_list(Some(provider.thumbprint_list().to_vec()))
            .set_tags(Some(tags.tags().to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(incoming, e))?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "text/xml")
            .body(Body::from(format!(
                "<AddClientIDToOpenIDConnectProviderResponse xmlns=\"{IAM_XMLNS}\">\
                 <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>\
                 </AddClientIDToOpenIDConnectProviderResponse>",
                request_id()
            )))
            .expect("valid response"),
        Err(response) => response,
    }
}

/// Hands moto's answer (e.g. NoSuchEntity for an unknown provider) back to the caller.
fn sdk_error<E>(incoming: &Incoming, e: SdkError<E, HttpResponse>) -> Response
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(500);
    match e.as_service_error() {
        Some(service) => incoming.error(
            status,
            service.code().unwrap_or("ServiceFailure"),
            service.message().unwrap_or_default(),
        ),
        None => incoming.error(500, "ServiceFailure", &format!("{e:?}")),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_form(k) == key).then(|| decode_form(v))
    })
}

fn decode_form(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn request_id() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(0x8000..0xc000),
        fastrand::u64(..1 << 48)
    )
}
