//! The "account ready" signal: one EventBridge event per onboarding or offboarding, so
//! pipelines can wait for an account and alerts can fire on failures.

use crate::error::AwsError;
use crate::report::{Outcome, Report};

pub const SOURCE: &str = "tfc-onboarder";

pub fn detail_type(report: &Report) -> &'static str {
    match report.outcome {
        Outcome::Failed => "Account Onboarding Failed",
        Outcome::Offboarded => "Account Offboarded",
        _ => "Account Onboarded",
    }
}

pub async fn publish(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    report: &Report,
) -> Result<(), AwsError> {
    let detail = serde_json::to_string(report).map_err(|e| AwsError {
        operation: "events:PutEvents",
        code: None,
        message: e.to_string(),
        retryable: false,
        source: Some(Box::new(e)),
    })?;
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(detail_type(report))
        .detail(detail)
        .event_bus_name(bus)
        .resources(format!("account/{}", report.account_id))
        .build();
    let out = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("events:PutEvents", e))?;
    if out.failed_entry_count() > 0 {
        let code = out
            .entries()
            .first()
            .and_then(|e| e.error_code())
            .map(str::to_owned);
        return Err(AwsError {
            operation: "events:PutEvents",
            code,
            message: "EventBridge rejected the entry".into(),
            retryable: true,
            source: None,
        });
    }
    Ok(())
}
