//! A whole organization against moto and the Terraform Cloud fake: the reconcile sweep (mixed
//! accounts, time budget and continuation), settings from tags and OU rules, split roles,
//! shared sets with aliases, offboarding, the ready signal and the operator CLI.
//!
//! A sweep sees every account of its organization, so each sweep test owns a private moto;
//! the other tests share one private moto per process. Both are started without the
//! AWS-managed policies (CreateAccount is then fast), hence ONBOARD_ROLE_POLICY_ARNS=none.
//! Only the split-role test needs those policies and uses the shared moto that has them.

mod support;

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use support::env::*;
use support::fault_proxy::{AwsFault, AwsFaultKind};
use support::moto::{sdk_config_at, Moto};
use support::tfc_fake::{FakeOptions, TfcFake};
use tfc_onboarder::error::{HandlerError, Step};
use tfc_onboarder::handler::Response;
use tfc_onboarder::report::{Action, Outcome, Report, Summary};
use tfc_onboarder::{Clients, Config, Onboarder};
use tokio::time::Instant;

const NO_POLICIES: (&str, &str) = ("ONBOARD_ROLE_POLICY_ARNS", "none");
const FOREIGN_ROLE: &str = "arn:aws:iam::999988887777:role/terraform-cloud";

/// One organization for the tests that never list all accounts.
async fn quiet_moto() -> &'static Moto {
    static QUIET: OnceLock<Moto> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        QUIET.get_or_init(|| Moto::start(false));
    })
    .await
    .expect("start moto");
    QUIET.get().expect("initialised above")
}

fn fake(max_page_size: usize) -> FakeOptions {
    FakeOptions {
        token: TOKEN.into(),
        organizations: vec![ORG.into()],
        max_page_size,
        ..FakeOptions::default()
    }
}

/// A second Onboarder on the same moto (through the same proxy) and the same fake, as a
/// redeployment with different settings would be.
fn onboarder(env: &TestEnv, extra: &[(&str, &str)]) -> Onboarder {
    let vars = base_vars(&env.tfc.url(), extra);
    let cfg = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration is valid");
    let clients = Clients::new(sdk_config_at(&env.proxy.url()), &cfg).expect("clients");
    Onboarder { cfg, clients }
}

async fn handle_with(ob: &Onboarder, event: &Value) -> Result<Response, HandlerError> {
    tfc_onboarder::handler::handle(ob, event, Instant::now() + Duration::from_secs(120)).await
}

async fn sweep(ob: &Onboarder, dry_run: bool) -> Summary {
    tfc_onboarder::sweep::reconcile(ob, dry_run, None, Instant::now() + Duration::from_secs(600))
        .await
        .expect("the organization and the variable sets can be listed")
}

fn counts(s: &Summary) -> Vec<(Outcome, usize)> {
    s.counts.iter().map(|(o, n)| (*o, *n)).collect()
}

fn report_of<'a>(s: &'a Summary, account: &str) -> &'a Report {
    s.reports
        .iter()
        .find(|r| r.account_id.as_str() == account)
        .unwrap_or_else(|| panic!("no report for {account}"))
}

