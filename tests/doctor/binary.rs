//! The built binary: the CLI (`doctor`, its exit status and `--output json`), the Lambda path
//! (`{"action": "doctor"}` through the Runtime API), and the README's sample output, which
//! these runs produce and the README must match (ids normalised).

use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};
use support::runtime_api::{Outcome, RuntimeApi};
use support::tfc_fake::TokenAccess;

use super::*;

/// Set to rewrite the README's doctor blocks from this run instead of comparing them.
const BLESS: &str = "TFC_ONBOARDER_BLESS_README";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Environment of the binary: the configuration, moto's endpoint (through the proxy, which
/// counts writes) and the given AWS key.
fn binary_env(
    world: &World,
    tfc: &TfcFake,
    key: &(String, String),
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = base_vars(&tfc.url(), extra).into_iter().collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", world.proxy.url()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", key.0.clone()),
        ("AWS_SECRET_ACCESS_KEY", key.1.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ] {
        vars.push((k.into(), v));
    }
    vars
}

async fn cli(
    world: &World,
    tfc: &TfcFake,
    key: &(String, String),
    extra: &[(&str, &str)],
    args: &[&str],
) -> Run {
    world.proxy.clear_calls();
    tfc.clear_requests();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfc-onboarder"))
        .env_clear()
        .envs(binary_env(world, tfc, key, extra))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the binary");
    assert_eq!(
        (world.proxy.write_count(), tfc.write_count()),
        (0, 0),
        "doctor wrote something"
    );
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An operator's IAM user in the management account, with an access key.
async fn operator(world: &World) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&world.management());
    iam.create_user()
        .user_name("ops")
        .send()
        .await
        .expect("CreateUser");
    let key = iam
        .create_access_key()
        .user_name("ops")
        .send()
        .await
        .expect("CreateAccessKey")
        .access_key
        .expect("access key");
    (key.access_key_id, key.secret_access_key)
}

/// Account ids other than the management account's and the ones the scenarios chose
/// become 111111111111, 222222222222, ... in order of appearance.
fn normalise(text: &str) -> String {
    let keep = [MANAGEMENT, "111122223333"];
    let mut seen: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if run == 12 && bounded {
            let id = &text[i..i + 12];
            if keep.contains(&id) {
                out.push_str(id);
            } else {
                let n = match seen.iter().position(|s| s == id) {
                    Some(n) => n,
                    None => {
                        seen.push(id.to_owned());
                        seen.len() - 1
                    }
                };
                let digit = char::from(b'1' + u8::try_from(n).expect("fewer than 9 accounts"));
                out.extend(std::iter::repeat_n(digit, 12));
            }
            i += 12;
        } else if run > 0 {
            out.push_str(&text[i..i + run]);
            i += run;
        } else {
            let c = text[i..].chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The ```text block after `<!-- doctor output: NAME -->` in the README.
fn readme_block(readme: &str, name: &str) -> (usize, usize) {
    let marker = format!("<!-- doctor output: {name} -->\n```text\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("the README has no `{}` block", marker.trim()))
        + marker.len();
    let end = start + readme[start..].find("```\n").expect("the block is closed");
    (start, end)
}

