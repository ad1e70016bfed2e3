//! Environment -> validated [`Config`], read once at cold start. Every invalid value fails
//! here with the variable's name, before any event is touched.

use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{Hostname, OrgName, ScopeName};
use crate::error::ConfigError;
use crate::mapping::OuRule;

pub const DEFAULT_AUDIENCE: &str = "aws.workload.identity";
pub const TOOL_NAME: &str = "tfc-onboarder";
/// Plain Organizations accounts have the first, Control Tower and Account Factory for
/// Terraform accounts the second: with both, every account created in either way is reached.
pub const DEFAULT_ACCESS_ROLES: &str = "OrganizationAccountAccessRole,AWSControlTowerExecution";
/// Each role costs one AssumeRole per round of the readiness poll (paced at 2 calls a second),
/// so the round grows by half a second with every role; beyond five the poll would react too
/// slowly, and an account that has none of five roles is not reached by a sixth.
pub const MAX_ACCESS_ROLES: usize = 5;
/// The variable that turns on tooling mode; named in every error about the broker role.
pub const MANAGEMENT_ROLE_VAR: &str = "ONBOARD_MANAGEMENT_ROLE_ARN";

/// Where the Terraform Cloud API token comes from.
pub enum TokenSource {
    Inline(SecretString),
    /// Secrets Manager secret id or ARN, read on first use and cached per container.
    SecretsManager(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline([REDACTED])"),
            Self::SecretsManager(id) => write!(f, "SecretsManager({id})"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleMode {
    /// One role for plan and apply (`TFC_AWS_RUN_ROLE_ARN`).
    Single,
    /// A read-only plan role and an apply role (`TFC_AWS_PLAN_ROLE_ARN` / `TFC_AWS_APPLY_ROLE_ARN`).
    Split,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffboardMode {
    RemoveVariables,
    DeleteSet,
    Off,
}

#[derive(Debug)]
pub struct Config {
    pub organization: OrgName,
    pub hostname: Hostname,
    /// API base URL without the `/api/v2` suffix or a trailing slash.
    pub tfe_address: String,
    pub token: TokenSource,
    pub tfe_rate_limit: u32,
    pub tfe_timeout: Duration,
    /// Roles tried in this order in every member account; the first that can be assumed is
    /// used.
    pub access_roles: Vec<String>,
    /// Tooling mode: the management account's broker role, assumed first; member accounts are
    /// entered through its session, and Organizations is read with the function's own
    /// credentials under the organization's delegation policy. `None`: the function's own
    /// credentials are the management account's.
    pub management_role_arn: Option<String>,
    pub role_name: String,
    pub role_policy_arns: Vec<String>,
    pub plan_policy_arns: Vec<String>,
    pub permissions_boundary_arn: Option<String>,
    pub max_session_duration: Option<i32>,
    pub audience: String,
    pub project: ScopeName,
    pub workspace: ScopeName,
    pub varset_name_template: String,
    pub region: String,
    pub dry_run: bool,
    pub role_mode: RoleMode,
    pub tag_prefix: String,
    pub ou_rules: Vec<OuRule>,
    pub offboard: OffboardMode,
    pub ready_events: bool,
    pub event_bus: String,
    pub concurrency: usize,
    pub partition: String,
    /// Base pause of every retry backoff (AWS and Terraform Cloud).
    pub retry_base: Duration,
    /// How long one attempt of an AWS call may take before it is given up and retried.
    pub aws_timeout: Duration,
    /// An account younger than this that answers AccessDenied is "not ready yet"; an older
    /// one has a real permission problem.
    pub new_account_window: Duration,
    /// The queue the module's rules put account events on, drained into the function by an
    /// event source mapping: doctor looks for the rules that target it as well as the
    /// function.
    pub events_queue_arn: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `lookup` returns a variable's value; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bad = |var: &'static str, reason: String| ConfigError { var, reason };

        let organization = OrgName::parse(&get("TFE_ORGANIZATION").ok_or_else(|| {
            bad(
                "TFE_ORGANIZATION",
                "is required: the Terraform Cloud organization allowed to assume the role".into(),
            )
        })?)
        .map_err(|r| bad("TFE_ORGANIZATION", r))?;
        let hostname =
            Hostname::parse(&get("TFE_HOSTNAME").unwrap_or_else(|| "app.terraform.io".into()))
                .map_err(|r| bad("TFE_HOSTNAME", r))?;
        let tfe_address = match get("TFE_ADDRESS") {
            Some(a) if a.starts_with("https://") || a.starts_with("http://") => {
                a.trim_end_matches('/').to_owned()
            }
            Some(a) => {
                return Err(bad(
                    "TFE_ADDRESS",
                    format!("`{a}` must be an http(s) URL such as https://app.terraform.io"),
                ))
            }
            None => format!("https://{hostname}"),
        };
        let token = match (lookup("TFE_TOKEN").filter(|t| !t.trim().is_empty()), get("TFE_TOKEN_SECRET_ID")) {
            (Some(_), Some(_)) => return Err(bad("TFE_TOKEN", "set either TFE_TOKEN or TFE_TOKEN_SECRET_ID, not both".into())),
            (Some(t), None) => TokenSource::Inline(SecretString::from(t.trim().to_owned())),
            (None, Some(id)) => TokenSource::SecretsManager(id),
            (None, None) => {
                return Err(bad("TFE_TOKEN", "one of TFE_TOKEN or TFE_TOKEN_SECRET_ID (a Secrets Manager secret holding the token) is required".into()))
            }
        };
        let tfe_rate_limit = parse_num(&get, "TFE_RATE_LIMIT", 28u32, 1, 30)?;
        let tfe_timeout =
            Duration::from_millis(parse_num(&get, "TFE_TIMEOUT_MS", 10_000u64, 100, 60_000)?);

        refuse_replaced_role_variables(&get)?;
        let access_roles = access_role_list(&get)?;
        let role_name_value = role_name(&get, "ONBOARD_ROLE_NAME", "terraform-cloud")?;
        // First: every configured ARN is checked against it.
        let partition = get("ONBOARD_PARTITION").unwrap_or_else(|| "aws".into());
        if !matches!(partition.as_str(), "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad(
                "ONBOARD_PARTITION",
                format!("`{partition}` must be aws, aws-cn or aws-us-gov"),
            ));
        }
        let role_policy_arns = policy_list(
            &get,
            "ONBOARD_ROLE_POLICY_ARNS",
            &format!("arn:{partition}:iam::aws:policy/AdministratorAccess"),
            &partition,
        )?;
        let plan_policy_arns = policy_list(
            &get,
            "ONBOARD_PLAN_POLICY_ARNS",
            &format!("arn:{partition}:iam::aws:policy/ReadOnlyAccess"),
            &partition,
        )?;
        let management_role_arn = get(MANAGEMENT_ROLE_VAR)
            .map(|arn| check_role_arn(MANAGEMENT_ROLE_VAR, arn, &partition))
            .transpose()?;
        let permissions_boundary_arn = get("ONBOARD_PERMISSIONS_BOUNDARY_ARN")
            .map(|arn| check_policy_arn("ONBOARD_PERMISSIONS_BOUNDARY_ARN", arn, &partition))
            .transpose()?;
        let max_session_duration = get("ONBOARD_MAX_SESSION_DURATION")
            .map(|_| parse_num(&get, "ONBOARD_MAX_SESSION_DURATION", 3600i32, 3600, 43200))
            .transpose()?;
        let audience = get("ONBOARD_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into());
        if audience.len() > 255
            || audience.contains(['*', '?'])
            || audience.chars().any(char::is_control)
        {
            return Err(bad(
                "ONBOARD_AUDIENCE",
                "must be a literal audience of at most 255 characters".into(),
            ));
        }
        let project = ScopeName::parse(
            "project",
            &get("ONBOARD_TFC_PROJECT").unwrap_or_else(|| "*".into()),
        )
        .map_err(|r| bad("ONBOARD_TFC_PROJECT", r))?;
        let workspace = ScopeName::parse(
            "workspace",
            &get("ONBOARD_TFC_WORKSPACE").unwrap_or_else(|| "*".into()),
        )
        .map_err(|r| bad("ONBOARD_TFC_WORKSPACE", r))?;
        let varset_name_template =
            get("ONBOARD_VARSET_NAME").unwrap_or_else(|| "aws-{account_id}".into());
        crate::policy::check_varset_template(&varset_name_template)
            .map_err(|r| bad("ONBOARD_VARSET_NAME", r))?;
        let region = get("ONBOARD_REGION").unwrap_or_else(|| "us-east-1".into());
        if !is_region(&region) {
            return Err(bad(
                "ONBOARD_REGION",
                format!("`{region}` is not an AWS region name such as eu-west-1"),
            ));
        }
        let dry_run = parse_bool(&get, "ONBOARD_DRY_RUN", false)?;
        let role_mode = match get("ONBOARD_ROLE_MODE").as_deref() {
            None | Some("single") => RoleMode::Single,
            Some("split") => RoleMode::Split,
            Some(other) => {
                return Err(bad(
                    "ONBOARD_ROLE_MODE",
                    format!("`{other}` must be `single` or `split`"),
                ))
            }
        };
        let tag_prefix = get("ONBOARD_TAG_PREFIX").unwrap_or_else(|| "tfc:".into());
        let ou_rules = match get("ONBOARD_OU_RULES") {
            Some(json) => {
                crate::mapping::parse_ou_rules(&json).map_err(|r| bad("ONBOARD_OU_RULES", r))?
            }
            None => Vec::new(),
        };
        let offboard = match get("ONBOARD_OFFBOARD").as_deref() {
            None | Some("remove-variables") => OffboardMode::RemoveVariables,
            Some("delete-set") => OffboardMode::DeleteSet,
            Some("off") => OffboardMode::Off,
            Some(other) => {
                return Err(bad(
                    "ONBOARD_OFFBOARD",
                    format!("`{other}` must be remove-variables, delete-set or off"),
                ))
            }
        };
        let ready_events = parse_bool(&get, "ONBOARD_READY_EVENTS", false)?;
        let event_bus = get("ONBOARD_EVENT_BUS").unwrap_or_else(|| "default".into());
        let concurrency = parse_num(&get, "ONBOARD_CONCURRENCY", 8usize, 1, 64)?;

        let retry_base =
            Duration::from_millis(parse_num(&get, "ONBOARD_RETRY_BASE_MS", 500u64, 1, 10_000)?);
        let aws_timeout = Duration::from_millis(parse_num(
            &get,
            "ONBOARD_AWS_TIMEOUT_MS",
            10_000u64,
            100,
            60_000,
        )?);
        let new_account_window = Duration::from_secs(parse_num(
            &get,
            "ONBOARD_NEW_ACCOUNT_WINDOW_SECS",
            3600u64,
            0,
            86_400,
        )?);

        let events_queue_arn = get("ONBOARD_EVENTS_QUEUE_ARN")
            .map(|arn| {
                let parts: Vec<&str> = arn.split(':').collect();
                match parts.as_slice() {
                    ["arn", p, "sqs", region, account, name]
                        if *p == partition
                            && !region.is_empty()
                            && account.len() == 12
                            && account.bytes().all(|b| b.is_ascii_digit())
                            && !name.is_empty() =>
                    {
                        Ok(arn)
                    }
                    _ => Err(bad(
                        "ONBOARD_EVENTS_QUEUE_ARN",
                        format!("`{arn}` is not an SQS queue ARN in partition `{partition}` (arn:{partition}:sqs:<Region>:<account>:<name>; terraform output events_queue_arn)"),
                    )),
                }
            })
            .transpose()?;

        Ok(Self {
            organization,
            hostname,
            tfe_address,
            token,
            tfe_rate_limit,
            tfe_timeout,
            aws_timeout,
            access_roles,
            management_role_arn,
            role_name: role_name_value,
            role_policy_arns,
            plan_policy_arns,
            permissions_boundary_arn,
            max_session_duration,
            audience,
            project,
            workspace,
            varset_name_template,
            region,
            dry_run,
            role_mode,
            tag_prefix,
            ou_rules,
            offboard,
            ready_events,
            event_bus,
            concurrency,
            partition,
            retry_base,
            new_account_window,
            events_queue_arn,
        })
    }
}

impl Config {
    /// Settings that are valid but risky, each worth one line in the log at cold start.
    pub fn warnings(&self) -> Vec<String> {
        let admin = format!("arn:{}:iam::aws:policy/AdministratorAccess", self.partition);
        let has_admin = self
            .role_policy_arns
            .iter()
            .chain(&self.plan_policy_arns)
            .any(|arn| *arn == admin);
        let mut warnings = Vec::new();
        if has_admin && self.project.is_wildcard() && self.workspace.is_wildcard() {
            warnings.push(format!(
                "every workspace of Terraform Cloud organization `{}` can assume the onboarded roles, which have {admin}: set ONBOARD_TFC_PROJECT (and ONBOARD_TFC_WORKSPACE) to the project that manages the accounts, or narrow each account with tags or ONBOARD_OU_RULES",
                self.organization
            ));
        }
        warnings
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError {
            var,
            reason: format!("`{other}` must be true or false"),
        }),
    }
}

fn parse_num<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    match raw.parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(ConfigError {
            var,
            reason: format!("`{raw}` must be a whole number from {min} to {max}"),
        }),
    }
}

