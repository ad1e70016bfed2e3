//! Incoming JSON -> [`Request`]. Every shape this tool accepts is recognised here and nowhere
//! else; anything unrecognised is a non-retryable [`InputError`] naming what was wrong.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::{truncate_for_message, AccountId};
use crate::error::InputError;
use crate::mapping::Overrides;

/// EventBridge delivers at most 256 KiB; anything larger is not an event from AWS.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// An SQS batch from the event source mapping is a synchronous invocation, whose payload Lambda
/// limits to 6 MB.
pub const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;

/// What asked for an onboarding. Every trigger tries the same access roles in the same order;
/// only a sweep never waits for an account that is not ready yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Organizations,
    ControlTower,
    Manual,
    Reconcile,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardRequest {
    pub account: AccountId,
    /// Known only from Control Tower events and manual events; Organizations redacts it.
    pub account_name: Option<String>,
    pub overrides: Overrides,
    pub dry_run: bool,
    pub trigger: Trigger,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Onboard(OnboardRequest),
    Offboard {
        account: AccountId,
        dry_run: bool,
        cause: String,
    },
    Reconcile {
        dry_run: bool,
        continuation: Option<String>,
        /// Answer with counts and the continuation only ([`crate::report::SweepStep`]), for a
        /// caller that loops over continuations within a small state (Step Functions).
        brief: bool,
    },
    /// The read-only preflight.
    Doctor(crate::doctor::DoctorRequest),
    /// A recognised event that needs no action (e.g. a FAILED account creation).
    Skip {
        reason: String,
    },
    /// Messages of the rules' SQS queue, as the event source mapping hands them over.
    Batch(Vec<QueuedEvent>),
}

/// One SQS message of a batch: its id (what a partial batch response names) and what its body
/// asks for, or why the body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub message_id: String,
    pub request: Result<Request, String>,
}

impl QueuedEvent {
    /// The account this message is about, so that messages about one account run in order.
    pub fn account(&self) -> Option<&AccountId> {
        match &self.request {
            Ok(Request::Onboard(o)) => Some(&o.account),
            Ok(Request::Offboard { account, .. }) => Some(account),
            _ => None,
        }
    }
}

pub fn parse_bytes(bytes: &[u8]) -> Result<Request, InputError> {
    let too_large = |max| InputError::TooLarge {
        size: bytes.len(),
        max,
    };
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(too_large(MAX_BATCH_BYTES));
    }
    // Only an SQS batch may be larger than one event; `parse` tells them apart.
    let event = serde_json::from_slice::<Value>(bytes).map_err(|e| {
        if bytes.len() > MAX_EVENT_BYTES {
            too_large(MAX_EVENT_BYTES)
        } else {
            InputError::Json(e)
        }
    })?;
    parse(&event)
}

pub fn parse(event: &Value) -> Result<Request, InputError> {
    if event.get("Records").is_some() {
        return parse_sqs_batch(event);
    }
    let size = event.to_string().len();
    if size > MAX_EVENT_BYTES {
        return Err(InputError::TooLarge {
            size,
            max: MAX_EVENT_BYTES,
        });
    }
    let Value::Object(map) = event else {
        return Err(InputError::Unrecognised(format!(
            "expected a JSON object, got {}",
            kind_of(event)
        )));
    };
    if map.contains_key("detail-type") || map.contains_key("source") && map.contains_key("detail") {
        return parse_eventbridge(event);
    }
    match map.get("action") {
        None => parse_manual_onboard(event),
        Some(Value::String(a)) if a == "onboard" => parse_manual_onboard(event),
        Some(Value::String(a)) if a == "reconcile" => parse_reconcile(event),
        Some(Value::String(a)) if a == "offboard" => parse_manual_offboard(event),
        Some(Value::String(a)) if a == "doctor" => parse_doctor(event),
        Some(other) => Err(InputError::BadField {
            field: "action",
            reason: format!(
                "`{}` must be one of onboard, reconcile, offboard, doctor",
                truncate_for_message(&other.to_string())
            ),
        }),
    }
}