/// Compares the binary's output with the README's block, or rewrites the block when
/// `TFC_ONBOARDER_BLESS_README` is set.
fn matches_readme(name: &str, output: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (start, end) = readme_block(&readme, name);
    let shown = format!(
        "$ tfc-onboarder doctor --function-arn \"$(terraform output -raw function_arn)\"\n{}",
        normalise(output)
    );
    if std::env::var_os(BLESS).is_some() {
        let updated = format!("{}{shown}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        readme[start..end],
        shown,
        "the README's `{name}` doctor output is out of date; run with {BLESS}=1 to rewrite it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_shows_what_doctor_prints_for_a_healthy_setup() {
    let world = World::start(true).await;
    world.deployed().await;
    world.moto.create_account("team-payments-prod", &[]).await;
    let enrolled = world.moto.create_account("team-data-dev", &[]).await;
    world.moto.make_control_tower_account(&enrolled).await;
    let key = operator(&world).await;
    let tfc = TfcFake::start(fake()).await;

    let run = cli(
        &world,
        &tfc,
        &key,
        &[],
        &["doctor", "--function-arn", FUNCTION_ARN],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    matches_readme("healthy", &run.stdout);

    // The same checks as JSON.
    let run = cli(
        &world,
        &tfc,
        &key,
        &[],
        &["doctor", "--function-arn", FUNCTION_ARN, "--output", "json"],
    )
    .await;
    assert_eq!(run.code, Some(0));
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(json["ok"], true);
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(6));
    assert!(json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_shows_what_doctor_prints_for_a_broken_setup() {
    let world = World::start(true).await;
    // A trail that stopped logging, the new-account rule disabled, an invited account
    // without any access role, a token of a team that may only read variable sets, and a
    // permissions boundary of one account.
    world
        .trail("management-events", false, false, false, ReadWriteType::All)
        .await;
    world.account_rule(false).await;
    world
        .rule("tfc-onboarder-reconcile", None, Some("rate(1 day)"), true)
        .await;
    world.moto.create_account("team-payments-prod", &[]).await;
    let invited = world.moto.create_account("legacy-billing", &[]).await;
    world.moto.delete_access_role(&invited).await;
    let key = operator(&world).await;
    let tfc = TfcFake::start(FakeOptions {
        token_access: TokenAccess::ReadVarsets,
        ..fake()
    })
    .await;
    let extra = [
        ("ONBOARD_NEW_ACCOUNT_WINDOW_SECS", "0"),
        (
            "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::111122223333:policy/TerraformBoundary",
        ),
    ];

    let run = cli(
        &world,
        &tfc,
        &key,
        &extra,
        &["doctor", "--function-arn", FUNCTION_ARN],
    )
    .await;
    assert_eq!(
        run.code,
        Some(1),
        "a failed check fails the command:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    for failed in [
        "cloudtrail",
        "event rules",
        "terraform cloud",
        "access roles",
        "role policies",
    ] {
        assert!(
            run.stdout.contains(&format!("FAIL {failed}: ")),
            "{failed}:\n{}",
            run.stdout
        );
    }
    matches_readme("broken", &run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_bad_function_arn_or_sample_before_reading_anything() {
    let world = World::start(false).await;
    let tfc = TfcFake::start(fake()).await;
    let key = ("testing".to_owned(), "testing".to_owned());
    let run = cli(
        &world,
        &tfc,
        &key,
        &[],
        &["doctor", "--function-arn", "tfc-onboarder"],
    )
    .await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("--function-arn `tfc-onboarder` is not a Lambda function ARN"),
        "{}",
        run.stderr
    );
    let run = cli(&world, &tfc, &key, &[], &["doctor", "--sample", "0"]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--sample"), "{}", run.stderr);
    assert!(world.proxy.calls().is_empty() && tfc.request_count() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lambda_doctor_answers_with_the_checks_and_finds_its_rules_from_the_context() {
    let world = World::start(false).await;
    world.deployed().await;
    world.moto.create_account("team-a", &[]).await;
    let tfc = TfcFake::start(fake()).await;
    let api = RuntimeApi::start().await;
    let key = ("testing".to_owned(), "testing".to_owned());
    let mut function = api.spawn_function(
        env!("CARGO_BIN_EXE_tfc-onboarder"),
        binary_env(&world, &tfc, &key, &[NO_POLICIES]),
    );

    world.proxy.clear_calls();
    let healthy = api.push_event(json!({"action": "doctor"}));
    let Outcome::Response(answer) = api.wait_outcome(&healthy, Duration::from_secs(60)).await
    else {
        panic!("doctor answers")
    };
    assert_eq!(answer["ok"], true, "{answer:#}");
    let rules = &answer["checks"][2];
    assert_eq!(rules["check"], "event rules");
    assert_eq!(
        rules["status"], "pass",
        "the context's ARN was used: {rules}"
    );

    // A failed check is an answer, not a function error.
    world
        .switch_rule("tfc-onboarder-create-account-result", false)
        .await;
    let broken = api.push_event(json!({"action": "doctor", "sample": 1}));
    let Outcome::Response(answer) = api.wait_outcome(&broken, Duration::from_secs(60)).await else {
        panic!("a failed doctor is still a response")
    };
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["checks"][2]["status"], "fail");
    assert!(answer["checks"][2]["fix"]
        .as_str()
        .unwrap()
        .contains("aws events enable-rule"));
    assert_eq!((world.proxy.write_count(), tfc.write_count()), (0, 0));

    let bad = api.push_event(json!({"action": "doctor", "sample": 0}));
    api.expect_invalid_event(&bad, "sample").await;

    function.start_kill().expect("stop the function");
    let logs = function.wait_with_output().await.expect("function output");
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert!(logs.contains("doctor found problems"), "{logs}");
    assert!(!logs.contains(TOKEN));
}

#[test]
fn normalising_renames_other_account_ids_in_order() {
    assert_eq!(
        normalise(
            "123456789012 a 555566667777 b 999988887777 555566667777 111122223333 x1234567890123"
        ),
        "123456789012 a 111111111111 b 222222222222 111111111111 111122223333 x1234567890123"
    );
}
