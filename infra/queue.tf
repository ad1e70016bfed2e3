# Asynchronous invocations that still fail after Lambda's retries land here
# with the original event and the error, so an account is never silently
# left half onboarded. Redrive by re-invoking the function with the event.
resource "aws_sqs_queue" "failures" {
  #checkov:skip=CKV2_AWS_73:A customer managed key is optional (kms_key_arn); SSE-SQS encrypts the queue by default and needs no key policy.
  name                      = "${var.name}-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  # Set only without a CMK: the provider rejects both at once.
  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  tags                    = local.tags
}

# Events EventBridge could not deliver to a rule's target (the function
# missing, its resource policy refusing the rule, throttling beyond the retry
# policy) land here instead of being dropped. The failure queue above only
# sees invocations that reached the function.
resource "aws_sqs_queue" "events_dlq" {
  #checkov:skip=CKV2_AWS_73:A customer managed key is optional (kms_key_arn); SSE-SQS encrypts the queue by default and needs no key policy for EventBridge.
  name                      = "${var.name}-events-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  tags                      = local.tags
}

data "aws_iam_policy_document" "events_dlq" {
  statement {
    sid       = "OnlyTheseRulesSendUndeliveredEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for key in sort(keys(local.enabled_lambda_rules)) : aws_cloudwatch_event_rule.lambda[key].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.events_dlq.json
}

# EventBridge only uses a dead-letter queue of the rule's own Region, so the
# forwarding rule in the Control Tower home Region gets its own.
resource "aws_sqs_queue" "control_tower_forward_dlq" {
  #checkov:skip=CKV2_AWS_73:SSE-SQS encrypts the queue; kms_key_arn is a key of the function's Region and cannot be used in the Control Tower home Region.
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  name                      = "${var.name}-ct-forward-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

data "aws_iam_policy_document" "control_tower_forward_dlq" {
  count = local.forward_control_tower_events ? 1 : 0

  statement {
    sid       = "OnlyTheForwardRuleSendsUndeliveredEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.control_tower_forward_dlq[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.control_tower_forward[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "control_tower_forward_dlq" {
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  queue_url = aws_sqs_queue.control_tower_forward_dlq[0].id
  policy    = data.aws_iam_policy_document.control_tower_forward_dlq[0].json
}