/// Queries of the GETs that list the organization's variable sets (each one is a page).
fn varset_listings(tfc: &TfcFake) -> Vec<String> {
    tfc.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/organizations/{ORG}/varsets")))
        .map(|r| {
            percent_encoding::percent_decode_str(&r.query)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn is_search(query: &str) -> bool {
    query.split('&').any(|p| p.starts_with("q="))
}

fn keys(tfc: &TfcFake, set: &str) -> Vec<String> {
    set_vars(tfc, set).into_iter().map(|(k, _)| k).collect()
}

async fn sub_of(env: &TestEnv, account: &str, role: &str) -> String {
    let doc = trust_policy_of(&env.member_iam(account).await, role).await;
    doc.pointer("/Statement/0/Condition/StringLike/app.terraform.io:sub")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no sub condition in {doc}"))
        .to_owned()
}

async fn untouched(env: &TestEnv, account: &str) {
    assert_eq!(
        provider_count(&env.member_iam(account).await).await,
        0,
        "no provider in {account}"
    );
    assert!(
        env.tfc
            .varset_by_name(ORG, &format!("aws-{account}"))
            .is_none(),
        "no set for {account}"
    );
}

fn organizations(moto: &Moto) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(&moto.sdk_config())
}

/// A variable someone else put into a set (not through this tool).
async fn add_foreign_var(tfc: &TfcFake, set_id: &str, key: &str, value: &str) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");
    let response = http
        .post(format!("{}/api/v2/varsets/{set_id}/relationships/vars", tfc.url()))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/vnd.api+json")
        .body(json!({"data": {"type": "vars", "attributes": {"key": key, "value": value, "category": "env"}}}).to_string())
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(
        response.status().as_u16(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

#[tokio::test]
async fn a_sweep_over_fifty_two_accounts_converges_each_once_and_reports_every_failure() {
    let moto = private_moto().await;
    let env = TestEnv::with(moto, fake(20), &[NO_POLICIES, ("ONBOARD_CONCURRENCY", "4")]).await;
    let management = moto.ensure_organization().await;

    let mut fresh = Vec::new();
    for i in 0..40 {
        fresh.push(env.new_account(&format!("fresh-{i:02}"), &[]).await);
    }
    let mut onboarded = Vec::new();
    for i in 0..6 {
        let account = env.new_account(&format!("done-{i}"), &[]).await;
        assert_eq!(
            report(env.handle(&json!({"account_id": account})).await).outcome,
            Outcome::Onboarded
        );
        onboarded.push(account);
    }
    let mut opted_out = Vec::new();
    for i in 0..3 {
        opted_out.push(
            env.new_account(&format!("optout-{i}"), &[("tfc:onboard", "false")])
                .await,
        );
    }
    let bad_tag = env.new_account("bad-tag", &[("tfc:project", "a:b")]).await;
    let stolen = env
        .new_account("stolen", &[("tfc:variable-set", "stolen-set")])
        .await;
    env.tfc.seed_varset(
        ORG,
        "stolen-set",
        &[("TFC_AWS_RUN_ROLE_ARN", FOREIGN_ROLE, "env")],
    );
    let network = env.tfc.seed_workspace(ORG, "network", None);
    let app = env.tfc.seed_workspace(ORG, "app", None);
    let attached = env
        .new_account(
            "attached",
            &[
                ("tfc:workspace", "network"),
                ("tfc:attach-workspaces", "network app"),
            ],
        )
        .await;
    for i in 0..14 {
        env.tfc.seed_varset(
            ORG,
            &format!("unrelated-{i:02}"),
            &[("TF_LOG", "info", "env")],
        );
    }
    // 6 onboarded + stolen-set + 14 unrelated: two pages of 20.
    assert_eq!(env.tfc.varsets(ORG).len(), 21);
    let members = 40 + 6 + 3 + 1 + 1 + 1;

    // Dry run: the full plan, nothing written anywhere.
    env.clear_counts();
    let plan = sweep(&env.ob, true).await;
    assert!(plan.dry_run);
    assert_eq!(plan.accounts_seen, members);
    assert_eq!(
        counts(&plan),
        [
            (Outcome::Unchanged, 6),
            (Outcome::Planned, 41),
            (Outcome::Skipped, 3),
            (Outcome::Failed, 2)
        ],
        "{:?}",
        plan.failures
    );
    assert_eq!(
        env.writes(),
        (0, 0),
        "AWS {:?}",
        env.proxy
            .calls()
            .iter()
            .map(|c| &c.action)
            .collect::<Vec<_>>()
    );
    assert_eq!(env.tfc.varsets(ORG).len(), 21);
    untouched(&env, &fresh[0]).await;

    // The real sweep.
    env.clear_counts();
    let summary = sweep(&env.ob, false).await;
    assert!(!summary.dry_run);
    assert_eq!(summary.continuation, None);
    assert_eq!(summary.accounts_seen, members);
    assert!(
        summary
            .reports
            .iter()
            .all(|r| r.account_id.as_str() != management),
        "the management account is never onboarded"
    );
    assert_eq!(
        counts(&summary),
        [
            (Outcome::Onboarded, 41),
            (Outcome::Unchanged, 6),
            (Outcome::Skipped, 3),
            (Outcome::Failed, 2)
        ],
        "{:?}",
        summary.failures
    );
    let mut failures: Vec<_> = summary
        .failures
        .iter()
        .map(|f| (f.account_id.as_str().to_owned(), f.step, f.retryable))
        .collect();
    failures.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (bad_tag.clone(), Step::Settings, false),
        (stolen.clone(), Step::VariableSet, false),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(failures, expected);
    let message = |account: &str| {
        summary
            .failures
            .iter()
            .find(|f| f.account_id.as_str() == account)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    assert!(
        message(&bad_tag).contains("tfc:") && message(&bad_tag).contains("a:b"),
        "{}",
        message(&bad_tag)
    );
    assert!(
        message(&stolen).contains("999988887777") && message(&stolen).contains(&stolen),
        "{}",
        message(&stolen)
    );
    let skipped: BTreeSet<_> = summary
        .skipped
        .iter()
        .map(|s| s.account_id.as_str().to_owned())
        .collect();
    assert_eq!(skipped, opted_out.iter().cloned().collect());
    assert!(
        summary
            .skipped
            .iter()
            .all(|s| s.reason.contains("tfc:onboard=false")),
        "{:?}",
        summary.skipped
    );

    // Every account listed: 53 accounts at 20 per page.
    assert_eq!(env.proxy.count("ListAccounts"), 3);
    // The sets are listed once for the whole sweep, never searched per account.
    let listings = varset_listings(&env.tfc);
    assert_eq!(listings.len(), 2, "{listings:?}");
    assert!(!listings.iter().any(|q| is_search(q)), "{listings:?}");

    // One set per onboarded account, holding that account's role.
    for account in fresh.iter().chain(&onboarded).chain([&attached]) {
        assert_eq!(
            set_vars(&env.tfc, &format!("aws-{account}")),
            [
                ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
                ("TFC_AWS_PROVIDER_AUTH".to_owned(), "true".to_owned()),
                (
                    "TFC_AWS_RUN_ROLE_ARN".to_owned(),
                    format!("arn:aws:iam::{account}:role/terraform-cloud")
                ),
            ]
        );
    }
    assert_eq!(env.tfc.varsets(ORG).len(), 21 + 41);
    assert_eq!(report_of(&summary, &fresh[7]).outcome, Outcome::Onboarded);
    assert_eq!(
        provider_client_ids(&env.member_iam(&fresh[7]).await, &fresh[7]).await,
        Some(vec!["aws.workload.identity".to_owned()])
    );
    assert_eq!(
        sub_of(&env, &fresh[7], "terraform-cloud").await,
        "organization:acme:project:*:workspace:*:run_phase:*"
    );
    // Tags apply inside a sweep exactly as for one event.
    assert_eq!(
        sub_of(&env, &attached, "terraform-cloud").await,
        "organization:acme:project:*:workspace:network:run_phase:*"
    );
    let set = env
        .tfc
        .varset_by_name(ORG, &format!("aws-{attached}"))
        .expect("set");
    assert_eq!(
        set.workspace_ids.iter().collect::<BTreeSet<_>>(),
        [&network, &app].into_iter().collect()
    );

    // Broken and opted-out accounts are left exactly as they were.
    for account in opted_out.iter().chain([&bad_tag]) {
        untouched(&env, account).await;
    }
    assert_eq!(
        set_vars(&env.tfc, "stolen-set"),
        [("TFC_AWS_RUN_ROLE_ARN".to_owned(), FOREIGN_ROLE.to_owned())]
    );
    assert!(env
        .tfc
        .varset_by_name(ORG, &format!("aws-{stolen}"))
        .is_none());

    // A converged organization: the next sweep writes nothing.
    env.clear_counts();
    let again = sweep(&env.ob, false).await;
    assert_eq!(
        counts(&again),
        [
            (Outcome::Unchanged, 47),
            (Outcome::Skipped, 3),
            (Outcome::Failed, 2)
        ],
        "{:?}",
        again.failures
    );
    assert_eq!(
        env.writes(),
        (0, 0),
        "AWS {:?}",
        env.proxy
            .calls()
            .iter()
            .filter(|c| !c.action.starts_with("Get") && !c.action.starts_with("List"))
            .map(|c| &c.action)
            .collect::<Vec<_>>()
    );
    let listings = varset_listings(&env.tfc);
    assert_eq!(listings.len(), 4, "62 sets at 20 per page: {listings:?}");
    assert!(!listings.iter().any(|q| is_search(q)), "{listings:?}");
    println!(
        "sweep over {members} accounts: {} AWS calls and {} Terraform Cloud calls when converged",
        env.proxy.calls().len(),
        env.tfc.request_count()
    );
}

#[tokio::test]
async fn a_sweep_out_of_time_returns_a_continuation_and_the_resumed_sweep_finishes_the_rest() {
    let moto = private_moto().await;
    let slow = FakeOptions {
        latency: Some((Duration::from_millis(200), Duration::from_millis(250))),
        ..fake(100)
    };
    let env = TestEnv::with(moto, slow, &[NO_POLICIES, ("ONBOARD_CONCURRENCY", "1")]).await;
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(env.new_account(&format!("budget-{i}"), &[]).await);
    }
    accounts.sort();

    // A marker that is not an account id would silently skip part of the organization.
    let err = env
        .handle(&json!({"action": "reconcile", "continuation": "zzz"}))
        .await
        .expect_err("refused");
    assert!(
        !err.retryable && err.message.contains("continuation"),
        "{err}"
    );
    assert_eq!(env.writes(), (0, 0));

    // No account starts in the last 30 s before the deadline: about one second of starts here,
    // while each account costs at least one slow Terraform Cloud call.
    let started = std::time::Instant::now();
    let first = tfc_onboarder::sweep::reconcile(
        &env.ob,
        false,
        None,
        Instant::now() + Duration::from_millis(31_000),
    )
    .await
    .expect("sweep");
    let wall = started.elapsed();
    println!(
        "first sweep started {} of {} accounts in {wall:?}",
        first.reports.len(),
        accounts.len()
    );
    let done: Vec<String> = first
        .reports
        .iter()
        .map(|r| r.account_id.as_str().to_owned())
        .collect();
    assert!(
        !done.is_empty() && done.len() < accounts.len(),
        "started {done:?} in {wall:?}"
    );
    assert!(
        wall < Duration::from_secs(20),
        "the sweep stops starting accounts instead of running to the deadline: {wall:?}"
    );
    assert_eq!(done, accounts[..done.len()], "accounts start in id order");
    assert!(
        first
            .reports
            .iter()
            .all(|r| r.outcome == Outcome::Onboarded),
        "{:?}",
        first.reports
    );
    let marker = first
        .continuation
        .clone()
        .expect("a continuation when the budget ran out");
    assert_eq!(marker, accounts[done.len()]);
    for account in &accounts[done.len()..] {
        untouched(&env, account).await;
    }

    // Resumed through the event a scheduler would send.
    let second = match env
        .handle(&json!({"action": "reconcile", "continuation": marker}))
        .await
    {
        Ok(Response::Summary(s)) => *s,
        other => panic!("expected a summary, got {other:?}"),
    };
    assert_eq!(second.continuation, None);
    let rest: Vec<String> = second
        .reports
        .iter()
        .map(|r| r.account_id.as_str().to_owned())
        .collect();
    assert_eq!(
        rest,
        accounts[done.len()..],
        "resumes at the marker, repeats nothing"
    );
    assert!(
        second
            .reports
            .iter()
            .all(|r| r.outcome == Outcome::Onboarded),
        "{:?}",
        second.reports
    );

    // Exactly once: one set created per account over both sweeps, each with its own role.
    let creates = env
        .tfc
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/varsets"))
        .count();
    assert_eq!(creates, accounts.len());
    assert_eq!(env.proxy.count("CreateRole"), accounts.len());
    assert_eq!(
        env.proxy.count("CreateOpenIDConnectProvider"),
        accounts.len()
    );
    for account in &accounts {
        assert!(
            keys(&env.tfc, &format!("aws-{account}")).contains(&"TFC_AWS_RUN_ROLE_ARN".to_owned())
        );
    }
    env.clear_counts();
    let third = sweep(&env.ob, false).await;
    assert_eq!(counts(&third), [(Outcome::Unchanged, accounts.len())]);
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn settings_come_from_the_event_then_tags_then_ou_rules_then_defaults() {
    let moto = quiet_moto().await;
    moto.ensure_organization().await;
    let by_id = moto.create_ou(&unique("Teams")).await;
    let workloads_name = unique("Workloads");
    let workloads = moto.create_ou(&workloads_name).await;
    let prod = organizations(moto)
        .create_organizational_unit()
        .parent_id(&workloads)
        .name("Prod")
        .send()
        .await
        .expect("CreateOrganizationalUnit")
        .organizational_unit()
        .and_then(|ou| ou.id().map(str::to_owned))
        .expect("OU id");
    let rules = json!([
        {"ou": by_id, "project": "from-ou", "region": "eu-central-1"},
        {"path": format!("Root/{workloads_name}/Prod"), "project": "from-path", "workspace": "prod-*"},
        {"path": format!("Root/{workloads_name}"), "project": "from-parent-path"},
    ]);
    // A partial wildcard is refused at cold start, before any account is touched.
    let vars = base_vars(
        "http://127.0.0.1:9",
        &[("ONBOARD_OU_RULES", &rules.to_string())],
    );
    let err = Config::from_lookup(|k| vars.get(k).cloned()).expect_err("prod-* is refused");
    assert_eq!(err.var, "ONBOARD_OU_RULES");
    let rules = json!([
        {"ou": by_id, "project": "from-ou", "region": "eu-central-1"},
        {"path": format!("Root/{workloads_name}/Prod"), "project": "from-path", "workspace": "prod"},
        {"path": format!("Root/{workloads_name}"), "project": "from-parent-path"},
    ]);
    let env = TestEnv::with(
        moto,
        fake(3),
        &[NO_POLICIES, ("ONBOARD_OU_RULES", &rules.to_string())],
    )
    .await;

    let in_ou = env.new_account("in-ou", &[]).await;
    moto.move_account(&in_ou, &by_id).await;
    let tagged_set = unique("tagged");
    let tagged = env
        .new_account(
            "tagged",
            &[
                ("tfc:project", "from-tag"),
                ("tfc:variable-set", &tagged_set),
                ("tfc:region", "us-west-2"),
            ],
        )
        .await;
    moto.move_account(&tagged, &by_id).await;
    let evented = env
        .new_account(
            "evented",
            &[("tfc:project", "from-tag"), ("tfc:workspace", "tag-ws")],
        )
        .await;
    moto.move_account(&evented, &by_id).await;
    let nested = env.new_account("nested", &[]).await;
    moto.move_account(&nested, &prod).await;
    let parent = env.new_account("parent", &[]).await;
    moto.move_account(&parent, &workloads).await;
    let plain = env.new_account("plain", &[]).await;

    for account in [&in_ou, &tagged, &nested, &parent, &plain] {
        let r = report(
            env.handle(&sample_event("create-account-result.json", account))
                .await,
        );
        assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    }
    let event_set = unique("from-event");
    let r = report(
        env.handle(
            &json!({"account_id": evented, "project": "from-event", "variable_set": event_set}),
        )
        .await,
    );
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");

    let sub = |project: &str, workspace: &str| {
        format!("organization:acme:project:{project}:workspace:{workspace}:run_phase:*")
    };
    let region = |set: &str| {
        set_vars(&env.tfc, set)
            .into_iter()
            .find(|(k, _)| k == "AWS_DEFAULT_REGION")
            .map(|(_, v)| v)
    };
    // OU rule by id over the defaults.
    assert_eq!(
        sub_of(&env, &in_ou, "terraform-cloud").await,
        sub("from-ou", "*")
    );
    assert_eq!(
        region(&format!("aws-{in_ou}")).as_deref(),
        Some("eu-central-1")
    );
    // Tags over the OU rule, field by field.
    assert_eq!(
        sub_of(&env, &tagged, "terraform-cloud").await,
        sub("from-tag", "*")
    );
    assert_eq!(region(&tagged_set).as_deref(), Some("us-west-2"));
    assert!(env
        .tfc
        .varset_by_name(ORG, &format!("aws-{tagged}"))
        .is_none());
    // The event over the tags; what the event leaves out still comes from the tags.
    assert_eq!(
        sub_of(&env, &evented, "terraform-cloud").await,
        sub("from-event", "tag-ws")
    );
    assert_eq!(region(&event_set).as_deref(), Some("eu-central-1"));
    // A path rule matches the account's whole OU path, so the parent OU's rule does not
    // reach into the nested OU.
    assert_eq!(
        sub_of(&env, &nested, "terraform-cloud").await,
        sub("from-path", "prod")
    );
    assert_eq!(
        sub_of(&env, &parent, "terraform-cloud").await,
        sub("from-parent-path", "*")
    );
    // Nothing matches: the configured defaults.
    assert_eq!(sub_of(&env, &plain, "terraform-cloud").await, sub("*", "*"));
    assert_eq!(
        region(&format!("aws-{plain}")).as_deref(),
        Some("eu-west-1")
    );

    // Attachments by name, from tags.
    let project_name = unique("Platform");
    let project = env.tfc.seed_project(ORG, &project_name);
    let ws_name = unique("net");
    let ws = env.tfc.seed_workspace(ORG, &ws_name, None);
    let attach_set = unique("attach");
    let attaching = env
        .new_account(
            "attaching",
            &[
                ("tfc:variable-set", &attach_set),
                ("tfc:attach-workspaces", &ws_name),
                ("tfc:attach-projects", &project_name),
            ],
        )
        .await;
    let r = report(env.handle(&json!({"account_id": attaching})).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    let set = env.tfc.varset_by_name(ORG, &attach_set).expect("set");
    assert_eq!(
        (set.workspace_ids, set.project_ids),
        (vec![ws], vec![project])
    );
    env.clear_counts();
    assert_eq!(
        report(env.handle(&json!({"account_id": attaching})).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));
    // A name that does not exist is a clear per-account error naming it.
    let ghost = env
        .new_account("ghost", &[("tfc:attach-workspaces", "ghost-workspace")])
        .await;
    let err = env
        .handle(&json!({"account_id": ghost}))
        .await
        .expect_err("missing workspace");
    assert_eq!(err.error_type(), "NonRetryable.Attach", "{err}");
    assert!(
        err.message.contains("workspace `ghost-workspace`") && err.message.contains("404"),
        "{err}"
    );

    // Invalid tags: a clear error naming the tag, and the account is left alone.
    for (key, value) in [
        ("tfc:region", "mars"),
        ("tfc:onboard", "maybe"),
        ("tfc:alias", "has-dash"),
        ("tfc:workspace", "a:b"),
    ] {
        let account = env.new_account("invalid", &[(key, value)]).await;
        env.clear_counts();
        let err = env
            .handle(&json!({"account_id": account}))
            .await
            .expect_err("invalid tag");
        assert_eq!(err.error_type(), "NonRetryable.Settings", "{err}");
        assert!(
            err.message.contains(key.trim_start_matches("tfc:"))
                && err.message.contains(value)
                && err.message.contains(&account),
            "{err}"
        );
        assert_eq!(env.writes(), (0, 0));
        untouched(&env, &account).await;
    }
    let opted_out = env
        .new_account("opted-out", &[("tfc:onboard", "false")])
        .await;
    let r = report(
        env.handle(&sample_event("create-account-result.json", &opted_out))
            .await,
    );
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|x| x.contains("tfc:onboard=false")),
        "{r:?}"
    );
    untouched(&env, &opted_out).await;

    // ONBOARD_TAG_PREFIX replaces `tfc:`; tags with another prefix mean nothing.
    let prefixed = env
        .new_account(
            "prefixed",
            &[("terraform/project", "custom"), ("tfc:project", "ignored")],
        )
        .await;
    let ob = onboarder(&env, &[NO_POLICIES, ("ONBOARD_TAG_PREFIX", "terraform/")]);
    assert_eq!(
        report(handle_with(&ob, &json!({"account_id": prefixed})).await).outcome,
        Outcome::Onboarded
    );
    assert_eq!(
        sub_of(&env, &prefixed, "terraform-cloud").await,
        sub("custom", "*")
    );
}

#[tokio::test]
async fn split_mode_registers_plan_and_apply_roles_and_switching_modes_removes_the_other_keys() {
    // The plan and apply roles get AWS-managed policies, which only the shared moto has.
    let env = TestEnv::new(&[]).await;
    let account = env
        .new_account("split-fleet", &[("tfc:project", "payments")])
        .await;
    let set = format!("aws-{account}");
    env.tfc.seed_varset(ORG, &set, &[("TF_LOG", "info", "env")]);
    let run = format!("arn:aws:iam::{account}:role/terraform-cloud");
    let plan = format!("arn:aws:iam::{account}:role/terraform-cloud-plan");
    let apply = format!("arn:aws:iam::{account}:role/terraform-cloud-apply");
    assert_eq!(
        report(env.handle(&json!({"account_id": account})).await).outcome,
        Outcome::Onboarded
    );
    assert_eq!(
        keys(&env.tfc, &set),
        [
            "AWS_DEFAULT_REGION",
            "TFC_AWS_PROVIDER_AUTH",
            "TFC_AWS_RUN_ROLE_ARN",
            "TF_LOG"
        ]
    );

    let view_only = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess";
    let split = onboarder(
        &env,
        &[
            ("ONBOARD_ROLE_MODE", "split"),
            ("ONBOARD_PLAN_POLICY_ARNS", view_only),
        ],
    );
    let r = report(handle_with(&split, &json!({"account_id": account})).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        r.plan_role_arn.as_ref().map(|a| a.as_str()),
        Some(plan.as_str())
    );
    assert_eq!(
        r.apply_role_arn.as_ref().map(|a| a.as_str()),
        Some(apply.as_str())
    );
    assert!(
        r.changes.iter().any(|c| c.resource == "variable"
            && c.id == "TFC_AWS_RUN_ROLE_ARN"
            && c.action == Action::Delete),
        "{:?}",
        r.changes
    );
    let iam = env.member_iam(&account).await;
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud-plan").await,
        expected_trust_policy(
            &account,
            "organization:acme:project:payments:workspace:*:run_phase:plan"
        )
    );
    assert_eq!(
        trust_policy_of(&iam, "terraform-cloud-apply").await,
        expected_trust_policy(
            &account,
            "organization:acme:project:payments:workspace:*:run_phase:apply"
        )
    );
    assert_eq!(
        attached_policies(&iam, "terraform-cloud-plan").await,
        [view_only]
    );
    assert_eq!(
        attached_policies(&iam, "terraform-cloud-apply").await,
        [ADMIN]
    );
    assert_eq!(
        set_vars(&env.tfc, &set),
        [
            ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
            ("TFC_AWS_APPLY_ROLE_ARN".to_owned(), apply.clone()),
            ("TFC_AWS_PLAN_ROLE_ARN".to_owned(), plan.clone()),
            ("TFC_AWS_PROVIDER_AUTH".to_owned(), "true".to_owned()),
            ("TF_LOG".to_owned(), "info".to_owned()),
        ]
    );
    env.clear_counts();
    assert_eq!(
        report(handle_with(&split, &json!({"account_id": account})).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));

    // And back: the run role again, the plan and apply keys gone, the foreign variable kept.
    let r = report(env.handle(&json!({"account_id": account})).await);
    assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
    assert_eq!(
        set_vars(&env.tfc, &set),
        [
            ("AWS_DEFAULT_REGION".to_owned(), "eu-west-1".to_owned()),
            ("TFC_AWS_PROVIDER_AUTH".to_owned(), "true".to_owned()),
            ("TFC_AWS_RUN_ROLE_ARN".to_owned(), run),
            ("TF_LOG".to_owned(), "info".to_owned()),
        ]
    );
    assert_eq!(
        sub_of(&env, &account, "terraform-cloud").await,
        "organization:acme:project:payments:workspace:*:run_phase:*"
    );
    env.clear_counts();
    assert_eq!(
        report(env.handle(&json!({"account_id": account})).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));
}

#[tokio::test]
async fn accounts_with_aliases_share_one_set_and_offboarding_removes_only_their_keys() {
    let env = TestEnv::with(
        quiet_moto().await,
        fake(3),
        &[NO_POLICIES, ("ONBOARD_OFFBOARD", "delete-set")],
    )
    .await;
    let shared = unique("shared-fleet");
    let mut members = Vec::new();
    for alias in ["prod_eu", "prod_us", "sandbox"] {
        let account = env
            .new_account(
                alias,
                &[
                    ("tfc:alias", alias),
                    ("tfc:variable-set", &shared),
                    ("tfc:region", "eu-north-1"),
                ],
            )
            .await;
        let r = report(
            env.handle(&sample_event("create-account-result.json", &account))
                .await,
        );
        assert_eq!(r.outcome, Outcome::Onboarded, "{r:?}");
        members.push((alias, account));
    }
    let expected = |members: &[(&str, String)]| {
        let mut vars: Vec<(String, String)> = members
            .iter()
            .flat_map(|(alias, account)| {
                [
                    (format!("TFC_AWS_PROVIDER_AUTH_{alias}"), "true".to_owned()),
                    (
                        format!("TFC_AWS_RUN_ROLE_ARN_{alias}"),
                        format!("arn:aws:iam::{account}:role/terraform-cloud"),
                    ),
                ]
            })
            .collect();
        vars.sort();
        vars
    };
    assert_eq!(
        set_vars(&env.tfc, &shared),
        expected(&members),
        "one set, each role under its own alias, no region"
    );
    assert_eq!(
        env.tfc
            .varsets(ORG)
            .iter()
            .filter(|s| s.name == shared)
            .count(),
        1
    );
    env.clear_counts();
    assert_eq!(
        report(env.handle(&json!({"account_id": members[0].1})).await).outcome,
        Outcome::Unchanged
    );
    assert_eq!(env.writes(), (0, 0));

    // An alias already holding another account's role is refused.
    let twin = env
        .new_account(
            "twin",
            &[("tfc:alias", "prod_eu"), ("tfc:variable-set", &shared)],
        )
        .await;
    let err = env
        .handle(&json!({"account_id": twin}))
        .await
        .expect_err("refused");
    assert_eq!(err.error_type(), "NonRetryable.VariableSet", "{err}");
    assert!(
        err.message.contains(&members[0].1) && err.message.contains("TFC_AWS_RUN_ROLE_ARN_prod_eu"),
        "{err}"
    );
    assert_eq!(set_vars(&env.tfc, &shared), expected(&members));

    // Offboarding one account removes its alias's keys only, even in delete-set mode.
    let org = organizations(env.moto);
    let (_, closing) = members.remove(1);
    org.close_account()
        .account_id(&closing)
        .send()
        .await
        .expect("CloseAccount");
    let close = sample_event("close-account-result.json", &closing);
    let r = report(env.handle(&close).await);
    assert_eq!(r.outcome, Outcome::Offboarded, "{r:?}");
    assert_eq!(set_vars(&env.tfc, &shared), expected(&members));
    env.clear_counts();
    assert_eq!(report(env.handle(&close).await).outcome, Outcome::Skipped);
    assert_eq!(env.writes(), (0, 0));

    // The last one out deletes the set this tool created.
    for (_, account) in &members {
        org.close_account()
            .account_id(account)
            .send()
            .await
            .expect("CloseAccount");
        assert_eq!(
            report(
                env.handle(&sample_event("close-account-result.json", account))
                    .await
            )
            .outcome,
            Outcome::Offboarded
        );
    }
    assert!(env.tfc.varset_by_name(ORG, &shared).is_none());
}

#[tokio::test]
async fn offboarding_removes_what_this_tool_registered_and_nothing_else() {
    let env = TestEnv::with(quiet_moto().await, fake(3), &[NO_POLICIES]).await;
    let org = organizations(env.moto);
    let onboard = |account: String| {
        let env = &env;
        async move {
            assert_eq!(
                report(env.handle(&json!({"account_id": account})).await).outcome,
                Outcome::Onboarded
            );
            env.tfc
                .varset_by_name(ORG, &format!("aws-{account}"))
                .expect("set")
                .id
        }
    };

    // remove-variables (the default), after CloseAccountResult: the foreign variable stays.
    let closed = env.new_account("closed", &[]).await;
    let set_id = onboard(closed.clone()).await;
    add_foreign_var(&env.tfc, &set_id, "TF_LOG", "info").await;
    org.close_account()
        .account_id(&closed)
        .send()
        .await
        .expect("CloseAccount");
    env.clear_counts();
    let planned = report(
        env.handle(&json!({"action": "offboard", "account_id": closed, "dry_run": true}))
            .await,
    );
    assert_eq!(planned.outcome, Outcome::Planned, "{planned:?}");
    assert_eq!(env.writes(), (0, 0));
    let event = sample_event("close-account-result.json", &closed);
    let r = report(env.handle(&event).await);
    assert_eq!(r.outcome, Outcome::Offboarded, "{r:?}");
    let mut removed: Vec<_> = r
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.id.clone())
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        [
            "AWS_DEFAULT_REGION",
            "TFC_AWS_PROVIDER_AUTH",
            "TFC_AWS_RUN_ROLE_ARN"
        ]
    );
    assert_eq!(
        set_vars(&env.tfc, &format!("aws-{closed}")),
        [("TF_LOG".to_owned(), "info".to_owned())]
    );
    env.clear_counts();
    let again = report(env.handle(&event).await);
    assert_eq!(again.outcome, Outcome::Skipped, "{again:?}");
    assert_eq!(env.writes(), (0, 0));

    // delete-set, after RemoveAccountFromOrganization: DescribeAccount no longer knows the
    // account, the default set name still finds its set, which goes as a whole.
    let delete_set = onboarder(&env, &[NO_POLICIES, ("ONBOARD_OFFBOARD", "delete-set")]);
    let removed_account = env.new_account("removed", &[]).await;
    onboard(removed_account.clone()).await;
    org.remove_account_from_organization()
        .account_id(&removed_account)
        .send()
        .await
        .expect("RemoveAccountFromOrganization");
    let event = sample_event("remove-account-from-organization.json", &removed_account);
    let r = report(handle_with(&delete_set, &event).await);
    assert_eq!(r.outcome, Outcome::Offboarded, "{r:?}");
    assert!(
        r.changes
            .iter()
            .any(|c| c.resource == "variable_set" && c.action == Action::Delete),
        "{:?}",
        r.changes
    );
    assert!(env
        .tfc
        .varset_by_name(ORG, &format!("aws-{removed_account}"))
        .is_none());
    // Safe and silent when the set is already gone.
    env.clear_counts();
    let again = report(handle_with(&delete_set, &event).await);
    assert_eq!(again.outcome, Outcome::Unchanged, "{again:?}");
    assert!(
        again.variable_set.as_ref().is_some_and(|v| v.id.is_none()),
        "{again:?}"
    );
    assert_eq!(env.writes(), (0, 0));

    // delete-set keeps a set that still holds someone else's variable...
    let shared_use = env.new_account("shared-use", &[]).await;
    let set_id = onboard(shared_use.clone()).await;
    add_foreign_var(&env.tfc, &set_id, "TF_VAR_owner", "team-a").await;
    org.close_account()
        .account_id(&shared_use)
        .send()
        .await
        .expect("CloseAccount");
    let r = report(
        handle_with(
            &delete_set,
            &sample_event("close-account-result.json", &shared_use),
        )
        .await,
    );
    assert_eq!(r.outcome, Outcome::Offboarded, "{r:?}");
    assert_eq!(
        set_vars(&env.tfc, &format!("aws-{shared_use}")),
        [("TF_VAR_owner".to_owned(), "team-a".to_owned())]
    );

    // ...and a set this tool did not create, even when nothing else is left in it.
    let adopted = env.new_account("adopted", &[]).await;
    env.tfc.seed_varset(ORG, &format!("aws-{adopted}"), &[]);
    onboard(adopted.clone()).await;
    org.close_account()
        .account_id(&adopted)
        .send()
        .await
        .expect("CloseAccount");
    let r = report(
        handle_with(
            &delete_set,
            &sample_event("close-account-result.json", &adopted),
        )
        .await,
    );
    assert_eq!(r.outcome, Outcome::Offboarded, "{r:?}");
    assert_eq!(set_vars(&env.tfc, &format!("aws-{adopted}")), []);

    // off: nothing is touched.
    let off = onboarder(&env, &[NO_POLICIES, ("ONBOARD_OFFBOARD", "off")]);
    let kept = env.new_account("kept", &[]).await;
    onboard(kept.clone()).await;
    org.close_account()
        .account_id(&kept)
        .send()
        .await
        .expect("CloseAccount");
    env.clear_counts();
    let r = report(handle_with(&off, &sample_event("close-account-result.json", &kept)).await);
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|x| x.contains("ONBOARD_OFFBOARD=off")),
        "{r:?}"
    );
    assert_eq!(env.writes(), (0, 0));
    assert_eq!(
        keys(&env.tfc, &format!("aws-{kept}")),
        [
            "AWS_DEFAULT_REGION",
            "TFC_AWS_PROVIDER_AUTH",
            "TFC_AWS_RUN_ROLE_ARN"
        ]
    );
}

