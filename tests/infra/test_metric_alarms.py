"""infra/modules/metric-alarms, the alarms of one Region for both parts of the
module, and how each part calls it: once a Region, with that Region's
provider and topic; the alarms each part defines are tested with that part
(test_infra.py, test_tooling.py)."""

from __future__ import annotations

import pytest

from child_modules import module_calls
from hcl_model import INFRA_DIR, Module, load_module


@pytest.fixture(scope="module")
def alarms() -> Module:
    return load_module(INFRA_DIR / "modules" / "metric-alarms")


def test_every_alarm_fires_on_its_metric_above_its_threshold_in_five_minutes(alarms: Module):
    alarm = alarms.resource("aws_cloudwatch_metric_alarm", "this")
    assert alarm["for_each"] == "${var.alarms}"
    assert alarm["alarm_name"] == "${var.name}-${each.key}"
    assert alarm["alarm_description"] == "${each.value.description}"
    assert alarm["namespace"] == "${each.value.namespace}"
    assert alarm["metric_name"] == "${each.value.metric}"
    assert alarm["dimensions"] == "${each.value.dimensions}"
    assert alarm["statistic"] == "${each.value.statistic}"
    assert (alarm["period"], alarm["evaluation_periods"]) == (300, 1)
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["threshold"] == "${each.value.threshold}"
    # No traffic is the normal state.
    assert alarm["treat_missing_data"] == "notBreaching"
    assert alarm["tags"] == "${var.tags}"
    assert "provider" not in alarm, "the caller passes the provider of the alarms' Region"
    # Every field the resource reads is in the type; a missing threshold is 0.
    kind = alarms.variables["alarms"]["type"]
    for field in ("description", "namespace", "metric", "dimensions", "statistic"):
        assert f"{field}" in kind, field
    assert "threshold" in kind and "optional(number, 0)" in kind, kind


def test_the_topic_is_notified_of_alarm_and_ok_and_must_be_of_the_alarms_region(alarms: Module):
    alarm = alarms.resource("aws_cloudwatch_metric_alarm", "this")
    assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.actions}"
    assert alarms.locals["actions"] == "${var.sns_topic_arn == null ? [] : [var.sns_topic_arn]}"
    assert alarms.variables["sns_topic_arn"]["default"] is None
    # The fourth field of a topic ARN is its Region.
    assert alarms.locals["topic_region"] == '${try(split(":", var.sns_topic_arn)[3], null)}'
    (lifecycle,) = alarm["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert precondition["condition"] == "${local.topic_region == null || local.topic_region == data.aws_region.current.id}"
    assert precondition["error_message"].startswith("${var.sns_topic_input} must be a topic in ${data.aws_region.current.id}")
    assert "only notify topics of their own Region" in precondition["error_message"]
    assert "provider" not in alarms.data_source("aws_region", "current")


def test_the_module_gives_every_alarm_arn_by_key(alarms: Module):
    assert alarms.outputs["arns"]["value"] == "${{for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn}}"


@pytest.mark.parametrize("part_dir,source", [("", "./modules/metric-alarms"), ("management", "../modules/metric-alarms")])
def test_each_part_calls_it_once_a_region_with_that_regions_provider_and_topic(part_dir, source):
    part = load_module(INFRA_DIR / part_dir)
    assert part.resources_of_type("aws_cloudwatch_metric_alarm") == {}
    calls = module_calls(part, "metric-alarms")
    assert set(calls) == {"alarms", "control_tower_alarms"}
    assert calls["alarms"]["alarms"] == "${local.alarms}"
    assert calls["control_tower_alarms"]["alarms"] == "${local.control_tower_alarms}"
    assert "providers" not in calls["alarms"]
    assert calls["control_tower_alarms"]["providers"] == {"aws": "${aws.control_tower}"}
    # The error of a topic of another Region names the input to fix.
    for name, variable in (("alarms", "alarm_sns_topic_arn"), ("control_tower_alarms", "control_tower_alarm_sns_topic_arn")):
        assert calls[name]["sns_topic_arn"] == "${var.%s}" % variable
        assert calls[name]["sns_topic_input"] == variable
    for call in calls.values():
        assert call["source"] == source
        assert call["name"] == "${var.name}"
        assert call["tags"] == "${local.tags}"
