//! The organization a soak runs against, built straight in moto and the Terraform Cloud fake
//! (never through the function): accounts in every state the function meets, and objects of
//! other owners it must never change.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use futures::StreamExt;
use serde_json::Value;

use super::super::support::env::expected_trust_policy;
use super::super::support::moto::Moto;
use super::super::support::tfc_fake::TfcFake;
use super::super::ORG;

pub const ROLE: &str = "terraform-cloud";
pub const AUDIENCE: &str = "aws.workload.identity";
pub const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
pub const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
/// The function's default region, registered as AWS_DEFAULT_REGION.
pub const REGION: &str = "us-east-1";
pub const SUB: &str = "organization:acme:project:*:workspace:*:run_phase:*";
/// The AWS-managed policies the soak's moto knows.
pub const MANAGED_POLICIES: &[&str] = &["AdministratorAccess", "ReadOnlyAccess"];
/// The variables the function owns in an account's set (env category).
pub const TOOL_KEYS: &[&str] = &[
    "TFC_AWS_PROVIDER_AUTH",
    "TFC_AWS_RUN_ROLE_ARN",
    "AWS_DEFAULT_REGION",
];

const FOREIGN_ROLE: &str = "platform-readonly";
const FOREIGN_POLICY: &str = "team-extra";
const FOREIGN_CLIENT_ID: &str = "sts.amazonaws.com";

/// The state an account is in before the soak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// An old account never onboarded: the sweep's backfill.
    Backfill,
    /// Joined moments ago; its CreateAccountResult event is among the overlapping events, and
    /// AWS keeps its access role closed for a while.
    New,
    Onboarded,
    Drifted(Drift),
    /// `tfc:onboard=false`; half of them were onboarded before they opted out.
    OptedOut,
    /// No access role the function may assume (an invited account).
    Unreachable,
}

/// What someone changed in an onboarded account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Drift {
    VariableDeleted,
    TrustEdited,
    PolicyDetached,
    AudienceMissing,
}

impl Class {
    /// Whether the function should bring the account to the documented end state; the others
    /// must be left exactly as they were.
    pub fn managed(self) -> bool {
        !matches!(self, Class::OptedOut | Class::Unreachable)
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Backfill => "new (backfill)",
            Class::New => "new (just joined)",
            Class::Onboarded => "onboarded",
            Class::Drifted(Drift::VariableDeleted) => "drifted: variable deleted",
            Class::Drifted(Drift::TrustEdited) => "drifted: trust policy edited",
            Class::Drifted(Drift::PolicyDetached) => "drifted: policy detached",
            Class::Drifted(Drift::AudienceMissing) => "drifted: audience missing",
            Class::OptedOut => "opted out",
            Class::Unreachable => "unreachable",
        }
    }
}

pub struct Account {
    pub id: String,
    pub class: Class,
}

pub struct World {
    pub management: String,
    pub accounts: Vec<Account>,
    /// Member-account configurations straight to moto, by account (AssumeRole once each).
    members: Mutex<HashMap<String, SdkConfig>>,
}

impl World {
    pub fn of_class(&self, class: impl Fn(Class) -> bool) -> Vec<&Account> {
        self.accounts.iter().filter(|a| class(a.class)).collect()
    }

    pub fn class_of(&self, id: &str) -> Option<Class> {
        self.accounts.iter().find(|a| a.id == id).map(|a| a.class)
    }

    /// IAM in `account`, straight to moto: never faulted, never counted.
    pub async fn iam(&self, moto: &Moto, account: &str) -> aws_sdk_iam::Client {
        let cached = self.members.lock().unwrap().get(account).cloned();
        let config = match cached {
            Some(c) => c,
            None => {
                let c = moto.member_sdk_config(account).await;
                self.members
                    .lock()
                    .unwrap()
                    .insert(account.to_owned(), c.clone());
                c
            }
        };
        aws_sdk_iam::Client::new(&config)
    }
}