/// The batch is refused as a whole only when a message cannot be named (no `messageId`): a
/// partial batch response could not point at it. A message whose body is wrong is refused on
/// its own, and reported as failed so that it ends in the queue's dead-letter queue.
fn parse_sqs_batch(event: &Value) -> Result<Request, InputError> {
    let size = event.to_string().len();
    if size > MAX_BATCH_BYTES {
        return Err(InputError::TooLarge {
            size,
            max: MAX_BATCH_BYTES,
        });
    }
    let records = match event.get("Records") {
        Some(Value::Array(records)) if !records.is_empty() => records,
        _ => {
            return Err(InputError::Unrecognised(
                "`Records` must be a non-empty list of SQS messages".into(),
            ))
        }
    };
    let mut batch = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let source = str_at(record, &["eventSource"]).unwrap_or_default();
        if source != "aws:sqs" {
            return Err(InputError::Unrecognised(format!(
                "Records[{i}]: eventSource `{}` (only SQS batches are accepted)",
                truncate_for_message(source)
            )));
        }
        let message_id = match str_at(record, &["messageId"]) {
            Some(id) if !id.trim().is_empty() => id.to_owned(),
            _ => {
                return Err(InputError::Unrecognised(format!(
                    "Records[{i}]: SQS message without `messageId`"
                )))
            }
        };
        let request = match str_at(record, &["body"]) {
            Some(body) => parse_bytes(body.as_bytes()).and_then(|request| match request {
                Request::Batch(_) => Err(InputError::Unrecognised(
                    "an SQS batch inside an SQS message".into(),
                )),
                other => Ok(other),
            }),
            None => Err(InputError::Unrecognised(
                "SQS message without a string `body`".into(),
            )),
        };
        batch.push(QueuedEvent {
            message_id,
            request: request.map_err(|e| e.to_string()),
        });
    }
    Ok(Request::Batch(batch))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn account_at(v: &Value, path: &[&str], what: &str) -> Result<AccountId, InputError> {
    match path.iter().try_fold(v, |v, key| v.get(key)) {
        Some(Value::String(id)) => AccountId::parse(id),
        Some(other) => Err(InputError::BadAccountId(truncate_for_message(
            &other.to_string(),
        ))),
        None => Err(InputError::Unrecognised(format!(
            "{what} without `{}`",
            path.join(".")
        ))),
    }
}

