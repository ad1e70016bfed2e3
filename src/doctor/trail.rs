//! Does a CloudTrail trail record the management events that EventBridge turns into
//! `CreateAccountResult` and friends? EventBridge only receives "via CloudTrail" events
//! while a trail of the management account logs them in the Region of the rules.

use super::{aws_fix, denied, Check, IN_MANAGEMENT_ACCOUNT, NEEDS_MANAGEMENT};
use crate::aws::cloudtrail::{CloudTrail, FieldSelector, Selectors, Trail};
use crate::aws::Retrying;
use crate::onboard::Onboarder;

const NAME: &str = "cloudtrail";
/// The event every onboarding starts from, as an advanced event selector sees its fields.
const SAMPLE_EVENT: [(&str, &str); 5] = [
    ("eventCategory", "Management"),
    ("eventSource", "organizations.amazonaws.com"),
    ("eventName", "CreateAccountResult"),
    ("eventType", "AwsServiceEvent"),
    ("readOnly", "false"),
];

pub(super) async fn check(
    ob: &Onboarder,
    retrying: Retrying,
    region: &str,
    management: Option<&str>,
) -> Check {
    if management.is_none() {
        return Check::not_checked(NAME, NEEDS_MANAGEMENT);
    }
    if ob.cfg.management_role_arn.is_some() {
        return Check::not_checked(NAME, IN_MANAGEMENT_ACCOUNT);
    }
    let cloudtrail = CloudTrail {
        base: &ob.clients.base,
        client: &ob.clients.cloudtrail,
        retrying,
    };
    let trails = match cloudtrail.trails().await {
        Ok(trails) => trails,
        Err(e) => return Check::aws_failure(NAME, "cannot list the trails", &e),
    };
    let mut findings = Vec::new();
    let mut not_logging = None;
    let mut denial = None;
    let mut unread = 0;
    for trail in &trails {
        let shortfall = match coverage(trail, region) {
            Some(reason) => reason,
            None => match cloudtrail.is_logging(trail).await {
                Ok(false) => {
                    not_logging.get_or_insert(trail);
                    "not logging".to_owned()
                }
                Ok(true) => match cloudtrail.selectors(trail).await {
                    Ok(selectors) if records_account_events(&selectors) => {
                        return Check::pass(
                            NAME,
                            format!(
                                "{} records management events in {region} ({})",
                                trail.arn,
                                describe(trail)
                            ),
                        )
                    }
                    Ok(_) => "its event selectors leave out write management events of organizations.amazonaws.com".to_owned(),
                    Err(e) => unreadable(e, &mut denial, &mut unread),
                },
                Err(e) => unreadable(e, &mut denial, &mut unread),
            },
        };
        findings.push(format!("{} ({}): {shortfall}", trail.arn, describe(trail)));
    }
    let mut fix = Vec::new();
    if let Some(e) = &denial {
        fix.push(format!("{}.", aws_fix(e)));
    }
    if let Some(trail) = not_logging {
        fix.push(format!(
            "If {arn} is the trail meant to feed EventBridge, start it: aws cloudtrail start-logging --region {home} --name {arn} (get-trail-status then shows \"IsLogging\": true).",
            arn = trail.arn,
            home = trail.home_region
        ));
    }
    fix.push(
        "Otherwise apply the infra module with -var create_cloudtrail=true, which creates a multi-Region trail of management events; the README's Deploy step 0 shows what your trails record.".to_owned(),
    );
    if findings.is_empty() {
        findings.push(format!("no trail shows in {region}"));
    }
    let summary = if unread > 0 && unread == findings.len() {
        format!("cannot tell whether a trail records management events in {region}: the trails cannot be read")
    } else {
        format!("no trail records management events in {region}, so Organizations events never reach EventBridge")
    };
    Check::fail(NAME, summary, fix.join(" ")).with_details(findings)
}

/// "cannot be read: ..." for the trail's line; the first denial decides the fix.
fn unreadable(
    e: crate::error::AwsError,
    denial: &mut Option<crate::error::AwsError>,
    unread: &mut usize,
) -> String {
    *unread += 1;
    let text = format!("cannot be read: {e}");
    if denied(&e) && denial.is_none() {
        *denial = Some(e);
    }
    text
}

fn describe(trail: &Trail) -> String {
    let mut facts = Vec::new();
    if trail.organization {
        facts.push("organization trail".to_owned());
    }
    facts.push(if trail.multi_region {
        "all Regions".to_owned()
    } else {
        format!("home Region {} only", trail.home_region)
    });
    facts.join(", ")
}

/// Why the trail cannot record this Region's Organizations events whatever it logs.
fn coverage(trail: &Trail, region: &str) -> Option<String> {
    if !trail.multi_region && trail.home_region != region {
        return Some(format!("a single-Region trail of {}", trail.home_region));
    }
    // Organizations is a global service: a trail records its events only with global
    // service events included. The docs do not say whether EventBridge delivery depends on
    // it; the stricter reading is taken.
    if !trail.global_service_events {
        return Some("IncludeGlobalServiceEvents is false, which leaves out Organizations (a global service)".into());
    }
    None
}

