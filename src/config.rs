//! Environment -> validated [`Config`], read once at cold start. Every invalid value fails
//! here with the variable's name, before any event is touched.

use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{Hostname, OrgName, ScopeName};
use crate::error::ConfigError;
use crate::mapping::OuRule;

pub const DEFAULT_AUDIENCE: &str = "aws.workload.identity";
pub const TOOL_NAME: &str = "tfc-onboarder";

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
    pub access_role_name: String,
    pub control_tower_role_name: String,
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
    /// An account younger than this that answers AccessDenied is "not ready yet"; an older
    /// one has a real permission problem.
    pub new_account_window: Duration,
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

        let access_role_name = role_name(
            &get,
            "ONBOARD_ACCESS_ROLE_NAME",
            "OrganizationAccountAccessRole",
        )?;
        let control_tower_role_name = role_name(
            &get,
            "ONBOARD_CONTROL_TOWER_ROLE_NAME",
            "AWSControlTowerExecution",
        )?;
        let role_name_value = role_name(&get, "ONBOARD_ROLE_NAME", "terraform-cloud")?;
        let role_policy_arns = policy_list(
            &get,
            "ONBOARD_ROLE_POLICY_ARNS",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )?;
        let plan_policy_arns = policy_list(
            &get,
            "ONBOARD_PLAN_POLICY_ARNS",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )?;
        let permissions_boundary_arn = get("ONBOARD_PERMISSIONS_BOUNDARY_ARN")
            .map(|arn| check_policy_arn("ONBOARD_PERMISSIONS_BOUNDARY_ARN", arn))
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
        let partition = get("ONBOARD_PARTITION").unwrap_or_else(|| "aws".into());
        if !matches!(partition.as_str(), "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad(
                "ONBOARD_PARTITION",
                format!("`{partition}` must be aws, aws-cn or aws-us-gov"),
            ));
        }

        let retry_base =
            Duration::from_millis(parse_num(&get, "ONBOARD_RETRY_BASE_MS", 500u64, 1, 10_000)?);
        let new_account_window = Duration::from_secs(parse_num(
            &get,
            "ONBOARD_NEW_ACCOUNT_WINDOW_SECS",
            3600u64,
            0,
            86_400,
        )?);

        Ok(Self {
            organization,
            hostname,
            tfe_address,
            token,
            tfe_rate_limit,
            tfe_timeout,
            access_role_name,
            control_tower_role_name,
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
        })
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
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if valid {
        Ok(name)
    } else {
        Err(ConfigError {
            var,
            reason: format!(
                "`{name}` is not a valid IAM role name (1-64 of letters, digits and +=,.@_-)"
            ),
        })
    }
}

fn policy_list(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Vec<String>, ConfigError> {
    // An explicitly empty list ("none") is allowed: some teams attach permissions themselves.
    let raw = get(var).unwrap_or_else(|| default.into());
    if raw == "none" {
        return Ok(Vec::new());
    }
    let mut arns = Vec::new();
    for arn in raw.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let arn = check_policy_arn(var, arn.to_owned())?;
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

fn check_policy_arn(var: &'static str, arn: String) -> Result<String, ConfigError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5].starts_with("policy/")
        && parts[5].len() > 7;
    if valid {
        Ok(arn)
    } else {
        Err(ConfigError { var, reason: format!("`{arn}` is not an IAM managed policy ARN (arn:aws:iam::aws:policy/NAME or arn:aws:iam::ACCOUNT:policy/NAME)") })
    }
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
        assert_eq!(c.access_role_name, "OrganizationAccountAccessRole");
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
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TFE_TOKEN", "t")], "TFE_ORGANIZATION"),
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