/// Shares of the organization, in this order; what is left over is backfill.
fn classes(n: usize, rng: &mut fastrand::Rng) -> Vec<Class> {
    let share = |percent: usize| (n * percent).div_ceil(100);
    let drifts = [
        Drift::VariableDeleted,
        Drift::TrustEdited,
        Drift::PolicyDetached,
        Drift::AudienceMissing,
    ];
    let mut classes = Vec::with_capacity(n);
    classes.extend(std::iter::repeat_n(Class::New, share(5)));
    classes.extend(std::iter::repeat_n(Class::Onboarded, share(25)));
    classes.extend((0..share(20)).map(|i| Class::Drifted(drifts[i % drifts.len()])));
    classes.extend(std::iter::repeat_n(Class::OptedOut, share(10)));
    classes.extend(std::iter::repeat_n(Class::Unreachable, share(10)));
    classes.truncate(n);
    classes.resize(n, Class::Backfill);
    rng.shuffle(&mut classes);
    classes
}

/// Creates `n` member accounts (one at a time, so a seeded moto gives the same ids in every
/// run) and puts each in its state, with other owners' objects around.
pub async fn build(moto: &Moto, tfc: &TfcFake, n: usize, seed: u64) -> Result<World, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let management = moto.ensure_organization().await;
    let mut accounts = Vec::with_capacity(n);
    for (i, class) in classes(n, &mut rng).into_iter().enumerate() {
        let tags: &[(&str, &str)] = match class {
            Class::OptedOut => &[("tfc:onboard", "false")],
            _ => &[],
        };
        let id = moto.create_account(&format!("soak-{i:04}"), tags).await;
        accounts.push(Account { id, class });
    }
    let world = World {
        management,
        accounts,
        members: Mutex::new(HashMap::new()),
    };
    let results: Vec<Result<(), String>> = futures::stream::iter(world.accounts.iter().enumerate())
        .map(|(i, account)| prepare(&world, moto, tfc, i, account))
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), String>>()?;
    for i in 0..(n / 25).max(2) {
        tfc.seed_varset(
            ORG,
            &format!("team-{i:02}"),
            &[
                ("TF_LOG", "info", "env"),
                ("AWS_DEFAULT_REGION", "eu-central-1", "env"),
                ("owner", "team", "terraform"),
            ],
        );
    }
    Ok(world)
}

async fn prepare(
    world: &World,
    moto: &Moto,
    tfc: &TfcFake,
    i: usize,
    account: &Account,
) -> Result<(), String> {
    let iam = world.iam(moto, &account.id).await;
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{} {what}: {e}", account.id);
    if i % 3 == 1 {
        let trust = management_trust(&world.management);
        iam.create_role()
            .role_name(FOREIGN_ROLE)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| failed("CreateRole (foreign)", &e))?;
        iam.attach_role_policy()
            .role_name(FOREIGN_ROLE)
            .policy_arn(READ_ONLY)
            .send()
            .await
            .map_err(|e| failed("AttachRolePolicy (foreign)", &e))?;
    }
    let onboarded = match account.class {
        Class::Onboarded | Class::Drifted(_) => true,
        Class::OptedOut => i.is_multiple_of(2),
        _ => false,
    };
    if onboarded {
        let drift = match account.class {
            Class::Drifted(d) => Some(d),
            _ => None,
        };
        install(&iam, tfc, &account.id, i, drift)
            .await
            .map_err(|e| failed("onboarding by hand", &e))?;
    }
    if account.class == Class::Unreachable {
        moto.delete_access_role(&account.id).await;
    }
    Ok(())
}

