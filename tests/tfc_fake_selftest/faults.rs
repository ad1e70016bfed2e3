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

/// What a client saw: a status, a timeout, a dropped connection, or an answer cut off.
async fn outcome(request: reqwest::RequestBuilder) -> String {
    match request.timeout(Duration::from_millis(200)).send().await {
        Err(e) if e.is_timeout() => "timeout".into(),
        Err(_) => "dropped".into(),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => status.to_string(),
                Err(_) => format!("{status} cut off"),
            }
        }
    }
}

/// The same requests against a fresh fake with `chaos`: one set, reads of it, and writes of
/// variables into it. Returns each request's fault label and what the client saw.
async fn chaotic_requests(chaos: Chaos) -> (TfcFake, Vec<(Option<&'static str>, String)>) {
    let (fake, api) = start().await;
    let set = fake.seed_varset("acme", "aws-111122223333", &[]);
    fake.set_chaos(Some(chaos));
    let mut seen = Vec::new();
    for i in 0..40 {
        let request = if i % 2 == 0 {
            api.http
                .get(api.url(&format!("/varsets/{set}/relationships/vars")))
        } else {
            let body = json!({"data": {"type": "vars", "attributes": {"key": format!("K{i}"), "value": "v", "category": "env"}}});
            api.http
                .post(api.url(&format!("/varsets/{set}/relationships/vars")))
                .header("content-type", JSONAPI)
                .body(body.to_string())
        };
        seen.push(outcome(request.bearer_auth(&api.token)).await);
    }
    // Late answers of slow requests land in the log too.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut log = fake.requests();
    log.sort_by_key(|r| r.at);
    let labels = log.iter().map(|r| r.fault);
    (fake.clone(), labels.zip(seen).collect())
}

#[tokio::test]
async fn random_faults_are_the_services_answers_replayable_from_the_seed() {
    let chaos = Chaos {
        seed: 11,
        rate: 0.6,
        slow: Duration::from_millis(300),
    };
    let (fake, seen) = chaotic_requests(chaos.clone()).await;
    let faulted = seen.iter().filter(|(label, _)| label.is_some()).count();
    assert!((10..=36).contains(&faulted), "{faulted} of 40 faulted");
    for (label, answer) in &seen {
        let expected: &[&str] = match label {
            None => &["200", "201"],
            Some("429") => &["429"],
            Some("500") => &["500"],
            Some("502") | Some("write-then-502") => &["502"],
            Some("503") => &["503"],
            Some("write-then-504") => &["504"],
            Some("slow") => &["timeout"],
            Some("connection-reset") => &["dropped"],
            Some("truncated") => &["200 cut off", "201 cut off"],
            Some(other) => panic!("unknown fault {other}"),
        };
        assert!(expected.contains(&answer.as_str()), "{label:?}: {answer}");
    }
    let log = fake.requests();
    let dropped = log.iter().filter(|r| r.status == 0).count();
    let broken = seen
        .iter()
        .filter(|(label, _)| matches!(label, Some("connection-reset" | "truncated")))
        .count();
    assert_eq!(dropped, broken, "no complete answer is logged as 0");
    // Writes that were handled are in the set, whatever the client was told; refused ones are not.
    let stored: Vec<String> = fake.varsets("acme")[0]
        .vars
        .iter()
        .map(|v| v.key.clone())
        .collect();
    for (i, (label, _)) in seen.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let handled = matches!(
            label,
            None | Some("slow" | "truncated" | "write-then-502" | "write-then-504")
        );
        assert_eq!(
            stored.contains(&format!("K{i}")),
            handled,
            "K{i} after {label:?}"
        );
    }

    // Another fake, other ids, the same seed: the same fates.
    assert_eq!(chaotic_requests(chaos.clone()).await.1, seen);
    let other = chaotic_requests(Chaos { seed: 12, ..chaos }).await.1;
    assert_ne!(other, seen);
}
