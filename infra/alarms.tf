locals {
  alarm_actions               = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  control_tower_alarm_actions = var.control_tower_alarm_sns_topic_arn == null ? [] : [var.control_tower_alarm_sns_topic_arn]

  # A CloudWatch alarm only notifies SNS topics of its own Region; the fourth
  # field of a topic ARN is its Region.
  alarm_topic_region               = try(split(":", var.alarm_sns_topic_arn)[3], null)
  control_tower_alarm_topic_region = try(split(":", var.control_tower_alarm_sns_topic_arn)[3], null)
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "The ${var.name} function returned an error; Lambda retries, and the failure queue gets the event if retries run out."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  # No invocations is the normal state, not a reason to alarm.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = local.tags

  lifecycle {
    precondition {
      condition     = local.alarm_topic_region == null || local.alarm_topic_region == local.region
      error_message = "alarm_sns_topic_arn must be a topic in ${local.region}, the Region of the function and its alarms: CloudWatch alarms only notify topics of their own Region."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "failure_queue_not_empty" {
  alarm_name          = "${var.name}-failure-queue-not-empty"
  alarm_description   = "An account could not be onboarded or offboarded after all retries; the event is in ${aws_sqs_queue.failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# EventBridge could not invoke the function for one of the rules (after its
# retries, or at once for a permission problem): the event went to the
# dead-letter queue.
resource "aws_cloudwatch_metric_alarm" "rule_failed_invocations" {
  for_each = local.enabled_lambda_rules

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}-failed-invocations"
  alarm_description   = "EventBridge could not deliver an event of the ${aws_cloudwatch_event_rule.lambda[each.key].name} rule to the ${var.name} function; it is in ${aws_sqs_queue.events_dlq.name}."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.lambda[each.key].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "events_dlq_not_empty" {
  alarm_name          = "${var.name}-events-dlq-not-empty"
  alarm_description   = "EventBridge could not deliver an account event to the ${var.name} function; the event is in ${aws_sqs_queue.events_dlq.name}. Re-invoke the function with it once the cause is fixed."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.events_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# The same two signals for the forwarding rule, in the Control Tower home
# Region where its metrics are.
resource "aws_cloudwatch_metric_alarm" "control_tower_forward_failed_invocations" {
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  alarm_name          = "${var.name}-control-tower-forward-failed-invocations"
  alarm_description   = "EventBridge could not forward a Control Tower event to the ${local.region} default bus; it is in ${aws_sqs_queue.control_tower_forward_dlq[0].name}."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.control_tower_forward[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.control_tower_alarm_actions
  ok_actions          = local.control_tower_alarm_actions
  tags                = local.tags

  lifecycle {
    precondition {
      condition     = local.control_tower_alarm_topic_region == null || local.control_tower_alarm_topic_region == data.aws_region.control_tower.id
      error_message = "control_tower_alarm_sns_topic_arn must be a topic in ${data.aws_region.control_tower.id}, the Control Tower home Region: CloudWatch alarms only notify topics of their own Region."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "control_tower_forward_dlq_not_empty" {
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  alarm_name          = "${var.name}-ct-forward-dlq-not-empty"
  alarm_description   = "A Control Tower event could not be forwarded to ${local.region}; it is in ${aws_sqs_queue.control_tower_forward_dlq[0].name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.control_tower_forward_dlq[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.control_tower_alarm_actions
  ok_actions          = local.control_tower_alarm_actions
  tags                = local.tags
}
