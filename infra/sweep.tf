# The reconcile sweep: EventBridge Scheduler starts a Step Functions execution
# on reconcile_schedule, and the state machine invokes the function with the
# continuation it returned until none is left (one invocation covers what its
# time budget allows, a few thousand accounts). See sweep.asl.json.tftpl.

locals {
  sweep_name = "${var.name}-sweep"
  # Built from the name, not read from the resources: the roles' policies name
  # the state machine and the schedule, which in turn name the roles.
  sweep_state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.sweep_name}"
  sweep_schedule_arn      = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/default/${local.sweep_name}"

  sweep_definition = templatefile("${path.module}/sweep.asl.json.tftpl", {
    name         = var.name
    partition    = local.partition
    function_arn = aws_lambda_function.this.arn
    # A daily sweep never runs into the next day's; one that takes this long
    # has a problem an alarm must show.
    execution_timeout_seconds = 82800
    start_delay_seconds       = 5
    # An invocation cannot outlast the function's timeout; a lost answer is
    # retried like a failure.
    task_timeout_seconds   = var.timeout + 30
    retry_attempts         = var.sweep_retry_attempts
    retry_interval_seconds = var.sweep_retry_interval_seconds
    max_invocations        = var.sweep_max_invocations
  })
}

resource "aws_sfn_state_machine" "sweep" {
  #checkov:skip=CKV_AWS_285:The execution history (kept 90 days) records every state's input and output, and the function logs every account; delivering execution logs would need logs:*LogDelivery on "*" in the state machine's role.
  #checkov:skip=CKV_AWS_284:The function the state machine invokes traces itself with X-Ray (active tracing); tracing the state machine would need xray:Put* on "*" in its role for two states.
  name       = local.sweep_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.sweep.arn
  definition = local.sweep_definition
  tags       = local.tags

  # The role must allow what the first execution does.
  depends_on = [aws_iam_role_policy.sweep]
}

data "aws_iam_policy_document" "sweep_assume_role" {
  statement {
    sid     = "StepFunctionsForTheSweepOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.sweep_state_machine_arn]
    }
  }
}

resource "aws_iam_role" "sweep" {
  name               = local.sweep_name
  description        = "Lets the ${local.sweep_name} state machine invoke the ${var.name} function and see its own running executions."
  assume_role_policy = data.aws_iam_policy_document.sweep_assume_role.json
  tags               = local.tags
}

data "aws_iam_policy_document" "sweep" {
  statement {
    sid       = "InvokeTheFunction"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this.arn]
  }

  statement {
    sid       = "SeeOtherRunningSweeps"
    effect    = "Allow"
    actions   = ["states:ListExecutions"]
    resources = [local.sweep_state_machine_arn]
  }
}

resource "aws_iam_role_policy" "sweep" {
  name   = "${local.sweep_name}-least-privilege"
  role   = aws_iam_role.sweep.id
  policy = data.aws_iam_policy_document.sweep.json
}

resource "aws_scheduler_schedule" "sweep" {
  #checkov:skip=CKV_AWS_297:The schedule's only data is its target input, an empty JSON object; AWS owned encryption protects it, and a customer key would need a key policy for EventBridge Scheduler.
  count = var.reconcile_schedule == null ? 0 : 1

  name                = local.sweep_name
  description         = "Starts the ${var.name} reconcile sweep."
  schedule_expression = var.reconcile_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.sweep.arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = var.rule_maximum_retry_attempts
      maximum_event_age_in_seconds = var.rule_maximum_event_age_in_seconds
    }

    # A sweep the scheduler could not start is kept, with its error.
    dead_letter_config {
      arn = module.events_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

data "aws_iam_policy_document" "scheduler_assume_role" {
  count = var.reconcile_schedule == null ? 0 : 1

  statement {
    sid     = "SchedulerForTheSweepOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.sweep_schedule_arn]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.reconcile_schedule == null ? 0 : 1

  name               = "${local.sweep_name}-schedule"
  description        = "Lets the ${local.sweep_name} schedule start the reconcile sweep."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume_role[0].json
  tags               = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  count = var.reconcile_schedule == null ? 0 : 1

  statement {
    sid       = "StartTheSweep"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.sweep.arn]
  }

  # EventBridge Scheduler delivers to its dead-letter queue with this role.
  statement {
    sid       = "KeepWhatCouldNotStart"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [module.events_dlq.arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseCustomerManagedKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.reconcile_schedule == null ? 0 : 1

  name   = "${local.sweep_name}-schedule-least-privilege"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler[0].json
}
