//! moto's SQS, spoken over the JSON protocol SQS uses (`AmazonSQS.<Operation>`), for a harness
//! that plays an AWS service around the function: EventBridge putting events on the queue,
//! Lambda's pollers receiving batches and deleting what succeeded. The function itself never
//! talks to SQS. Requests carry a credential scope but no signature: moto checks signatures
//! only while it enforces IAM, which the harnesses using this do not ask for.

use serde_json::{json, Value};

const REGION: &str = "us-east-1";

pub struct Sqs {
    http: reqwest::Client,
    endpoint: String,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: Value,
}

impl Sqs {
    pub fn new(endpoint: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    async fn call(&self, operation: &str, input: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", format!("AmazonSQS.{operation}"))
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .body(input.to_string())
            .send()
            .await
            .map_err(|e| format!("sqs {operation}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("sqs {operation}: {e}"))?;
        if !status.is_success() {
            return Err(format!("sqs {operation}: {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates the queue (string attributes, as SQS takes them) and returns its URL.
    pub async fn create_queue(&self, name: &str, attributes: Value) -> Result<String, String> {
        let out = self
            .call(
                "CreateQueue",
                json!({"QueueName": name, "Attributes": attributes}),
            )
            .await?;
        out["QueueUrl"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("CreateQueue answered {out}"))
    }

    pub async fn attribute(&self, url: &str, name: &str) -> Result<String, String> {
        let out = self
            .call(
                "GetQueueAttributes",
                json!({"QueueUrl": url, "AttributeNames": [name]}),
            )
            .await?;
        out["Attributes"][name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{name} of {url}: {out}"))
    }

    /// Messages waiting and messages received but neither deleted nor visible again.
    pub async fn depth(&self, url: &str) -> Result<(u64, u64), String> {
        let count = |name: &'static str| async move {
            self.attribute(url, name)
                .await?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        Ok((
            count("ApproximateNumberOfMessages").await?,
            count("ApproximateNumberOfMessagesNotVisible").await?,
        ))
    }

    /// Sends `bodies` ten at a time, as EventBridge's target puts each event.
    pub async fn send_all(&self, url: &str, bodies: &[String]) -> Result<(), String> {
        for (chunk_index, chunk) in bodies.chunks(10).enumerate() {
            let entries: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| json!({"Id": format!("m{chunk_index}-{i}"), "MessageBody": body}))
                .collect();
            let out = self
                .call(
                    "SendMessageBatch",
                    json!({"QueueUrl": url, "Entries": entries}),
                )
                .await?;
            if out["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
                return Err(format!("SendMessageBatch failed: {out}"));
            }
        }
        Ok(())
    }

    pub async fn receive(&self, url: &str, max: usize) -> Result<Vec<Message>, String> {
        let out = self
            .call(
                "ReceiveMessage",
                json!({"QueueUrl": url, "MaxNumberOfMessages": max.clamp(1, 10), "MessageSystemAttributeNames": ["All"]}),
            )
            .await?;
        Ok(out["Messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| Message {
                        id: m["MessageId"].as_str().unwrap_or_default().to_owned(),
                        receipt_handle: m["ReceiptHandle"].as_str().unwrap_or_default().to_owned(),
                        body: m["Body"].as_str().unwrap_or_default().to_owned(),
                        attributes: m["Attributes"].clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn delete(&self, url: &str, messages: &[&Message]) -> Result<(), String> {
        for chunk in messages.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .map(|m| json!({"Id": m.id, "ReceiptHandle": m.receipt_handle}))
                .collect();
            let out = self
                .call(
                    "DeleteMessageBatch",
                    json!({"QueueUrl": url, "Entries": entries}),
                )
                .await?;
            if out["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
                return Err(format!("DeleteMessageBatch failed: {out}"));
            }
        }
        Ok(())
    }
}

impl Message {
    /// The record Lambda's event source mapping puts in the function's event.
    pub fn record(&self, queue_arn: &str) -> Value {
        json!({
            "messageId": self.id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": self.attributes,
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        })
    }
}
