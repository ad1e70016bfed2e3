//! The orchestration of one account: account facts -> settings -> assume -> OIDC provider ->
//! role(s) -> variable set -> report. Each step reads first and writes only the difference,
//! so a re-run (or a dry run) goes through exactly the same code.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use tokio::time::Instant;

use crate::aws::iam::{Iam, RoleSpec};
use crate::aws::organizations::{AccountInfo, Organizations};
use crate::aws::{sts, Backoff, Retrying};
use crate::config::{Config, RoleMode, DEFAULT_AUDIENCE};
use crate::domain::{AccountId, ProviderArn, RoleArn};
use crate::error::{Failure, Step, StepError, TfcError};
use crate::event::{OnboardRequest, Trigger};
use crate::mapping::{self, AccountSettings, Placement};
use crate::policy::{self, ActualVar, Roles, RunPhase, VarChange, VariableSpec};
use crate::report::{Action, Change, ErrorInfo, Outcome, Report, VarsetRef};
use crate::tfc::client::Tfc;
use crate::tfc::varsets::{self, Added, Creation, VarsetSummary};
use crate::tfc::TfcClient;

/// Clients built once at cold start and shared by every invocation.
pub struct Clients {
    pub base: SdkConfig,
    pub sts: aws_sdk_sts::Client,
    /// Tooling mode: STS with the function's own credentials (`sts` is the broker's), to
    /// name the function's role in errors.
    pub own_sts: Option<aws_sdk_sts::Client>,
    pub organizations: aws_sdk_organizations::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// Only `doctor` reads CloudTrail.
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    pub tfc: TfcClient,
}

impl Clients {
    /// In tooling mode (`ONBOARD_MANAGEMENT_ROLE_ARN`), STS uses the broker session, whose only
    /// right is to assume the access roles. Everything else signs as the function itself:
    /// Organizations reads through the organization's delegation policy (infra/management),
    /// EventBridge, CloudTrail and Secrets Manager in the function's own account.
    pub fn new(base: SdkConfig, cfg: &Config) -> Result<Self, TfcError> {
        // The SDK has no timeout of its own for an answer that never comes: one attempt is
        // given up after ONBOARD_AWS_TIMEOUT_MS and retried like any transient error, so a
        // hung connection cannot hold an onboarding, or a whole sweep, until the deadline.
        // The member accounts' clients are built from `base` and keep it.
        let timeouts = base
            .timeout_config()
            .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
            .operation_attempt_timeout(cfg.aws_timeout)
            .build();
        let base = base.to_builder().timeout_config(timeouts).build();
        let secrets = matches!(cfg.token, crate::config::TokenSource::SecretsManager(_))
            .then(|| crate::aws::sdk_client!(aws_sdk_secretsmanager, &base));
        let management = match &cfg.management_role_arn {
            Some(arn) => crate::aws::broker::session(&base, arn),
            None => base.clone(),
        };
        Ok(Self {
            sts: crate::aws::sdk_client!(aws_sdk_sts, &management),
            own_sts: cfg
                .management_role_arn
                .is_some()
                .then(|| crate::aws::sdk_client!(aws_sdk_sts, &base)),
            organizations: crate::aws::sdk_client!(aws_sdk_organizations, &base),
            events: crate::aws::sdk_client!(aws_sdk_eventbridge, &base),
            cloudtrail: crate::aws::sdk_client!(aws_sdk_cloudtrail, &base),
            tfc: TfcClient::new(cfg, secrets)?,
            base,
        })
    }
}

/// How variable sets are found: one query per account, or one listing shared by a sweep.
pub enum Lookup {
    Query,
    Index(Mutex<HashMap<String, VarsetSummary>>),
}

impl Lookup {
    /// Every set by name, project-owned ones included so that a namesake is reported; of two
    /// with one name, the organization's.
    pub async fn index(tfc: &Tfc<'_>) -> Result<Self, TfcError> {
        let mut by_name: HashMap<String, VarsetSummary> = HashMap::new();
        for set in varsets::list_all(tfc).await? {
            let set = match by_name.remove(&set.name) {
                Some(seen) => varsets::prefer(seen, set),
                None => set,
            };
            by_name.insert(set.name.clone(), set);
        }
        Ok(Self::Index(Mutex::new(by_name)))
    }

