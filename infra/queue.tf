locals {
  # AWS asks for six times the function timeout, so that a batch Lambda must
  # retry (a throttled invocation) is not received twice meanwhile.
  events_visibility_timeout_seconds = 6 * var.timeout
  events_max_receive_count          = var.maximum_retry_attempts + 1
}

# Account events from the rules, drained by the function through the event
# source mapping below, at most event_max_concurrency containers at once.
resource "aws_sqs_queue" "events" {
  #checkov:skip=CKV2_AWS_73:A customer managed key is optional (kms_key_arn); SSE-SQS encrypts the queue by default and needs no key policy for EventBridge.
  name = "${var.name}-events"
  # Kept as long as SQS allows: an outage of the function or of Terraform
  # Cloud delays onboarding, it loses nothing.
  message_retention_seconds  = 1209600
  visibility_timeout_seconds = local.events_visibility_timeout_seconds
  kms_master_key_id          = var.kms_key_arn
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null
  tags                       = local.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = module.events_failed.arn
    maxReceiveCount     = local.events_max_receive_count
  })
}

# Queued events the function failed on every receive (each failed message is
# named in the batch response, so one bad account never fails its batch).
# Redrive them to the events queue (StartMessageMoveTask) once the cause is
# fixed. SQS redrive needs no queue policy.
module "events_failed" {
  source = "./modules/dead-letter-queue"

  name        = "${var.name}-events-failed"
  kms_key_arn = var.kms_key_arn
  tags        = local.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    sid       = "OnlyTheseRulesQueueEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for key in sort(keys(local.enabled_event_rules)) : aws_cloudwatch_event_rule.account[key].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.events.json
}

# Lambda polls the queue with the function's role and hands over batches of up
# to 10 messages, in at most event_max_concurrency containers at once: the
# Terraform Cloud budget is split between them (TFE_RATE_LIMIT, lambda.tf).
resource "aws_lambda_event_source_mapping" "events" {
  event_source_arn        = aws_sqs_queue.events.arn
  function_name           = aws_lambda_function.this.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.event_max_concurrency
  }

  # Lambda checks that the role may read the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.lambda]
}

# Asynchronous invocations that still fail after Lambda's retries land here
# with the original event and the error, so an account is never silently
# left half onboarded. Redrive by re-invoking the function with the event.
# Lambda sends with the function's role (iam.tf): no queue policy.
module "failures" {
  source = "./modules/dead-letter-queue"

  name        = "${var.name}-failures"
  kms_key_arn = var.kms_key_arn
  tags        = local.tags
}

# Events EventBridge could not put on the events queue (its policy refusing
# the rule, throttling beyond the retry policy), and daily sweeps the
# scheduler could not start, land here instead of being dropped. The
# scheduler sends with its own role (sweep.tf); the rules need the policy.
module "events_dlq" {
  source = "./modules/dead-letter-queue"

  name        = "${var.name}-events-dlq"
  kms_key_arn = var.kms_key_arn
  tags        = local.tags
  senders = {
    sid         = "OnlyTheseRulesSendUndeliveredEvents"
    principal   = "events.amazonaws.com"
    source_arns = [for key in sort(keys(local.enabled_event_rules)) : aws_cloudwatch_event_rule.account[key].arn]
  }
}

# EventBridge only uses a dead-letter queue of the rule's own Region, so the
# forwarding rule in the Control Tower home Region gets its own (SSE-SQS:
# kms_key_arn is a key of the function's Region).
module "control_tower_forward_dlq" {
  source    = "./modules/dead-letter-queue"
  count     = local.forward_control_tower_events ? 1 : 0
  providers = { aws = aws.control_tower }

  name = "${var.name}-ct-forward-dlq"
  tags = local.tags
  senders = {
    sid         = "OnlyTheForwardRuleSendsUndeliveredEvents"
    principal   = "events.amazonaws.com"
    source_arns = [aws_cloudwatch_event_rule.control_tower_forward[0].arn]
  }
}

# Earlier versions declared the queues here; they keep their place (no
# destroy and create, which would lose what they hold).
moved {
  from = aws_sqs_queue.events_failed
  to   = module.events_failed.aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue.failures
  to   = module.failures.aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue.events_dlq
  to   = module.events_dlq.aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.events_dlq
  to   = module.events_dlq.aws_sqs_queue_policy.this[0]
}

moved {
  from = aws_sqs_queue.control_tower_forward_dlq[0]
  to   = module.control_tower_forward_dlq[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.control_tower_forward_dlq[0]
  to   = module.control_tower_forward_dlq[0].aws_sqs_queue_policy.this[0]
}
