//! Read-only CloudTrail calls made with the management account's credentials: which trails
//! cover a Region, whether they are logging, and what their event selectors record. The
//! answers are plain data; `doctor` decides from them whether Organizations events reach
//! EventBridge.

use aws_config::SdkConfig;

use super::{transient, Retrying};
use crate::error::AwsError;

/// A trail as DescribeTrails shows it in the Region asked, shadow trails included (the
/// Region's copy of a multi-Region trail, or an organization trail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trail {
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    pub global_service_events: bool,
}

/// A classic event selector, as far as management events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassicSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write: String,
    pub management_events: bool,
    /// Event sources whose management events are left out (`kms.amazonaws.com`, ...).
    pub excluded_sources: Vec<String>,
}

/// One condition of an advanced event selector: every operator it sets must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// A trail has classic selectors or advanced ones, never both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    pub classic: Vec<ClassicSelector>,
    /// Each advanced selector is the list of its field selectors.
    pub advanced: Vec<Vec<FieldSelector>>,
}

pub struct CloudTrail<'a> {
    pub base: &'a SdkConfig,
    /// The client of the base config's Region.
    pub client: &'a aws_sdk_cloudtrail::Client,
    pub retrying: Retrying,
}

impl CloudTrail<'_> {
    /// Every trail that shows in this Region.
    pub async fn trails(&self) -> Result<Vec<Trail>, AwsError> {
        let out = self
            .retrying
            .call("cloudtrail:DescribeTrails", transient, || {
                self.client
                    .describe_trails()
                    .include_shadow_trails(true)
                    .send()
            })
            .await?;
        Ok(out
            .trail_list()
            .iter()
            .filter_map(|t| {
                Some(Trail {
                    arn: t.trail_arn()?.to_owned(),
                    home_region: t.home_region().unwrap_or_default().to_owned(),
                    multi_region: t.is_multi_region_trail().unwrap_or(false),
                    organization: t.is_organization_trail().unwrap_or(false),
                    // CloudTrail's default when the field is left out.
                    global_service_events: t.include_global_service_events().unwrap_or(true),
                })
            })
            .collect())
    }

    pub async fn is_logging(&self, trail: &Trail) -> Result<bool, AwsError> {
        let client = self.home(trail);
        let out = self
            .retrying
            .call("cloudtrail:GetTrailStatus", transient, || {
                client.get_trail_status().name(&trail.arn).send()
            })
            .await?;
        Ok(out.is_logging().unwrap_or(false))
    }

    pub async fn selectors(&self, trail: &Trail) -> Result<Selectors, AwsError> {
        let client = self.home(trail);
        let out = self
            .retrying
            .call("cloudtrail:GetEventSelectors", transient, || {
                client.get_event_selectors().trail_name(&trail.arn).send()
            })
            .await?;
        let classic = out
            .event_selectors()
            .iter()
            .map(|s| ClassicSelector {
                read_write: s
                    .read_write_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "All".into()),
                management_events: s.include_management_events().unwrap_or(true),
                excluded_sources: s.exclude_management_event_sources().to_vec(),
            })
            .collect();
        let advanced = out
            .advanced_event_selectors()
            .iter()
            .map(|s| {
                s.field_selectors()
                    .iter()
                    .map(|f| FieldSelector {
                        field: f.field().to_owned(),
                        equals: f.equals().to_vec(),
                        starts_with: f.starts_with().to_vec(),
                        ends_with: f.ends_with().to_vec(),
                        not_equals: f.not_equals().to_vec(),
                        not_starts_with: f.not_starts_with().to_vec(),
                        not_ends_with: f.not_ends_with().to_vec(),
                    })
                    .collect()
            })
            .collect();
        Ok(Selectors { classic, advanced })
    }

    /// A trail's status and selectors are read in its home Region: CloudTrail serves a
    /// shadow trail's settings only there (the README's step 0 does the same).
    fn home(&self, trail: &Trail) -> aws_sdk_cloudtrail::Client {
        let here = self.base.region().map(|r| r.as_ref());
        if trail.home_region.is_empty() || here == Some(trail.home_region.as_str()) {
            return self.client.clone();
        }
        let config = aws_sdk_cloudtrail::config::Builder::from(self.base)
            .region(aws_config::Region::new(trail.home_region.clone()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(config)
    }
}