    async fn find(
        &self,
        tfc: &Tfc<'_>,
        name: &crate::domain::VarsetName,
    ) -> Result<Option<VarsetSummary>, TfcError> {
        match self {
            Self::Query => varsets::find(tfc, name).await,
            Self::Index(map) => Ok(map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(name.as_str())
                .cloned()),
        }
    }

    fn remember(&self, set: &VarsetSummary) {
        if let Self::Index(map) = self {
            map.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(set.name.clone(), set.clone());
        }
    }
}

pub struct Onboarder {
    pub cfg: Config,
    pub clients: Clients,
}

/// The time kept back from the deadline for the steps after the readiness wait and for
/// reporting.
const RESERVE: Duration = Duration::from_secs(20);

/// The detail of a change that rewrote a sensitive variable.
const SENSITIVE_REWRITE: &str = "sensitive: value cannot be read back; rewritten";

fn fail(step: Step, account: &AccountId) -> impl Fn(StepError) -> Failure + '_ {
    move |source| Failure {
        step,
        account: account.clone(),
        source,
    }
}

impl Onboarder {
    /// Every AWS call of an invocation retries under this policy, bounded by `deadline`.
    pub fn retrying(&self, deadline: Instant) -> Retrying {
        Retrying {
            backoff: Backoff {
                base: self.cfg.retry_base,
                cap: Duration::from_secs(20),
                max_attempts: 30,
            },
            deadline,
        }
    }

