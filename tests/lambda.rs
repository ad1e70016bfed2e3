//! The Lambda runtime path, for real: the built binary speaks the Runtime API (to a local
//! implementation of it, and under `cargo lambda watch` / `cargo lambda invoke`), against
//! moto and the Terraform Cloud fake.

mod support;

use std::io::Write;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::env::*;
use support::moto::Moto;
use support::runtime_api::{Outcome, RuntimeApi};
use support::tfc_fake::{FakeOptions, TfcFake};

/// Environment for the binary: the management account's (test) credentials and moto's
/// endpoint from the standard AWS variables, the fake from TFE_ADDRESS.
fn function_env(moto: &Moto, tfc: &TfcFake) -> Vec<(String, String)> {
    binary_env(&tfc.url(), &moto.url(), &[("RUST_LOG", "info")])
}

fn fake_options() -> FakeOptions {
    FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_events_through_the_runtime_api() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let account = moto.create_account("runtime-api", &[]).await;
    let tfc = TfcFake::start(fake_options()).await;
    let api = RuntimeApi::start().await;

    let mut child = api.spawn_function(
        env!("CARGO_BIN_EXE_tfc-onboarder"),
        function_env(moto, &tfc),
    );

    let onboard = api.push_event(sample_event("create-account-result.json", &account));
    let Outcome::Response(report) = api.wait_outcome(&onboard, Duration::from_secs(60)).await
    else {
        panic!("no response")
    };
    assert_eq!(report["outcome"], "onboarded", "{report}");
    assert_eq!(
        report["role_arn"],
        format!("arn:aws:iam::{account}:role/terraform-cloud")
    );
    assert!(tfc.varset_by_name(ORG, &format!("aws-{account}")).is_some());

    let replay = api.push_event(sample_event("create-account-result.json", &account));
    let Outcome::Response(again) = api.wait_outcome(&replay, Duration::from_secs(60)).await else {
        panic!("no response")
    };
    assert_eq!(again["outcome"], "unchanged", "{again}");

    let failed = api.push_event(sample_event("create-account-result-failed.json", &account));
    let Outcome::Response(skipped) = api.wait_outcome(&failed, Duration::from_secs(30)).await
    else {
        panic!("no response")
    };
    assert_eq!(skipped["outcome"], "skipped");

    let bad = api.push_event(serde_json::json!({"account_id": "12345"}));
    api.expect_invalid_event(&bad, "12345").await;

    child.start_kill().expect("stop the function");
    let out = child.wait_with_output().await.expect("function output");
    let logs = String::from_utf8_lossy(&out.stderr);
    // Lambda logs are JSON, one object per line, with structured fields, and never the token.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "no JSON log lines in:\n{logs}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "onboarding report" && l["account_id"] == account.as_str()),
        "{logs}"
    );
    assert!(!logs.contains(TOKEN));
    // Its metrics (tests/metrics.rs checks them in depth) are on standard output, without it.
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("\"_aws\"") && l.contains(account.as_str())),
        "{metrics}"
    );
    assert!(!metrics.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_fails_the_cold_start_naming_the_variable() {
    let api = RuntimeApi::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfc-onboarder"))
        .env_clear()
        .envs(api.env_for_process())
        .env("TFE_ORGANIZATION", "*")
        .env("TFE_TOKEN", TOKEN)
        .env("AWS_REGION", "us-east-1")
        .output()
        .await
        .expect("run the function");
    assert!(!out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("TFE_ORGANIZATION") && logs.contains("wildcards are refused"),
        "{logs}"
    );
    assert!(!logs.contains(TOKEN));
}

#[tokio::test]
async fn without_a_region_the_binary_stops_at_once_instead_of_asking_instance_metadata() {
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfc-onboarder"))
        .env_clear()
        .env(
            "HOME",
            std::env::temp_dir().join("tfc-onboarder-no-aws-profile"),
        )
        .env("TFE_ORGANIZATION", ORG)
        .env("TFE_TOKEN", TOKEN)
        .args(["onboard", "--account-id", "123456789012"])
        .output()
        .await
        .expect("run the CLI");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AWS_REGION"), "{stderr}");
    // The SDK logs its instance-metadata attempts; there must be none.
    assert!(!stderr.contains("IMDS"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A free port on 127.0.0.1 (closed again; a race is possible but harmless in tests).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn scratch_file(name: &str, contents: &str) -> std::path::PathBuf {
    // Outside the crate: cargo lambda watch rebuilds on any change inside it.
    let path = std::env::temp_dir().join(format!("tfc-onboarder-{}-{name}", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .expect("write scratch file");
    path
}

/// `cargo lambda invoke` of the sample event in `file`. It waits for the watcher to have built
/// the function; a build that fails leaves the watcher (`--ignore-changes`) and the invoke
/// waiting for ever, so the watcher's log is read for a compile error while it waits, and the
/// wait is bounded.
async fn invoke(port: &str, file: &std::path::Path, log_path: &std::path::Path) -> Output {
    let call = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "tfc-onboarder",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            port,
            "--output-format",
            "json",
            "--data-file",
        ])
        .arg(file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .kill_on_drop(true)
        .output();
    tokio::pin!(call);
    let started = Instant::now();
    loop {
        tokio::select! {
            out = &mut call => return out.expect("cargo lambda invoke"),
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                assert!(
                    !log.contains("error: could not compile"),
                    "cargo lambda watch could not build the function:\n{log}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(900),
                    "cargo lambda invoke did not answer within 15 minutes; watch log:\n{log}"
                );
            }
        }
    }
}

/// Runs `cargo lambda watch` and `cargo lambda invoke` exactly as the README shows, with the
/// sample events, bound to 127.0.0.1 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_runs_under_cargo_lambda_watch_and_invoke() {
    let moto = Moto::shared();
    moto.ensure_organization().await;
    let account = moto.create_account("cargo-lambda", &[]).await;
    let tfc = TfcFake::start(fake_options()).await;
    let env_file = scratch_file(
        "watch.env",
        &function_env(moto, &tfc)
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>(),
    );
    let port = free_port().to_string();
    let log_path =
        std::env::temp_dir().join(format!("tfc-onboarder-{}-watch.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("watch log");
    let mut watch = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
            "--ignore-changes",
            "--env-file",
        ])
        .arg(&env_file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("cargo lambda watch (install with: pip install cargo-lambda)");

    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap_or(0))).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not listen:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let event = scratch_file(
        "event.json",
        &sample_event("create-account-result.json", &account).to_string(),
    );
    // The first invoke compiles the function, which can take minutes on a cold cache.
    let out = invoke(&port, &event, &log_path).await;
    let watch_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        out.status.success(),
        "invoke failed: {}\n{}\nwatch log:\n{watch_log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_slice(&out.stdout).expect("invoke prints the report as JSON");
    assert_eq!(report["outcome"], "onboarded", "{report}");
    assert_eq!(set_vars(&tfc, &format!("aws-{account}")).len(), 3);
    let iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await);
    assert_eq!(
        provider_client_ids(&iam, &account).await,
        Some(vec!["aws.workload.identity".to_owned()])
    );
    assert!(
        !watch_log.contains(TOKEN),
        "the token leaked into the function's logs"
    );

    let failed = scratch_file(
        "failed.json",
        &sample_event("create-account-result-failed.json", &account).to_string(),
    );
    let out = invoke(&port, &failed, &log_path).await;
    let skipped: Value = serde_json::from_slice(&out.stdout).expect("skip response");
    assert_eq!(skipped["outcome"], "skipped");

    watch.start_kill().ok();
    let _ = watch.wait().await;
    for f in ["watch.env", "event.json", "failed.json", "watch.log"] {
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("tfc-onboarder-{}-{f}", std::process::id())),
        );
    }
}