fn role_name(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let name = get(var).unwrap_or_else(|| default.into());
    check_role_name(var, &name)?;
    Ok(name)
}

/// IAM's rule for role names: 1 to 64 of letters, digits and `+=,.@_-` (no path, no wildcard).
fn check_role_name(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ConfigError {
            var,
            reason: format!(
                "`{}` is not a valid IAM role name (1-64 of letters, digits and +=,.@_-)",
                crate::domain::truncate_for_message(name)
            ),
        })
    }
}

fn policy_list(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
    partition: &str,
) -> Result<Vec<String>, ConfigError> {
    // An explicitly empty list ("none") is allowed: some teams attach permissions themselves.
    let raw = get(var).unwrap_or_else(|| default.into());
    if raw == "none" {
        return Ok(Vec::new());
    }
    let mut arns = Vec::new();
    for arn in raw.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let arn = check_policy_arn(var, arn.to_owned(), partition)?;
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    if arns.len() > 20 {
        return Err(ConfigError {
            var,
            reason: format!(
                "{} policies given; IAM attaches at most 20 managed policies to a role",
                arns.len()
            ),
        });
    }
    Ok(arns)
}

/// A managed policy ARN of the configured partition: one of another partition does not exist
/// there, and IAM's NoSuchEntity for it would look like a policy not visible yet.
fn check_policy_arn(
    var: &'static str,
    arn: String,
    partition: &str,
) -> Result<String, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("policy/")
        && parts[5].len() > 7;
    if !valid {
        return Err(ConfigError { var, reason: format!("`{arn}` is not an IAM managed policy ARN (arn:{partition}:iam::aws:policy/NAME or arn:{partition}:iam::ACCOUNT:policy/NAME)") });
    }
    if parts[1] != partition {
        return Err(ConfigError {
            var,
            reason: format!(
                "`{arn}` is in partition `{}`, but ONBOARD_PARTITION is `{partition}`: use arn:{partition}:{}",
                parts[1],
                parts[2..].join(":")
            ),
        });
    }
    Ok(arn)
}