/// The PutEvents entries the proxy saw, as (detail type, detail, whole entry).
fn ready_events(env: &TestEnv) -> Vec<(String, Value, Value)> {
    env.proxy
        .calls()
        .into_iter()
        .filter(|c| c.service == "events" && c.action == "PutEvents")
        .flat_map(|c| {
            assert_eq!(c.status, 200, "EventBridge accepted the entry: {c:?}");
            let body: Value = serde_json::from_str(&c.body).expect("awsJson body");
            body["Entries"].as_array().cloned().unwrap_or_default()
        })
        .map(|entry| {
            let detail =
                serde_json::from_str(entry["Detail"].as_str().expect("Detail is a string"))
                    .expect("Detail is JSON");
            (
                entry["DetailType"].as_str().unwrap_or_default().to_owned(),
                detail,
                entry,
            )
        })
        .collect()
}

#[tokio::test]
async fn ready_events_announce_onboarding_its_failure_and_offboarding() {
    // delete-set: a replayed offboarding then finds no set at all, an unchanged report.
    let env = TestEnv::with(
        quiet_moto().await,
        fake(3),
        &[
            NO_POLICIES,
            ("ONBOARD_READY_EVENTS", "true"),
            ("ONBOARD_OFFBOARD", "delete-set"),
        ],
    )
    .await;
    let account = env.new_account("ready", &[]).await;

    let r = report(
        env.handle(&sample_event("create-account-result.json", &account))
            .await,
    );
    let events = ready_events(&env);
    assert_eq!(events.len(), 1, "{events:?}");
    let (detail_type, detail, entry) = &events[0];
    assert_eq!(detail_type, "Account Onboarded");
    assert_eq!(entry["Source"], "tfc-onboarder");
    assert_eq!(entry["EventBusName"], "default");
    assert_eq!(entry["Resources"], json!([format!("account/{account}")]));
    assert_eq!(
        *detail,
        serde_json::to_value(&r).unwrap(),
        "the detail is the report"
    );
    assert_eq!(detail["outcome"], "onboarded");
    assert_eq!(
        detail["role_arn"],
        format!("arn:aws:iam::{account}:role/terraform-cloud")
    );

    // Dry runs announce nothing.
    env.clear_counts();
    report(
        env.handle(&json!({"account_id": account, "dry_run": true}))
            .await,
    );
    assert!(ready_events(&env).is_empty());

    let broken = env
        .new_account("ready-broken", &[("tfc:region", "mars")])
        .await;
    env.clear_counts();
    env.handle(&json!({"account_id": broken}))
        .await
        .expect_err("invalid tag");
    let events = ready_events(&env);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Account Onboarding Failed");
    assert_eq!(events[0].1["account_id"], broken.as_str());
    assert_eq!(events[0].1["outcome"], "failed");
    assert_eq!(events[0].1["error"]["step"], "settings");

    organizations(env.moto)
        .close_account()
        .account_id(&account)
        .send()
        .await
        .expect("CloseAccount");
    env.clear_counts();
    let close = sample_event("close-account-result.json", &account);
    let r = report(env.handle(&close).await);
    let events = ready_events(&env);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Account Offboarded");
    assert_eq!(events[0].1, serde_json::to_value(&r).unwrap());
    assert!(env
        .tfc
        .varset_by_name(ORG, &format!("aws-{account}"))
        .is_none());
    // A replayed offboarding removes nothing and says nothing (least of all "Account Onboarded").
    env.clear_counts();
    assert_eq!(report(env.handle(&close).await).outcome, Outcome::Unchanged);
    assert!(ready_events(&env).is_empty(), "{:?}", ready_events(&env));
}

