//! Newtypes parsed once at the edge, so the rest of the code cannot hold an unchecked id.

use std::fmt;

use serde::Serialize;

use crate::error::InputError;

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InputError::BadAccountId(truncate_for_message(raw)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoleArn(String);

impl RoleArn {
    pub fn new(partition: &str, account: &AccountId, name: &str) -> Self {
        Self(format!("arn:{partition}:iam::{account}:role/{name}"))
    }

    /// Accepts any IAM role ARN (with or without a path); used on values read back from
    /// Terraform Cloud, which anyone may have edited.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(6, ':');
        let (arn, _partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let valid = arn == "arn"
            && service == "iam"
            && region.is_empty()
            && AccountId::parse(account).is_ok()
            && resource.starts_with("role/")
            && resource.len() > "role/".len();
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `arn:<partition>:iam::<account>:oidc-provider/<hostname>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProviderArn(String);

impl ProviderArn {
    pub fn new(partition: &str, account: &AccountId, hostname: &Hostname) -> Self {
        Self(format!(
            "arn:{partition}:iam::{account}:oidc-provider/{hostname}"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Terraform Cloud / Enterprise issuer host (no scheme, no port, no path): it is the OIDC
/// provider URL and the prefix of the trust-policy condition keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let host = raw.trim();
        let valid_chars = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if host.is_empty() || !valid_chars || host.starts_with(['.', '-']) || host.ends_with('.') {
            return Err(format!(
                "`{}` is not a bare hostname such as app.terraform.io (no scheme, port or path)",
                truncate_for_message(raw)
            ));
        }
        Ok(Self(host.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Terraform Cloud organization name. Never a wildcard: it is what keeps every other
/// organization out of the trust policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= 90
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a Terraform Cloud organization name (letters, digits, `-`, `_`; wildcards are refused because the trust policy must name exactly one organization)",
                truncate_for_message(raw)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project or workspace name used in the `sub` condition: a literal name (spaces allowed,
/// e.g. `Default Project`) or `*`. A `:` would shift the subject's fields and `?` is an IAM
/// wildcard, so both are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeName(String);

impl ScopeName {
    pub fn parse(what: &str, raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let valid = !trimmed.is_empty()
            && trimmed.len() <= 90
            && !trimmed.contains([':', '?', '"', '\\'])
            && !trimmed.chars().any(char::is_control)
            && (trimmed == "*" || !trimmed.contains('*'));
        if valid {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(format!(
                "{what} `{}` must be a Terraform Cloud {what} name or `*` (no `:`, `?`, quotes or partial wildcards, at most 90 characters)",
                truncate_for_message(raw)
            ))
        }
    }

    pub fn is_wildcard(&self) -> bool {
        self.0 == "*"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A variable set name (Terraform Cloud allows up to 128 characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct VarsetName(String);

impl VarsetName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 128 || trimmed.chars().any(char::is_control) {
            return Err(format!(
                "variable set name `{}` must be 1 to 128 printable characters",
                truncate_for_message(raw)
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VarsetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Echoing a megabyte of attacker-supplied text into a log line helps nobody.
pub fn truncate_for_message(raw: &str) -> String {
    const MAX: usize = 64;
    if raw.chars().count() <= MAX {
        raw.to_owned()
    } else {
        let head: String = raw.chars().take(MAX).collect();
        format!("{head}… ({} characters)", raw.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_must_be_twelve_digits() {
        assert!(AccountId::parse("123456789012").is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            " 123456789012",
            "１２３４５６７８９０１２",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn role_arns_are_parsed_with_their_account() {
        let arn = RoleArn::parse("arn:aws:iam::111122223333:role/path/terraform-cloud").unwrap();
        assert_eq!(arn.account(), "111122223333");
        assert!(RoleArn::parse("arn:aws:iam::111122223333:user/x").is_none());
        assert!(RoleArn::parse("arn:aws:s3:::bucket").is_none());
        assert!(RoleArn::parse("not an arn").is_none());
        assert!(RoleArn::parse("arn:aws:iam::1111:role/x").is_none());
    }

    #[test]
    fn organization_names_refuse_wildcards_and_empties() {
        assert!(OrgName::parse("acme-corp_1").is_ok());
        for bad in ["", "*", "acme*", "acme:x", "a b"] {
            assert!(OrgName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn scope_names_allow_spaces_and_a_lone_wildcard() {
        assert!(ScopeName::parse("project", "Default Project").is_ok());
        assert!(ScopeName::parse("project", "*").unwrap().is_wildcard());
        for bad in ["", "a:b", "prod*", "a?b", "x\"y"] {
            assert!(
                ScopeName::parse("project", bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn hostnames_are_bare() {
        assert_eq!(
            Hostname::parse("App.Terraform.io").unwrap().as_str(),
            "app.terraform.io"
        );
        for bad in [
            "https://app.terraform.io",
            "host:443",
            "host/path",
            "",
            ".x",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn long_input_is_truncated_in_messages() {
        let long = "x".repeat(10_000);
        assert!(truncate_for_message(&long).len() < 100);
    }
}