fn parse_eventbridge(event: &Value) -> Result<Request, InputError> {
    let source = str_at(event, &["source"]).unwrap_or_default();
    let name = str_at(event, &["detail", "eventName"]).unwrap_or_default();
    let details = ["detail", "serviceEventDetails"];
    match (source, name) {
        ("aws.organizations", "CreateAccountResult") => {
            let status = [details[0], details[1], "createAccountStatus"];
            match str_at(event, &[status[0], status[1], status[2], "state"]) {
                Some("SUCCEEDED") => Ok(Request::Onboard(OnboardRequest {
                    account: account_at(
                        event,
                        &[status[0], status[1], status[2], "accountId"],
                        "CreateAccountResult",
                    )?,
                    account_name: None,
                    overrides: Overrides::default(),
                    dry_run: false,
                    trigger: Trigger::Organizations,
                })),
                Some(state) => Ok(Request::Skip {
                    reason: format!(
                        "CreateAccountResult with state {state}{}",
                        str_at(event, &[status[0], status[1], status[2], "failureReason"])
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                }),
                None => Err(InputError::Unrecognised(
                    "CreateAccountResult without serviceEventDetails.createAccountStatus.state"
                        .into(),
                )),
            }
        }
        ("aws.organizations", "CloseAccountResult") => {
            let status = [details[0], details[1], "closeAccountStatus"];
            match str_at(event, &[status[0], status[1], status[2], "state"]) {
                Some("SUCCEEDED") => Ok(Request::Offboard {
                    account: account_at(
                        event,
                        &[status[0], status[1], status[2], "accountId"],
                        "CloseAccountResult",
                    )?,
                    dry_run: false,
                    cause: "CloseAccountResult".into(),
                }),
                Some(state) => Ok(Request::Skip {
                    reason: format!("CloseAccountResult with state {state}"),
                }),
                None => Err(InputError::Unrecognised(
                    "CloseAccountResult without serviceEventDetails.closeAccountStatus.state"
                        .into(),
                )),
            }
        }
        ("aws.organizations", "RemoveAccountFromOrganization") => {
            if let Some(code) = str_at(event, &["detail", "errorCode"]) {
                return Ok(Request::Skip {
                    reason: format!("RemoveAccountFromOrganization failed ({code})"),
                });
            }
            Ok(Request::Offboard {
                account: account_at(
                    event,
                    &["detail", "requestParameters", "accountId"],
                    "RemoveAccountFromOrganization",
                )?,
                dry_run: false,
                cause: "RemoveAccountFromOrganization".into(),
            })
        }
        ("aws.controltower", "CreateManagedAccount" | "UpdateManagedAccount") => {
            let key = if name == "CreateManagedAccount" {
                "createManagedAccountStatus"
            } else {
                "updateManagedAccountStatus"
            };
            match str_at(event, &[details[0], details[1], key, "state"]) {
                Some("SUCCEEDED") => Ok(Request::Onboard(OnboardRequest {
                    account: account_at(
                        event,
                        &[details[0], details[1], key, "account", "accountId"],
                        name,
                    )?,
                    account_name: str_at(
                        event,
                        &[details[0], details[1], key, "account", "accountName"],
                    )
                    .map(str::to_owned),
                    overrides: Overrides::default(),
                    dry_run: false,
                    trigger: Trigger::ControlTower,
                })),
                Some(state) => Ok(Request::Skip {
                    reason: format!("{name} with state {state}"),
                }),
                None => Err(InputError::Unrecognised(format!(
                    "{name} without serviceEventDetails.{key}.state"
                ))),
            }
        }
        _ => Err(InputError::Unrecognised(format!(
            "EventBridge event source `{}` eventName `{}`",
            truncate_for_message(source),
            truncate_for_message(name)
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualOnboard {
    #[serde(default)]
    action: Option<String>,
    account_id: String,
    account_name: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(flatten)]
    overrides: Overrides,
}

// Unknown fields and field types are refused by `check_fields` before these are read.
#[derive(Deserialize)]
struct ManualReconcile {
    #[serde(default)]
    dry_run: bool,
    continuation: Option<String>,
    #[serde(default)]
    brief: bool,
}

#[derive(Deserialize)]
struct ManualOffboard {
    account_id: String,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// A string, or null for "none" (what a state machine passes before it has a value).
    StrOrNull,
    Bool,
    StrList,
    Count,
}

/// serde's messages do not name the field, so each field's type is checked here first.
fn check_fields(
    event: &Value,
    what: &str,
    fields: &[(&'static str, Kind)],
) -> Result<(), InputError> {
    let Value::Object(map) = event else {
        return Ok(());
    };
    for (key, value) in map {
        let Some((field, kind)) = fields.iter().find(|(f, _)| f == key) else {
            let known: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
            return Err(InputError::Unrecognised(format!(
                "{what}: unknown field `{}` (known: {})",
                truncate_for_message(key),
                known.join(", ")
            )));
        };
        let ok = match kind {
            Kind::Str => value.is_string(),
            Kind::StrOrNull => value.is_string() || value.is_null(),
            Kind::Bool => value.is_boolean(),
            Kind::StrList => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Count => value.is_u64(),
        };
        if !ok {
            let expected = match kind {
                Kind::Str => "a string",
                Kind::StrOrNull => "a string or null",
                Kind::Bool => "true or false",
                Kind::StrList => "a list of strings",
                Kind::Count => "a whole number",
            };
            return Err(InputError::BadField {
                field,
                reason: format!("must be {expected}, got {}", kind_of(value)),
            });
        }
    }
    Ok(())
}

fn manual<T: serde::de::DeserializeOwned>(
    event: &Value,
    what: &str,
    fields: &[(&'static str, Kind)],
) -> Result<T, InputError> {
    check_fields(event, what, fields)?;
    T::deserialize(event).map_err(|e| {
        InputError::Unrecognised(format!("{what}: {}", truncate_for_message(&e.to_string())))
    })
}

const OVERRIDE_FIELDS: [(&str, Kind); 7] = [
    ("project", Kind::Str),
    ("workspace", Kind::Str),
    ("variable_set", Kind::Str),
    ("region", Kind::Str),
    ("attach_workspaces", Kind::StrList),
    ("attach_projects", Kind::StrList),
    ("alias", Kind::Str),
];

fn parse_manual_onboard(event: &Value) -> Result<Request, InputError> {
    if event.get("account_id").is_none() {
        return Err(InputError::Unrecognised(
            "object without `account_id`, `action` or EventBridge `source`/`detail-type`".into(),
        ));
    }
    if let Some(id) = event.get("account_id").filter(|v| !v.is_string()) {
        return Err(InputError::BadAccountId(truncate_for_message(
            &id.to_string(),
        )));
    }
    let mut fields = vec![
        ("action", Kind::Str),
        ("account_id", Kind::Str),
        ("account_name", Kind::Str),
        ("dry_run", Kind::Bool),
    ];
    fields.extend(OVERRIDE_FIELDS);
    let m: ManualOnboard = manual(event, "manual onboarding event", &fields)?;
    debug_assert!(m.action.as_deref().is_none_or(|a| a == "onboard"));
    let account = AccountId::parse(&m.account_id)?;
    let account_name = match m.account_name {
        // AWS account names are at most 50 characters.
        Some(n) if n.trim().is_empty() || n.len() > 50 || n.chars().any(char::is_control) => {
            return Err(InputError::BadField {
                field: "account_name",
                reason: "must be 1 to 50 printable characters".into(),
            })
        }
        other => other,
    };
    Ok(Request::Onboard(OnboardRequest {
        account,
        account_name,
        overrides: m.overrides,
        dry_run: m.dry_run,
        trigger: Trigger::Manual,
    }))
}

fn parse_reconcile(event: &Value) -> Result<Request, InputError> {
    let m: ManualReconcile = manual(
        event,
        "reconcile event",
        &[
            ("action", Kind::Str),
            ("dry_run", Kind::Bool),
            ("continuation", Kind::StrOrNull),
            ("brief", Kind::Bool),
        ],
    )?;
    Ok(Request::Reconcile {
        dry_run: m.dry_run,
        continuation: m.continuation,
        brief: m.brief,
    })
}

fn parse_manual_offboard(event: &Value) -> Result<Request, InputError> {
    let m: ManualOffboard = manual(
        event,
        "offboard event",
        &[
            ("action", Kind::Str),
            ("account_id", Kind::Str),
            ("dry_run", Kind::Bool),
        ],
    )?;
    Ok(Request::Offboard {
        account: AccountId::parse(&m.account_id)?,
        dry_run: m.dry_run,
        cause: "manual".into(),
    })
}

#[derive(Deserialize)]
struct ManualDoctor {
    sample: Option<u64>,
}

fn parse_doctor(event: &Value) -> Result<Request, InputError> {
    use crate::doctor::{DoctorRequest, DEFAULT_SAMPLE, MAX_SAMPLE};
    let m: ManualDoctor = manual(
        event,
        "doctor event",
        &[("action", Kind::Str), ("sample", Kind::Count)],
    )?;
    let sample = match m.sample {
        None => DEFAULT_SAMPLE,
        Some(n) if (1..=MAX_SAMPLE as u64).contains(&n) => n as usize,
        Some(n) => {
            return Err(InputError::BadField {
                field: "sample",
                reason: format!("{n} is out of range: sample 1 to {MAX_SAMPLE} member accounts"),
            })
        }
    };
    // The function's ARN comes from the Lambda context, never from the event.
    Ok(Request::Doctor(DoctorRequest {
        sample,
        function_arn: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn onboard(req: Request) -> OnboardRequest {
        match req {
            Request::Onboard(o) => o,
            other => panic!("expected onboarding, got {other:?}"),
        }
    }

    #[test]
    fn create_account_result_onboards_the_new_account() {
        let o = onboard(parse(&sample("create-account-result.json")).unwrap());
        assert_eq!(o.account.as_str(), "444455556666");
        assert_eq!(o.trigger, Trigger::Organizations);
        assert_eq!(
            o.account_name, None,
            "the redacted **** name must not be used"
        );
    }

    #[test]
    fn failed_creations_are_skipped_with_the_reason() {
        let Request::Skip { reason } = parse(&sample("create-account-result-failed.json")).unwrap()
        else {
            panic!()
        };
        assert!(
            reason.contains("FAILED") && reason.contains("EMAIL_ALREADY_EXISTS"),
            "{reason}"
        );
        let Request::Skip { reason } =
            parse(&sample("control-tower-create-managed-account-failed.json")).unwrap()
        else {
            panic!()
        };
        assert!(reason.contains("FAILED"));
    }

    #[test]
    fn control_tower_events_carry_the_name() {
        for f in [
            "control-tower-create-managed-account.json",
            "control-tower-update-managed-account.json",
        ] {
            let o = onboard(parse(&sample(f)).unwrap());
            assert_eq!(o.account.as_str(), "444455556666");
            assert_eq!(o.account_name.as_deref(), Some("team-payments-prod"));
            assert_eq!(o.trigger, Trigger::ControlTower);
        }
    }

    #[test]
    fn manual_events() {
        let o = onboard(parse(&sample("manual.json")).unwrap());
        assert_eq!(
            (o.account.as_str(), o.account_name.as_deref(), o.dry_run),
            ("444455556666", Some("team-payments-prod"), false)
        );
        let o = onboard(parse(&sample("manual-dry-run.json")).unwrap());
        assert!(o.dry_run);
        assert_eq!(o.overrides.project.as_deref(), Some("payments"));
        assert_eq!(
            o.overrides.variable_set.as_deref(),
            Some("aws-payments-prod")
        );
        assert_eq!(
            parse(&sample("reconcile.json")).unwrap(),
            Request::Reconcile {
                dry_run: false,
                continuation: None,
                brief: false,
            }
        );
        assert!(matches!(
            parse(&sample("offboard.json")).unwrap(),
            Request::Offboard { .. }
        ));
    }

    #[test]
    fn doctor_events_take_a_bounded_sample_and_never_a_function_arn() {
        use crate::doctor::{DoctorRequest, DEFAULT_SAMPLE};
        let doctor = |sample, function_arn: Option<String>| {
            Request::Doctor(DoctorRequest {
                sample,
                function_arn,
            })
        };
        assert_eq!(
            parse(&sample("doctor.json")).unwrap(),
            doctor(DEFAULT_SAMPLE, None)
        );
        assert_eq!(
            parse(&serde_json::json!({"action": "doctor", "sample": 50})).unwrap(),
            doctor(50, None)
        );
        for (event, says) in [
            (r#"{"action":"doctor","sample":0}"#, "sample"),
            (r#"{"action":"doctor","sample":51}"#, "1 to 50"),
            (r#"{"action":"doctor","sample":"5"}"#, "a whole number"),
            (r#"{"action":"doctor","sample":-1}"#, "a whole number"),
            (
                r#"{"action":"doctor","function_arn":"arn:aws:lambda:us-east-1:123456789012:function:x"}"#,
                "unknown field `function_arn`",
            ),
        ] {
            let err = parse_bytes(event.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(says), "{event}: {err}");
        }
    }

    #[test]
    fn offboarding_events() {
        for (f, cause) in [
            ("close-account-result.json", "CloseAccountResult"),
            (
                "remove-account-from-organization.json",
                "RemoveAccountFromOrganization",
            ),
        ] {
            match parse(&sample(f)).unwrap() {
                Request::Offboard {
                    account, cause: c, ..
                } => {
                    assert_eq!(account.as_str(), "444455556666");
                    assert_eq!(c, cause);
                }
                other => panic!("{f}: {other:?}"),
            }
        }
    }

    fn sqs_record(id: &str, body: &str) -> Value {
        serde_json::json!({
            "messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tfc-onboarder-events",
            "awsRegion": "us-east-1",
        })
    }

    #[test]
    fn an_sqs_batch_carries_each_message_as_its_own_event() {
        let create = sample("create-account-result.json").to_string();
        let update = sample("control-tower-update-managed-account.json").to_string();
        let event = serde_json::json!({"Records": [
            sqs_record("m-1", &create),
            sqs_record("m-2", "{not json"),
            sqs_record("m-3", &update),
            sqs_record("m-4", &serde_json::json!({"Records": [sqs_record("m-5", &create)]}).to_string()),
        ]});
        let Request::Batch(batch) = parse(&event).unwrap() else {
            panic!("not a batch")
        };
        let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["m-1", "m-2", "m-3", "m-4"]);
        assert_eq!(
            onboard(batch[0].request.clone().unwrap()).trigger,
            Trigger::Organizations
        );
        assert!(batch[1]
            .request
            .as_ref()
            .unwrap_err()
            .contains("not valid JSON"));
        assert_eq!(
            onboard(batch[2].request.clone().unwrap()).trigger,
            Trigger::ControlTower
        );
        assert!(batch[3]
            .request
            .as_ref()
            .unwrap_err()
            .contains("inside an SQS message"));
        assert_eq!(
            batch[0].account().map(AccountId::as_str),
            Some("444455556666")
        );
        assert_eq!(batch[1].account(), None);
    }

    #[test]
    fn a_batch_that_cannot_be_answered_per_message_is_refused_whole() {
        let body = sample("manual.json").to_string();
        let mut no_id = sqs_record("m-1", &body);
        no_id.as_object_mut().unwrap().remove("messageId");
        let mut from_kinesis = sqs_record("m-1", &body);
        from_kinesis["eventSource"] = "aws:kinesis".into();
        for (event, expected) in [
            (
                serde_json::json!({"Records": [no_id]}),
                "without `messageId`",
            ),
            (
                serde_json::json!({"Records": [from_kinesis]}),
                "aws:kinesis",
            ),
            (serde_json::json!({"Records": []}), "non-empty list"),
            (serde_json::json!({"Records": "x"}), "non-empty list"),
        ] {
            let err = parse(&event).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        // A batch may exceed one event's limit, up to Lambda's payload limit.
        let big = "x".repeat(200 * 1024);
        let records: Vec<Value> = (0..3)
            .map(|i| {
                sqs_record(
                    &format!("m-{i}"),
                    &serde_json::json!({"account_id": "444455556666", "account_name": big})
                        .to_string(),
                )
            })
            .collect();
        let bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
        assert!(bytes.len() > MAX_EVENT_BYTES);
        let Request::Batch(batch) = parse_bytes(&bytes).unwrap() else {
            panic!("not a batch")
        };
        assert!(batch[0]
            .request
            .as_ref()
            .unwrap_err()
            .contains("account_name"));
    }

    #[test]
    fn a_reconcile_step_takes_a_null_continuation_and_asks_for_the_brief_answer() {
        let step =
            parse(&serde_json::json!({"action": "reconcile", "continuation": null, "brief": true}));
        assert_eq!(
            step.unwrap(),
            Request::Reconcile {
                dry_run: false,
                continuation: None,
                brief: true,
            }
        );
        let err = parse(&serde_json::json!({"action": "reconcile", "brief": "yes"})).unwrap_err();
        assert!(err.to_string().contains("brief"), "{err}");
        let err =
            parse(&serde_json::json!({"action": "reconcile", "continuation": 7})).unwrap_err();
        assert!(err.to_string().contains("a string or null"), "{err}");
    }

    #[test]
    fn bad_input_gets_a_named_error() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "not valid JSON"),
            (b"[]".to_vec(), "expected a JSON object"),
            (b"\"x\"".to_vec(), "expected a JSON object"),
            (br#"{"account_id":"12345678901"}"#.to_vec(), "not a 12-digit"),
            (br#"{"account_id":"1234567890123"}"#.to_vec(), "not a 12-digit"),
            (br#"{"account_id":"12345678901a"}"#.to_vec(), "not a 12-digit"),
            (br#"{"account_id":123456789012}"#.to_vec(), "not a 12-digit"),
            (br#"{"account_id":"123456789012","dry_run":"yes"}"#.to_vec(), "dry_run"),
            (br#"{"account_id":"123456789012","projcet":"x"}"#.to_vec(), "projcet"),
            (br#"{"account_id":"123456789012","account_name":""}"#.to_vec(), "account_name"),
            (br#"{"hello":"world"}"#.to_vec(), "without `account_id`"),
            (br#"{"action":"destroy"}"#.to_vec(), "must be one of"),
            (br#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#.to_vec(), "aws.ec2"),
            (br#"{"source":"aws.organizations","detail-type":"AWS Service Event via CloudTrail","detail":{"eventName":"CreateAccountResult"}}"#.to_vec(), "without serviceEventDetails"),
            (br#"{"source":"aws.organizations","detail-type":"x","detail":{"eventName":"CreateAccountResult","serviceEventDetails":{"createAccountStatus":{"state":"SUCCEEDED"}}}}"#.to_vec(), "without `detail.serviceEventDetails.createAccountStatus.accountId`"),
            (vec![b' '; MAX_EVENT_BYTES + 1], "bytes"),
        ];
        for (bytes, expected) in cases {
            let err = parse_bytes(&bytes).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{}: got `{err}`",
                String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
            );
            assert!(err.len() < 1000, "error message too long: {}", err.len());
        }
    }
}