    /// Every Terraform Cloud call of an invocation waits out throttling until `deadline`.
    pub fn tfc(&self, deadline: Instant) -> Tfc<'_> {
        self.clients.tfc.until(deadline)
    }

    pub fn organizations(&self, deadline: Instant) -> Organizations<'_> {
        Organizations::new(&self.clients, self.retrying(deadline))
    }

    /// Onboards one account; a failure is recorded in the report, never raised.
    pub async fn onboard(
        &self,
        req: &OnboardRequest,
        known: Option<AccountInfo>,
        lookup: &Lookup,
        deadline: Instant,
    ) -> Report {
        let started = Instant::now();
        let dry_run = req.dry_run || self.cfg.dry_run;
        let mut report = Report::new(req.account.clone(), dry_run);
        match self
            .run_steps(req, known, lookup, deadline, &mut report)
            .await
        {
            Ok(None) => report.settle(),
            Ok(Some(reason)) => {
                report.outcome = Outcome::Skipped;
                report.reason = Some(reason);
            }
            Err(f) => {
                tracing::error!(account_id = %f.account, step = %f.step, retryable = f.retryable(), error = %f, "onboarding failed");
                report.outcome = Outcome::Failed;
                report.error = Some(ErrorInfo {
                    step: f.step,
                    retryable: f.retryable(),
                    message: f.to_string(),
                });
            }
        }
        tracing::info!(
            account_id = %report.account_id,
            outcome = ?report.outcome,
            writes = report.writes(),
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "onboarding report"
        );
        let ready = crate::metrics::time_to_ready(
            report.outcome,
            report.joined,
            std::time::SystemTime::now(),
            self.cfg.new_account_window,
        );
        crate::metrics::onboarded(&report, req.trigger, started.elapsed(), ready);
        report
    }

    /// Returns `Some(reason)` when the account is deliberately left alone.
    async fn run_steps(
        &self,
        req: &OnboardRequest,
        known: Option<AccountInfo>,
        lookup: &Lookup,
        deadline: Instant,
        report: &mut Report,
    ) -> Result<Option<String>, Failure> {
        let account = &req.account;
        let orgs = self.organizations(deadline);
        let info = match known {
            Some(info) => info,
            None => orgs.describe_account(account).await.map_err(|e| {
                let e = if e.has_code("AccountNotFoundException") {
                    StepError::Refused(format!("account {account} is not a member of this organization (AccountNotFoundException)"))
                } else {
                    e.into()
                };
                fail(Step::DescribeAccount, account)(e)
            })?,
        };
        report.joined = info.joined;
        if !info.active {
            return Ok(Some(format!("account state is {}", info.state)));
        }
        let name = req
            .account_name
            .clone()
            .unwrap_or_else(|| info.name.clone());
        report.account_name = Some(name.clone());

        let Some(settings) = self.settings(req, &name, &orgs).await? else {
            return Ok(Some(format!(
                "opted out by tag {}onboard=false",
                self.cfg.tag_prefix
            )));
        };
        report.variable_set = Some(VarsetRef {
            id: None,
            name: settings.varset_name.to_string(),
        });

        let tfc = self.tfc(deadline);
        let state = self.read_tfc(&tfc, account, &settings, lookup).await?;

        let member = match self.assume(req, &info, deadline).await? {
            Ok(member) => member,
            Err(reason) => return Ok(Some(reason)),
        };
        report.access_role = Some(member.role);
        let iam_client = crate::aws::sdk_client!(aws_sdk_iam, &member.config);
        let iam = Iam {
            client: &iam_client,
            retrying: self.retrying(deadline),
            dry_run: report.dry_run,
        };

        let provider = ProviderArn::new(&self.cfg.partition, account, &self.cfg.hostname);
        let change = iam
            .ensure_provider(&provider, &self.cfg.hostname, &self.cfg.audience)
            .await
            .map_err(|e| fail(Step::OidcProvider, account)(e.into()))?;
        report.changes.push(change);
        report.provider_arn = Some(provider.clone());

        let planned = self.roles(account);
        let mut arns = Vec::new();
        for spec in self.role_specs(&planned, &provider, &settings) {
            let ensured = iam
                .ensure_role(&spec)
                .await
                .map_err(|e| fail(Step::Role, account)(e.into()))?;
            report.changes.extend(ensured.changes);
            arns.push(ensured.arn);
        }
        // The set and the report name the roles as IAM has them: an adopted role keeps its path.
        let mut from_iam = arns.into_iter();
        let mut arn = |planned: RoleArn| from_iam.next().unwrap_or(planned);
        let roles = match planned {
            Roles::Run(run) => Roles::Run(arn(run)),
            Roles::Split { plan, apply } => Roles::Split {
                plan: arn(plan),
                apply: arn(apply),
            },
        };
        match &roles {
            Roles::Run(arn) => report.role_arn = Some(arn.clone()),
            Roles::Split { plan, apply } => {
                report.plan_role_arn = Some(plan.clone());
                report.apply_role_arn = Some(apply.clone());
            }
        }

        let set = self
            .converge_varset(
                &tfc, account, &name, &settings, &roles, lookup, &state, report,
            )
            .await
            .map_err(fail(Step::VariableSet, account))?;
        if let Some(set) = &set {
            report.variable_set = Some(VarsetRef {
                id: Some(set.id.clone()),
                name: set.name.clone(),
            });
        }
        self.attach(&tfc, set.as_ref(), &state, report)
            .await
            .map_err(fail(Step::Attach, account))?;
        Ok(None)
    }

    async fn settings(
        &self,
        req: &OnboardRequest,
        name: &str,
        orgs: &Organizations<'_>,
    ) -> Result<Option<AccountSettings>, Failure> {
        let account = &req.account;
        let tags = orgs
            .tags(account)
            .await
            .map_err(|e| fail(Step::DescribeAccount, account)(e.into()))?;
        let placement = if self.cfg.ou_rules.is_empty() {
            Placement::default()
        } else {
            orgs.placement(account, mapping::rules_need_paths(&self.cfg.ou_rules))
                .await
                .map_err(|e| fail(Step::DescribeAccount, account)(e.into()))?
        };
        mapping::resolve(&self.cfg, account, name, &req.overrides, &tags, &placement).map_err(
            |reason| {
                fail(Step::Settings, account)(StepError::Refused(format!(
                    "invalid settings for account {account}: {reason}"
                )))
            },
        )
    }

    /// Enters the account through the first access role that can be assumed.
    /// `Ok(Err(reason))`: no role can be assumed and a sweep should move on: an old account
    /// without any of them (typical for invited accounts), or a brand-new one whose own
    /// creation event is already waiting for it. A sweep never spends its slots waiting.
    async fn assume(
        &self,
        req: &OnboardRequest,
        info: &AccountInfo,
        deadline: Instant,
    ) -> Result<Result<Box<sts::Assumed>, String>, Failure> {
        let account = &req.account;
        // Strictly younger: the age is in whole seconds (rounded down), so with `<=` a window
        // of 0 would still treat an account that joined within the last second as new.
        let new_account = info
            .joined_secs_ago()
            .is_none_or(|age| age < self.cfg.new_account_window.as_secs());
        let sweep = req.trigger == Trigger::Reconcile;
        let wait_until = deadline
            .checked_sub(RESERVE)
            .unwrap_or(deadline)
            .max(Instant::now());
        let started = Instant::now();
        let roles = sts::AccessRoles {
            sts: &self.clients.sts,
            base: &self.clients.base,
            partition: &self.cfg.partition,
            roles: &self.cfg.access_roles,
        };
        let access = roles
            .first_assumable(
                account,
                self.retrying(wait_until),
                (new_account && !sweep).then_some(wait_until),
            )
            .await
            .map_err(|e| fail(Step::AssumeRole, account)(e.into()))?;
        let tried = match access {
            sts::Access::Assumed(assumed) => return Ok(Ok(assumed)),
            sts::Access::Refused(refusals) => sts::describe(&refusals),
        };
        match (sweep, new_account) {
            (true, true) => Ok(Err(format!(
                "no access role can be assumed yet ({tried}): the account is new; its creation event or the next sweep onboards it"
            ))),
            (true, false) => Ok(Err(format!(
                "no access role can be assumed ({tried}): each is missing or does not trust the management account, typical for invited accounts; create one of them in the account, or add a role it has to ONBOARD_ACCESS_ROLE_NAMES"
            ))),
            (false, true) => Err(fail(Step::AssumeRole, account)(StepError::NotReady {
                account: account.clone(),
                detail: format!(
                    "no access role could be assumed in {} s of polling ({tried})",
                    started.elapsed().as_secs()
                ),
            })),
            (false, false) => Err(fail(Step::AssumeRole, account)(StepError::Refused(format!(
                "no access role can be assumed in an account that joined over {} minutes ago: {tried}. Each role is missing, does not trust the management account, or is not allowed by the function's own sts:AssumeRole permission. Create one of them in the account with a trust policy for the management account, or add a role the account has to ONBOARD_ACCESS_ROLE_NAMES (and to the function's policy)",
                self.cfg.new_account_window.as_secs() / 60
            )))),
        }
    }

    fn roles(&self, account: &AccountId) -> Roles {
        let arn = |name: &str| RoleArn::new(&self.cfg.partition, account, name);
        match self.cfg.role_mode {
            RoleMode::Single => Roles::Run(arn(&self.cfg.role_name)),
            RoleMode::Split => Roles::Split {
                plan: arn(&format!("{}-plan", self.cfg.role_name)),
                apply: arn(&format!("{}-apply", self.cfg.role_name)),
            },
        }
    }

    fn role_specs(
        &self,
        roles: &Roles,
        provider: &ProviderArn,
        settings: &AccountSettings,
    ) -> Vec<RoleSpec> {
        let spec = |arn: &RoleArn, phase: RunPhase, policies: &[String], what: &str| {
            let subject = policy::subject(
                &self.cfg.organization,
                &settings.project,
                &settings.workspace,
                phase,
            );
            RoleSpec {
                name: arn
                    .as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                planned_arn: arn.clone(),
                description: format!(
                    "Terraform Cloud {what} for organization {}",
                    self.cfg.organization
                ),
                trust_policy: policy::trust_policy(
                    provider,
                    &self.cfg.hostname,
                    &self.cfg.audience,
                    &subject,
                ),
                policy_arns: policies.to_vec(),
                permissions_boundary: self.cfg.permissions_boundary_arn.clone(),
                max_session_duration: self.cfg.max_session_duration,
            }
        };
        match roles {
            Roles::Run(arn) => vec![spec(arn, RunPhase::Any, &self.cfg.role_policy_arns, "runs")],
            Roles::Split { plan, apply } => vec![
                spec(plan, RunPhase::Plan, &self.cfg.plan_policy_arns, "plans"),
                spec(
                    apply,
                    RunPhase::Apply,
                    &self.cfg.role_policy_arns,
                    "applies",
                ),
            ],
        }
    }

    /// Reads what Terraform Cloud holds for this account before anything is written anywhere,
    /// so a refusal (another account's role in the set, a global or project-owned set, a
    /// workspace or project that does not exist) leaves the account untouched.
    async fn read_tfc(
        &self,
        tfc: &Tfc<'_>,
        account: &AccountId,
        settings: &AccountSettings,
        lookup: &Lookup,
    ) -> Result<TfcState, Failure> {
        let set = lookup
            .find(tfc, &settings.varset_name)
            .await
            .map_err(|e| fail(Step::VariableSet, account)(e.into()))?;
        let vars = match &set {
            Some(set) => self
                .vars_of(tfc, account, set, settings)
                .await
                .map_err(fail(Step::VariableSet, account))?,
            None => Vec::new(),
        };
        let attach = |e: TfcError| fail(Step::Attach, account)(e.into());
        let mut workspaces = Vec::new();
        for name in &settings.attach_workspaces {
            workspaces.push((
                name.clone(),
                varsets::workspace_id(tfc, name).await.map_err(attach)?,
            ));
        }
        let mut projects = Vec::new();
        for name in &settings.attach_projects {
            projects.push((
                name.clone(),
                varsets::project_id(tfc, name).await.map_err(attach)?,
            ));
        }
        Ok(TfcState {
            set,
            vars,
            workspaces,
            projects,
        })
    }

    /// The set's variables, after checking the set may hold this account's role at all: only
    /// an organization-owned, non-global set may.
    async fn vars_of(
        &self,
        tfc: &Tfc<'_>,
        account: &AccountId,
        set: &VarsetSummary,
        settings: &AccountSettings,
    ) -> Result<Vec<ActualVar>, StepError> {
        if let Some(project) = varsets::project_owner(tfc, set).await {
            return Err(StepError::Refused(format!(
                "variable set `{}` belongs to {project}, not to organization {}: tfc-onboarder only writes organization-owned sets and left it untouched. Rename or delete the project's set, or give account {account} another set name (ONBOARD_VARSET_NAME, the `{}variable-set` tag or the `variable_set` override)",
                set.name,
                tfc.organization(),
                self.cfg.tag_prefix
            )));
        }
        if set.global {
            return Err(StepError::Refused(format!(
                "variable set `{}` is global (applied to every workspace); refusing to put account {account}'s role in it",
                set.name
            )));
        }
        let vars = varsets::list_vars(tfc, &set.id).await?;
        policy::check_foreign_roles(account, &vars, settings.alias.as_deref())
            .map_err(StepError::Refused)?;
        Ok(vars)
    }

    #[allow(clippy::too_many_arguments)] // the steps' shared context, spelled out
    async fn converge_varset(
        &self,
        tfc: &Tfc<'_>,
        account: &AccountId,
        name: &str,
        settings: &AccountSettings,
        roles: &Roles,
        lookup: &Lookup,
        state: &TfcState,
        report: &mut Report,
    ) -> Result<Option<VarsetSummary>, StepError> {
        let spec = VariableSpec {
            roles,
            region: &settings.region,
            audience: &self.cfg.audience,
            default_audience: self.cfg.audience == DEFAULT_AUDIENCE,
            alias: settings.alias.as_deref(),
        };
        let (set, actual, created) = match state.set.clone() {
            Some(set) => (set, state.vars.clone(), false),
            None if report.dry_run => {
                report.changes.push(Change::new(
                    "variable_set",
                    settings.varset_name.as_str(),
                    Action::Create,
                ));
                report.changes.extend(
                    policy::desired_vars(&spec)
                        .into_iter()
                        .map(|v| Change::new("variable", v.key, Action::Create)),
                );
                return Ok(None);
            }
            None => {
                let description = match &settings.alias {
                    Some(_) => format!(
                        "{}: shared AWS dynamic credentials",
                        varsets::DESCRIPTION_PREFIX
                    ),
                    None => format!(
                        "{}: AWS dynamic credentials for account {account} ({name})",
                        varsets::DESCRIPTION_PREFIX
                    ),
                };
                let desired = policy::desired_vars(&spec);
                match varsets::create(tfc, &settings.varset_name, &description, &desired).await? {
                    // What the create stored, not what it was sent: the plan below adds the rest.
                    Creation::Created { set, vars } => {
                        lookup.remember(&set);
                        (set, vars, true)
                    }
                    // Someone created it meanwhile (or our create's answer was lost): adopt it,
                    // after the same checks as for a set found up front.
                    Creation::Found(set) => {
                        lookup.remember(&set);
                        let vars = self.vars_of(tfc, account, &set, settings).await?;
                        (set, vars, false)
                    }
                }
            }
        };
        let set_action = if created {
            Action::Create
        } else {
            Action::Unchanged
        };
        report.changes.push(
            Change::new("variable_set", set.id.as_str(), set_action).with_detail(set.name.clone()),
        );
        for change in policy::plan_vars(&spec, &actual) {
            let reported = match &change {
                // Stored by the create itself.
                VarChange::Unchanged { key } if created => {
                    Change::new("variable", key.as_str(), Action::Create)
                }
                _ if report.dry_run => planned(&change),
                // Sent with the create, yet not stored by it.
                VarChange::Create(_) if created => {
                    let added = apply_var(tfc, &set.id, &change).await?;
                    if added.action == Action::Create {
                        added.with_detail("not stored by the variable set's create; added")
                    } else {
                        added
                    }
                }
                _ => apply_var(tfc, &set.id, &change).await?,
            };
            report.changes.push(reported);
        }
        Ok(Some(set))
    }

    /// Applies the set to the workspaces and projects named in the settings (additive).
    async fn attach(
        &self,
        tfc: &Tfc<'_>,
        set: Option<&VarsetSummary>,
        state: &TfcState,
        report: &mut Report,
    ) -> Result<(), StepError> {
        if state.workspaces.is_empty() && state.projects.is_empty() {
            return Ok(());
        }
        // A set created by this run has no attachments yet: no need to read them.
        let (have_ws, have_prj) = match (set, &state.set) {
            (Some(s), Some(_)) => varsets::attachments(tfc, &s.id).await?,
            _ => Default::default(),
        };
        for (kind, resource, wanted, have) in [
            (
                "workspaces",
                "workspace_attachment",
                &state.workspaces,
                have_ws,
            ),
            ("projects", "project_attachment", &state.projects, have_prj),
        ] {
            let missing: Vec<String> = wanted
                .iter()
                .filter(|(_, id)| !have.contains(id))
                .map(|(_, id)| id.clone())
                .collect();
            if let (Some(s), false, false) = (set, missing.is_empty(), report.dry_run) {
                varsets::apply_to(tfc, &s.id, kind, &missing).await?;
            }
            for (name, id) in wanted {
                let action = if missing.contains(id) {
                    Action::Create
                } else {
                    Action::Unchanged
                };
                report
                    .changes
                    .push(Change::new(resource, name.as_str(), action).with_detail(id.clone()));
            }
        }
        Ok(())
    }
}