async fn cli(args: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfc-onboarder"));
    // Nothing from the machine running the tests (profiles, credentials, regions) leaks in.
    cmd.env_clear()
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run the binary");
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the CLI finishes")
        .expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_operator_cli_documents_its_flags_and_runs_against_moto_and_the_fake() {
    let (code, help, _) = cli(&["--help"], &[], None).await;
    assert_eq!(code, 0);
    for word in [
        "onboard",
        "reconcile",
        "offboard",
        "handle",
        "--output",
        "--budget-secs",
    ] {
        assert!(help.contains(word), "`{word}` missing from --help:\n{help}");
    }
    for (sub, flags) in [
        (
            "onboard",
            &[
                "--account-id",
                "--account-name",
                "--dry-run",
                "--project",
                "--workspace",
                "--variable-set",
                "--output",
            ][..],
        ),
        (
            "reconcile",
            &["--dry-run", "--continuation", "--output", "--budget-secs"][..],
        ),
        ("offboard", &["--account-id", "--dry-run"][..]),
        ("handle", &["<EVENT>", "standard input"][..]),
    ] {
        let (code, help, _) = cli(&[sub, "--help"], &[], None).await;
        assert_eq!(code, 0, "{sub} --help");
        for flag in flags {
            assert!(
                help.contains(flag),
                "`{flag}` missing from `{sub} --help`:\n{help}"
            );
        }
    }
    let (code, _, stderr) = cli(&["onboard", "--account-id", "12345"], &[], None).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`12345`") && stderr.contains("12-digit"),
        "{stderr}"
    );

    let moto = private_moto().await;
    let env = TestEnv::with(moto, fake(3), &[]).await;
    let first = env.new_account("cli-one", &[]).await;
    // Reached only through AWSControlTowerExecution, the second access role.
    let second = env.new_account("cli-two", &[]).await;
    moto.make_control_tower_account(&second).await;
    let skipped = env
        .new_account("cli-out", &[("tfc:onboard", "false")])
        .await;
    // The binary is configured like a deployment: environment only, AWS through the proxy.
    let vars: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", env.proxy.url()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("TFE_ORGANIZATION", ORG.into()),
        ("TFE_TOKEN", TOKEN.into()),
        ("TFE_ADDRESS", env.tfc.url()),
        ("ONBOARD_ROLE_POLICY_ARNS", "none".into()),
        ("ONBOARD_RETRY_BASE_MS", "5".into()),
        ("RUST_LOG", "warn".into()),
    ];

    env.clear_counts();
    let (code, stdout, stderr) = cli(
        &[
            "onboard",
            "--account-id",
            &first,
            "--dry-run",
            "--output",
            "json",
        ],
        &vars,
        None,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("risky configuration"),
        "no AdministratorAccess: {stderr}"
    );
    let planned: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(planned["account_id"], first.as_str());
    assert_eq!(planned["outcome"], "planned");
    assert_eq!(planned["dry_run"], true);
    assert_eq!(planned["account_name"], "cli-one");
    assert!(
        env.proxy.calls().iter().any(|c| c.action == "AssumeRole"),
        "it really read the account"
    );
    assert_eq!(env.writes(), (0, 0));
    untouched(&env, &first).await;

    // Organization-wide trust with AdministratorAccess (the defaults) is allowed, and said
    // once at start; a project scope quiets it.
    let admin: Vec<(&str, String)> = vars
        .iter()
        .filter(|(k, _)| *k != "ONBOARD_ROLE_POLICY_ARNS")
        .cloned()
        .collect();
    let dry = ["onboard", "--account-id", first.as_str(), "--dry-run"];
    let (code, _, stderr) = cli(&dry, &admin, None).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("risky configuration").count(), 1, "{stderr}");
    assert!(
        stderr.contains("AdministratorAccess") && stderr.contains("ONBOARD_TFC_PROJECT"),
        "{stderr}"
    );
    let mut scoped = admin.clone();
    scoped.push(("ONBOARD_TFC_PROJECT", "platform".into()));
    let (code, _, stderr) = cli(&dry, &scoped, None).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("risky configuration"), "{stderr}");
    assert_eq!(env.writes(), (0, 0));

    let (code, stdout, stderr) = cli(&["reconcile", "--output", "table"], &vars, None).await;
    assert_eq!(code, 0, "{stderr}");
    let line = |account: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(account))
            .unwrap_or_else(|| panic!("no row for {account}:\n{stdout}"))
            .to_owned()
    };
    assert!(stdout.starts_with("ACCOUNT"), "{stdout}");
    assert!(
        stdout
            .lines()
            .next()
            .unwrap_or_default()
            .contains("ACCESS ROLE"),
        "{stdout}"
    );
    for (account, role) in [
        (&first, "OrganizationAccountAccessRole"),
        (&second, "AWSControlTowerExecution"),
    ] {
        assert!(
            line(account).contains("onboarded")
                && line(account).contains(&format!("aws-{account}"))
                && line(account).contains(role),
            "{stdout}"
        );
        assert_eq!(
            keys(&env.tfc, &format!("aws-{account}")),
            [
                "AWS_DEFAULT_REGION",
                "TFC_AWS_PROVIDER_AUTH",
                "TFC_AWS_RUN_ROLE_ARN"
            ]
        );
    }
    assert!(
        line(&skipped).contains("skipped") && line(&skipped).contains("tfc:onboard=false"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"counts: {"onboarded":2,"skipped":1}"#),
        "{stdout}"
    );
    untouched(&env, &skipped).await;

    let (code, _, stderr) = cli(
        &["reconcile", "--continuation", "not-an-account"],
        &vars,
        None,
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("continuation"), "{stderr}");

    // `handle -` processes an event from standard input exactly as the Lambda would.
    let event = json!({"action": "offboard", "account_id": second}).to_string();
    let (code, stdout, stderr) =
        cli(&["handle", "-", "--output", "json"], &vars, Some(&event)).await;
    assert_eq!(code, 0, "{stderr}");
    let offboarded: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(offboarded["outcome"], "offboarded");
    assert_eq!(set_vars(&env.tfc, &format!("aws-{second}")), []);
}