/// An IAM role ARN of the configured partition, `arn:<partition>:iam::<account>:role/<path/>name`:
/// anything else would only fail at the first AssumeRole, as an AccessDenied that hides the
/// typo.
fn check_role_arn(var: &'static str, arn: String, partition: &str) -> Result<String, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let name = parts
        .get(5)
        .and_then(|r| r.strip_prefix("role/"))
        .and_then(|r| r.rsplit('/').next())
        .filter(|n| !n.is_empty());
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit());
    let Some(name) = name.filter(|_| valid) else {
        return Err(ConfigError {
            var,
            reason: format!(
                "`{}` is not an IAM role ARN (arn:{partition}:iam::<management account id>:role/<name>; terraform output broker_role_arn of infra/management)",
                crate::domain::truncate_for_message(&arn)
            ),
        });
    };
    check_role_name(var, name)?;
    if parts[1] != partition {
        return Err(ConfigError {
            var,
            reason: format!(
                "`{arn}` is in partition `{}`, but ONBOARD_PARTITION is `{partition}`: a role of another partition can never be assumed",
                parts[1]
            ),
        });
    }
    Ok(arn)
}

/// The variables `ONBOARD_ACCESS_ROLE_NAMES` replaced. Ignoring them would silently change
/// which role an upgraded deployment assumes, so they stop the function instead.
fn refuse_replaced_role_variables(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let access = get("ONBOARD_ACCESS_ROLE_NAME");
    let control_tower = get("ONBOARD_CONTROL_TOWER_ROLE_NAME");
    let var = match (&access, &control_tower) {
        (Some(_), _) => "ONBOARD_ACCESS_ROLE_NAME",
        (None, Some(_)) => "ONBOARD_CONTROL_TOWER_ROLE_NAME",
        (None, None) => return Ok(()),
    };
    let suggested = format!(
        "{},{}",
        access.as_deref().unwrap_or("OrganizationAccountAccessRole"),
        control_tower
            .as_deref()
            .unwrap_or("AWSControlTowerExecution")
    );
    Err(ConfigError {
        var,
        reason: format!(
            "is no longer read; set ONBOARD_ACCESS_ROLE_NAMES instead, an ordered, comma-separated list of the roles to try in every account (for these settings: ONBOARD_ACCESS_ROLE_NAMES={suggested}), and remove ONBOARD_ACCESS_ROLE_NAME and ONBOARD_CONTROL_TOWER_ROLE_NAME"
        ),
    })
}

