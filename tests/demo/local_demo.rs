//! The local demo: moto and the Terraform Cloud fake on 127.0.0.1, a new account created in
//! moto, and the real `CreateAccountResult` event sent through the function running as a
//! Lambda (over the Runtime API). Prints the report and what now exists: the provider, the
//! role's trust policy and the variable set. No AWS account or Terraform Cloud needed.

#[path = "../support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::env::{
    attached_policies, base_vars, provider_client_ids, sample_event, trust_policy_of, ORG, TOKEN,
};
use support::moto::Moto;
use support::runtime_api::{Outcome, RuntimeApi};
use support::tfc_fake::{FakeOptions, TfcFake};

fn heading(text: &str) {
    println!("\n\x1b[1m== {text}\x1b[0m");
}

#[tokio::main]
async fn main() {
    let function = std::env::args()
        .nth(1)
        .expect("usage: local-demo <path of the built tfc-onboarder binary>");

    heading("Starting moto (AWS) and the Terraform Cloud fake on 127.0.0.1");
    let moto: &'static Moto = Box::leak(Box::new(Moto::start(true)));
    let tfc = TfcFake::start(FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        ..FakeOptions::default()
    })
    .await;
    println!(
        "moto:                 {}\nTerraform Cloud fake: {} (organization `{ORG}`)",
        moto.url(),
        tfc.url()
    );

    heading("Creating an organization and a new account in moto");
    let management = moto.ensure_organization().await;
    let account = moto.create_account("team-payments-prod", &[]).await;
    println!("management account {management}, new account {account} (team-payments-prod)");

    heading("Sending events/create-account-result.json through the function as a Lambda");
    let api = RuntimeApi::start().await;
    let mut vars: Vec<(String, String)> = base_vars(&tfc.url(), &[("RUST_LOG", "info")])
        .into_iter()
        .collect();
    vars.extend([
        ("AWS_ENDPOINT_URL".to_owned(), moto.url()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
    ]);
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(&function)
        .env_clear()
        .envs(vars)
        .envs(api.env_for_process())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {function}: {e}"));
    let event = sample_event("create-account-result.json", &account);
    let id = api.push_event(event.clone());
    let outcome = api.wait_outcome(&id, Duration::from_secs(120)).await;
    if let Some(ready) = api.first_next_at() {
        println!(
            "function ready {:?} after spawn",
            ready.duration_since(spawned)
        );
    }
    let Outcome::Response(report) = outcome else {
        panic!("the function failed: {outcome:?}")
    };
    println!(
        "report:\n{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );

    heading(&format!("In account {account}: the OIDC provider"));
    let iam = aws_sdk_iam::Client::new(&moto.member_sdk_config(&account).await);
    println!(
        "arn:aws:iam::{account}:oidc-provider/app.terraform.io  client ids: {:?}",
        provider_client_ids(&iam, &account)
            .await
            .unwrap_or_default()
    );

    heading("The role's trust policy and attached policies");
    println!(
        "{}",
        serde_json::to_string_pretty(&trust_policy_of(&iam, "terraform-cloud").await)
            .unwrap_or_default()
    );
    println!(
        "attached: {:?}",
        attached_policies(&iam, "terraform-cloud").await
    );

    heading("The Terraform Cloud variable set");
    for set in tfc.varsets(ORG) {
        println!("{} ({}): {}", set.name, set.id, set.description);
        for v in set.vars {
            println!(
                "  {:<24} = {:<55} [{}{}]",
                v.key,
                v.value,
                v.category,
                if v.sensitive { ", sensitive" } else { "" }
            );
        }
    }

    heading("Sending the same event again (EventBridge delivers at least once)");
    tfc.clear_requests();
    let id = api.push_event(event);
    match api.wait_outcome(&id, Duration::from_secs(60)).await {
        Outcome::Response(again) => println!(
            "outcome: {}, Terraform Cloud writes: {}",
            again.get("outcome").and_then(Value::as_str).unwrap_or("?"),
            tfc.write_count()
        ),
        other => println!("replay failed: {other:?}"),
    }
    let _ = child.start_kill();

    heading("Its metrics: CloudWatch embedded metric format on standard output, one per line");
    if let Ok(out) = child.wait_with_output().await {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
