//! The function's own EventBridge rules: found from its ARN (the rules that target it on the
//! default bus) and, where the module puts the events on a queue drained into the function
//! (`ONBOARD_EVENTS_QUEUE_ARN`), from the queue's ARN; each enabled, and one of them
//! delivering `CreateAccountResult`. The queue -> function link (the event source mapping)
//! is not read here: the crate has no Lambda client, and a mapping that stopped draining
//! shows as the module's stalled-queue alarm.

use serde_json::Value;

use super::{aws_fix, Check, IN_MANAGEMENT_ACCOUNT, NEEDS_MANAGEMENT};
use crate::aws::rules::{self, Rule};
use crate::aws::Retrying;
use crate::onboard::Onboarder;

const NAME: &str = "event rules";

/// `arn:<partition>:lambda:<region>:<account>:function:<name>`, without a version or alias
/// qualifier: rules target the function itself (the infra module's do), and the Lambda
/// context carries the ARN it was invoked by. `None` when `raw` is no function ARN.
pub fn unqualified_function_arn(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw.trim().split(':').collect();
    let valid = matches!(parts.as_slice(),
        ["arn", partition, "lambda", region, account, "function", name, rest @ ..]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && rest.len() <= 1);
    valid.then(|| parts[..7].join(":"))
}

