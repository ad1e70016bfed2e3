//! Injected faults, latency and the per-second rate limit.

use super::*;

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
