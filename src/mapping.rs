//! Which Terraform Cloud settings apply to one account. Precedence, highest first:
//! manual event > account tag > organizational-unit rule > configured defaults.

use serde::Deserialize;

use crate::config::Config;
use crate::domain::{truncate_for_message, AccountId, ScopeName, VarsetName};
use crate::policy::render_varset_name;

/// Settings any layer may set; `None` means "not set at this layer".
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub project: Option<String>,
    pub workspace: Option<String>,
    pub variable_set: Option<String>,
    pub region: Option<String>,
    pub attach_workspaces: Option<Vec<String>>,
    pub attach_projects: Option<Vec<String>>,
    pub alias: Option<String>,
}

/// One rule from `ONBOARD_OU_RULES`: match by OU id (the account's parent) or by OU path
/// of names from the root (`Root/Workloads/Prod`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OuRule {
    pub ou: Option<String>,
    pub path: Option<String>,
    #[serde(flatten)]
    pub settings: Overrides,
}

pub fn parse_ou_rules(json: &str) -> Result<Vec<OuRule>, String> {
    let rules: Vec<OuRule> = serde_json::from_str(json).map_err(|e| {
        format!("must be a JSON list such as [{{\"ou\": \"ou-ab12-34cd56ef\", \"project\": \"payments\"}}]: {e}")
    })?;
    for (i, rule) in rules.iter().enumerate() {
        if rule.ou.is_some() == rule.path.is_some() {
            return Err(format!("rule {i} must have exactly one of `ou` or `path`"));
        }
        validate(&rule.settings).map_err(|e| format!("rule {i}: {e}"))?;
    }
    Ok(rules)
}

/// Where the account sits in the organization, as far as rules need it.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub parent_ou: Option<String>,
    pub ou_path: Option<String>,
}

pub fn rules_need_paths(rules: &[OuRule]) -> bool {
    rules.iter().any(|r| r.path.is_some())
}

/// The resolved settings for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSettings {
    pub project: ScopeName,
    pub workspace: ScopeName,
    pub varset_name: VarsetName,
    pub region: String,
    pub attach_workspaces: Vec<String>,
    pub attach_projects: Vec<String>,
    pub alias: Option<String>,
}

/// `Ok(None)` means the account opted out (`<prefix>onboard=false`).
pub fn resolve(
    cfg: &Config,
    account: &AccountId,
    account_name: &str,
    manual: &Overrides,
    tags: &[(String, String)],
    placement: &Placement,
) -> Result<Option<AccountSettings>, String> {
    let tag = |name: &str| {
        let key = format!("{}{name}", cfg.tag_prefix);
        tags.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    match tag("onboard").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("true") => {}
        Some("false") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "tag {}onboard=`{}` must be true or false",
                cfg.tag_prefix,
                truncate_for_message(other)
            ))
        }
    }
    let names =
        |v: Option<String>| v.map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    let from_tags = Overrides {
        project: tag("project"),
        workspace: tag("workspace"),
        variable_set: tag("variable-set"),
        region: tag("region"),
        attach_workspaces: names(tag("attach-workspaces")),
        attach_projects: names(tag("attach-projects")),
        alias: tag("alias"),
    };
    validate(&from_tags).map_err(|e| format!("account tags (prefix `{}`): {e}", cfg.tag_prefix))?;
    validate(manual).map_err(|e| format!("event override: {e}"))?;

    let rule = cfg.ou_rules.iter().find(|r| {
        (r.ou.is_some() && r.ou == placement.parent_ou)
            || (r.path.is_some() && r.path == placement.ou_path)
    });
    let layers: Vec<&Overrides> = [Some(manual), Some(&from_tags), rule.map(|r| &r.settings)]
        .into_iter()
        .flatten()
        .collect();
    let pick = |f: fn(&Overrides) -> Option<&String>| layers.iter().find_map(|l| f(l)).cloned();
    let pick_list = |f: fn(&Overrides) -> Option<&Vec<String>>| {
        layers
            .iter()
            .find_map(|l| f(l))
            .cloned()
            .unwrap_or_default()
    };

    let project = match pick(|o| o.project.as_ref()) {
        Some(p) => ScopeName::parse("project", &p)?,
        None => cfg.project.clone(),
    };
    let workspace = match pick(|o| o.workspace.as_ref()) {
        Some(w) => ScopeName::parse("workspace", &w)?,
        None => cfg.workspace.clone(),
    };
    let varset_name = match pick(|o| o.variable_set.as_ref()) {
        Some(name) => VarsetName::parse(&name)?,
        None => VarsetName::parse(&render_varset_name(
            &cfg.varset_name_template,
            account,
            account_name,
        ))
        .map_err(|e| format!("{e} (from ONBOARD_VARSET_NAME and the account name)"))?,
    };
    Ok(Some(AccountSettings {
        project,
        workspace,
        varset_name,
        region: pick(|o| o.region.as_ref()).unwrap_or_else(|| cfg.region.clone()),
        attach_workspaces: pick_list(|o| o.attach_workspaces.as_ref()),
        attach_projects: pick_list(|o| o.attach_projects.as_ref()),
        alias: pick(|o| o.alias.as_ref()),
    }))
}

