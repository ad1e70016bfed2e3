//! Read-only EventBridge calls: the rules on the default bus that target a given ARN.

use super::{transient, Retrying};
use crate::error::AwsError;

/// A rule as DescribeRule answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    pub event_pattern: Option<String>,
    pub schedule: Option<String>,
}

/// Each rule that targets `target_arn`, read one by one: a rule someone else made may not be
/// readable with these credentials, and that is worth saying rather than failing on.
pub async fn targeting(
    client: &aws_sdk_eventbridge::Client,
    target_arn: &str,
    retrying: Retrying,
) -> Result<Vec<(String, Result<Rule, AwsError>)>, AwsError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    // 100 names a page; EventBridge allows 300 rules per bus by default, so this bound only
    // guards a broken paginator.
    for _ in 0..100 {
        let page = retrying
            .call("events:ListRuleNamesByTarget", transient, || {
                client
                    .list_rule_names_by_target()
                    .target_arn(target_arn)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        names.extend(page.rule_names().iter().cloned());
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let mut rules = Vec::with_capacity(names.len());
    for name in names {
        let described = retrying
            .call("events:DescribeRule", transient, || {
                client.describe_rule().name(&name).send()
            })
            .await
            .map(|out| Rule {
                name: name.clone(),
                state: out
                    .state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "UNKNOWN".into()),
                event_pattern: out.event_pattern().map(str::to_owned),
                schedule: out.schedule_expression().map(str::to_owned),
            });
        rules.push((name, described));
    }
    Ok(rules)
}
