//! Issue 11 §4, "See it at a glance": the metrics the real binary writes as a Lambda, held
//! against the CloudWatch embedded metric format specification and against the dashboard
//! the Terraform module deploys (infra/dashboard.json.tftpl), so that a renamed metric
//! cannot leave an empty graph; and the CLI's progress line, on a pseudo-terminal and off.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};
use support::env::*;
use support::fault_proxy::AwsFault;
use support::runtime_api::{Outcome, RuntimeApi};
use support::tfc_fake::{FakeOptions, FaultKind};

const FUNCTION: &str = "tfc-onboarder";
const NAMESPACE: &str = "TfcOnboarder";

/// Every Terraform Cloud answer takes 200 to 250 ms, so that one account takes at least that
/// long and a sweep with a short budget stops part-way.
fn slow_fake() -> FakeOptions {
    FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        latency: Some((Duration::from_millis(200), Duration::from_millis(250))),
        ..FakeOptions::default()
    }
}

/// The binary's environment, configured like a deployment: AWS through the fault proxy,
/// Terraform Cloud at the fake, one account at a time in a sweep.
fn function_env(env: &TestEnv) -> Vec<(String, String)> {
    binary_env(
        &env.tfc.url(),
        &env.proxy.url(),
        &[
            ("RUST_LOG", "info"),
            ("ONBOARD_ROLE_POLICY_ARNS", "none"),
            ("ONBOARD_CONCURRENCY", "1"),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// The embedded metric format, as the specification states it
// ---------------------------------------------------------------------------------------------

/// CloudWatch metric units (MetricDatum), the only values a `Unit` may take.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A dimension value as the Dimension API type allows it: 1 to 1024 ASCII characters, no
/// control characters, at least one that is not white space.
fn valid_dimension_value(v: &str) -> bool {
    (1..=1024).contains(&v.len())
        && v.is_ascii()
        && !v.chars().any(|c| c.is_ascii_control())
        && v.chars().any(|c| !c.is_whitespace())
}

/// Checks one log line against the specification (where two versions of it differ, the
/// stricter reading: at most 9 dimension keys per set, 256 KB per event) and returns the
/// document. `window` bounds `_aws.Timestamp`: the time the line can have been written in.
fn emf(line: &str, window: (u64, u64)) -> Result<Map<String, Value>, String> {
    if line.len() > 256 * 1024 {
        return Err(format!(
            "{} bytes: over the 256 KB of one log event",
            line.len()
        ));
    }
    // The whole line must be one JSON object, with nothing before or after it.
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not one JSON value: {e}"))?;
    let Value::Object(root) = root else {
        return Err("not a JSON object".into());
    };
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no `_aws` object")?;
    let ts = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("`_aws.Timestamp` is not an integer")?;
    if ts < window.0 || ts > window.1 {
        return Err(format!(
            "`_aws.Timestamp` {ts} is not milliseconds since 1970 within {window:?}"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    if directives.is_empty() {
        return Err("no metric directive".into());
    }
    let mut names = BTreeSet::new();
    for d in directives {
        let d = d.as_object().ok_or("a directive is not an object")?;
        let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != ["Dimensions", "Metrics", "Namespace"] {
            return Err(format!("a directive has the members {keys:?}"));
        }
        let ns = d["Namespace"].as_str().ok_or("Namespace is not a string")?;
        if !(1..=255).contains(&ns.len()) || !ns.is_ascii() || ns.starts_with("AWS/") {
            return Err(format!("namespace `{ns}`"));
        }
        let sets = d["Dimensions"]
            .as_array()
            .filter(|s| !s.is_empty())
            .ok_or("Dimensions is not a non-empty array of dimension sets")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 9 {
                return Err(format!("{} dimension keys in one set", set.len()));
            }
            for key in set {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                if !(1..=255).contains(&key.len()) || key.starts_with(':') {
                    return Err(format!("dimension key `{key}`"));
                }
                match root.get(key) {
                    Some(Value::String(v)) if valid_dimension_value(v) => {}
                    other => return Err(format!("dimension `{key}` has the value {other:?}")),
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err(format!(
                "{} metric definitions in a directive",
                metrics.len()
            ));
        }
        for m in metrics {
            let m = m
                .as_object()
                .ok_or("a metric definition is not an object")?;
            if let Some(extra) = m
                .keys()
                .find(|k| !["Name", "Unit", "StorageResolution"].contains(&k.as_str()))
            {
                return Err(format!("a metric definition has the member `{extra}`"));
            }
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric definition has no Name")?;
            if !(1..=255).contains(&name.len()) {
                return Err(format!("metric name `{name}`"));
            }
            if let Some(unit) = m.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    return Err(format!("metric `{name}` has the unit {unit}"));
                }
            }
            let finite = |v: &Value| v.as_f64().is_some_and(f64::is_finite);
            match root.get(name) {
                Some(v) if finite(v) => {}
                Some(Value::Array(values)) if values.len() <= 100 && values.iter().all(finite) => {}
                other => return Err(format!("metric `{name}` has the value {other:?}")),
            }
            if !names.insert(name.to_owned()) {
                return Err(format!("metric `{name}` is declared twice"));
            }
        }
    }
    Ok(root)
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// A metric as CloudWatch identifies it: namespace, name and dimension names.
type Identity = (String, String, BTreeSet<String>);

/// Every metric the documents define, with the values each dimension took.
fn emitted(docs: &[Map<String, Value>]) -> BTreeMap<Identity, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<Identity, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for doc in docs {
        for d in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for set in d["Dimensions"].as_array().unwrap() {
                let keys: BTreeSet<String> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_owned())
                    .collect();
                for m in d["Metrics"].as_array().unwrap() {
                    let id = (
                        d["Namespace"].as_str().unwrap().to_owned(),
                        m["Name"].as_str().unwrap().to_owned(),
                        keys.clone(),
                    );
                    let values = out.entry(id).or_default();
                    for k in &keys {
                        values
                            .entry(k.clone())
                            .or_default()
                            .insert(doc[k].as_str().unwrap().to_owned());
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The dashboard, as the module renders it
// ---------------------------------------------------------------------------------------------

/// infra/dashboard.json.tftpl rendered as `templatefile` renders it in infra/dashboard.tf.
fn dashboard(function: &str) -> Value {
    let path = format!("{}/infra/dashboard.json.tftpl", env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let alarms = json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{function}-errors"
    )]);
    let rendered = template
        .replace("${region}", "us-east-1")
        .replace("${function_name}", function)
        .replace("${log_group}", &format!("/aws/lambda/{function}"))
        .replace("${alarm_arns}", &alarms.to_string());
    assert!(
        !rendered.contains("${") && !rendered.contains("%{"),
        "the template uses a variable or directive that infra/dashboard.tf does not pass"
    );
    serde_json::from_str(&rendered)
        .unwrap_or_else(|e| panic!("{path} is not JSON once rendered: {e}"))
}

/// A metric a widget graphs: namespace, name and dimensions with their values. The `"."`
/// shorthand (the same as the row before) is resolved as the dashboard syntax defines it.
#[derive(Debug)]
struct Graphed {
    widget: String,
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, String>,
}

fn graphed(dashboard: &Value) -> Vec<Graphed> {
    let mut out = Vec::new();
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        if widget["type"] != "metric" {
            continue;
        }
        let title = widget["properties"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut previous: Vec<String> = Vec::new();
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metric row is an array");
            let fields: Vec<String> = row
                .iter()
                .take_while(|v| v.is_string())
                .enumerate()
                .map(|(i, v)| match v.as_str().unwrap() {
                    "." => previous
                        .get(i)
                        .cloned()
                        .expect("`.` with nothing before it"),
                    s => s.to_owned(),
                })
                .collect();
            assert!(
                fields.len() >= 2 && fields.len().is_multiple_of(2),
                "`{title}`: a metric row is a namespace, a name and dimension pairs: {row:?}"
            );
            out.push(Graphed {
                widget: title.clone(),
                namespace: fields[0].clone(),
                name: fields[1].clone(),
                dimensions: fields[2..]
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            });
            previous = fields;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The binary as a Lambda: onboardings, a failure, a dry run, a sweep handing a continuation on
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_writes_valid_emf_and_the_dashboard_graphs_exactly_what_it_writes() {
    let started = SystemTime::now();
    let moto = private_moto().await;
    let env = TestEnv::with(moto, slow_fake(), &[]).await;
    let fresh = env.new_account("metrics-fresh", &[]).await;
    let planned = env.new_account("metrics-planned", &[]).await;
    let opted_out = env
        .new_account("metrics-opted-out", &[("tfc:onboard", "false")])
        .await;
    let mut others = Vec::new();
    for i in 0..11 {
        others.push(env.new_account(&format!("metrics-{i}"), &[]).await);
    }
    let members = 3 + others.len();

    let api = RuntimeApi::start().await;
    let mut child = api.spawn_function(env!("CARGO_BIN_EXE_tfc-onboarder"), function_env(&env));
    let mut requests = Vec::new();
    let mut invoke = |event: Value| {
        let id = api.push_event(event);
        requests.push(id.clone());
        id
    };

    // A new account, onboarded through a throttled AWS call, a Terraform Cloud 429 and a 503.
    env.proxy.inject(AwsFault::error(
        "ListTagsForResource",
        1,
        400,
        "TooManyRequestsException",
        "injected by the test",
    ));
    env.tfc.inject(tfc_fault(
        Some("GET"),
        "/varsets",
        1,
        FaultKind::RateLimitedReset(0.05),
    ));
    env.tfc.inject(tfc_fault(
        Some("GET"),
        "/varsets",
        1,
        FaultKind::Status(503),
    ));
    let id = invoke(sample_event("create-account-result.json", &fresh));
    let Outcome::Response(report) = api.wait_outcome(&id, Duration::from_secs(60)).await else {
        panic!("no response")
    };
    assert_eq!(report["outcome"], "onboarded", "{report}");
    let id = invoke(sample_event("create-account-result.json", &fresh));
    let Outcome::Response(again) = api.wait_outcome(&id, Duration::from_secs(60)).await else {
        panic!("no response")
    };
    assert_eq!(again["outcome"], "unchanged", "{again}");
    let id = invoke(json!({"account_id": planned, "dry_run": true}));
    let Outcome::Response(plan) = api.wait_outcome(&id, Duration::from_secs(60)).await else {
        panic!("no response")
    };
    assert_eq!(plan["outcome"], "planned", "{plan}");
    // Not a member of this organization: the onboarding fails.
    let id = invoke(manual("999988887777"));
    assert!(
        matches!(
            api.wait_outcome(&id, Duration::from_secs(60)).await,
            Outcome::Error { .. }
        ),
        "an account outside the organization fails"
    );

    // A sweep with about two seconds to start accounts (none starts in its last 30 s), then
    // resumed from its continuation.
    api.set_deadline(Duration::from_secs(32));
    let id = invoke(json!({"action": "reconcile"}));
    let Outcome::Response(first) = api.wait_outcome(&id, Duration::from_secs(60)).await else {
        panic!("no response")
    };
    let marker = first["continuation"]
        .as_str()
        .unwrap_or_else(|| panic!("the budget ran out: {first}"))
        .to_owned();
    api.set_deadline(Duration::from_secs(300));
    let id = invoke(json!({"action": "reconcile", "continuation": marker}));
    let Outcome::Response(second) = api.wait_outcome(&id, Duration::from_secs(120)).await else {
        panic!("no response")
    };
    assert!(second.get("continuation").is_none(), "{second}");

    child.start_kill().expect("stop the function");
    let out = child.wait_with_output().await.expect("function output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let window = (epoch_ms(started), epoch_ms(SystemTime::now()));

    // Standard output carries the metrics and nothing else, one valid document per line.
    let docs: Vec<Map<String, Value>> = stdout
        .lines()
        .map(|l| emf(l, window).unwrap_or_else(|e| panic!("{e}:\n{l}")))
        .collect();
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked"
    );
    assert!(
        !stderr.contains("\"_aws\""),
        "metrics go to standard output only"
    );

    // One document per invocation, each naming its request, after its accounts' documents.
    let invocations: Vec<&Map<String, Value>> = docs
        .iter()
        .filter(|d| d.contains_key("request_id"))
        .collect();
    let named: Vec<&str> = invocations
        .iter()
        .map(|d| d["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        requests.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let accounts: Vec<&Map<String, Value>> = docs
        .iter()
        .filter(|d| d.contains_key("account_id"))
        .collect();
    assert_eq!(accounts.len() + invocations.len(), docs.len());
    for d in &docs {
        assert_eq!(d["FunctionName"], FUNCTION);
    }

    // The onboardings, one document each.
    let of = |account: &str| -> Vec<&Map<String, Value>> {
        accounts
            .iter()
            .copied()
            .filter(|d| d["account_id"] == account)
            .collect()
    };
    let outcomes = |account: &str| -> Vec<String> {
        of(account)
            .iter()
            .map(|d| d["Outcome"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        outcomes(&fresh),
        ["onboarded", "unchanged", "unchanged"],
        "two events, one sweep"
    );
    let ready = of(&fresh)[0]["TimeToReady"]
        .as_f64()
        .expect("a new account's time to ready");
    assert!(ready > 0.0 && ready < 600.0, "{ready} s");
    assert!(
        of(&fresh)[1].get("TimeToReady").is_none(),
        "a replay made nothing ready"
    );
    assert_eq!(of(&fresh)[0]["trigger"], "organizations");
    assert_eq!(outcomes(&planned), ["planned", "onboarded"]);
    assert_eq!(of(&planned)[0]["dry_run"], true);
    assert_eq!(outcomes("999988887777"), ["failed"]);
    assert_eq!(of("999988887777")[0]["step"], "DescribeAccount");
    assert_eq!(outcomes(&opted_out), ["skipped"]);
    for account in &others {
        assert_eq!(outcomes(account), ["onboarded"], "{account}");
    }
    for d in &accounts {
        assert!(d["OnboardingDuration"].as_f64().unwrap() > 0.0);
    }

    // The invocations: retries and 429s of the first, the sweeps' progress.
    let first_doc = invocations[0];
    assert!(
        first_doc["AwsRetries"].as_u64().unwrap() >= 1,
        "{first_doc:?}"
    );
    assert!(
        first_doc["TfcRetries"].as_u64().unwrap() >= 1,
        "{first_doc:?}"
    );
    assert_eq!(first_doc["TfcThrottled"], 1, "{first_doc:?}");
    assert_eq!(invocations[1]["TfcThrottled"], 0);
    for d in &invocations[..4] {
        assert!(d.get("SweepAccountsTotal").is_none(), "not a sweep: {d:?}");
    }
    let (cut, rest) = (invocations[4], invocations[5]);
    let done = cut["SweepAccountsDone"].as_u64().unwrap() as usize;
    let remaining = cut["SweepAccountsRemaining"].as_u64().unwrap() as usize;
    assert_eq!(cut["SweepAccountsTotal"], members);
    // Each account costs at least one 200 ms Terraform Cloud call, one at a time: no more
    // than about 9 fit in the 2 s, so some are always left over.
    assert!(remaining >= 1, "{cut:?}");
    assert_eq!(done + remaining, members);
    assert_eq!(cut["SweepContinuations"], 1);
    assert_eq!(cut["continuation"], marker.as_str());
    assert_eq!(first["accounts_seen"], done);
    assert_eq!(rest["SweepAccountsTotal"], members);
    assert_eq!(rest["SweepAccountsDone"], remaining);
    assert_eq!(rest["SweepAccountsRemaining"], 0);
    assert_eq!(rest["SweepContinuations"], 0);
    assert!(rest.get("continuation").is_none());

    // Few dimensions: never the account.
    let emitted = emitted(&docs);
    for (_, name, keys) in emitted.keys() {
        assert!(
            keys.iter().all(|k| k == "FunctionName" || k == "Outcome"),
            "{name} has the dimensions {keys:?}"
        );
    }

    // Every metric the dashboard graphs is one the function writes, with the same
    // dimensions and values it writes; and every metric it writes is graphed.
    let board = dashboard(FUNCTION);
    let rows = graphed(&board);
    let mut covered = BTreeSet::new();
    let mut graphed_outcomes = BTreeSet::new();
    for g in &rows {
        if g.namespace == "AWS/Lambda" {
            assert!(
                ["Invocations", "Errors", "Throttles"].contains(&g.name.as_str()),
                "{g:?}"
            );
            assert_eq!(
                g.dimensions,
                BTreeMap::from([("FunctionName".to_owned(), FUNCTION.to_owned())])
            );
            continue;
        }
        assert_eq!(g.namespace, NAMESPACE, "{g:?}");
        let id = (
            g.namespace.clone(),
            g.name.clone(),
            g.dimensions.keys().cloned().collect(),
        );
        let values = emitted.get(&id).unwrap_or_else(|| {
            panic!(
                "`{}` graphs {id:?}, which the function never writes; it writes {:?}",
                g.widget,
                emitted.keys()
            )
        });
        for (k, v) in &g.dimensions {
            assert!(
                values[k].contains(v),
                "`{}` graphs {}={v}; written: {:?}",
                g.widget,
                k,
                values[k]
            );
        }
        if let Some(outcome) = g.dimensions.get("Outcome") {
            graphed_outcomes.insert(outcome.clone());
        }
        covered.insert(id);
    }
    let written: BTreeSet<Identity> = emitted.keys().cloned().collect();
    assert_eq!(covered, written, "metrics written but not graphed");
    let written_outcomes = emitted
        .iter()
        .find(|((_, name, _), _)| name == "Onboardings")
        .map(|(_, values)| values["Outcome"].clone())
        .expect("onboardings are counted");
    assert_eq!(
        graphed_outcomes, written_outcomes,
        "every outcome an onboarding can have is graphed, and only those"
    );
    println!(
        "{} EMF documents, {} metrics, all graphed; first sweep {done} done, {remaining} handed on",
        docs.len(),
        written.len()
    );
}

#[test]
fn the_validator_refuses_what_the_specification_forbids() {
    let window = (1_000, 2_000);
    let good = json!({
        "_aws": {"Timestamp": 1_500, "CloudWatchMetrics": [
            {"Namespace": "TfcOnboarder", "Dimensions": [["FunctionName"]], "Metrics": [{"Name": "N", "Unit": "Count"}]}
        ]},
        "FunctionName": "f", "N": 1
    });
    emf(&good.to_string(), window).expect("valid");
    let broken = |path: &[&str], value: Value| {
        let mut doc = good.clone();
        let mut at = &mut doc;
        for p in &path[..path.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[path[path.len() - 1]] = value;
        doc.to_string()
    };
    for (what, line) in [
        ("trailing data", format!("{good} x")),
        (
            "timestamp in seconds",
            broken(&["_aws", "Timestamp"], json!(1)),
        ),
        (
            "timestamp as text",
            broken(&["_aws", "Timestamp"], json!("1500")),
        ),
        (
            "no directives",
            broken(&["_aws", "CloudWatchMetrics"], json!([])),
        ),
        (
            "AWS namespace",
            broken(
                &["_aws", "CloudWatchMetrics", "0", "Namespace"],
                json!("AWS/Lambda"),
            ),
        ),
        (
            "dimension not a member",
            broken(
                &["_aws", "CloudWatchMetrics", "0", "Dimensions"],
                json!([["Missing"]]),
            ),
        ),
        ("dimension a number", broken(&["FunctionName"], json!(3))),
        (
            "ten dimension keys",
            broken(
                &["_aws", "CloudWatchMetrics", "0", "Dimensions"],
                json!([vec!["FunctionName"; 10]]),
            ),
        ),
        ("metric not a number", broken(&["N"], json!("1"))),
        (
            "unknown unit",
            broken(
                &["_aws", "CloudWatchMetrics", "0", "Metrics", "0", "Unit"],
                json!("Accounts"),
            ),
        ),
        (
            "extra member",
            broken(&["_aws", "CloudWatchMetrics", "0", "Extra"], json!(1)),
        ),
        (
            "101 metrics",
            broken(
                &["_aws", "CloudWatchMetrics", "0", "Metrics"],
                json!(vec![json!({"Name": "N"}); 101]),
            ),
        ),
    ] {
        assert!(emf(&line, window).is_err(), "accepted: {what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI: a progress line on a terminal, plain output everywhere else
// ---------------------------------------------------------------------------------------------

/// The `script` program (util-linux), which runs a command on a pseudo-terminal.
fn script_program() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("script"))
        .find(|p| p.is_file())
        .expect("`script` (util-linux, package bsdutils or util-linux) is needed to run the CLI on a pseudo-terminal")
}

/// `--output table` of a sweep, run on a pseudo-terminal by `script`; returns what the
/// terminal received (standard output and error together).
async fn reconcile_on_a_terminal(vars: &[(String, String)]) -> String {
    let binary = env!("CARGO_BIN_EXE_tfc-onboarder");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(script_program())
            .args([
                "-q",
                "-e",
                "-c",
                &format!("'{binary}' reconcile --output table"),
                "/dev/null",
            ])
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the CLI finishes")
    .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "exit {:?}:\n{text}", out.status);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_draws_a_progress_line_on_a_terminal_and_stays_plain_elsewhere() {
    let moto = private_moto().await;
    let env = TestEnv::with(moto, slow_fake(), &[]).await;
    let mut accounts = Vec::new();
    for i in 0..4 {
        accounts.push(env.new_account(&format!("progress-{i}"), &[]).await);
    }
    let mut vars = function_env(&env);
    vars.push(("TERM".into(), "xterm".into()));

    let terminal = reconcile_on_a_terminal(&vars).await;
    const CLEAR: &str = "\r\x1b[2K";
    // Every state the line went through, as drawn.
    let states: Vec<&str> = terminal
        .split(CLEAR)
        .skip(1)
        .map(|s| s.split(['\r', '\n']).next().unwrap_or_default())
        .filter(|s| s.starts_with("reconcile: "))
        .collect();
    assert!(
        states
            .iter()
            .any(|s| s.contains("/4 accounts") && s.contains("ETA")),
        "an intermediate state, with an ETA: {states:?}\n{terminal:?}"
    );
    let last = states.last().expect("a progress line");
    assert!(
        last.starts_with("reconcile: 4/4 accounts (100%), ")
            && last.contains(" accounts/s, done in "),
        "{last}"
    );
    // Log lines and the progress line never share a line on screen.
    for segment in terminal.split('\n') {
        let visible = segment.rsplit(CLEAR).next().unwrap_or_default();
        assert!(
            !(visible.contains("reconcile: ") && visible.contains("onboarding report")),
            "{visible:?}"
        );
    }
    assert!(
        terminal.contains("onboarding report"),
        "the logs still show"
    );
    assert!(
        terminal.contains(r#"counts: {"onboarded":4}"#),
        "{terminal}"
    );
    assert!(
        !terminal.contains("\"_aws\""),
        "no metrics outside Lambda:\n{terminal}"
    );

    // CI gives some jobs a terminal; its log keeps no progress line.
    let mut ci = vars.clone();
    ci.push(("CI".into(), "true".into()));
    let in_ci = reconcile_on_a_terminal(&ci).await;
    assert!(
        !in_ci.contains(CLEAR) && !in_ci.contains("accounts/s"),
        "{in_ci:?}"
    );

    // Not a terminal: plain lines only.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfc-onboarder"))
        .args(["reconcile", "--output", "table"])
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the CLI");
    assert!(out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b') && !stderr.contains("accounts/s"),
        "{stderr:?}"
    );
    assert!(stderr.contains("onboarding report"));
    assert!(stdout.contains(r#"counts: {"unchanged":4}"#), "{stdout}");
    assert!(
        !stdout.contains("\"_aws\"") && !stderr.contains("\"_aws\""),
        "no metrics outside Lambda"
    );
    assert!(!terminal.contains(TOKEN) && !stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}