/// Field checks shared by every layer, so a bad tag is reported before anything is written.
fn validate(o: &Overrides) -> Result<(), String> {
    if let Some(p) = &o.project {
        ScopeName::parse("project", p)?;
    }
    if let Some(w) = &o.workspace {
        ScopeName::parse("workspace", w)?;
    }
    if let Some(v) = &o.variable_set {
        VarsetName::parse(v)?;
    }
    if let Some(r) = &o.region {
        let ok = r.split('-').count() >= 3
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(format!(
                "region `{}` is not an AWS region name",
                truncate_for_message(r)
            ));
        }
    }
    if let Some(a) = &o.alias {
        // Terraform Cloud: "letters, numbers, and underscores", and TYPE is reserved.
        let ok = !a.is_empty()
            && a.len() <= 64
            && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !a.eq_ignore_ascii_case("type");
        if !ok {
            return Err(format!(
                "alias `{}` must be letters, digits and underscores (and not TYPE)",
                truncate_for_message(a)
            ));
        }
    }
    for name in o
        .attach_workspaces
        .iter()
        .chain(o.attach_projects.iter())
        .flatten()
    {
        if name.is_empty() || name.len() > 90 {
            return Err(format!(
                "`{}` is not a workspace or project name",
                truncate_for_message(name)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = [("TFE_ORGANIZATION", "acme"), ("TFE_TOKEN", "t")]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn account() -> AccountId {
        AccountId::parse("444455556666").unwrap()
    }

    const RULES: &str = r#"[{"ou":"ou-aaaa-11111111","project":"from-ou","region":"eu-west-1"},
                            {"path":"Root/Sandbox","project":"sandbox"}]"#;

    #[test]
    fn defaults_apply_without_tags_or_rules() {
        let s = resolve(
            &cfg(&[]),
            &account(),
            "prod",
            &Overrides::default(),
            &[],
            &Placement::default(),
        )
        .unwrap()
        .unwrap();
        assert!(s.project.is_wildcard() && s.workspace.is_wildcard());
        assert_eq!(s.varset_name.as_str(), "aws-444455556666");
        assert_eq!(s.region, "us-east-1");
    }

    #[test]
    fn precedence_is_manual_then_tag_then_ou_rule_then_default() {
        let c = cfg(&[("ONBOARD_OU_RULES", RULES)]);
        let placement = Placement {
            parent_ou: Some("ou-aaaa-11111111".into()),
            ou_path: None,
        };
        let t = tags(&[("tfc:project", "from-tag")]);
        let manual = Overrides {
            project: Some("from-event".into()),
            ..Default::default()
        };
        let pick = |m: &Overrides, t: &[(String, String)], p: &Placement| {
            resolve(&c, &account(), "n", m, t, p).unwrap().unwrap()
        };
        assert_eq!(pick(&manual, &t, &placement).project.as_str(), "from-event");
        assert_eq!(
            pick(&Overrides::default(), &t, &placement).project.as_str(),
            "from-tag"
        );
        let by_ou = pick(&Overrides::default(), &[], &placement);
        assert_eq!(
            (by_ou.project.as_str(), by_ou.region.as_str()),
            ("from-ou", "eu-west-1")
        );
        assert!(pick(&Overrides::default(), &[], &Placement::default())
            .project
            .is_wildcard());
        let by_path = pick(
            &Overrides::default(),
            &[],
            &Placement {
                parent_ou: None,
                ou_path: Some("Root/Sandbox".into()),
            },
        );
        assert_eq!(by_path.project.as_str(), "sandbox");
    }

    #[test]
    fn tags_set_every_field_with_a_configurable_prefix() {
        let c = cfg(&[("ONBOARD_TAG_PREFIX", "terraform/")]);
        let t = tags(&[
            ("terraform/workspace", "net"),
            ("terraform/variable-set", "shared-aws"),
            ("terraform/attach-workspaces", "net  app"),
            ("terraform/attach-projects", "payments"),
            ("terraform/alias", "prod_eu"),
            ("tfc:project", "ignored-wrong-prefix"),
        ]);
        let s = resolve(
            &c,
            &account(),
            "n",
            &Overrides::default(),
            &t,
            &Placement::default(),
        )
        .unwrap()
        .unwrap();
        assert!(s.project.is_wildcard());
        assert_eq!(s.workspace.as_str(), "net");
        assert_eq!(s.varset_name.as_str(), "shared-aws");
        assert_eq!(s.attach_workspaces, ["net", "app"]);
        assert_eq!(s.attach_projects, ["payments"]);
        assert_eq!(s.alias.as_deref(), Some("prod_eu"));
    }

    #[test]
    fn opt_out_and_invalid_tags() {
        let c = cfg(&[]);
        let none = resolve(
            &c,
            &account(),
            "n",
            &Overrides::default(),
            &tags(&[("tfc:onboard", "False")]),
            &Placement::default(),
        )
        .unwrap();
        assert!(none.is_none());
        for bad in [
            ("tfc:onboard", "maybe"),
            ("tfc:project", "a:b"),
            ("tfc:alias", "has-dash"),
            ("tfc:region", "mars"),
            ("tfc:workspace", "prod*"),
        ] {
            let err = resolve(
                &c,
                &account(),
                "n",
                &Overrides::default(),
                &tags(&[bad]),
                &Placement::default(),
            )
            .unwrap_err();
            assert!(
                err.contains(bad.0.trim_start_matches("tfc:")) || err.contains(bad.1),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn ou_rules_are_validated_at_start() {
        assert!(parse_ou_rules(RULES).is_ok());
        assert!(parse_ou_rules(r#"[{"project":"x"}]"#).is_err());
        assert!(parse_ou_rules(r#"[{"ou":"ou-1","path":"Root","project":"x"}]"#).is_err());
        assert!(parse_ou_rules(r#"[{"ou":"ou-1","projcet":"x"}]"#).is_err());
        assert!(parse_ou_rules(r#"[{"ou":"ou-1","project":"a:b"}]"#).is_err());
        assert!(parse_ou_rules("{").is_err());
    }
}
