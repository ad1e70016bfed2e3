//! SQS batches, as the event source mapping between the rules' queue and the function hands
//! them over: every message handled as its own event, against moto and the Terraform Cloud
//! fake, and only the failed ones named in the partial batch response.

#[path = "support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::env::*;
use tfc_onboarder::handler::Response;
use tfc_onboarder::queue::{BatchResponse, ItemFailure};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:tfc-onboarder-events";

/// A message as Lambda's event source mapping shapes it; EventBridge puts the event as the body.
fn record(id: &str, body: &Value) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("AQEB{id}"),
        "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    })
}

fn batch_response(response: Result<Response, tfc_onboarder::error::HandlerError>) -> BatchResponse {
    match response {
        Ok(Response::Batch(b)) => b,
        other => panic!("expected a batch response, got {other:?}"),
    }
}

fn failed(ids: &[&str]) -> BatchResponse {
    BatchResponse {
        batch_item_failures: ids
            .iter()
            .map(|id| ItemFailure {
                item_identifier: (*id).to_owned(),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_messages_that_failed_are_reported() {
    let env = TestEnv::new(&[]).await;
    let created = env.new_account("queued-created", &[]).await;
    let enrolled = env.new_account("queued-enrolled", &[]).await;
    let blocked = env.new_account("queued-blocked", &[]).await;
    // A project admin's set of the same name: that account cannot be onboarded.
    let project = env.tfc.seed_project(ORG, "payments");
    env.tfc
        .seed_project_varset(ORG, &project, &set_name(&blocked), &[]);

    let event = json!({"Records": [
        record("m-created", &sample_event("create-account-result.json", &created)),
        record("m-garbled", &json!("{not an event")),
        record("m-enrolled", &sample_event("control-tower-update-managed-account.json", &enrolled)),
        record("m-blocked", &manual(&blocked)),
        record("m-failed-creation", &sample_event("create-account-result-failed.json", &created)),
        record("m-sweep", &json!({"action": "reconcile"})),
    ]});
    let response = batch_response(env.handle(&event).await);
    assert_eq!(response, failed(&["m-garbled", "m-blocked", "m-sweep"]));
    // What Lambda reads back, byte for byte.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [
            {"itemIdentifier": "m-garbled"}, {"itemIdentifier": "m-blocked"}, {"itemIdentifier": "m-sweep"}
        ]})
    );

    for account in [&created, &enrolled] {
        let vars = set_vars(&env.tfc, &set_name(account));
        assert!(
            vars.contains(&("TFC_AWS_RUN_ROLE_ARN".into(), role_arn(account))),
            "{account}: {vars:?}"
        );
    }
    // The refused sweep listed nothing: the organization was never read as a whole.
    assert_eq!(env.proxy.count("ListAccounts"), 0);

    // The same batch again, as after the visibility timeout: the successes write nothing.
    env.clear_counts();
    let again = batch_response(env.handle(&event).await);
    assert_eq!(again, failed(&["m-garbled", "m-blocked", "m-sweep"]));
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_about_one_account_run_in_batch_order() {
    let env = TestEnv::new(&[]).await;
    let account = env.new_account("queued-twice", &[]).await;
    env.handle(&manual(&account)).await.expect("onboarded");
    env.clear_counts();

    // Offboarded, then onboarded again: run at once, the removal could land last.
    let event = json!({"Records": [
        record("m-1", &json!({"action": "offboard", "account_id": account})),
        record("m-2", &manual(&account)),
    ]});
    assert_eq!(batch_response(env.handle(&event).await), failed(&[]));
    let vars = set_vars(&env.tfc, &set_name(&account));
    assert!(
        vars.contains(&("TFC_AWS_RUN_ROLE_ARN".into(), role_arn(&account))),
        "{vars:?}"
    );
    let writes: Vec<String> = env
        .tfc
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.method)
        .collect();
    let first_create = writes.iter().position(|m| m == "POST").expect("re-created");
    assert!(
        writes[..first_create].iter().all(|m| m == "DELETE") && first_create > 0,
        "the offboarding's deletes must come before the onboarding's writes: {writes:?}"
    );
}