/// Whether the selectors let `CreateAccountResult` (a write management event of
/// organizations.amazonaws.com) through. A trail always has selectors (CloudTrail gives a
/// new one "all management events"), so none at all records nothing.
pub(super) fn records_account_events(selectors: &Selectors) -> bool {
    let source = SAMPLE_EVENT[1].1;
    let classic = selectors.classic.iter().any(|s| {
        s.management_events
            && matches!(s.read_write.as_str(), "All" | "WriteOnly")
            && !s.excluded_sources.iter().any(|x| x == source)
    });
    classic
        || selectors
            .advanced
            .iter()
            .any(|fields| fields.iter().all(admits))
}

/// A field selector holds when every operator it sets holds for the sample event's value.
/// A field the sample does not have (`resources.type`, ...) selects data events, never
/// this management event.
fn admits(f: &FieldSelector) -> bool {
    let Some(value) = SAMPLE_EVENT
        .iter()
        .find(|(field, _)| *field == f.field)
        .map(|(_, v)| *v)
    else {
        return false;
    };
    let any = |list: &[String], test: &dyn Fn(&str) -> bool| list.iter().any(|x| test(x));
    (f.equals.is_empty() || any(&f.equals, &|x| x == value))
        && (f.starts_with.is_empty() || any(&f.starts_with, &|x| value.starts_with(x)))
        && (f.ends_with.is_empty() || any(&f.ends_with, &|x| value.ends_with(x)))
        && !any(&f.not_equals, &|x| x == value)
        && !any(&f.not_starts_with, &|x| value.starts_with(x))
        && !any(&f.not_ends_with, &|x| value.ends_with(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::cloudtrail::ClassicSelector;

    fn classic(read_write: &str, management: bool, excluded: &[&str]) -> Selectors {
        Selectors {
            classic: vec![ClassicSelector {
                read_write: read_write.into(),
                management_events: management,
                excluded_sources: excluded.iter().map(|s| (*s).to_owned()).collect(),
            }],
            advanced: Vec::new(),
        }
    }

    fn field(name: &str, equals: &[&str], not_equals: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|s| (*s).to_owned()).collect(),
            not_equals: not_equals.iter().map(|s| (*s).to_owned()).collect(),
            ..FieldSelector::default()
        }
    }

    fn advanced(selectors: Vec<Vec<FieldSelector>>) -> Selectors {
        Selectors {
            classic: Vec::new(),
            advanced: selectors,
        }
    }

    #[test]
    fn classic_selectors_must_include_write_management_events_of_organizations() {
        assert!(records_account_events(&classic("All", true, &[])));
        assert!(records_account_events(&classic("WriteOnly", true, &[])));
        assert!(records_account_events(&classic(
            "All",
            true,
            &["kms.amazonaws.com"]
        )));
        assert!(!records_account_events(&classic("ReadOnly", true, &[])));
        assert!(!records_account_events(&classic("All", false, &[])));
        assert!(!records_account_events(&classic(
            "All",
            true,
            &["organizations.amazonaws.com"]
        )));
        assert!(!records_account_events(&Selectors::default()));
    }

    #[test]
    fn advanced_selectors_are_evaluated_against_the_account_event() {
        let management = field("eventCategory", &["Management"], &[]);
        assert!(records_account_events(&advanced(vec![vec![
            management.clone()
        ]])));
        assert!(records_account_events(&advanced(vec![vec![
            management.clone(),
            field("readOnly", &["false"], &[]),
        ]])));
        assert!(records_account_events(&advanced(vec![vec![
            management.clone(),
            field("eventSource", &[], &["kms.amazonaws.com"]),
        ]])));
        // Only reads, only another source, or data events: nothing of Organizations.
        for fields in [
            vec![management.clone(), field("readOnly", &["true"], &[])],
            vec![
                management.clone(),
                field("eventSource", &[], &["organizations.amazonaws.com"]),
            ],
            vec![field("eventCategory", &["Data"], &[])],
            vec![
                field("eventCategory", &["Data"], &[]),
                field("resources.type", &["AWS::S3::Object"], &[]),
            ],
        ] {
            assert!(
                !records_account_events(&advanced(vec![fields.clone()])),
                "{fields:?}"
            );
        }
        // Any one selector is enough.
        assert!(records_account_events(&advanced(vec![
            vec![field("eventCategory", &["Data"], &[])],
            vec![management],
        ])));
        let prefix = FieldSelector {
            field: "eventSource".into(),
            starts_with: vec!["organizations.".into()],
            ..FieldSelector::default()
        };
        assert!(records_account_events(&advanced(vec![vec![prefix]])));
    }

    #[test]
    fn a_trail_must_cover_the_region_and_global_service_events() {
        let trail = |home: &str, multi: bool, global: bool| Trail {
            arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/t".into(),
            home_region: home.into(),
            multi_region: multi,
            organization: false,
            global_service_events: global,
        };
        assert_eq!(
            coverage(&trail("us-east-1", false, true), "us-east-1"),
            None
        );
        assert_eq!(coverage(&trail("eu-west-1", true, true), "us-east-1"), None);
        assert!(coverage(&trail("eu-west-1", false, true), "us-east-1")
            .unwrap()
            .contains("single-Region trail of eu-west-1"));
        assert!(coverage(&trail("us-east-1", true, false), "us-east-1")
            .unwrap()
            .contains("IncludeGlobalServiceEvents"));
    }
}