pub(super) async fn check(
    ob: &Onboarder,
    retrying: Retrying,
    region: &str,
    management: Option<&str>,
    function_arn: Option<&str>,
) -> Check {
    let Some(management) = management else {
        return Check::not_checked(NAME, NEEDS_MANAGEMENT);
    };
    if ob.cfg.management_role_arn.is_some() {
        return Check::not_checked(NAME, IN_MANAGEMENT_ACCOUNT);
    }
    let Some(raw) = function_arn else {
        return Check::not_checked(
            NAME,
            "the function's ARN is not known here; pass --function-arn (terraform output function_arn), or run doctor in the function with the event {\"action\": \"doctor\"}",
        );
    };
    let Some(arn) = unqualified_function_arn(raw) else {
        return Check::fail(
            NAME,
            format!("`{raw}` is not a Lambda function ARN"),
            "pass the ARN of the deployed function (terraform output function_arn), arn:aws:lambda:<Region>:<account>:function:<name>",
        );
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let (function_region, function_account) = (parts[3], parts[4]);
    if function_account != management {
        return Check::fail(
            NAME,
            format!("{arn} is in account {function_account}, not in the management account {management}, where the organization's events arrive"),
            format!("deploy the function in the management account {management} (apply the infra module with its credentials), or pass the ARN of the function deployed there"),
        );
    }
    if function_region != region {
        return Check::fail(
            NAME,
            format!("{arn} is in {function_region}, but doctor reads the rules (and the trail) of {region}"),
            format!("run doctor with AWS_REGION={function_region}"),
        );
    }
    let queue = ob.cfg.events_queue_arn.as_deref();
    let targets: Vec<&str> = std::iter::once(arn.as_str()).chain(queue).collect();
    let mut found = Vec::new();
    for target in targets {
        match rules::targeting(&ob.clients.events, target, retrying).await {
            Ok(rules) => found.extend(rules),
            Err(e) => {
                return Check::aws_failure(
                    NAME,
                    &format!("cannot list the rules that target {target}"),
                    &e,
                )
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    let what = match queue {
        Some(_) => "the function or its events queue",
        None => "the function",
    };
    if found.is_empty() {
        let targets = match queue {
            Some(queue) => format!("{arn} or its events queue {queue}"),
            None => arn.clone(),
        };
        return Check::fail(
            NAME,
            format!("no EventBridge rule on the default bus of {region} targets {targets}, so no event ever invokes it"),
            "apply the infra module, which creates the rules, or pass the ARN of the function it deployed (terraform output function_arn)",
        );
    }
    judge(region, what, &found)
}

/// `what` the rules target, as the summary says it.
fn judge(
    region: &str,
    what: &str,
    found: &[(String, Result<Rule, crate::error::AwsError>)],
) -> Check {
    let mut details = Vec::new();
    let mut disabled = Vec::new();
    let (mut unreadable, mut unread) = (None, 0);
    // Whether an enabled rule lets new accounts through, and whether any rule would.
    let (mut delivers, mut could) = (false, false);
    for (name, rule) in found {
        match rule {
            Ok(rule) => {
                let enabled = rule.state.starts_with("ENABLED");
                let account_events = rule
                    .event_pattern
                    .as_deref()
                    .is_some_and(delivers_create_account_result);
                delivers |= enabled && account_events;
                could |= account_events;
                if !enabled {
                    disabled.push(name.as_str());
                }
                let what = match (&rule.schedule, account_events) {
                    (Some(schedule), _) => format!("schedule {schedule}"),
                    (None, true) => "delivers CreateAccountResult".to_owned(),
                    (None, false) => "event pattern".to_owned(),
                };
                details.push(format!("{name}: {}, {what}", rule.state));
            }
            Err(e) => {
                details.push(format!("{name}: cannot be read: {e}"));
                unreadable.get_or_insert(e);
                unread += 1;
            }
        }
    }
    let count = found.len();
    let mut fix = Vec::new();
    let mut problems = Vec::new();
    if let Some(e) = unreadable {
        problems.push(format!("{unread} cannot be read"));
        fix.push(format!("{}.", aws_fix(e)));
    }
    if !disabled.is_empty() {
        let verb = if disabled.len() == 1 { "is" } else { "are" };
        problems.push(format!("{} {verb} disabled", disabled.join(" and ")));
        let them = if disabled.len() == 1 { "it" } else { "them" };
        fix.push(format!(
            "Enable {them}: {} (or apply the infra module again, which keeps them enabled).",
            disabled
                .iter()
                .map(|name| format!("aws events enable-rule --region {region} --name {name}"))
                .collect::<Vec<_>>()
                .join(" && ")
        ));
    }
    // A rule that cannot be read may be the one; only readable rules tell.
    if !could && unread == 0 {
        problems.push("none of them delivers CreateAccountResult".to_owned());
        fix.push(format!("Apply the infra module again: its create_account_result rule (source aws.organizations, detail-type \"AWS Service Event via CloudTrail\", eventName CreateAccountResult) targets {what}."));
    }
    let (rules, target) = if count == 1 {
        ("rule", "targets")
    } else {
        ("rules", "target")
    };
    if problems.is_empty() && delivers {
        Check::pass(
            NAME,
            format!("{count} {rules} on the default bus {target} {what}, all enabled"),
        )
        .with_details(details)
    } else {
        Check::fail(
            NAME,
            format!(
                "{count} {rules} {target} {what}, but {}",
                problems.join("; ")
            ),
            fix.join(" "),
        )
        .with_details(details)
    }
}

/// Whether a pattern lets the sample `CreateAccountResult` event through, judged on the
/// fields that tell it apart: source, detail-type (the common mistake is "AWS API Call via
/// CloudTrail", which never matches this service event), eventSource and eventName. A
/// content filter (prefix, anything-but, ...) on them is given the benefit of the doubt.
fn delivers_create_account_result(pattern: &str) -> bool {
    let Ok(pattern) = serde_json::from_str::<Value>(pattern) else {
        return false;
    };
    let fields = [
        (&["source"][..], "aws.organizations"),
        (&["detail-type"][..], "AWS Service Event via CloudTrail"),
        (
            &["detail", "eventSource"][..],
            "organizations.amazonaws.com",
        ),
        (&["detail", "eventName"][..], "CreateAccountResult"),
    ];
    // The source must be named: a pattern without one is someone else's rule.
    if pattern.get("source").is_none() {
        return false;
    }
    fields.iter().all(
        |(path, value)| match path.iter().try_fold(&pattern, |v, key| v.get(key)) {
            None => true,
            Some(Value::Array(allowed)) => allowed
                .iter()
                .any(|a| a.as_str() == Some(value) || a.is_object()),
            Some(_) => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns_lose_their_qualifier_and_anything_else_is_refused() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:tfc-onboarder";
        assert_eq!(unqualified_function_arn(arn).as_deref(), Some(arn));
        assert_eq!(
            unqualified_function_arn(&format!("{arn}:live")).as_deref(),
            Some(arn)
        );
        for bad in [
            "tfc-onboarder",
            "arn:aws:lambda:us-east-1:12345:function:x",
            "arn:aws:iam::123456789012:role/x",
            "arn:aws:lambda:us-east-1:123456789012:function:x:1:2",
        ] {
            assert_eq!(unqualified_function_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_a_pattern_matching_the_service_event_delivers_create_account_result() {
        let module = r#"{"source":["aws.organizations"],"detail-type":["AWS Service Event via CloudTrail"],"detail":{"eventSource":["organizations.amazonaws.com"],"eventName":["CreateAccountResult"],"serviceEventDetails":{"createAccountStatus":{"state":["SUCCEEDED"]}}}}"#;
        assert!(delivers_create_account_result(module));
        assert!(delivers_create_account_result(
            r#"{"source":["aws.organizations"]}"#
        ));
        assert!(delivers_create_account_result(
            r#"{"source":["aws.organizations"],"detail":{"eventName":[{"prefix":"Create"}]}}"#
        ));
        for other in [
            r#"{"source":["aws.organizations"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["CreateAccountResult"]}}"#,
            r#"{"source":["aws.organizations"],"detail":{"eventName":["CloseAccountResult"]}}"#,
            r#"{"source":["aws.controltower"]}"#,
            r#"{"detail-type":["Scheduled Event"]}"#,
            "not json",
        ] {
            assert!(!delivers_create_account_result(other), "{other}");
        }
    }

    #[test]
    fn a_disabled_rule_or_a_missing_account_rule_fails_with_the_command() {
        let rule = |name: &str, state: &str, pattern: Option<&str>, schedule: Option<&str>| {
            (
                name.to_owned(),
                Ok(Rule {
                    name: name.into(),
                    state: state.into(),
                    event_pattern: pattern.map(str::to_owned),
                    schedule: schedule.map(str::to_owned),
                }),
            )
        };
        let account = Some(r#"{"source":["aws.organizations"]}"#);
        let ok = judge(
            "us-east-1",
            "the function",
            &[
                rule("a", "ENABLED", account, None),
                rule("b", "ENABLED", None, Some("rate(1 day)")),
            ],
        );
        assert_eq!(ok.status, super::super::Status::Pass, "{ok:?}");
        assert_eq!(
            ok.details,
            [
                "a: ENABLED, delivers CreateAccountResult",
                "b: ENABLED, schedule rate(1 day)"
            ]
        );
        let denied = crate::error::AwsError {
            operation: "events:DescribeRule",
            code: Some("AccessDeniedException".into()),
            message: "no".into(),
            retryable: false,
            source: None,
        };
        let unread = judge(
            "us-east-1",
            "the function",
            &[("a".to_owned(), Err(denied))],
        );
        assert_eq!(
            unread.summary,
            "1 rule targets the function, but 1 cannot be read"
        );
        assert!(unread.fix.unwrap().starts_with("allow events:DescribeRule"));
        let off = judge(
            "us-east-1",
            "the function or its events queue",
            &[rule("a", "DISABLED", account, None)],
        );
        assert_eq!(off.status, super::super::Status::Fail);
        assert_eq!(
            off.summary,
            "1 rule targets the function or its events queue, but a is disabled"
        );
        assert!(off
            .fix
            .unwrap()
            .contains("aws events enable-rule --region us-east-1 --name a"));
    }
}
