"""The CloudWatch dashboard of the module (infra/dashboard.tf and its body,
infra/dashboard.json.tftpl), held to the documented dashboard body syntax
("Dashboard Body Structure and Syntax", CloudWatch API reference).

tests/metrics.rs holds the same template against the metrics the real binary
writes; here: the template's variables against what Terraform passes, the body
against the syntax, and the queries against the fields the function logs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hcl_model import INFRA_DIR, REPO_ROOT, Module

TEMPLATE = INFRA_DIR / "dashboard.json.tftpl"
SAMPLE = {
    "region": "eu-central-1",
    "function_name": "tfc-onboarder-test",
    "log_group": "/aws/lambda/tfc-onboarder-test",
    "alarm_arns": json.dumps([
        "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:tfc-onboarder-test-errors",
        "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:tfc-onboarder-test-onboarding-failures",
    ]),
}
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
LOG_VIEWS = {"table", "timeSeries", "bar", "pie"}
STAT = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?)$")
RENDERING_KEYS = {"color", "label", "period", "stat", "visible", "yAxis", "id", "region", "accountId"}


def template_variables() -> set[str]:
    return set(re.findall(r"\$\{([^}]*)\}", TEMPLATE.read_text(encoding="utf-8")))


def render(values: dict[str, str]) -> dict[str, Any]:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "%{" not in text, "template directives would not render the same on the Rust side"
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return json.loads(text)


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    return render(SAMPLE)


def metric_rows(body: dict[str, Any]):
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for row in widget["properties"]["metrics"]:
                yield widget, row


def test_the_dashboard_is_optional_named_after_the_function_and_rendered_from_the_template(module: Module):
    dashboard = module.resource("aws_cloudwatch_dashboard", "this")
    assert dashboard["count"] == "${var.create_dashboard ? 1 : 0}"
    assert dashboard["dashboard_name"] == "${var.name}"
    call = dashboard["dashboard_body"]
    assert call.startswith('${templatefile("${path.module}/dashboard.json.tftpl", {'), call
    passed = set(re.findall(r"[{,]\s*([a-z_]+)\s*=", call))
    assert passed == template_variables() == set(SAMPLE), (passed, template_variables())
    assert "function_name = aws_lambda_function.this.function_name" in call
    assert "log_group = aws_cloudwatch_log_group.lambda.name" in call
    assert "region = local.region" in call
    # Every alarm of the function's Region, whatever the enabled rules make of them.
    # (values() of the module's map is in key order, as the alarms themselves are.)
    assert "alarm_arns = jsonencode(values(module.alarms.arns))" in call
    assert module.variables["create_dashboard"]["default"] is True


def test_outputs_name_the_dashboard_and_its_console_address(module: Module):
    assert module.outputs["dashboard_name"]["value"] == "${one(aws_cloudwatch_dashboard.this[*].dashboard_name)}"
    url = module.outputs["dashboard_url"]["value"]
    assert "https://${local.console_host}/cloudwatch/home?region=${local.region}#dashboards:name=${var.name}" in url
    assert url.startswith("${var.create_dashboard && local.console_host != null ?")
    assert module.locals["console_hosts"] == {
        "aws": "console.aws.amazon.com",
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }


def test_the_body_follows_the_documented_structure(body: dict[str, Any]):
    assert set(body) <= {"widgets", "variables", "start", "end", "periodOverride"}
    assert re.fullmatch(r"-P(T\d+[MH]|\d+[DWM])", body["start"])
    widgets = body["widgets"]
    assert 0 < len(widgets) <= 500
    cells: set[tuple[int, int]] = set()
    for widget in widgets:
        assert set(widget) == {"type", "x", "y", "width", "height", "properties"}, widget
        assert widget["type"] in WIDGET_TYPES
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert all(isinstance(v, int) for v in (x, y, width, height))
        assert 0 <= x <= 23 and y >= 0 and 1 <= width <= 24 and 1 <= height <= 1000
        assert x + width <= 24, f"{widget['properties'].get('title')} runs off the 24-column grid"
        mine = {(x + i, y + j) for i in range(width) for j in range(height)}
        assert not cells & mine, f"{widget['properties'].get('title')} overlaps another widget"
        cells |= mine
        assert isinstance(widget["properties"], dict)


def test_metric_widgets(body: dict[str, Any]):
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        props = widget["properties"]
        assert props["region"] == SAMPLE["region"]
        assert props.get("view", "timeSeries") in VIEWS
        assert props["title"]
        if "stat" in props:
            assert STAT.match(props["stat"]), props["stat"]
        period = props.get("period", 300)
        assert isinstance(period, int) and period >= 60 and period % 60 == 0
        assert 1 <= len(props["metrics"]) <= 500
        for axis in props.get("yAxis", {}):
            assert axis in {"left", "right"}
    for widget, row in metric_rows(body):
        strings = [v for v in row if isinstance(v, str)]
        rest = row[len(strings):]
        assert len(strings) >= 2 and len(strings) % 2 == 0, row
        assert strings[0] != "." and strings[1] != ".", "every row spelled out, so both test suites read it alike"
        assert len(rest) <= 1 and all(isinstance(v, dict) for v in rest), row
        for options in rest:
            assert set(options) <= RENDERING_KEYS, options
            if "stat" in options:
                assert STAT.match(options["stat"]), options
            if "color" in options:
                assert re.fullmatch(r"#[0-9a-f]{6}", options["color"]), options
            if "yAxis" in options:
                assert options["yAxis"] in {"left", "right"}
        # The statistic of every row is known, from the row or the widget.
        assert any("stat" in o for o in rest) or "stat" in widget["properties"], row


def test_every_graphed_metric_belongs_to_this_function(body: dict[str, Any]):
    written = set(re.findall(
        r'pub const [A-Z_]+: &str = "([A-Za-z]+)";',
        (REPO_ROOT / "src" / "metrics.rs").read_text(encoding="utf-8"),
    ))
    assert {"TfcOnboarder", "FunctionName", "Outcome", "Onboardings", "TimeToReady"} <= written
    for _, row in metric_rows(body):
        namespace, name, *dimensions = [v for v in row if isinstance(v, str)]
        pairs = dict(zip(dimensions[::2], dimensions[1::2]))
        assert pairs.get("FunctionName") == SAMPLE["function_name"], row
        if namespace == "AWS/Lambda":
            assert set(pairs) == {"FunctionName"}
            continue
        assert namespace == "TfcOnboarder"
        assert name in written, f"{name} is not a metric name of src/metrics.rs"
        assert set(pairs) <= {"FunctionName", "Outcome"}


def test_log_widgets_query_the_functions_log_group_for_fields_it_writes(body: dict[str, Any]):
    logs = [w["properties"] for w in body["widgets"] if w["type"] == "log"]
    assert logs
    onboard = (REPO_ROOT / "src" / "onboard.rs").read_text(encoding="utf-8")
    metrics = (REPO_ROOT / "src" / "metrics.rs").read_text(encoding="utf-8")
    (failure_log,) = [line for line in onboard.splitlines() if '"onboarding failed"' in line]
    for props in logs:
        assert props["region"] == SAMPLE["region"]
        assert props.get("view", "table") in LOG_VIEWS
        source, _, query = props["query"].partition(" | ")
        assert source == f"SOURCE '{SAMPLE['log_group']}'"
        fields = re.search(r"fields ([^\n|]+)", query).group(1)
        for field in (f.strip() for f in fields.split(",")):
            if field.startswith("@"):
                continue
            # Either a field of the failure log line or a member of the EMF documents.
            assert f"{field} =" in failure_log or f'"{field}"' in metrics, field
    assert any("filter message = 'onboarding failed'" in p["query"] for p in logs)


def test_the_alarm_widget_shows_the_alarms(body: dict[str, Any]):
    (alarms,) = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    assert alarms["alarms"] == json.loads(SAMPLE["alarm_arns"])
    assert 1 <= len(alarms["alarms"]) <= 100
    assert alarms.get("sortBy", "default") in {"default", "stateUpdatedTimestamp", "timestamp"}


def test_text_widgets_have_markdown(body: dict[str, Any]):
    for widget in body["widgets"]:
        if widget["type"] == "text":
            assert set(widget["properties"]) <= {"markdown", "background"}
            assert widget["properties"]["markdown"].strip()