#[tokio::test]
async fn a_sweep_skips_accounts_it_cannot_assume_into_without_waiting_for_them() {
    let moto = private_moto().await;
    let env = TestEnv::with(
        moto,
        fake(100),
        &[NO_POLICIES, ("ONBOARD_CONCURRENCY", "1")],
    )
    .await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(env.new_account(&format!("not-ready-{i}"), &[]).await);
    }
    accounts.sort();
    // The first account (in id order) answers AccessDenied, as a brand-new account does for a
    // while; a sweep must not hold its slot for the budget, which an event-driven run would.
    env.proxy.inject(AwsFault {
        action: "AssumeRole",
        times: 1,
        kind: AwsFaultKind::Error {
            status: 403,
            code: "AccessDenied",
            message: "not yet",
        },
    });
    let started = std::time::Instant::now();
    let summary = sweep(&env.ob, false).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        env.proxy.count("AssumeRole"),
        4,
        "one round each (two roles for the denied account: AWSControlTowerExecution does not exist there), no readiness wait"
    );
    let skipped = report_of(&summary, &accounts[0]);
    assert_eq!(skipped.outcome, Outcome::Skipped);
    let reason = skipped.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("no access role can be assumed yet") && reason.contains("AccessDenied"),
        "{reason}"
    );
    untouched(&env, &accounts[0]).await;
    for account in &accounts[1..] {
        assert_eq!(report_of(&summary, account).outcome, Outcome::Onboarded);
    }
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);

    // The next sweep picks it up.
    let again = sweep(&env.ob, false).await;
    assert_eq!(report_of(&again, &accounts[0]).outcome, Outcome::Onboarded);
}
