//! Checks the Terraform Cloud fake itself over real HTTP, so the onboarder's tests can trust
//! that it is as strict as the real service.

#[path = "support/tfc_fake/mod.rs"]
mod tfc_fake;

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tfc_fake::{FakeOptions, Fault, FaultKind, TfcFake};

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

#[tokio::test]
async fn rejects_missing_or_wrong_token() {
    let (fake, api) = start().await;
    let url = api.url("/organizations/acme/varsets");

    let missing = send(api.http.get(&url)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({"errors": [{"status": "401", "title": "unauthorized"}]})
    );
    assert_eq!(missing.header("content-type"), Some(JSONAPI));
    assert_eq!(missing.header("x-ratelimit-limit"), Some("30"));

    let wrong = send(api.http.get(&url).bearer_auth("not-the-token")).await;
    assert_eq!(wrong.status, 401);
    let unauthenticated_write = send(
        api.http
            .post(&url)
            .header("content-type", JSONAPI)
            .body(json!({"data": {"type": "varsets", "attributes": {"name": "x"}}}).to_string()),
    )
    .await;
    assert_eq!(unauthenticated_write.status, 401);

    assert_eq!(api.get("/organizations/acme/varsets").await.status, 200);
    let presence: Vec<bool> = fake
        .requests()
        .iter()
        .map(|r| r.authorization_present)
        .collect();
    assert_eq!(presence, [false, true, false, true]);
    assert_eq!(fake.write_count(), 0);
    assert!(fake.varsets("acme").is_empty());
}

