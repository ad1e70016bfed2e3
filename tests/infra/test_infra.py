"""Offline checks of the Terraform module in infra/.

No Terraform CLI or provider is available in CI, so the module is parsed with
python-hcl2 and its structure, IAM documents and event patterns are checked
directly. Event patterns are matched against the sample events in events/.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import hcl2
import pytest

from child_modules import dead_letter_queue, module_calls, moved_blocks
from eventbridge import matches, validate
from hcl_model import (
    EVENTS_DIR,
    INFRA_DIR,
    REPO_ROOT,
    Module,
    is_expression,
    load_module,
    load_event,
    load_file,
    policy_statements,
)

# The function's configuration contract (see the configuration table of the
# top-level README when it exists).
EXPECTED_ENV = {
    "TFE_ORGANIZATION",
    "TFE_HOSTNAME",
    "TFE_TOKEN_SECRET_ID",
    "TFE_ADDRESS",
    "ONBOARD_ACCESS_ROLE_NAMES",
    "ONBOARD_ROLE_NAME",
    "ONBOARD_ROLE_POLICY_ARNS",
    "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
    "ONBOARD_MAX_SESSION_DURATION",
    "ONBOARD_AUDIENCE",
    "ONBOARD_TFC_PROJECT",
    "ONBOARD_TFC_WORKSPACE",
    "ONBOARD_VARSET_NAME",
    "ONBOARD_REGION",
    "ONBOARD_DRY_RUN",
    "ONBOARD_ROLE_MODE",
    "ONBOARD_PLAN_POLICY_ARNS",
    "ONBOARD_TAG_PREFIX",
    "ONBOARD_OU_RULES",
    "ONBOARD_OFFBOARD",
    "ONBOARD_READY_EVENTS",
    "ONBOARD_CONCURRENCY",
    "ONBOARD_PARTITION",
    "ONBOARD_EVENT_BUS",
    "ONBOARD_MANAGEMENT_ROLE_ARN",
    "TFE_RATE_LIMIT",
    "ONBOARD_EVENTS_QUEUE_ARN",
    "RUST_LOG",
}
OPTIONAL_ENV = {
    "TFE_ADDRESS",
    "ONBOARD_PERMISSIONS_BOUNDARY_ARN",
    "ONBOARD_MAX_SESSION_DURATION",
    "ONBOARD_OU_RULES",
    "ONBOARD_MANAGEMENT_ROLE_ARN",
}
# Documented but never set by the module: the token must not pass through
# Terraform, and the tuning knobs keep the function's defaults, which the module's
# IAM policy (default event bus) is written for.
NOT_SET_BY_MODULE = {
    "TFE_TOKEN",
    "TFE_TIMEOUT_MS",
    "ONBOARD_AWS_TIMEOUT_MS",
    "ONBOARD_RETRY_BASE_MS",
    "ONBOARD_NEW_ACCOUNT_WINDOW_SECS",
}
# Replaced by ONBOARD_ACCESS_ROLE_NAMES; the function refuses them at cold start.
REFUSED_BY_FUNCTION = {"ONBOARD_ACCESS_ROLE_NAME", "ONBOARD_CONTROL_TOWER_ROLE_NAME"}

ENV_SOURCES = {
    "TFE_ORGANIZATION": "${var.tfe_organization}",
    "TFE_HOSTNAME": "${var.tfe_hostname}",
    "TFE_TOKEN_SECRET_ID": "${local.secret_arn}",
    "TFE_ADDRESS": "${var.tfe_address}",
    "ONBOARD_ACCESS_ROLE_NAMES": '${join(",", var.access_role_names)}',
    "ONBOARD_ROLE_NAME": "${var.role_name}",
    "ONBOARD_ROLE_POLICY_ARNS": '${join(",", var.role_policy_arns)}',
    "ONBOARD_PERMISSIONS_BOUNDARY_ARN": "${var.permissions_boundary_arn}",
    "ONBOARD_AUDIENCE": "${var.audience}",
    "ONBOARD_TFC_PROJECT": "${var.tfc_project}",
    "ONBOARD_TFC_WORKSPACE": "${var.tfc_workspace}",
    "ONBOARD_VARSET_NAME": "${var.varset_name}",
    "ONBOARD_REGION": "${var.onboard_region}",
    "ONBOARD_DRY_RUN": "${tostring(var.dry_run)}",
    "ONBOARD_ROLE_MODE": "${var.role_mode}",
    "ONBOARD_PLAN_POLICY_ARNS": '${join(",", var.plan_policy_arns)}',
    "ONBOARD_TAG_PREFIX": "${var.tag_prefix}",
    "ONBOARD_OU_RULES": "${var.ou_rules}",
    "ONBOARD_OFFBOARD": "${var.offboarding}",
    "ONBOARD_READY_EVENTS": "${tostring(var.emit_ready_events)}",
    "ONBOARD_CONCURRENCY": "${tostring(var.onboard_concurrency)}",
    "ONBOARD_PARTITION": "${local.partition}",
    "ONBOARD_EVENT_BUS": "${var.ready_event_bus_name}",
    "ONBOARD_MANAGEMENT_ROLE_ARN": "${var.management_role_arn}",
    "TFE_RATE_LIMIT": "${tostring(local.tfe_rate_limit)}",
    "ONBOARD_EVENTS_QUEUE_ARN": "${aws_sqs_queue.events.arn}",
    "RUST_LOG": "${var.log_level}",
}

EXPECTED_DEFAULTS = {
    "name": "tfc-onboarder",
    "architecture": "arm64",
    "memory_size": 128,
    "timeout": 360,
    "reserved_concurrent_executions": None,
    "log_retention_in_days": 90,
    "log_level": "info",
    "tfe_hostname": "app.terraform.io",
    "tfe_address": None,
    "existing_token_secret_arn": None,
    "kms_key_arn": None,
    "access_role_names": ["OrganizationAccountAccessRole", "AWSControlTowerExecution"],
    "role_name": "terraform-cloud",
    "role_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
    "plan_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    "role_mode": "single",
    "permissions_boundary_arn": None,
    "max_session_duration": None,
    "audience": "aws.workload.identity",
    "tfc_project": "*",
    "tfc_workspace": "*",
    "varset_name": "aws-{account_id}",
    "onboard_region": "us-east-1",
    "tag_prefix": "tfc:",
    "ou_rules": None,
    "dry_run": False,
    "offboarding": "remove-variables",
    "emit_ready_events": True,
    "onboard_concurrency": 8,
    "reconcile_schedule": "rate(1 day)",
    "sweep_max_invocations": 100,
    "sweep_retry_attempts": 3,
    "sweep_retry_interval_seconds": 60,
    "event_max_concurrency": 2,
    "tfe_requests_per_second": 28,
    "enable_control_tower": False,
    "maximum_retry_attempts": 2,
    "maximum_event_age_in_seconds": 21600,
    "alarm_sns_topic_arn": None,
    "control_tower_alarm_sns_topic_arn": None,
    "rule_maximum_retry_attempts": 185,
    "rule_maximum_event_age_in_seconds": 86400,
    "create_cloudtrail": False,
    "create_dashboard": True,
    "allow_non_us_east_1": False,
}

CLOUDWATCH_RETENTION_DAYS = {
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
}

EXPECTED_OUTPUTS = {
    "function_arn",
    "function_name",
    "rule_arns",
    "failure_queue_url",
    "failure_queue_arn",
    "secret_arn",
    "role_arn",
    "schedule_arn",
    "events_dlq_url",
    "events_dlq_arn",
    "control_tower_forward_dlq_url",
    "state_machine_arn",
    "events_queue_url",
    "events_queue_arn",
    "events_failed_queue_url",
    "dashboard_name",
    "dashboard_url",
}

ALL_TF_FILES = sorted(INFRA_DIR.rglob("*.tf"))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def _bare(text: str) -> str:
    """A reference with or without the '${...}' python-hcl2 may wrap it in."""
    return text[2:-1] if is_expression(text) else text


# ---------------------------------------------------------------------------
# Layout and parsing
# ---------------------------------------------------------------------------


def test_module_has_terraform_files():
    assert len(ALL_TF_FILES) >= 8, "infra/ should hold the split module files"


@pytest.mark.parametrize("path", ALL_TF_FILES, ids=_rel)
def test_every_tf_file_parses(path: Path):
    with path.open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle)
    assert parsed, f"{_rel(path)} is empty"


@pytest.mark.parametrize(
    "relative",
    ["versions.tf", "variables.tf", "outputs.tf", "README.md", "examples/complete/main.tf", "examples/minimal/main.tf"],
)
def test_standard_layout(relative: str):
    assert (INFRA_DIR / relative).is_file(), f"infra/{relative} is missing"


def test_versions(module: Module):
    (terraform,) = module.terraform
    assert terraform["required_version"] == ">= 1.5.0"
    (providers,) = terraform["required_providers"]
    aws = providers["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r">= 5\.\d+", aws["version"]), aws["version"]
    assert aws["configuration_aliases"] == ["${aws.control_tower}"]


# The management account's part of tooling mode has an example of its own
# (tests/infra/test_tooling.py).
EXAMPLES = sorted(p.parent for p in (INFRA_DIR / "examples").glob("*/main.tf") if p.parent.name != "management")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_the_module(example: Path):
    parsed = load_file(example / "main.tf")
    modules = [body for block in parsed["module"] for body in block.values()]
    (call,) = modules
    assert call["source"] == "../.."
    for required in ("lambda_zip_path", "tfe_organization"):
        assert required in call
    # A relative path keeps the example usable from any checkout.
    assert "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip" in call["lambda_zip_path"]


def test_complete_example_fits_any_organization():
    parsed = load_file(INFRA_DIR / "examples" / "complete" / "main.tf")
    variables = {name: body for block in parsed["variable"] for name, body in block.items()}
    defaults = {name: body.get("default", "required") for name, body in variables.items()}
    assert defaults["tfe_organization"] == "required"
    assert defaults["lambda_zip_path"] is None
    assert defaults["region"] == "us-east-1"
    assert defaults["control_tower_home_region"] is None
    assert defaults["create_cloudtrail"] is False
    for name, body in variables.items():
        assert len(body.get("description", "")) >= 10, name

    providers = {p.get("alias"): p for block in parsed["provider"] for p in [block["aws"]]}
    assert providers[None]["region"] == "${var.region}"
    assert providers["control_tower"]["region"] == "${coalesce(var.control_tower_home_region, var.region)}"
    # No Region is hard-coded anywhere but in the default of var.region.
    text = (INFRA_DIR / "examples" / "complete" / "main.tf").read_text(encoding="utf-8")
    regions = re.findall(r'"([a-z]{2}-[a-z]+-\d)"', text)
    assert regions == ["us-east-1"], regions

    (call,) = [body for block in parsed["module"] for body in block.values()]
    providers = {_bare(key): _bare(value) for key, value in call["providers"].items()}
    assert providers == {"aws": "aws", "aws.control_tower": "aws.control_tower"}
    assert call["enable_control_tower"] == "${var.control_tower_home_region != null}"
    assert call["create_cloudtrail"] == "${var.create_cloudtrail}"
    assert call["lambda_zip_path"] == (
        '${coalesce(var.lambda_zip_path, "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip")}'
    )
    outputs = {name for block in parsed["output"] for name in block}
    # The README's commands read these.
    assert {"region", "function_name", "secret_arn"} <= outputs


def test_minimal_example_passes_only_the_required_inputs():
    parsed = load_file(INFRA_DIR / "examples" / "minimal" / "main.tf")
    (call,) = [body for block in parsed["module"] for body in block.values()]
    assert set(call) == {"source", "providers", "lambda_zip_path", "tfe_organization"}


def test_cargo_deploy_metadata_names_the_secret_as_the_module_does(module: Module):
    metadata = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    deploy_env = metadata["package"]["metadata"]["lambda"]["deploy"]["env"]
    assert module.locals["secret_name"] == '${coalesce(var.secret_name, "${var.name}/tfe-api-token")}'
    module_default = f"{module.variables['name']['default']}/tfe-api-token"
    assert deploy_env["TFE_TOKEN_SECRET_ID"] == module_default


def test_hcl_files_have_no_machine_specific_paths():
    machine_path = re.compile(r"(?<![\w.$])/(home|Users|root|tmp|work)/|\b[A-Z]:\\[A-Za-z]")
    for path in ALL_TF_FILES + [INFRA_DIR / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert not machine_path.search(text), f"{_rel(path)} contains a machine-specific path"


# ---------------------------------------------------------------------------
# Variables and outputs
# ---------------------------------------------------------------------------


def test_every_variable_is_typed_and_described(module: Module):
    for name, body in module.variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) >= 10, f"variable {name} has no real description"


def test_non_boolean_scalar_variables_are_validated(module: Module):
    for name, body in module.variables.items():
        if body["type"] in ("bool", "${map(string)}", "map(string)"):
            continue
        validations = body.get("validation", [])
        assert validations, f"variable {name} has no validation block"
        for validation in validations:
            assert is_expression(validation["condition"]), name
            assert validation["error_message"], name


def test_variable_defaults(module: Module):
    for name, expected in EXPECTED_DEFAULTS.items():
        assert name in module.variables, f"variable {name} is missing"
        assert "default" in module.variables[name], f"variable {name} has no default"
        assert module.variables[name]["default"] == expected, name


def test_required_variables(module: Module):
    required = {name for name, body in module.variables.items() if "default" not in body}
    assert required == {"lambda_zip_path", "tfe_organization"}


def test_architecture_is_limited_to_lambda_architectures(module: Module):
    (validation,) = module.variables["architecture"]["validation"]
    assert validation["condition"] == '${contains(["arm64", "x86_64"], var.architecture)}'


def test_log_retention_accepts_exactly_the_cloudwatch_values(module: Module):
    (validation,) = module.variables["log_retention_in_days"]["validation"]
    listed = re.search(r"contains\(\[([\d,\s]+)\]", validation["condition"])
    assert listed, validation["condition"]
    assert {int(v) for v in listed.group(1).split(",")} == CLOUDWATCH_RETENTION_DAYS


def _regexes(module: Module, variable: str) -> list[re.Pattern[str]]:
    found = []
    for validation in module.variables[variable].get("validation", []):
        for literal in re.findall(r'regex\("((?:[^"\\]|\\.)*)"', validation["condition"]):
            # HCL string escapes are JSON's for these patterns.
            found.append(re.compile(literal.encode().decode("unicode_escape")))
    assert found, f"variable {variable} has no regex validation"
    return found


def _accepted(module: Module, variable: str, value: str) -> bool:
    return all(regex.search(value) for regex in _regexes(module, variable))


@pytest.mark.parametrize(
    ("variable", "good", "bad"),
    [
        ("tfe_organization", ["my-org", "Acme_Corp", "org1"], ["", "*", "my*org", "my org", "org:x", "a/b"]),
        ("access_role_names", ["OrganizationAccountAccessRole", "a+b=c.e@f_g-h"], ["*", "Org*", "path/role", "", "a,b", "x" * 65]),
        ("role_name", ["terraform-cloud"], ["*", "a b", ""]),
        ("name", ["tfc-onboarder", "x"], ["", "a" * 41, "has space", "a.b"]),
        ("tfe_hostname", ["app.terraform.io", "tfe.example.com:8443"], ["https://app.terraform.io", "host/path", ""]),
        ("tfe_address", ["https://tfe.example.com"], ["http://tfe.example.com", "tfe.example.com"]),
        ("onboard_region", ["us-east-1", "eu-central-2", "us-gov-west-1"], ["us-east", "US-EAST-1", ""]),
        ("reconcile_schedule", ["rate(1 day)", "cron(0 3 * * ? *)"], ["daily", "rate 1 day"]),
        ("lambda_zip_path", ["target/lambda/tfc-onboarder/bootstrap.zip"], ["bootstrap", "bootstrap.zip.txt"]),
        ("audience", ["aws.workload.identity"], ["*", "a,b", "a b", ""]),
        (
            "existing_token_secret_arn",
            [
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:tfe-AbCdEf",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:tfc-onboarder/tfe-api-token-a1B2c3",
            ],
            [
                "tfe-api-token",
                "arn:aws:ssm:us-east-1:111122223333:parameter/x",
                # Partial ARNs: the name without the six characters Secrets Manager appends.
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:tfc-onboarder/tfe-api-token",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:tfe",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:tfe-AbCdE",
            ],
        ),
        (
            "kms_key_arn",
            ["arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            ["arn:aws:kms:us-east-1:111122223333:alias/mine", "alias/mine"],
        ),
    ],
)
def test_validation_regexes(module: Module, variable: str, good: list[str], bad: list[str]):
    for value in good:
        assert _accepted(module, variable, value), f"{variable} should accept {value!r}"
    for value in bad:
        assert not _accepted(module, variable, value), f"{variable} should reject {value!r}"


def test_tfe_organization_is_required_and_never_a_wildcard(module: Module):
    body = module.variables["tfe_organization"]
    assert "default" not in body
    conditions = " ".join(v["condition"] for v in body["validation"])
    assert 'strcontains(var.tfe_organization, "*")' in conditions
    assert "length(trimspace(var.tfe_organization)) > 0" in conditions


@pytest.mark.parametrize(
    ("variable", "fragments"),
    [
        ("role_mode", ['contains(["single", "split"], var.role_mode)']),
        ("offboarding", ['contains(["remove-variables", "delete-set", "off"], var.offboarding)']),
        ("maximum_retry_attempts", ["contains([0, 1, 2], var.maximum_retry_attempts)"]),
        ("maximum_event_age_in_seconds", [">= 60", "<= 21600"]),
        ("max_session_duration", [">= 3600", "<= 43200", "var.max_session_duration == null"]),
        ("onboard_concurrency", [">= 1", "<= 64"]),
        ("ou_rules", ["can(jsondecode(var.ou_rules))"]),
        ("access_role_names", [">= 1", "<= 5", "length(distinct([for role in var.access_role_names : lower(role)])) == length(var.access_role_names)"]),
        ("rule_maximum_retry_attempts", [">= 0", "<= 185"]),
        ("sweep_max_invocations", [">= 1", "<= 1000"]),
        ("sweep_retry_attempts", [">= 0", "<= 10"]),
        ("sweep_retry_interval_seconds", [">= 1", "<= 900"]),
        ("event_max_concurrency", [">= 2", "<= 30"]),
        ("tfe_requests_per_second", [">= 1", "<= 30"]),
        ("timeout", [">= 1", "<= 900"]),
        ("rule_maximum_event_age_in_seconds", [">= 60", "<= 86400"]),
        ("role_policy_arns", ["alltrue("]),
        ("plan_policy_arns", ["alltrue("]),
    ],
)
def test_validation_bounds(module: Module, variable: str, fragments: list[str]):
    conditions = " ".join(v["condition"] for v in module.variables[variable]["validation"])
    for fragment in fragments:
        assert fragment in conditions, f"{variable}: {fragment!r} not in {conditions!r}"


def test_no_variable_carries_a_token(module: Module):
    # The token is written to Secrets Manager out of band; only the ARN of
    # an existing secret may be passed in.
    suspicious = {name for name in module.variables if "token" in name.lower()}
    assert suspicious <= {"existing_token_secret_arn"}
    for name, body in module.variables.items():
        assert body.get("sensitive") is not True, f"{name} looks like a secret input"


def test_outputs(module: Module):
    assert EXPECTED_OUTPUTS <= set(module.outputs)
    for name, body in module.outputs.items():
        assert body.get("description"), f"output {name} has no description"
        assert "token" not in name or name.endswith("_arn"), name


def test_readme_documents_every_input_and_output(module: Module):
    readme = (INFRA_DIR / "README.md").read_text(encoding="utf-8")
    for name in list(module.variables) + list(module.outputs):
        assert f"`{name}`" in readme, f"infra/README.md does not document `{name}`"
    for must_mention in ("put-secret-value", "us-east-1", "aws.control_tower", "CloudTrail"):
        assert must_mention in readme, must_mention


# ---------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------


def test_function(module: Module):
    function = module.resource("aws_lambda_function", "this")
    assert function["runtime"] == "provided.al2023"
    assert function["handler"] == "bootstrap"
    assert function["architectures"] == ["${var.architecture}"]
    assert function["filename"] == "${var.lambda_zip_path}"
    assert function["source_code_hash"] == "${filebase64sha256(var.lambda_zip_path)}"
    assert function["memory_size"] == "${var.memory_size}"
    assert function["timeout"] == "${var.timeout}"
    assert function["reserved_concurrent_executions"] == "${var.reserved_concurrent_executions}"
    assert function["role"] == "${aws_iam_role.lambda.arn}"
    (tracing,) = function["tracing_config"]
    assert tracing["mode"] == "Active"
    (logging,) = function["logging_config"]
    assert logging["log_format"] == "JSON"
    assert logging["log_group"] == "${aws_cloudwatch_log_group.lambda.name}"


def test_log_group(module: Module):
    group = module.resource("aws_cloudwatch_log_group", "lambda")
    assert group["name"] == "/aws/lambda/${var.name}"
    assert group["retention_in_days"] == "${var.log_retention_in_days}"
    assert module.resource("aws_lambda_function", "this")["function_name"] == "${var.name}"


def _readme_env_names() -> set[str] | None:
    readme = REPO_ROOT / "README.md"
    if not readme.is_file():
        return None
    names = set()
    for line in readme.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            continue
        first_cell = line.strip().strip("|").split("|")[0]
        names.update(re.findall(r"`((?:TFE|ONBOARD)_[A-Z0-9_]+|RUST_LOG)`", first_cell))
    return names or None


def test_environment_names(module: Module):
    always = set(module.locals["lambda_environment"])
    optional = set(module.locals["lambda_optional_environment"])
    assert not always & optional
    assert optional == OPTIONAL_ENV
    configured = always | optional
    assert configured == EXPECTED_ENV
    assert not configured & NOT_SET_BY_MODULE
    assert not configured & REFUSED_BY_FUNCTION, "the function refuses these at cold start"

    documented = _readme_env_names()
    if documented is not None:
        documented -= NOT_SET_BY_MODULE
        assert configured == documented, (
            "the module's environment and the README configuration table differ: "
            f"only in module {sorted(configured - documented)}, only in README {sorted(documented - configured)}"
        )


def test_environment_values(module: Module):
    values = {**module.locals["lambda_environment"], **module.locals["lambda_optional_environment"]}
    for name, source in ENV_SOURCES.items():
        assert values[name] == source, f"{name} = {values[name]!r}"
    assert "var.max_session_duration" in values["ONBOARD_MAX_SESSION_DURATION"]


def test_optional_environment_is_dropped_when_null(module: Module):
    (environment,) = module.resource("aws_lambda_function", "this")["environment"]
    expression = environment["variables"]
    assert "local.lambda_environment" in expression
    assert "for key, value in local.lambda_optional_environment" in expression
    assert "if value != null" in expression


def test_event_invoke_config(module: Module):
    config = module.resource("aws_lambda_function_event_invoke_config", "this")
    assert config["function_name"] == "${aws_lambda_function.this.function_name}"
    assert config["maximum_retry_attempts"] == "${var.maximum_retry_attempts}"
    assert config["maximum_event_age_in_seconds"] == "${var.maximum_event_age_in_seconds}"
    (destination,) = config["destination_config"]
    (on_failure,) = destination["on_failure"]
    assert on_failure["destination"] == "${module.failures.arn}"


def test_failure_queue(module: Module):
    # Kept 14 days and encrypted by the dead-letter-queue module (test_dead_letter_queue.py);
    # Lambda sends with the function's role, so the queue has no policy.
    queue = dead_letter_queue(module, "failures")
    assert queue["kms_key_arn"] == "${var.kms_key_arn}"
    assert "senders" not in queue


def test_alarms(module: Module):
    # python-hcl2 gives the merge() of local.alarms back as one expression.
    alarms = module.locals["alarms"]
    for watched in (
        'errors = {description = "The ${var.name} function returned an error',
        'namespace = "AWS/Lambda", metric = "Errors", dimensions = {FunctionName = aws_lambda_function.this.function_name}',
        'failure-queue-not-empty = {',
        'namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = {QueueName = module.failures.name}',
        'events-dlq-not-empty = {',
        'namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = {QueueName = module.events_dlq.name}',
        # Failed onboardings, a sweep's too: the function's own metric (src/metrics.rs).
        'onboarding-failures = {',
        'namespace = "TfcOnboarder", metric = "Onboardings", dimensions = {FunctionName = aws_lambda_function.this.function_name, Outcome = "failed"}, statistic = "Sum"',
        # One FailedInvocations alarm per rule that queues account events.
        'for key in keys(local.enabled_event_rules) : "${replace(key, "_", "-")}-failed-invocations" => {',
        'namespace = "AWS/Events", metric = "FailedInvocations", dimensions = merge({RuleName = aws_cloudwatch_event_rule.account[key].name}, local.tooling_mode ? {EventBusName = local.account_event_bus_name} : {})',
    ):
        assert watched in alarms, watched
    # Every alarm has every field the resource reads (a merge of two branches once lost a
    # threshold, which only `terraform plan` noticed).
    for field in ("namespace", "metric", "dimensions", "statistic", "threshold"):
        assert alarms.count(f"{field} = ") == alarms.count("description = "), field
    forward = module.locals["control_tower_alarms"]
    assert forward.startswith("${local.forward_control_tower_events ? {")
    assert "dimensions = {RuleName = aws_cloudwatch_event_rule.control_tower_forward[0].name}" in forward
    assert "dimensions = {QueueName = module.control_tower_forward_dlq[0].name}" in forward
    # The alarms themselves are the metric-alarms module's, one call a Region, each with
    # that Region's provider and topic (test_metric_alarms.py).


def test_the_alarms_of_earlier_versions_keep_their_place():
    assert moved_blocks(INFRA_DIR / "alarms.tf") == {
        ("${aws_cloudwatch_metric_alarm.function_errors}", '${aws_cloudwatch_metric_alarm.this["errors"]}'),
        ("${aws_cloudwatch_metric_alarm.failure_queue_not_empty}", '${aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"]}'),
        # ...which the module's alarms now are (Terraform follows the chain).
        ("${aws_cloudwatch_metric_alarm.this}", "${module.alarms.aws_cloudwatch_metric_alarm.this}"),
        ("${aws_cloudwatch_metric_alarm.control_tower}", "${module.control_tower_alarms.aws_cloudwatch_metric_alarm.this}"),
    }


def test_every_event_target_retries_and_keeps_what_it_cannot_deliver(module: Module):
    targets = module.resources_of_type("aws_cloudwatch_event_target")
    assert set(targets) == {"account", "control_tower_forward"}
    queues = {"account": "${module.events_dlq.arn}", "control_tower_forward": "${module.control_tower_forward_dlq[0].arn}"}
    # The queue policies must exist before a target may use the queues (the whole module
    # call is waited for: the queue and its policy).
    policies = {
        "account": ["${aws_sqs_queue_policy.events}", "${module.events_dlq}"],
        "control_tower_forward": ["${module.control_tower_forward_dlq}"],
    }
    for name, target in targets.items():
        (retry,) = target["retry_policy"]
        assert retry == {
            "maximum_retry_attempts": "${var.rule_maximum_retry_attempts}",
            "maximum_event_age_in_seconds": "${var.rule_maximum_event_age_in_seconds}",
        }, name
        (dead_letter,) = target["dead_letter_config"]
        assert dead_letter == {"arn": queues[name]}, name
        assert target["depends_on"] == policies[name], name


def test_dead_letter_queues_are_encrypted_and_admit_only_their_rules(module: Module):
    # The queue, its encryption and its policy are the dead-letter-queue module's
    # (test_dead_letter_queue.py); here: which key and which rules each queue gets.
    queue = dead_letter_queue(module, "events_dlq")
    assert queue["kms_key_arn"] == "${var.kms_key_arn}"
    forward = dead_letter_queue(module, "control_tower_forward_dlq")
    assert forward["providers"] == {"aws": "${aws.control_tower}"}
    assert "kms_key_arn" not in forward, "SSE-SQS: the CMK is of another Region"
    assert forward["count"] == "${local.forward_control_tower_events ? 1 : 0}"

    expected_sources = {
        "events_dlq": "${[for key in sort(keys(local.enabled_event_rules)) : aws_cloudwatch_event_rule.account[key].arn]}",
        "control_tower_forward_dlq": ["${aws_cloudwatch_event_rule.control_tower_forward[0].arn}"],
    }
    for name, sources in expected_sources.items():
        senders = dead_letter_queue(module, name)["senders"]
        assert senders["principal"] == "events.amazonaws.com", name
        assert senders["source_arns"] == sources, name


# ---------------------------------------------------------------------------
# Secret
# ---------------------------------------------------------------------------


def test_secret_is_created_without_a_value(module: Module):
    secret = module.resource("aws_secretsmanager_secret", "tfe_api")
    assert secret["count"] == "${local.create_secret ? 1 : 0}"
    assert secret["kms_key_id"] == "${var.kms_key_arn}"
    assert module.locals["create_secret"] == "${var.existing_token_secret_arn == null}"
    assert module.locals["secret_arn"] == (
        "${local.create_secret ? aws_secretsmanager_secret.tfe_api[0].arn : var.existing_token_secret_arn}"
    )


def test_no_secret_value_anywhere():
    # Not even commented out or in the example: the token must never be in state.
    for path in ALL_TF_FILES:
        assert "aws_secretsmanager_secret_version" not in path.read_text(encoding="utf-8"), _rel(path)
    for path in ALL_TF_FILES:
        parsed = load_file(path)
        for block in parsed.get("resource", []) + parsed.get("data", []):
            assert "aws_secretsmanager_secret_version" not in block, _rel(path)


def test_readme_tells_the_operator_to_put_the_token():
    readme = (INFRA_DIR / "README.md").read_text(encoding="utf-8")
    assert "aws secretsmanager put-secret-value" in readme


# ---------------------------------------------------------------------------
# Event rules
# ---------------------------------------------------------------------------

RULE_KEYS = {"create_account_result", "close_account_result", "remove_account", "control_tower"}
PATTERN_KEYS = RULE_KEYS

# Which pattern must match which sample event; every other pairing must not.
EXPECTED_MATCHES = {
    "create-account-result.json": {"create_account_result"},
    "create-account-result-failed.json": set(),
    "close-account-result.json": {"close_account_result"},
    "remove-account-from-organization.json": {"remove_account"},
    "control-tower-create-managed-account.json": {"control_tower"},
    "control-tower-update-managed-account.json": {"control_tower"},
    # The state is checked in code, so the failed event still reaches the
    # function (see the comment on the pattern).
    "control-tower-create-managed-account-failed.json": {"control_tower"},
    # Direct invocations never come through EventBridge rules.
    "manual.json": set(),
    "manual-dry-run.json": set(),
    "offboard.json": set(),
    "reconcile.json": set(),
}


@pytest.fixture(scope="module")
def patterns(module: Module) -> dict[str, dict]:
    # One definition for both parts: the management account's forwarding rules
    # (infra/management) use the same module.
    assert module.locals["event_patterns"] == "${module.event_patterns.patterns}"
    found = load_module(INFRA_DIR / "modules" / "event-patterns").locals["patterns"]
    assert set(found) == PATTERN_KEYS
    for name, pattern in found.items():
        validate(pattern)
        for value in _walk_leaves(pattern):
            assert not is_expression(value), f"pattern {name} must be a literal, found {value}"
    return found


def _walk_leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_leaves(item)
    else:
        yield value


def test_sample_events_exist():
    for name in EXPECTED_MATCHES:
        assert (EVENTS_DIR / name).is_file(), name


@pytest.mark.parametrize("sample", sorted(EXPECTED_MATCHES))
def test_patterns_against_samples(patterns: dict[str, dict], sample: str):
    event = load_event(sample)
    matched = {name for name, pattern in patterns.items() if matches(pattern, event)}
    assert matched == EXPECTED_MATCHES[sample]


def test_create_account_result_pattern_is_exact(patterns: dict[str, dict]):
    assert patterns["create_account_result"] == {
        "source": ["aws.organizations"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {
            "eventSource": ["organizations.amazonaws.com"],
            "eventName": ["CreateAccountResult"],
            "serviceEventDetails": {"createAccountStatus": {"state": ["SUCCEEDED"]}},
        },
    }


def test_control_tower_pattern_is_exact(patterns: dict[str, dict]):
    assert patterns["control_tower"] == {
        "source": ["aws.controltower"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {"eventName": ["CreateManagedAccount", "UpdateManagedAccount"]},
    }


def test_offboarding_patterns(patterns: dict[str, dict]):
    offboarding = [patterns["close_account_result"], patterns["remove_account"]]
    for sample in ("close-account-result.json", "remove-account-from-organization.json"):
        assert any(matches(p, load_event(sample)) for p in offboarding), sample
    for sample in ("create-account-result.json", "control-tower-create-managed-account.json"):
        assert not any(matches(p, load_event(sample)) for p in offboarding), sample

    closing = load_event("close-account-result.json")
    closing["detail"]["serviceEventDetails"]["closeAccountStatus"]["state"] = "FAILED"
    assert not matches(patterns["close_account_result"], closing)

    # A refused RemoveAccountFromOrganization leaves the account in place.
    refused = load_event("remove-account-from-organization.json")
    refused["detail"]["errorCode"] = "AccessDeniedException"
    assert not matches(patterns["remove_account"], refused)


def test_a_pending_create_account_is_ignored(patterns: dict[str, dict]):
    pending = load_event("create-account-result.json")
    pending["detail"]["serviceEventDetails"]["createAccountStatus"]["state"] = "IN_PROGRESS"
    assert not matches(patterns["create_account_result"], pending)


def test_event_rules(module: Module):
    rules = module.locals["event_rules"]
    assert set(rules) == RULE_KEYS
    for key in PATTERN_KEYS:
        assert rules[key]["event_pattern"] == f"${{jsonencode(local.event_patterns.{key})}}"
        assert set(rules[key]) == {"enabled", "description", "event_pattern"}, "no schedule, no input: the sweep has its own"
    assert rules["create_account_result"]["enabled"] is True
    assert rules["close_account_result"]["enabled"] == "${local.offboarding_enabled}"
    assert rules["remove_account"]["enabled"] == "${local.offboarding_enabled}"
    assert module.locals["offboarding_enabled"] == '${var.offboarding != "off"}'
    assert rules["control_tower"]["enabled"] == "${var.enable_control_tower}"
    assert module.locals["enabled_event_rules"] == (
        "${{for key, rule in local.event_rules : key => rule if rule.enabled}}"
    )


def test_rules_queue_their_events_for_the_function(module: Module):
    rule = module.resource("aws_cloudwatch_event_rule", "account")
    target = module.resource("aws_cloudwatch_event_target", "account")
    for resource in (rule, target):
        assert resource["for_each"] == "${local.enabled_event_rules}"
    # Organizations events reach only the management account's default bus; in
    # tooling mode they are forwarded to the tooling bus.
    assert rule["event_bus_name"] == "${local.account_event_bus_name}"
    assert rule["event_pattern"] == "${each.value.event_pattern}"
    assert "schedule_expression" not in rule

    assert target["arn"] == "${aws_sqs_queue.events.arn}"
    assert target["target_id"] == "queue"
    # A target is found on its rule's bus only.
    assert target["event_bus_name"] == "${aws_cloudwatch_event_rule.account[each.key].event_bus_name}"
    assert "input" not in target, "the event itself is the message"
    (lifecycle,) = target["lifecycle"]
    assert lifecycle["create_before_destroy"] is True
    # Nothing but the event source mapping invokes the function for events.
    assert module.resources_of_type("aws_lambda_permission") == {}
    assert moved_blocks(INFRA_DIR / "events.tf", "aws_cloudwatch_event") == {
        ("${aws_cloudwatch_event_rule.lambda}", "${aws_cloudwatch_event_rule.account}"),
        ("${aws_cloudwatch_event_target.lambda}", "${aws_cloudwatch_event_target.account}"),
    }


def test_rules_refuse_regions_without_organizations_events(module: Module):
    rule = module.resource("aws_cloudwatch_event_rule", "account")
    (lifecycle,) = rule["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert precondition["condition"] == '${local.tooling_mode || var.allow_non_us_east_1 || local.region == "us-east-1"}'
    assert "us-east-1" in precondition["error_message"]
    assert module.locals["region"] == "${data.aws_region.current.id}"


def test_control_tower_forwarding(module: Module):
    assert module.locals["forward_control_tower_events"] == (
        "${var.enable_control_tower && !local.tooling_mode && data.aws_region.control_tower.id != local.region}"
    )
    rule = module.resource("aws_cloudwatch_event_rule", "control_tower_forward")
    assert rule["provider"] == "${aws.control_tower}"
    assert rule["event_pattern"] == "${jsonencode(local.event_patterns.control_tower)}"
    (lifecycle,) = rule["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert "data.aws_caller_identity.control_tower.account_id == local.account_id" in precondition["condition"]

    target = module.resource("aws_cloudwatch_event_target", "control_tower_forward")
    assert target["provider"] == "${aws.control_tower}"
    assert target["arn"] == "${local.default_event_bus_arn}"
    assert target["role_arn"] == "${module.control_tower_forward_role[0].arn}"
    assert module.locals["default_event_bus_arn"] == (
        "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"
    )

    # The role is the event-forward-role module's (test_event_forward_role.py): assumed
    # only by this rule of this account, PutEvents only on this Region's default bus.
    role = module_calls(module, "event-forward-role")["control_tower_forward_role"]
    assert role["count"] == "${local.forward_control_tower_events ? 1 : 0}"
    assert "providers" not in role, "IAM is global: the default provider's account"
    assert role["name"] == "${var.name}-ct-forward"
    assert role["account_id"] == "${local.account_id}"
    assert role["rules"] == {
        "sid": "EventBridgeForwardRule",
        "arns": ["${aws_cloudwatch_event_rule.control_tower_forward[0].arn}"],
    }
    assert role["bus"] == {"sid": "PutOnFunctionRegionDefaultBus", "arn": "${local.default_event_bus_arn}"}
    assert moved_blocks(INFRA_DIR / "events.tf", "aws_iam_role") == {
        ("${aws_iam_role.control_tower_forward[0]}", "${module.control_tower_forward_role[0].aws_iam_role.this}"),
        (
            "${aws_iam_role_policy.control_tower_forward[0]}",
            "${module.control_tower_forward_role[0].aws_iam_role_policy.this}",
        ),
    }


# ---------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def function_statements(module: Module) -> list[dict]:
    policy = module.resource("aws_iam_role_policy", "lambda")
    assert policy["role"] == "${aws_iam_role.lambda.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.lambda.json}"
    statements = policy_statements(module.data_source("aws_iam_policy_document", "lambda"), module)
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
        assert "not_actions" not in statement and "not_resources" not in statement
    return statements


SINGLE_ACCOUNT_ONLY = "${local.tooling_mode ? [] : [1]}"


def _statements_with(statements: list[dict], action: str) -> list[dict]:
    return [s for s in statements if action in s["actions"]]


def test_function_role_trusts_only_lambda(module: Module):
    role = module.resource("aws_iam_role", "lambda")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.lambda_assume_role.json}"
    (statement,) = policy_statements(module.data_source("aws_iam_policy_document", "lambda_assume_role"))
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]


def test_function_role_has_only_its_inline_policy(module: Module):
    attachments = module.resources_of_type("aws_iam_role_policy_attachment")
    assert not attachments, "managed policies would widen the role beyond the reviewed document"
    role = module.resource("aws_iam_role", "lambda")
    assert "managed_policy_arns" not in role and "inline_policy" not in role


def test_no_wildcard_actions(function_statements: list[dict]):
    for statement in function_statements:
        for action in statement["actions"]:
            assert action != "*"
            assert "*" not in action, f"wildcard action {action}"
            assert not action.startswith("iam:"), f"the function needs no IAM rights in the management account: {action}"


def test_assume_role_only_on_the_access_roles_of_this_organization(function_statements: list[dict], module: Module):
    (assume, broker) = _statements_with(function_statements, "sts:AssumeRole")
    assert assume["for_each"] == SINGLE_ACCOUNT_ONLY, "the grant does not depend on enable_control_tower any more"
    # In tooling mode, exactly the broker role instead.
    assert broker["for_each"] == "${local.tooling_mode ? [var.management_role_arn] : []}"
    assert broker["resources"] == ["${statement.value}"] and broker.get("condition") is None
    assert assume["actions"] == ["sts:AssumeRole"]
    # Exactly the configured names, each as arn:<partition>:iam::*:role/<name>.
    assert assume["resources"] == '${[for role in var.access_role_names : "arn:${local.partition}:iam::*:role/${role}"]}'
    (condition,) = assume["condition"]
    assert condition == {"test": "StringEquals", "variable": "aws:ResourceOrgID", "values": ["${local.organization_id}"]}
    assert module.locals["organization_id"] == "${data.aws_organizations_organization.this.id}"
    module.data_source("aws_organizations_organization", "this")


def test_access_role_names_expand_to_role_arns_without_wildcards(module: Module):
    # What the for expression yields for the default list (and any list the
    # validation admits): one ARN per name, no '*' in the role part.
    names = module.variables["access_role_names"]["default"]
    assert names == ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]
    for name in names + ["a+b=c.e@f_g-h"]:
        assert _accepted(module, "access_role_names", name)
        arn = f"arn:aws:iam::*:role/{name}"
        assert "*" not in arn.split(":role/")[1]


def test_organizations_access(function_statements: list[dict], module: Module):
    scoped_actions = {
        "organizations:DescribeAccount",
        "organizations:DescribeOrganizationalUnit",
        "organizations:ListParents",
        "organizations:ListTagsForResource",
    }
    unscoped_actions = {"organizations:DescribeOrganization", "organizations:ListAccounts"}
    org = [s for s in function_statements if any(a.startswith("organizations:") for a in s["actions"])]
    # In both layouts: in tooling mode the organization's delegation policy allows them too.
    assert all(s["for_each"] == "${module.organizations_reads.statements}" for s in org)
    assert [s["sid"] for s in org] == ["TfcOnboarderReadAccountsOusAndRoots", "TfcOnboarderListOrganization"]
    granted = {a for s in org for a in s["actions"]}
    assert granted == scoped_actions | unscoped_actions

    # The organization's ARNs name its management account, as DescribeOrganization has it
    # (this account in the single-account layout).
    prefix = "arn:${local.partition}:organizations::${data.aws_organizations_organization.this.master_account_id}"
    for statement in org:
        assert statement.get("condition") is None and statement.get("principals") is None
        actions = set(statement["actions"])
        if actions & scoped_actions:
            assert actions <= scoped_actions
            assert statement["resources"] == [
                f"{prefix}:account/${{local.organization_id}}/*",
                f"{prefix}:ou/${{local.organization_id}}/ou-*",
                f"{prefix}:root/${{local.organization_id}}/r-*",
            ]
        else:
            assert actions <= unscoped_actions
            assert statement["resources"] == ["*"]
    assert "organizations_arn_prefix" not in module.locals


def test_the_management_account_named_by_the_broker_arn_manages_the_organization(module: Module):
    bus = module.resource("aws_cloudwatch_event_bus", "organization")
    conditions = [p["condition"] for lc in bus["lifecycle"] for p in lc["precondition"]]
    assert "${local.management_account_id == data.aws_organizations_organization.this.master_account_id}" in conditions


def test_doctor_reads_trails_and_the_accounts_own_rules(function_statements: list[dict]):
    (listing,) = _statements_with(function_statements, "cloudtrail:DescribeTrails")
    assert listing["actions"] == ["cloudtrail:DescribeTrails"]
    assert listing["resources"] == ["*"]
    (trails,) = _statements_with(function_statements, "cloudtrail:GetTrailStatus")
    assert set(trails["actions"]) == {"cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"}
    # Any Region (a multi-Region trail is read in its home Region), this account only.
    assert trails["resources"] == ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    (rules,) = _statements_with(function_statements, "events:ListRuleNamesByTarget")
    assert set(rules["actions"]) == {"events:ListRuleNamesByTarget", "events:DescribeRule"}
    assert rules["resources"] == ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/*"]
    for statement in (listing, trails, rules):
        # doctor does not run these checks in tooling mode.
        assert statement.get("condition") is None and statement.get("for_each") == SINGLE_ACCOUNT_ONLY
        assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in statement["actions"]), "reads only"


def test_star_resources_only_where_iam_requires_it(function_statements: list[dict]):
    allowed_on_star = {
        "cloudtrail:DescribeTrails",
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    for statement in function_statements:
        # A string is an expression (the access roles' for expression), not "*".
        if isinstance(statement["resources"], list) and "*" in statement["resources"]:
            assert set(statement["actions"]) <= allowed_on_star, statement["actions"]


def test_secret_access_is_the_one_secret(function_statements: list[dict]):
    secret = [s for s in function_statements if any(a.startswith("secretsmanager:") for a in s["actions"])]
    (statement,) = secret
    assert statement["actions"] == ["secretsmanager:GetSecretValue"]
    assert statement["resources"] == ["${local.secret_arn}"]


def test_kms_only_with_a_customer_key_and_through_services(function_statements: list[dict]):
    kms = [s for s in function_statements if any(a.startswith("kms:") for a in s["actions"])]
    (statement,) = kms
    assert statement["for_each"] == "${var.kms_key_arn == null ? [] : [var.kms_key_arn]}"
    assert set(statement["actions"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statement["resources"] == ["${statement.value}"]
    (condition,) = statement["condition"]
    assert condition["variable"] == "kms:ViaService"
    assert condition["test"] == "StringEquals"


def test_put_events_only_on_the_ready_bus_when_enabled(function_statements: list[dict], module: Module):
    (statement,) = _statements_with(function_statements, "events:PutEvents")
    assert statement["actions"] == ["events:PutEvents"]
    assert statement["for_each"] == "${var.emit_ready_events ? [local.ready_event_bus_arn] : []}"
    assert module.locals["ready_event_bus_arn"] == (
        "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.ready_event_bus_name}"
    )
    assert module.variables["ready_event_bus_name"]["default"] == "default"
    assert statement["resources"] == ["${statement.value}"]


def test_queue_logs_and_traces(function_statements: list[dict]):
    (send,) = _statements_with(function_statements, "sqs:SendMessage")
    assert send["actions"] == ["sqs:SendMessage"]
    assert send["resources"] == ["${module.failures.arn}"]

    # What Lambda's event source mapping needs, on the one queue it drains.
    (receive,) = _statements_with(function_statements, "sqs:ReceiveMessage")
    assert set(receive["actions"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert receive["resources"] == ["${aws_sqs_queue.events.arn}"]

    (logs,) = _statements_with(function_statements, "logs:PutLogEvents")
    assert set(logs["actions"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert logs["resources"] == ["${aws_cloudwatch_log_group.lambda.arn}:*"]

    (xray,) = _statements_with(function_statements, "xray:PutTraceSegments")
    assert set(xray["actions"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_every_function_permission_is_accounted_for(function_statements: list[dict]):
    granted = {a for s in function_statements for a in s["actions"]}
    assert granted == {
        "sts:AssumeRole",
        "organizations:DescribeAccount",
        "organizations:DescribeOrganizationalUnit",
        "organizations:ListParents",
        "organizations:ListTagsForResource",
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "events:DescribeRule",
        "events:ListRuleNamesByTarget",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "events:PutEvents",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


# ---------------------------------------------------------------------------
# Optional CloudTrail
# ---------------------------------------------------------------------------


def test_cloudtrail_is_optional_and_hardened(module: Module):
    trail = module.resource("aws_cloudtrail", "this")
    assert trail["count"] == "${var.create_cloudtrail ? 1 : 0}"
    assert trail["is_multi_region_trail"] is True
    assert trail["include_global_service_events"] is True
    assert trail["enable_log_file_validation"] is True
    assert trail["kms_key_id"] == "${aws_kms_key.cloudtrail[0].arn}"
    assert module.resource("aws_kms_key", "cloudtrail")["enable_key_rotation"] is True

    block = module.resource("aws_s3_bucket_public_access_block", "cloudtrail")
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[flag] is True, flag
    (versioning,) = module.resource("aws_s3_bucket_versioning", "cloudtrail")["versioning_configuration"]
    assert versioning["status"] == "Enabled"
    module.resource("aws_s3_bucket_server_side_encryption_configuration", "cloudtrail")

    statements = policy_statements(module.data_source("aws_iam_policy_document", "cloudtrail_bucket"))
    denies = [s for s in statements if s.get("effect") == "Deny"]
    assert any(c["variable"] == "aws:SecureTransport" for s in denies for c in s["condition"])
    for statement in statements:
        if statement.get("effect", "Allow") == "Allow":
            assert statement["principals"] == [{"type": "Service", "identifiers": ["cloudtrail.amazonaws.com"]}]
