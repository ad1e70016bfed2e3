locals {
  # Terraform Cloud admits 30 requests per second per user, shared by every
  # container: the containers draining the events queue together stay within
  # the budget given to this tool. A sweep, or a manual invocation, running at
  # the same time adds its own container's share; the clients then wait out
  # the 429s as the API says (see the README).
  tfe_rate_limit = floor(var.tfe_requests_per_second / var.event_max_concurrency)

  # Always set. Values are strings because Lambda environment values are.
  lambda_environment = {
    TFE_ORGANIZATION          = var.tfe_organization
    TFE_HOSTNAME              = var.tfe_hostname
    TFE_TOKEN_SECRET_ID       = local.secret_arn
    ONBOARD_ACCESS_ROLE_NAMES = join(",", var.access_role_names)
    ONBOARD_ROLE_NAME         = var.role_name
    ONBOARD_ROLE_POLICY_ARNS  = join(",", var.role_policy_arns)
    ONBOARD_AUDIENCE          = var.audience
    ONBOARD_TFC_PROJECT       = var.tfc_project
    ONBOARD_TFC_WORKSPACE     = var.tfc_workspace
    ONBOARD_VARSET_NAME       = var.varset_name
    ONBOARD_REGION            = var.onboard_region
    ONBOARD_DRY_RUN           = tostring(var.dry_run)
    ONBOARD_ROLE_MODE         = var.role_mode
    ONBOARD_PLAN_POLICY_ARNS  = join(",", var.plan_policy_arns)
    ONBOARD_TAG_PREFIX        = var.tag_prefix
    ONBOARD_OFFBOARD          = var.offboarding
    ONBOARD_READY_EVENTS      = tostring(var.emit_ready_events)
    ONBOARD_EVENT_BUS         = var.ready_event_bus_name
    ONBOARD_CONCURRENCY       = tostring(var.onboard_concurrency)
    ONBOARD_PARTITION         = local.partition
    TFE_RATE_LIMIT            = tostring(local.tfe_rate_limit)
    ONBOARD_EVENTS_QUEUE_ARN  = aws_sqs_queue.events.arn
    RUST_LOG                  = var.log_level
  }

  # Only set when the input is not null, so the function can tell "unset"
  # from an empty string.
  lambda_optional_environment = {
    TFE_ADDRESS                      = var.tfe_address
    ONBOARD_PERMISSIONS_BOUNDARY_ARN = var.permissions_boundary_arn
    ONBOARD_MAX_SESSION_DURATION     = var.max_session_duration == null ? null : tostring(var.max_session_duration)
    ONBOARD_OU_RULES                 = var.ou_rules
    ONBOARD_MANAGEMENT_ROLE_ARN      = var.management_role_arn
  }
}

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 90); the function logs operational detail, not audit records, which CloudTrail keeps.
  #checkov:skip=CKV_AWS_158:A customer managed key is optional (kms_key_arn); the log group is encrypted with the CloudWatch Logs service key by default.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function only calls public AWS and HCP Terraform endpoints; a VPC would add NAT cost and no isolation.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the on-failure destination (aws_lambda_function_event_invoke_config), which records more context than a DLQ; configuring both would duplicate every failure.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (the API token is read from Secrets Manager at run time), so the default Lambda service key is enough.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the build pipeline does not have; the zip's hash is pinned through source_code_hash.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is optional (reserved_concurrent_executions); reserving by default fails in accounts at the minimum unreserved quota, and the event source mapping's maximum concurrency already bounds bursts of account events.
  function_name                  = var.name
  description                    = "Onboards new AWS accounts into HCP Terraform with OIDC dynamic credentials."
  role                           = aws_iam_role.lambda.arn
  filename                       = var.lambda_zip_path
  source_code_hash               = filebase64sha256(var.lambda_zip_path)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = merge(
      local.lambda_environment,
      { for key, value in local.lambda_optional_environment : key => value if value != null },
    )
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
    # RUST_LOG is the one filter: TRACE here keeps Lambda from dropping what
    # the function chose to emit, and explicit levels avoid a perpetual diff.
    application_log_level = "TRACE"
    system_log_level      = "INFO"
  }

  tags = local.tags

  # The role must be able to write logs and reach the failure queue before
  # the first invocation.
  depends_on = [aws_iam_role_policy.lambda]

  lifecycle {
    precondition {
      condition     = local.tfe_rate_limit >= 1
      error_message = "tfe_requests_per_second (${var.tfe_requests_per_second}) must be at least event_max_concurrency (${var.event_max_concurrency}): each container that processes account events needs 1 request per second or more."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = module.failures.arn
    }
  }

  # Lambda checks that the execution role may send to the destination.
  depends_on = [aws_iam_role_policy.lambda]
}