#[tokio::test]
async fn a_rotated_token_replaces_the_old_one() {
    let (fake, api) = start().await;
    let url = api.url("/organizations/acme/varsets");
    let old = fake.token();
    fake.set_token("rotated-token");
    assert_eq!(fake.token(), "rotated-token");
    assert_eq!(send(api.http.get(&url).bearer_auth(&old)).await.status, 401);
    assert_eq!(
        send(api.http.get(&url).bearer_auth("rotated-token"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn mutations_need_the_jsonapi_content_type() {
    let (fake, api) = start().await;
    let id = fake.seed_varset("acme", "existing", &[]);
    let body = json!({"data": {"type": "varsets", "attributes": {"name": "new"}}}).to_string();
    let create_url = api.url("/organizations/acme/varsets");

    let no_type = send(
        api.http
            .post(&create_url)
            .bearer_auth(&api.token)
            .body(body.clone()),
    )
    .await;
    assert_eq!(no_type.status, 415);
    assert_eq!(no_type.body["errors"][0]["status"], "415");
    let plain_json = send(
        api.http
            .post(&create_url)
            .bearer_auth(&api.token)
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(plain_json.status, 415);

    let varset_url = api.url(&format!("/varsets/{id}"));
    let bodiless_delete = send(api.http.delete(&varset_url).bearer_auth(&api.token)).await;
    assert_eq!(bodiless_delete.status, 415);
    assert!(fake.varset(&id).is_some());

    let read_without_type = send(api.http.get(&varset_url).bearer_auth(&api.token)).await;
    assert_eq!(read_without_type.status, 200);

    let delete = api.call("DELETE", &format!("/varsets/{id}"), None).await;
    assert_eq!(delete.status, 204);
    assert_eq!(delete.body, Value::Null);
    assert!(fake.varset(&id).is_none());
    assert!(fake.varsets("acme").is_empty());
    assert_eq!(fake.write_count(), 1, "415s never reach a handler");
}

#[tokio::test]
async fn creates_a_set_with_inline_vars_and_reads_it_back() {
    let (fake, api) = start().await;
    let ws = fake.seed_workspace("acme", "network", None);
    let created = api
        .create_varset(
            "acme",
            json!({"name": "aws-123456789012", "description": "AWS account 123456789012", "global": false, "priority": false}),
            json!({
                "vars": {"data": [
                    {"type": "vars", "attributes": {"key": "TFC_AWS_PROVIDER_AUTH", "value": "true", "category": "env"}},
                    {"type": "vars", "attributes": {"key": "secret", "value": "s3cr3t", "category": "terraform", "sensitive": true, "hcl": false, "description": "d"}},
                ]},
                "workspaces": {"data": [{"type": "workspaces", "id": ws}]},
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("content-type"), Some(JSONAPI));
    let data = &created.body["data"];
    let id = data["id"].as_str().expect("id").to_owned();
    assert!(
        id.starts_with("varset-") && id.len() == "varset-".len() + 16,
        "{id}"
    );
    assert!(id["varset-".len()..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(data["type"], "varsets");
    assert_eq!(data["attributes"]["name"], "aws-123456789012");
    assert_eq!(data["attributes"]["var-count"], 2);
    assert_eq!(
        data["relationships"]["parent"]["data"],
        json!({"id": "acme", "type": "organizations"})
    );
    let inline = &data["relationships"]["vars"]["data"];
    assert!(inline[0]["id"]
        .as_str()
        .expect("var id")
        .starts_with("var-"));
    assert_eq!(inline[0]["attributes"]["key"], "TFC_AWS_PROVIDER_AUTH");
    assert_eq!(inline[0]["attributes"]["value"], "true");
    assert_eq!(
        inline[1]["attributes"]["value"],
        Value::Null,
        "sensitive values are never returned"
    );

    let state = fake
        .varset_by_name("acme", "aws-123456789012")
        .expect("stored");
    assert_eq!(state.id, id);
    assert_eq!(state.description, "AWS account 123456789012");
    assert_eq!(state.organization, "acme");
    assert!(!state.global && !state.priority);
    assert_eq!(state.workspace_ids, [ws.as_str()]);
    assert!(state.project_ids.is_empty());
    assert_eq!(state.vars.len(), 2);
    assert_eq!(state.vars[1].value, "s3cr3t");
    assert!(state.vars[1].sensitive);
    assert_eq!(state.vars[1].category, "terraform");
    assert_eq!(state.vars[1].description, "d");
    assert_eq!(fake.varset(&id).expect("by id").name, state.name);
    assert!(fake.varset_by_name("acme", "AWS-123456789012").is_none());

    let shown = api.get(&format!("/varsets/{id}")).await;
    assert_eq!(shown.status, 200);
    let attrs = &shown.body["data"]["attributes"];
    assert_eq!(attrs["workspace-count"], 1);
    let updated_at = attrs["updated-at"].as_str().expect("updated-at");
    let this_year = httpdate::fmt_http_date(SystemTime::now())[12..16].to_owned();
    assert!(
        updated_at.starts_with(&this_year) && updated_at.ends_with('Z') && updated_at.len() == 24,
        "{updated_at}"
    );
    let ids_only = &shown.body["data"]["relationships"]["vars"]["data"][0];
    assert_eq!(ids_only, &json!({"id": state.vars[0].id, "type": "vars"}));
    assert!(shown.body.get("included").is_none());

    let with_vars = api.get(&format!("/varsets/{id}?include=vars")).await;
    let included = with_vars.body["included"].as_array().expect("included");
    assert_eq!(included.len(), 2);
    assert_eq!(included[0]["attributes"]["key"], "TFC_AWS_PROVIDER_AUTH");
    assert_eq!(included[0]["attributes"]["category"], "env");
    assert_eq!(
        included[0]["relationships"]["varset"]["data"]["id"],
        id.as_str()
    );
    assert_eq!(
        api.get(&format!("/varsets/{id}?include=bogus"))
            .await
            .status,
        400
    );
    assert_eq!(
        api.get("/varsets/varset-doesnotexist0000").await.status,
        404
    );
}

#[tokio::test]
async fn duplicate_names_get_the_documented_422() {
    let (fake, api) = start().await;
    fake.seed_varset(
        "acme",
        "aws-111111111111",
        &[("AWS_DEFAULT_REGION", "eu-west-1", "env")],
    );

    let duplicate = api
        .create_varset("acme", json!({"name": "aws-111111111111"}), json!({}))
        .await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body,
        json!({"errors": [{
            "status": "422",
            "title": "invalid attribute",
            "detail": "Name has already been taken",
            "source": {"pointer": "/data/attributes/name"},
        }]})
    );

    let other_case = api
        .create_varset("acme", json!({"name": "AWS-111111111111"}), json!({}))
        .await;
    assert_eq!(
        other_case.status, 201,
        "names are compared case-sensitively"
    );
    let other_id = other_case.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rename = api
        .call(
            "PATCH",
            &format!("/varsets/{other_id}"),
            Some(json!({"data": {"type": "varsets", "attributes": {"name": "aws-111111111111"}}})),
        )
        .await;
    assert_eq!(rename.status, 422);
    assert_eq!(
        rename.body["errors"][0]["detail"],
        "Name has already been taken"
    );

    fake.add_organization("other");
    let other_org = api
        .create_varset("other", json!({"name": "aws-111111111111"}), json!({}))
        .await;
    assert_eq!(other_org.status, 201, "uniqueness is per organization");
    assert_eq!(fake.varsets("acme").len(), 2);
}

#[tokio::test]
async fn rejects_malformed_documents_and_unknown_resources() {
    let (fake, api) = start().await;
    let path = "/organizations/acme/varsets";
    let post_raw = |body: &'static str| {
        send(
            api.http
                .post(api.url(path))
                .bearer_auth(&api.token)
                .header("content-type", JSONAPI)
                .body(body),
        )
    };

    let malformed = post_raw("{\"data\": {").await;
    assert_eq!(malformed.status, 422);
    assert!(malformed.body["errors"][0]["detail"].as_str().is_some());
    let missing_type = post_raw(r#"{"data":{"attributes":{"name":"a"}}}"#).await;
    assert_eq!(missing_type.status, 422);
    assert_eq!(
        missing_type.body["errors"][0]["source"]["pointer"],
        "/data/type"
    );
    let wrong_type = post_raw(r#"{"data":{"type":"workspaces","attributes":{"name":"a"}}}"#).await;
    assert_eq!(wrong_type.status, 422);
    let missing_name =
        post_raw(r#"{"data":{"type":"varsets","attributes":{"description":"a"}}}"#).await;
    assert_eq!(missing_name.status, 422);
    assert_eq!(
        missing_name.body["errors"][0]["source"]["pointer"],
        "/data/attributes/name"
    );
    let bad_global =
        post_raw(r#"{"data":{"type":"varsets","attributes":{"name":"a","global":"yes"}}}"#).await;
    assert_eq!(bad_global.status, 422);
    let bad_inline_var = post_raw(
        r#"{"data":{"type":"varsets","attributes":{"name":"a"},"relationships":{"vars":{"data":[{"type":"vars","attributes":{"key":"K","category":"secret"}}]}}}}"#,
    )
    .await;
    assert_eq!(bad_inline_var.status, 422);
    assert_eq!(
        bad_inline_var.body["errors"][0]["source"]["pointer"],
        "/data/relationships/vars/data/0/attributes/category"
    );
    assert!(
        fake.varsets("acme").is_empty(),
        "nothing is stored on validation errors"
    );

    let not_found = json!({"errors": [{"status": "404", "title": "not found"}]});
    let unknown_org = api.get("/organizations/nope/varsets").await;
    assert_eq!((unknown_org.status, &unknown_org.body), (404, &not_found));
    assert_eq!(
        api.get("/organizations/acme/workspaces/nope").await.status,
        404
    );
    assert_eq!(api.get("/organizations/nope/projects").await.status, 404);
    assert_eq!(api.get("/varsets").await.status, 404);
    assert_eq!(api.get("/organizations/acme/varsets/").await.status, 404);
    assert_eq!(
        api.call("PUT", "/organizations/acme/varsets", None)
            .await
            .status,
        404
    );
    let outside = send(
        api.http
            .get(format!("{}/v1/ping", fake.url()))
            .bearer_auth(&api.token),
    )
    .await;
    assert_eq!(outside.status, 404);

    let ping = api.get("/ping").await;
    assert_eq!(ping.status, 204);
    assert_eq!(ping.header("x-ratelimit-limit"), Some("30"));
}

#[tokio::test]
async fn paginates_with_the_page_size_clamped() {
    let (fake, api) = start_with(FakeOptions {
        max_page_size: 2,
        ..FakeOptions::default()
    })
    .await;
    let all: Vec<String> = (1..=5).map(|i| format!("set-{i}")).collect();
    for name in &all {
        fake.seed_varset("acme", name, &[]);
    }

    let first = api
        .get("/organizations/acme/varsets?page%5Bnumber%5D=1&page%5Bsize%5D=50")
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(names(&first), ["set-1", "set-2"]);
    assert_eq!(
        first.body["meta"]["pagination"],
        json!({"current-page": 1, "page-size": 2, "prev-page": null, "next-page": 2, "total-pages": 3, "total-count": 5})
    );
    let base = format!("{}/api/v2/organizations/acme/varsets", fake.url());
    assert_eq!(first.body["links"]["prev"], Value::Null);
    assert_eq!(
        first.body["links"]["next"],
        format!("{base}?page%5Bnumber%5D=2&page%5Bsize%5D=2")
    );
    assert_eq!(
        first.body["links"]["last"],
        format!("{base}?page%5Bnumber%5D=3&page%5Bsize%5D=2")
    );

    let mut collected = Vec::new();
    let mut next = Some(api.url("/organizations/acme/varsets"));
    let mut last = None;
    while let Some(url) = next {
        let page = api.get(&url).await;
        assert_eq!(page.status, 200);
        collected.extend(names(&page));
        next = page.body["links"]["next"].as_str().map(str::to_owned);
        last = Some(page);
    }
    assert_eq!(collected, all, "stable creation order across pages");
    let last = last.expect("at least one page");
    assert_eq!(last.body["meta"]["pagination"]["current-page"], 3);
    assert_eq!(last.body["meta"]["pagination"]["next-page"], Value::Null);
    assert_eq!(last.body["meta"]["pagination"]["prev-page"], 2);

    let raw_brackets = api
        .get("/organizations/acme/varsets?page[number]=2&page[size]=2")
        .await;
    assert_eq!(names(&raw_brackets), ["set-3", "set-4"]);
    let out_of_range = api
        .get("/organizations/acme/varsets?page%5Bnumber%5D=9")
        .await;
    assert_eq!(out_of_range.status, 200);
    assert_eq!(out_of_range.body["data"], json!([]));
    assert_eq!(out_of_range.body["meta"]["pagination"]["current-page"], 9);
    assert_eq!(out_of_range.body["meta"]["pagination"]["total-count"], 5);
    assert_eq!(
        api.get("/organizations/acme/varsets?page%5Bnumber%5D=0")
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn q_is_a_case_insensitive_partial_match() {
    let (fake, api) = start().await;
    for name in ["aws-111-prod", "aws-222-dev", "gcp-Prod", "aws-333-prod"] {
        fake.seed_varset("acme", name, &[]);
    }
    let prod = api.get("/organizations/acme/varsets?q=PROD").await;
    assert_eq!(names(&prod), ["aws-111-prod", "gcp-Prod", "aws-333-prod"]);
    assert_eq!(prod.body["meta"]["pagination"]["total-count"], 3);

    let paged = api
        .get("/organizations/acme/varsets?q=aws%20&page%5Bsize%5D=1")
        .await;
    assert_eq!(
        names(&paged),
        Vec::<String>::new(),
        "the space is part of the search"
    );
    let paged = api
        .get("/organizations/acme/varsets?q=aws-&page%5Bsize%5D=1")
        .await;
    assert_eq!(names(&paged), ["aws-111-prod"]);
    let next = paged.body["links"]["next"].as_str().expect("next link");
    assert!(
        next.ends_with("page%5Bnumber%5D=2&page%5Bsize%5D=1&q=aws-"),
        "{next}"
    );
    assert_eq!(names(&api.get(next).await), ["aws-222-dev"]);
}

#[tokio::test]
async fn vars_crud_and_validation() {
    let (fake, api) = start().await;
    let id = fake.seed_varset("acme", "set", &[("AWS_DEFAULT_REGION", "eu-west-1", "env")]);
    let vars_path = format!("/varsets/{id}/relationships/vars");

    let added = api
        .add_var(&id, json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "arn:aws:iam::1:role/a", "category": "env", "hcl": false, "sensitive": false}))
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let var = &added.body["data"];
    let var_id = var["id"].as_str().expect("var id").to_owned();
    assert!(var_id.starts_with("var-") && var_id.len() == 20);
    assert_eq!(var["type"], "vars");
    assert_eq!(var["attributes"]["value"], "arn:aws:iam::1:role/a");
    assert_eq!(var["attributes"]["description"], "");
    assert_eq!(var["relationships"]["varset"]["data"]["id"], id.as_str());
    let first_version = var["attributes"]["version-id"]
        .as_str()
        .expect("version")
        .to_owned();

    let duplicate = api
        .add_var(
            &id,
            json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "other", "category": "env"}),
        )
        .await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body["errors"][0]["detail"],
        "Key has already been taken"
    );
    let other_category = api
        .add_var(
            &id,
            json!({"key": "TFC_AWS_RUN_ROLE_ARN", "value": "x", "category": "terraform"}),
        )
        .await;
    assert_eq!(other_category.status, 201, "keys are unique per category");
    for bad in [
        json!({"key": "K", "value": "v", "category": "bogus"}),
        json!({"key": "K", "value": "v"}),
        json!({"key": "", "value": "v", "category": "env"}),
        json!({"value": "v", "category": "env"}),
        json!({"key": "k".repeat(129), "value": "v", "category": "env"}),
        json!({"key": "K", "value": 5, "category": "env"}),
    ] {
        let reply = api.add_var(&id, bad.clone()).await;
        assert_eq!(reply.status, 422, "{bad}");
    }
    assert_eq!(
        api.add_var(&id, json!({"key": "k".repeat(128), "category": "env"}))
            .await
            .status,
        201
    );
    let wrong_type = api
        .call(
            "POST",
            &vars_path,
            Some(json!({"data": {"type": "var", "attributes": {"key": "K", "category": "env"}}})),
        )
        .await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(fake.varset(&id).expect("set").vars.len(), 4);

    let listed = api.get(&vars_path).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["meta"]["pagination"]["total-count"], 4);
    assert_eq!(
        listed.body["data"][0]["attributes"]["key"],
        "AWS_DEFAULT_REGION"
    );
    assert!(listed.body["data"][0]["attributes"]["created-at"].is_string());

    let var_path = format!("{vars_path}/{var_id}");
    let patched = api
        .call(
            "PATCH",
            &var_path,
            Some(
                json!({"data": {"type": "vars", "attributes": {"value": "arn:aws:iam::1:role/b"}}}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.body["data"]["attributes"]["value"],
        "arn:aws:iam::1:role/b"
    );
    assert_eq!(
        patched.body["data"]["attributes"]["key"],
        "TFC_AWS_RUN_ROLE_ARN"
    );
    assert_ne!(
        patched.body["data"]["attributes"]["version-id"],
        first_version.as_str()
    );
    let rename_onto_existing = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"key": "AWS_DEFAULT_REGION"}}})),
        )
        .await;
    assert_eq!(rename_onto_existing.status, 422);
    assert_eq!(
        api.get(&var_path).await.body["data"]["attributes"]["value"],
        "arn:aws:iam::1:role/b"
    );

    let made_sensitive = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"sensitive": true}}})),
        )
        .await;
    assert_eq!(made_sensitive.status, 200);
    assert_eq!(
        made_sensitive.body["data"]["attributes"]["value"],
        Value::Null
    );
    let sensitive_description = api
        .call(
            "PATCH",
            &var_path,
            Some(json!({"data": {"type": "vars", "attributes": {"description": "new"}}})),
        )
        .await;
    assert_eq!(
        sensitive_description.status, 422,
        "only the value of a sensitive var may change"
    );
    let sensitive_value = api
        .call(
            "PATCH",
            &var_path,
            Some(
                json!({"data": {"type": "vars", "attributes": {"value": "arn:aws:iam::1:role/c"}}}),
            ),
        )
        .await;
    assert_eq!(sensitive_value.status, 200);
    let stored = fake.varset(&id).expect("set");
    let stored_var = stored.vars.iter().find(|v| v.id == var_id).expect("var");
    assert_eq!(stored_var.value, "arn:aws:iam::1:role/c");
    assert!(stored_var.sensitive);

    let missing_var = format!("{vars_path}/var-doesnotexist0000");
    let missing = api
        .call(
            "PATCH",
            &missing_var,
            Some(json!({"data": {"type": "vars", "attributes": {"value": "x"}}})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(api.call("DELETE", &var_path, None).await.status, 204);
    assert_eq!(api.call("DELETE", &var_path, None).await.status, 404);
    assert!(fake
        .varset(&id)
        .expect("set")
        .vars
        .iter()
        .all(|v| v.id != var_id));
    assert_eq!(
        api.add_var(
            "varset-doesnotexist0000",
            json!({"key": "K", "category": "env"})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn vars_list_paginates() {
    let (fake, api) = start_with(FakeOptions {
        max_page_size: 3,
        ..FakeOptions::default()
    })
    .await;
    let vars: Vec<(String, String)> = (0..5).map(|i| (format!("K{i}"), format!("v{i}"))).collect();
    let refs: Vec<(&str, &str, &str)> = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str(), "env"))
        .collect();
    let id = fake.seed_varset("acme", "set", &refs);

    let first = api
        .get(&format!(
            "/varsets/{id}/relationships/vars?page%5Bsize%5D=100"
        ))
        .await;
    assert_eq!(first.body["data"].as_array().expect("data").len(), 3);
    assert_eq!(first.body["meta"]["pagination"]["total-pages"], 2);
    let next = first.body["links"]["next"]
        .as_str()
        .expect("next")
        .to_owned();
    let second = api.get(&next).await;
    let keys: Vec<&str> = second.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v["attributes"]["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["K3", "K4"]);
    assert_eq!(second.body["links"]["next"], Value::Null);
}

#[tokio::test]
async fn applies_sets_to_workspaces_and_projects() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let net = fake.seed_workspace("acme", "net", Some(&platform));
    let app = fake.seed_workspace("acme", "app", None);
    let id = fake.seed_varset("acme", "set", &[]);
    let ws_path = format!("/varsets/{id}/relationships/workspaces");
    let prj_path = format!("/varsets/{id}/relationships/projects");
    let ws_refs = |ids: &[&str]| json!({"data": ids.iter().map(|id| json!({"type": "workspaces", "id": id})).collect::<Vec<_>>()});

    let applied = api
        .call("POST", &ws_path, Some(ws_refs(&[&net, &app])))
        .await;
    assert_eq!((applied.status, &applied.body), (204, &Value::Null));
    assert_eq!(
        api.call("POST", &ws_path, Some(ws_refs(&[&net])))
            .await
            .status,
        204
    );
    assert_eq!(
        fake.varset(&id).expect("set").workspace_ids,
        [net.clone(), app.clone()]
    );
    let unknown = api
        .call(
            "POST",
            &ws_path,
            Some(ws_refs(&[&net, "ws-doesnotexist0000"])),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_type = api
        .call(
            "POST",
            &ws_path,
            Some(json!({"data": [{"type": "projects", "id": platform}]})),
        )
        .await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(
        api.call("DELETE", &ws_path, Some(ws_refs(&[&net])))
            .await
            .status,
        204
    );
    assert_eq!(fake.varset(&id).expect("set").workspace_ids, [app.as_str()]);

    let project = api
        .call(
            "POST",
            &prj_path,
            Some(json!({"data": [{"type": "projects", "id": platform}]})),
        )
        .await;
    assert_eq!(project.status, 204);
    let unknown_project = api
        .call(
            "POST",
            &prj_path,
            Some(json!({"data": [{"type": "projects", "id": "prj-doesnotexist000"}]})),
        )
        .await;
    assert_eq!(unknown_project.status, 404);
    assert_eq!(
        fake.varset(&id).expect("set").project_ids,
        [platform.as_str()]
    );
    assert_eq!(
        api.get(&format!("/varsets/{id}")).await.body["data"]["attributes"]["project-count"],
        1
    );

    let global = fake.seed_varset("acme", "global", &[]);
    let made_global = api
        .call("PATCH", &format!("/varsets/{global}"), Some(json!({"data": {"type": "varsets", "attributes": {"global": true, "priority": true}}})))
        .await;
    assert_eq!(made_global.status, 200);
    assert_eq!(made_global.body["data"]["attributes"]["global"], true);
    let stored_global = fake.varset(&global).expect("set");
    assert!(stored_global.global && stored_global.priority);
    let to_global = api
        .call(
            "POST",
            &format!("/varsets/{global}/relationships/workspaces"),
            Some(ws_refs(&[&net])),
        )
        .await;
    assert_eq!(to_global.status, 422);

    let workspace = api.get("/organizations/acme/workspaces/net").await;
    assert_eq!(workspace.status, 200);
    assert_eq!(workspace.body["data"]["id"], net.as_str());
    assert_eq!(workspace.body["data"]["type"], "workspaces");
    assert_eq!(workspace.body["data"]["attributes"]["name"], "net");
    assert_eq!(
        workspace.body["data"]["relationships"]["project"]["data"]["id"],
        platform.as_str()
    );
    let app_ws = api.get("/organizations/acme/workspaces/app").await;
    let default_project = app_ws.body["data"]["relationships"]["project"]["data"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    assert_eq!(
        fake.seed_project("acme", "default project"),
        default_project
    );

    let by_names = api
        .get("/organizations/acme/projects?filter%5Bnames%5D=platform,DEFAULT%20PROJECT")
        .await;
    assert_eq!(by_names.status, 200);
    assert_eq!(names(&by_names), ["Platform", "Default Project"]);
    assert_eq!(by_names.body["data"][0]["id"], platform.as_str());
    assert_eq!(by_names.body["data"][0]["attributes"]["workspace-count"], 1);
    assert_eq!(
        names(
            &api.get("/organizations/acme/projects?filter[names]=plat")
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&api.get("/organizations/acme/projects?q=PLAT").await),
        ["Platform"]
    );
    assert_eq!(
        names(
            &api.get("/organizations/acme/projects?q=plat&filter%5Bnames%5D=default+project")
                .await
        ),
        ["Default Project"],
        "filter[names] wins over q"
    );
}

#[tokio::test]
async fn project_owned_and_global_sets_follow_the_rules() {
    let (fake, api) = start().await;
    let platform = fake.seed_project("acme", "Platform");
    let parent = json!({"parent": {"data": {"type": "projects", "id": platform}}});
    let owned = api
        .create_varset("acme", json!({"name": "owned"}), parent.clone())
        .await;
    assert_eq!(owned.status, 201);
    assert_eq!(
        owned.body["data"]["relationships"]["parent"]["data"]["type"],
        "projects"
    );
    assert_eq!(
        fake.varset_by_name("acme", "owned")
            .expect("set")
            .project_ids,
        [platform]
    );
    let global_owned = api
        .create_varset(
            "acme",
            json!({"name": "global-owned", "global": true}),
            parent,
        )
        .await;
    assert_eq!(global_owned.status, 422);

    let env_var = json!({"vars": {"data": [{"type": "vars", "attributes": {"key": "AWS_DEFAULT_REGION", "value": "eu-west-1", "category": "env"}}]}});
    let first = api
        .create_varset(
            "acme",
            json!({"name": "g1", "global": true}),
            env_var.clone(),
        )
        .await;
    assert_eq!(first.status, 201);
    assert!(fake.varset_by_name("acme", "g1").expect("set").global);
    let conflicting = api
        .create_varset(
            "acme",
            json!({"name": "g2", "global": true}),
            env_var.clone(),
        )
        .await;
    assert_eq!(
        conflicting.status, 422,
        "global sets may not share a key and category"
    );
    let not_global = api
        .create_varset("acme", json!({"name": "g2", "global": false}), env_var)
        .await;
    assert_eq!(not_global.status, 201);
}

#[tokio::test]
async fn error_faults_have_the_documented_shapes() {
    let (fake, api) = start().await;
    let list = "/organizations/acme/varsets";
    fake.inject(fault(Some("GET"), "/varsets", 2, FaultKind::Status(503)));
    fake.inject(fault(None, "/varsets", 1, FaultKind::PlainErrors(500)));
    fake.inject(fault(Some("POST"), "/ping", 1, FaultKind::Status(502)));
    assert_eq!(fake.pending_faults(), 4);

    for _ in 0..2 {
        let unavailable = api.get(list).await;
        assert_eq!(unavailable.status, 503);
        assert_eq!(
            unavailable.body,
            json!({"errors": [{"status": "503", "title": "Service Unavailable"}]})
        );
        assert_eq!(unavailable.header("content-type"), Some(JSONAPI));
        assert_eq!(unavailable.header("x-ratelimit-limit"), Some("30"));
    }
    let plain = api.get(list).await;
    assert_eq!(plain.status, 500);
    assert_eq!(plain.body, json!({"errors": ["something went wrong"]}));
    assert_eq!(api.get(list).await.status, 200);
    assert_eq!(
        api.get("/ping").await.status,
        204,
        "method-filtered fault is not consumed by GET"
    );
    assert_eq!(fake.pending_faults(), 1);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 500, 200, 204]);
    fake.inject(fault(None, "/never", 0, FaultKind::Status(500)));
    assert_eq!(fake.pending_faults(), 1);
}

#[tokio::test]
async fn rate_limit_faults_carry_retry_headers() {
    let (fake, api) = start().await;
    let path = "/organizations/acme/varsets";
    fake.inject(fault(None, path, 1, FaultKind::RateLimitedReset(0.25)));
    fake.inject(fault(None, path, 1, FaultKind::RetryAfterSeconds(2)));
    fake.inject(fault(None, path, 1, FaultKind::RetryAfterDate(30)));
    let documented = json!({"errors": [{"status": 429, "title": "Too many requests", "detail": "You have exceeded the API's rate limit."}]});

    let reset = api.get(path).await;
    assert_eq!((reset.status, &reset.body), (429, &documented));
    assert_eq!(reset.header("x-ratelimit-reset"), Some("0.250"));
    assert_eq!(reset.header("retry-after"), None);

    let seconds = api.get(path).await;
    assert_eq!((seconds.status, &seconds.body), (429, &documented));
    assert_eq!(seconds.header("retry-after"), Some("2"));

    let date = api.get(path).await;
    assert_eq!(date.status, 429);
    let when = httpdate::parse_http_date(date.header("retry-after").expect("Retry-After"))
        .expect("HTTP-date");
    let ahead = when
        .duration_since(SystemTime::now())
        .expect("Retry-After date lies in the future");
    assert!(
        ahead > Duration::from_secs(27) && ahead <= Duration::from_secs(30),
        "{ahead:?}"
    );

    assert_eq!(api.get(path).await.status, 200);
    assert_eq!(fake.pending_faults(), 0);
}

#[tokio::test]
async fn succeed_then_commits_the_write_and_still_fails() {
    let (fake, api) = start().await;
    fake.inject(fault(
        Some("POST"),
        "/organizations/acme/varsets",
        1,
        FaultKind::SucceedThen(504),
    ));

    let timed_out = api
        .create_varset("acme", json!({"name": "aws-1"}), json!({}))
        .await;
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.body["errors"][0]["status"], "504");
    assert!(
        fake.varset_by_name("acme", "aws-1").is_some(),
        "the gateway timed out after the write"
    );

    let retried = api
        .create_varset("acme", json!({"name": "aws-1"}), json!({}))
        .await;
    assert_eq!(retried.status, 422);
    assert_eq!(
        retried.body["errors"][0]["detail"],
        "Name has already been taken"
    );
    assert_eq!(fake.varsets("acme").len(), 1);
    assert_eq!(fake.write_count(), 2);
}

#[tokio::test]
async fn delay_fault_delays_then_serves() {
    let (fake, api) = start().await;
    fake.inject(fault(
        None,
        "/ping",
        1,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    assert_eq!(api.get("/ping").await.status, 204);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(api.get("/ping").await.status, 204);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_delayed_write_completes_after_the_client_gives_up() {
    let (fake, api) = start().await;
    fake.inject(fault(
        Some("POST"),
        "/varsets",
        1,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    let body = json!({"data": {"type": "varsets", "attributes": {"name": "slow"}}});
    let gave_up = api
        .http
        .post(api.url("/organizations/acme/varsets"))
        .bearer_auth(&api.token)
        .header("content-type", JSONAPI)
        .body(body.to_string())
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err_and(|err| err.is_timeout()));
    assert!(fake.varset_by_name("acme", "slow").is_none());

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(fake.varset_by_name("acme", "slow").is_some());
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, 201);
    assert_eq!(fake.write_count(), 1);
}

#[tokio::test]
async fn latency_option_delays_every_request() {
    let (_fake, api) = start_with(FakeOptions {
        latency: Some((Duration::from_millis(40), Duration::from_millis(60))),
        ..FakeOptions::default()
    })
    .await;
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(api.get("/ping").await.status, 204);
        assert!(started.elapsed() >= Duration::from_millis(40));
    }
}

#[tokio::test]
async fn rate_limit_per_sec_throttles_a_burst() {
    let (fake, api) = start_with(FakeOptions {
        rate_limit_per_sec: Some(5),
        ..FakeOptions::default()
    })
    .await;
    let burst = futures::future::join_all((0..8).map(|_| api.get("/ping"))).await;
    let throttled: Vec<&Reply> = burst.iter().filter(|r| r.status == 429).collect();
    assert_eq!(burst.iter().filter(|r| r.status == 204).count(), 5);
    assert_eq!(throttled.len(), 3);
    let mut longest = 0.0_f64;
    for reply in &throttled {
        assert_eq!(reply.body["errors"][0]["status"], 429);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("30"));
        let reset: f64 = reply
            .header("x-ratelimit-reset")
            .expect("X-RateLimit-Reset")
            .parse()
            .expect("seconds as a float");
        assert!(reset > 0.0 && reset <= 1.0, "{reset}");
        longest = longest.max(reset);
    }
    tokio::time::sleep(Duration::from_secs_f64(longest) + Duration::from_millis(20)).await;
    assert_eq!(api.get("/ping").await.status, 204, "a slot has freed up");
    assert_eq!(fake.request_count(), 9);
    assert!(fake.max_requests_in_any_window(Duration::from_secs(1)) >= 8);
}

#[tokio::test]
async fn counters_track_requests_and_writes() {
    let (fake, api) = start().await;
    assert_eq!(api.get("/organizations/acme/varsets?q=x").await.status, 200);
    assert_eq!(
        api.create_varset("acme", json!({"name": "a"}), json!({}))
            .await
            .status,
        201
    );
    assert_eq!(
        api.create_varset("acme", json!({"name": "a"}), json!({}))
            .await
            .status,
        422
    );
    let unknown_var = "/varsets/varset-doesnotexist0000/relationships/vars/var-x";
    assert_eq!(
        api.call("PATCH", unknown_var, Some(json!({}))).await.status,
        404
    );
    assert_eq!(api.call("POST", "/nowhere", None).await.status, 404);
    let no_content_type = send(
        api.http
            .delete(api.url("/varsets/varset-doesnotexist0000"))
            .bearer_auth(&api.token),
    )
    .await;
    assert_eq!(no_content_type.status, 415);

    assert_eq!(fake.request_count(), 6);
    assert_eq!(
        fake.write_count(),
        3,
        "201, 422 and the 404 from a handler count; unrouted and 415 do not"
    );
    let recorded = fake.requests();
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path, "/api/v2/organizations/acme/varsets");
    assert_eq!(recorded[0].query, "q=x");
    assert_eq!(recorded[1].method, "POST");
    assert_eq!(recorded[1].status, 201);
    assert_eq!(recorded[5].status, 415);
    assert!(recorded.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(fake.max_requests_in_any_window(Duration::from_secs(60)), 6);

    fake.clear_requests();
    assert_eq!((fake.request_count(), fake.write_count()), (0, 0));
    assert_eq!(fake.max_requests_in_any_window(Duration::from_secs(1)), 0);
    for _ in 0..3 {
        api.get("/ping").await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..2 {
        api.get("/ping").await;
    }
    assert_eq!(
        fake.max_requests_in_any_window(Duration::from_millis(250)),
        3
    );
    assert_eq!(fake.max_requests_in_any_window(Duration::from_secs(5)), 5);
}