/// The documented end state, as an earlier run of the function left it, with other owners'
/// additions (every other account a foreign client id, every fourth a foreign policy, every
/// other one foreign variables) and `drift` applied.
async fn install(
    iam: &aws_sdk_iam::Client,
    tfc: &TfcFake,
    account: &str,
    i: usize,
    drift: Option<Drift>,
) -> Result<(), String> {
    let managed_by = aws_sdk_iam::types::Tag::builder()
        .key("managed-by")
        .value("tfc-onboarder")
        .build()
        .map_err(|e| e.to_string())?;
    let mut client_ids = vec![AUDIENCE];
    if i.is_multiple_of(2) {
        client_ids.push(FOREIGN_CLIENT_ID);
    }
    if drift == Some(Drift::AudienceMissing) {
        client_ids = vec![FOREIGN_CLIENT_ID];
    }
    iam.create_open_id_connect_provider()
        .url("https://app.terraform.io")
        .set_client_id_list(Some(client_ids.iter().map(|c| c.to_string()).collect()))
        .tags(managed_by.clone())
        .send()
        .await
        .map_err(|e| format!("CreateOpenIDConnectProvider: {e}"))?;
    let sub = match drift {
        Some(Drift::TrustEdited) => "organization:*:project:*:workspace:*:run_phase:*",
        _ => SUB,
    };
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(expected_trust_policy(account, sub).to_string())
        .description("Terraform Cloud runs for organization acme")
        .tags(managed_by)
        .send()
        .await
        .map_err(|e| format!("CreateRole: {e}"))?;
    if drift != Some(Drift::PolicyDetached) {
        attach(iam, ADMIN).await?;
    }
    if i.is_multiple_of(4) {
        let policy = iam
            .create_policy()
            .policy_name(FOREIGN_POLICY)
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:DeleteAccountAlias","Resource":"*"}]}"#,
            )
            .send()
            .await
            .map_err(|e| format!("CreatePolicy: {e}"))?;
        let arn = policy.policy().and_then(|p| p.arn()).unwrap_or_default();
        attach(iam, arn).await?;
    }
    let role_arn = format!("arn:aws:iam::{account}:role/{ROLE}");
    let mut vars = vec![
        ("TFC_AWS_PROVIDER_AUTH", "true", "env"),
        ("TFC_AWS_RUN_ROLE_ARN", role_arn.as_str(), "env"),
        ("AWS_DEFAULT_REGION", REGION, "env"),
    ];
    if drift == Some(Drift::VariableDeleted) {
        vars.remove(i % vars.len());
    }
    if i.is_multiple_of(2) {
        vars.push(("TF_LOG", "info", "env"));
        // The same key as the function's, in the other category: not the function's.
        vars.push(("AWS_DEFAULT_REGION", "ap-south-1", "terraform"));
    }
    tfc.seed_varset(ORG, &format!("aws-{account}"), &vars);
    Ok(())
}

async fn attach(iam: &aws_sdk_iam::Client, policy: &str) -> Result<(), String> {
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn(policy)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("AttachRolePolicy {policy}: {e}"))
}

fn management_trust(management: &str) -> Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{management}:root")},
        "Action": "sts:AssumeRole"}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_in_the_organization_in_its_share() {
        let count =
            |classes: &[Class], f: fn(&Class) -> bool| classes.iter().filter(|c| f(c)).count();
        let small = classes(60, &mut fastrand::Rng::with_seed(1));
        assert_eq!(small.len(), 60);
        assert_eq!(count(&small, |c| *c == Class::New), 3);
        assert_eq!(count(&small, |c| matches!(c, Class::Drifted(_))), 12);
        assert_eq!(count(&small, |c| *c == Class::Unreachable), 6);
        assert_eq!(
            count(&small, |c| *c == Class::Backfill),
            60 - 3 - 15 - 12 - 6 - 6
        );
        let large = classes(500, &mut fastrand::Rng::with_seed(1));
        assert_eq!(
            count(&large, |c| *c == Class::Drifted(Drift::AudienceMissing)),
            25
        );
        assert_eq!(
            large,
            classes(500, &mut fastrand::Rng::with_seed(1)),
            "seeded"
        );
    }
}