fn access_role_list(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "ONBOARD_ACCESS_ROLE_NAMES";
    let bad = |reason: String| ConfigError { var: VAR, reason };
    let raw = get(VAR).unwrap_or_else(|| DEFAULT_ACCESS_ROLES.into());
    let mut roles: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(bad(format!(
                "`{raw}` has an empty entry; give role names separated by single commas"
            )));
        }
        check_role_name(VAR, name)?;
        // IAM role names are unique regardless of case, so these would name one role twice.
        if let Some(twin) = roles.iter().find(|r| r.eq_ignore_ascii_case(name)) {
            return Err(bad(format!(
                "`{name}` is listed twice (as `{twin}`); IAM role names are not case-sensitive"
            )));
        }
        roles.push(name.to_owned());
    }
    if roles.len() > MAX_ACCESS_ROLES {
        return Err(bad(format!(
            "{} roles given; at most {MAX_ACCESS_ROLES}: each one adds an AssumeRole to every round of the readiness poll",
            roles.len()
        )));
    }
    Ok(roles)
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_documented_table() {
        let c = config(&[("TFE_ORGANIZATION", "acme"), ("TFE_TOKEN", "t")]).unwrap();
        assert_eq!(c.hostname.as_str(), "app.terraform.io");
        assert_eq!(c.tfe_address, "https://app.terraform.io");
        assert_eq!(
            c.access_roles,
            ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]
        );
        assert_eq!(c.role_name, "terraform-cloud");
        assert_eq!(
            c.role_policy_arns,
            ["arn:aws:iam::aws:policy/AdministratorAccess"]
        );
        assert_eq!(c.audience, DEFAULT_AUDIENCE);
        assert!(c.project.is_wildcard() && c.workspace.is_wildcard());
        assert_eq!(c.varset_name_template, "aws-{account_id}");
        assert_eq!(c.region, "us-east-1");
        assert!(!c.dry_run);
        assert_eq!(c.role_mode, RoleMode::Single);
        assert_eq!(c.offboard, OffboardMode::RemoveVariables);
        assert_eq!(c.aws_timeout, Duration::from_secs(10));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TFE_TOKEN", "t")], "TFE_ORGANIZATION"),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_AWS_TIMEOUT_MS", "0"),
                ],
                "ONBOARD_AWS_TIMEOUT_MS",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    // A queue URL (terraform output events_queue_url) instead of its ARN.
                    (
                        "ONBOARD_EVENTS_QUEUE_ARN",
                        "https://sqs.us-east-1.amazonaws.com/123456789012/tfc-onboarder-events",
                    ),
                ],
                "ONBOARD_EVENTS_QUEUE_ARN",
            ),
            (
                &[("TFE_ORGANIZATION", "*"), ("TFE_TOKEN", "t")],
                "TFE_ORGANIZATION",
            ),
            (&[("TFE_ORGANIZATION", "acme")], "TFE_TOKEN"),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("TFE_TOKEN_SECRET_ID", "s"),
                ],
                "TFE_TOKEN",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("TFE_HOSTNAME", "https://x"),
                ],
                "TFE_HOSTNAME",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_ROLE_POLICY_ARNS", "AdministratorAccess"),
                ],
                "ONBOARD_ROLE_POLICY_ARNS",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_MAX_SESSION_DURATION", "60"),
                ],
                "ONBOARD_MAX_SESSION_DURATION",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_TFC_PROJECT", "a:b"),
                ],
                "ONBOARD_TFC_PROJECT",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_VARSET_NAME", "aws-{acount}"),
                ],
                "ONBOARD_VARSET_NAME",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_REGION", "mars"),
                ],
                "ONBOARD_REGION",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_DRY_RUN", "maybe"),
                ],
                "ONBOARD_DRY_RUN",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_ROLE_MODE", "dual"),
                ],
                "ONBOARD_ROLE_MODE",
            ),
            (
                &[
                    ("TFE_ORGANIZATION", "acme"),
                    ("TFE_TOKEN", "t"),
                    ("ONBOARD_ROLE_NAME", "bad name"),
                ],
                "ONBOARD_ROLE_NAME",
            ),
        ];
        for (vars, var) in cases {
            let err = config(vars).unwrap_err();
            assert_eq!(err.var, *var, "{vars:?}: {err}");
        }
    }

    fn org(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("TFE_ORGANIZATION", "acme"), ("TFE_TOKEN", "t")];
        all.extend_from_slice(vars);
        config(&all)
    }

    #[test]
    fn access_roles_are_an_ordered_list_of_valid_distinct_role_names() {
        let c = org(&[(
            "ONBOARD_ACCESS_ROLE_NAMES",
            " AWSControlTowerExecution , Custom+Admin=1,a.b@c_d-e ",
        )])
        .unwrap();
        assert_eq!(
            c.access_roles,
            ["AWSControlTowerExecution", "Custom+Admin=1", "a.b@c_d-e"]
        );
        let max = "r1,r2,r3,r4,r5";
        assert_eq!(
            org(&[("ONBOARD_ACCESS_ROLE_NAMES", max)])
                .unwrap()
                .access_roles
                .len(),
            MAX_ACCESS_ROLES
        );
        for (bad, says) in [
            ("r1,r2,r3,r4,r5,r6", "at most 5"),
            ("a,,b", "empty entry"),
            ("a,", "empty entry"),
            ("Admin,admin", "listed twice"),
            ("path/role", "not a valid IAM role name"),
            ("Org*", "not a valid IAM role name"),
            ("bad name", "not a valid IAM role name"),
            (&*"x".repeat(65), "not a valid IAM role name"),
        ] {
            let err = org(&[("ONBOARD_ACCESS_ROLE_NAMES", bad)]).unwrap_err();
            assert_eq!(err.var, "ONBOARD_ACCESS_ROLE_NAMES", "{bad}");
            assert!(err.reason.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_replaced_role_variables_stop_the_function_and_name_the_replacement() {
        for (vars, var, suggested) in [
            (
                &[("ONBOARD_ACCESS_ROLE_NAME", "Admin")][..],
                "ONBOARD_ACCESS_ROLE_NAME",
                "ONBOARD_ACCESS_ROLE_NAMES=Admin,AWSControlTowerExecution",
            ),
            (
                &[("ONBOARD_CONTROL_TOWER_ROLE_NAME", "CT")][..],
                "ONBOARD_CONTROL_TOWER_ROLE_NAME",
                "ONBOARD_ACCESS_ROLE_NAMES=OrganizationAccountAccessRole,CT",
            ),
            (
                &[
                    ("ONBOARD_ACCESS_ROLE_NAME", "Admin"),
                    ("ONBOARD_CONTROL_TOWER_ROLE_NAME", "CT"),
                    ("ONBOARD_ACCESS_ROLE_NAMES", "Admin,CT"),
                ][..],
                "ONBOARD_ACCESS_ROLE_NAME",
                "ONBOARD_ACCESS_ROLE_NAMES=Admin,CT",
            ),
        ] {
            let err = org(vars).unwrap_err();
            assert_eq!(err.var, var);
            assert!(
                err.to_string().contains("no longer read") && err.reason.contains(suggested),
                "{err}"
            );
        }
    }

    #[test]
    fn policy_arns_follow_the_partition_and_other_partitions_are_refused() {
        let c = org(&[("ONBOARD_PARTITION", "aws-us-gov")]).unwrap();
        assert_eq!(
            c.role_policy_arns,
            ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"]
        );
        assert_eq!(
            c.plan_policy_arns,
            ["arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"]
        );
        let c = org(&[("ONBOARD_PARTITION", "aws-cn")]).unwrap();
        assert_eq!(
            c.role_policy_arns,
            ["arn:aws-cn:iam::aws:policy/AdministratorAccess"]
        );
        for var in [
            "ONBOARD_ROLE_POLICY_ARNS",
            "ONBOARD_PLAN_POLICY_ARNS",
            "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
        ] {
            let err = org(&[
                ("ONBOARD_PARTITION", "aws-cn"),
                (var, "arn:aws:iam::123456789012:policy/Boundary"),
            ])
            .unwrap_err();
            assert_eq!(err.var, var);
            assert!(
                err.reason
                    .contains("use arn:aws-cn:iam::123456789012:policy/Boundary"),
                "{err}"
            );
            // The same ARN in the default partition is fine.
            org(&[(var, "arn:aws:iam::123456789012:policy/Boundary")]).unwrap();
        }
    }

    #[test]
    fn an_organization_wide_scope_with_administrator_access_is_warned_about() {
        let warnings = org(&[]).unwrap().warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("every workspace of Terraform Cloud organization `acme`")
                && warnings[0].contains("AdministratorAccess")
                && warnings[0].contains("ONBOARD_TFC_PROJECT"),
            "{warnings:?}"
        );
        let gov = org(&[("ONBOARD_PARTITION", "aws-us-gov")])
            .unwrap()
            .warnings();
        assert_eq!(gov.len(), 1, "{gov:?}");
        for quiet in [
            &[("ONBOARD_TFC_PROJECT", "platform")][..],
            &[("ONBOARD_TFC_WORKSPACE", "accounts")][..],
            &[(
                "ONBOARD_ROLE_POLICY_ARNS",
                "arn:aws:iam::aws:policy/PowerUserAccess",
            )][..],
        ] {
            assert!(org(quiet).unwrap().warnings().is_empty(), "{quiet:?}");
        }
        let split_plan_admin = org(&[
            ("ONBOARD_ROLE_POLICY_ARNS", "none"),
            (
                "ONBOARD_PLAN_POLICY_ARNS",
                "arn:aws:iam::aws:policy/AdministratorAccess",
            ),
        ])
        .unwrap();
        assert_eq!(split_plan_admin.warnings().len(), 1);
    }

    #[test]
    fn the_management_role_is_a_role_arn_of_the_partition() {
        let with = |arn: &str, partition: &str| {
            config(&[
                ("TFE_ORGANIZATION", "acme"),
                ("TFE_TOKEN", "t"),
                ("ONBOARD_PARTITION", partition),
                (MANAGEMENT_ROLE_VAR, arn),
            ])
        };
        let base = config(&[("TFE_ORGANIZATION", "acme"), ("TFE_TOKEN", "t")]).unwrap();
        assert_eq!(base.management_role_arn, None, "single-account by default");
        for good in [
            "arn:aws:iam::111122223333:role/tfc-onboarder-broker",
            "arn:aws:iam::111122223333:role/platform/tfc-onboarder-broker",
        ] {
            assert_eq!(
                with(good, "aws").unwrap().management_role_arn.as_deref(),
                Some(good)
            );
        }
        for (bad, partition, says) in [
            ("tfc-onboarder-broker", "aws", "is not an IAM role ARN"),
            (
                "arn:aws:iam::111122223333:user/broker",
                "aws",
                "is not an IAM role ARN",
            ),
            (
                "arn:aws:iam::1111:role/broker",
                "aws",
                "is not an IAM role ARN",
            ),
            (
                "arn:aws:sts::111122223333:role/broker",
                "aws",
                "is not an IAM role ARN",
            ),
            (
                "arn:aws:iam::111122223333:role/",
                "aws",
                "is not an IAM role ARN",
            ),
            (
                "arn:aws:iam::111122223333:role/a*",
                "aws",
                "is not a valid IAM role name",
            ),
            (
                "arn:aws:iam::111122223333:role/broker",
                "aws-us-gov",
                "partition `aws`, but ONBOARD_PARTITION is `aws-us-gov`",
            ),
        ] {
            let e = with(bad, partition).unwrap_err();
            assert_eq!(e.var, MANAGEMENT_ROLE_VAR, "{bad}");
            assert!(e.reason.contains(says), "{bad}: {}", e.reason);
            assert!(e.to_string().contains(MANAGEMENT_ROLE_VAR));
        }
    }

    #[test]
    fn the_token_is_never_printed() {
        let c = config(&[
            ("TFE_ORGANIZATION", "acme"),
            ("TFE_TOKEN", "super-secret-token-value"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("super-secret-token-value"));
    }

    #[test]
    fn policy_lists_are_split_deduplicated_and_may_be_none() {
        let c = config(&[
            ("TFE_ORGANIZATION", "acme"),
            ("TFE_TOKEN", "t"),
            ("ONBOARD_ROLE_POLICY_ARNS", "arn:aws:iam::aws:policy/A, arn:aws:iam::aws:policy/A,arn:aws:iam::123456789012:policy/B"),
            ("ONBOARD_PLAN_POLICY_ARNS", "none"),
        ])
        .unwrap();
        assert_eq!(
            c.role_policy_arns,
            [
                "arn:aws:iam::aws:policy/A",
                "arn:aws:iam::123456789012:policy/B"
            ]
        );
        assert!(c.plan_policy_arns.is_empty());
    }
}
