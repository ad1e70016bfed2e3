//! Checks the Terraform Cloud fake itself over real HTTP, so the onboarder's tests can trust
//! that it is as strict as the real service.

#[path = "../support/dice.rs"]
mod dice;
#[path = "../support/tfc_fake/mod.rs"]
mod tfc_fake;

mod faults;
mod organization;
mod ownership;
mod protocol;
mod vars;
mod varsets;

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tfc_fake::{Chaos, FakeOptions, Fault, FaultKind, TfcFake};

const JSONAPI: &str = "application/vnd.api+json";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(fake: &TfcFake) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/api/v2", fake.url()),
            token: fake.token(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A well-behaved request, like the real client sends: bearer token and JSON:API media type.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", JSONAPI);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        send(request).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    async fn create_varset(&self, org: &str, attributes: Value, relationships: Value) -> Reply {
        let body = json!({"data": {"type": "varsets", "attributes": attributes, "relationships": relationships}});
        self.call("POST", &format!("/organizations/{org}/varsets"), Some(body))
            .await
    }

    async fn add_var(&self, varset_id: &str, attributes: Value) -> Reply {
        self.call(
            "POST",
            &format!("/varsets/{varset_id}/relationships/vars"),
            Some(json!({"data": {"type": "vars", "attributes": attributes}})),
        )
        .await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request reaches the fake");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON response body")
    };
    Reply {
        status,
        headers,
        body,
    }
}

async fn start() -> (TfcFake, Api) {
    start_with(FakeOptions::default()).await
}

async fn start_with(opts: FakeOptions) -> (TfcFake, Api) {
    let fake = TfcFake::start(opts).await;
    let api = Api::new(&fake);
    (fake, api)
}

fn names(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|item| {
            item["attributes"]["name"]
                .as_str()
                .expect("name")
                .to_owned()
        })
        .collect()
}

fn fault(method: Option<&'static str>, path: &str, times: usize, kind: FaultKind) -> Fault {
    Fault {
        method,
        path_contains: path.to_owned(),
        times,
        kind,
    }
}