/// Terraform Cloud's side of one account, read before any write.
struct TfcState {
    set: Option<VarsetSummary>,
    vars: Vec<ActualVar>,
    workspaces: Vec<(String, String)>,
    projects: Vec<(String, String)>,
}

/// Applies one variable change and says what it came to.
async fn apply_var(tfc: &Tfc<'_>, set_id: &str, change: &VarChange) -> Result<Change, StepError> {
    match change {
        VarChange::Create(v) => {
            let var = |action| Change::new("variable", v.key.as_str(), action);
            return Ok(match varsets::add_var(tfc, set_id, v).await? {
                Added::Created => var(Action::Create),
                Added::AlreadySet => var(Action::Unchanged),
                Added::Rewritten { sensitive } => rewritten(var(Action::Update), sensitive),
            });
        }
        VarChange::Update { id, var, .. } => varsets::update_var(tfc, set_id, id, var).await?,
        VarChange::Delete { id, .. } => varsets::delete_var(tfc, set_id, id).await?,
        VarChange::Unchanged { .. } => {}
    }
    Ok(planned(change))
}

/// What a change is reported as when it goes as planned (and what a dry run reports).
fn planned(change: &VarChange) -> Change {
    let var = |key: &str, action| Change::new("variable", key, action);
    match change {
        VarChange::Create(v) => var(&v.key, Action::Create),
        VarChange::Update {
            var: v, sensitive, ..
        } => rewritten(var(&v.key, Action::Update), *sensitive),
        VarChange::Delete { key, .. } => var(key, Action::Delete),
        VarChange::Unchanged { key } => var(key, Action::Unchanged),
    }
}

fn rewritten(change: Change, sensitive: bool) -> Change {
    if sensitive {
        change.with_detail(SENSITIVE_REWRITE)
    } else {
        change
    }
}
