//! Authentication, media types, request documents, pagination, search and the request log.

use super::*;

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
