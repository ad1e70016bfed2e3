//! A local AWS Lambda Runtime API (2018-06-01), so the real built binary can run as a Lambda.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

const FUNCTION_NAME: &str = "tfc-onboarder";
const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error { error_type: String, message: String },
    TimedOut,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    events_tx: tokio::sync::mpsc::UnboundedSender<(String, Value)>,
    /// Lambda hands one event to one waiting /next at a time.
    events_rx: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(String, Value)>>,
    state: Mutex<RuntimeState>,
    /// Bumped on every reported outcome so waiters re-check.
    outcome_posted: tokio::sync::watch::Sender<u64>,
}

struct RuntimeState {
    deadline: Duration,
    first_next_at: Option<Instant>,
    init_error: Option<String>,
    handed_out: HashSet<String>,
    outcomes: HashMap<String, Outcome>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events_tx,
            events_rx: tokio::sync::Mutex::new(events_rx),
            state: Mutex::new(RuntimeState {
                deadline: DEFAULT_DEADLINE,
                first_next_at: None,
                init_error: None,
                handed_out: HashSet::new(),
                outcomes: HashMap::new(),
            }),
            outcome_posted: tokio::sync::watch::channel(0).0,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            shared,
            server,
        }
    }

    /// The value of AWS_LAMBDA_RUNTIME_API.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Time the function gets per invocation, from the moment it receives the event.
    pub fn set_deadline(&self, d: Duration) {
        self.shared.state.lock().unwrap().deadline = d;
    }

    /// Queues an invocation; returns its request id.
    pub fn push_event(&self, event: Value) -> String {
        let id = uuid();
        self.shared
            .events_tx
            .send((id.clone(), event))
            .expect("runtime API receiver lives as long as the API");
        id
    }

    pub async fn wait_outcome(&self, request_id: &str, timeout: Duration) -> Outcome {
        let mut posted = self.shared.outcome_posted.subscribe();
        let wait = async {
            loop {
                if let Some(outcome) = self.shared.state.lock().unwrap().outcomes.get(request_id) {
                    return outcome.clone();
                }
                if posted.changed().await.is_err() {
                    return Outcome::TimedOut;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Outcome::TimedOut)
    }

    /// `program` (the built binary) as a Lambda function of this API, with `env` (its
    /// configuration and AWS endpoint); its metrics (standard output) and logs (standard
    /// error) are piped.
    pub fn spawn_function(
        &self,
        program: &str,
        env: Vec<(String, String)>,
    ) -> tokio::process::Child {
        tokio::process::Command::new(program)
            .env_clear()
            .envs(env)
            .envs(self.env_for_process())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the function")
    }

    /// The event's answer, which must be a `NonRetryable.InvalidEvent` error whose message
    /// names `what` (the field or value that was wrong).
    pub async fn expect_invalid_event(&self, request_id: &str, what: &str) {
        match self.wait_outcome(request_id, Duration::from_secs(30)).await {
            Outcome::Error {
                error_type,
                message,
            } => {
                assert_eq!(error_type, "NonRetryable.InvalidEvent");
                assert!(message.contains(what), "{message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// When the function first asked for an event, i.e. finished initialising.
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.state.lock().unwrap().first_next_at
    }

    /// "errorType: errorMessage" of a reported initialisation failure.
    pub fn init_error(&self) -> Option<String> {
        self.shared.state.lock().unwrap().init_error.clone()
    }

    /// Everything lambda_runtime 1.x reads at start-up.
    pub fn env_for_process(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]00000000000000000000000000000000".to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .state
        .lock()
        .unwrap()
        .first_next_at
        .get_or_insert_with(Instant::now);
    let Some((id, event)) = shared.events_rx.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let deadline = {
        let mut state = shared.state.lock().unwrap();
        state.handed_out.insert(id.clone());
        state.deadline
    };
    let deadline_ms = (SystemTime::now() + deadline)
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let trace_id = format!(
        "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs(),
        fastrand::u128(..1 << 96),
        fastrand::u64(..)
    );
    (
        [
            ("Content-Type", "application/json".to_string()),
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"),
            ),
            ("Lambda-Runtime-Trace-Id", trace_id),
        ],
        event.to_string(),
    )
        .into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    record(&shared, id, Outcome::Response(value))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message) = diagnostic(&headers, &body);
    record(
        &shared,
        id,
        Outcome::Error {
            error_type,
            message,
        },
    )
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message) = diagnostic(&headers, &body);
    shared.state.lock().unwrap().init_error = Some(format!("{error_type}: {message}"));
    accepted()
}

fn record(shared: &Shared, id: String, outcome: Outcome) -> Response {
    {
        let mut state = shared.state.lock().unwrap();
        if !state.handed_out.contains(&id) || state.outcomes.contains_key(&id) {
            return (
                StatusCode::BAD_REQUEST,
                [("Content-Type", "application/json")],
                serde_json::json!({
                    "errorType": "InvalidRequestID",
                    "errorMessage": format!("no pending invocation {id}"),
                })
                .to_string(),
            )
                .into_response();
        }
        state.outcomes.insert(id, outcome);
    }
    shared.outcome_posted.send_modify(|n| *n += 1);
    accepted()
}

/// The error type comes from the JSON body, else from Lambda-Runtime-Function-Error-Type.
fn diagnostic(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| parsed.get(name).and_then(Value::as_str).map(str::to_string);
    let error_type = field("errorType")
        .or_else(|| {
            headers
                .get("Lambda-Runtime-Function-Error-Type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, message)
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("Content-Type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn uuid() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(0x8000..0xc000),
        fastrand::u64(..1 << 48)
    )
}
