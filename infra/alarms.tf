locals {
  alarm_actions               = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  control_tower_alarm_actions = var.control_tower_alarm_sns_topic_arn == null ? [] : [var.control_tower_alarm_sns_topic_arn]

  # A CloudWatch alarm only notifies SNS topics of its own Region; the fourth
  # field of a topic ARN is its Region.
  alarm_topic_region               = try(split(":", var.alarm_sns_topic_arn)[3], null)
  control_tower_alarm_topic_region = try(split(":", var.control_tower_alarm_sns_topic_arn)[3], null)

  # Every alarm of the function's Region, by the name it gets after
  # "<name>-". Each fires on the first occurrence in five minutes.
  alarms = merge(
    {
      errors = {
        description = "The ${var.name} function returned an error; Lambda retries, and the failure queue gets the event if retries run out."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = aws_lambda_function.this.function_name }
        statistic   = "Sum"
      }
      failure-queue-not-empty = {
        description = "An account could not be onboarded or offboarded after all retries; the event is in ${aws_sqs_queue.failures.name}."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.failures.name }
        statistic   = "Maximum"
      }
      # A sweep reports a failed account in its summary, not as a function
      # error; this is the alarm that sees those too.
      onboarding-failures = {
        description = "The ${var.name} function could not onboard an account (in the daily sweep too, which is not a function error). The function's log, and the dashboard's Recent failures table, say which account and why."
        namespace   = "TfcOnboarder"
        metric      = "Onboardings"
        dimensions  = { FunctionName = aws_lambda_function.this.function_name, Outcome = "failed" }
        statistic   = "Sum"
      }
      events-dlq-not-empty = {
        description = "EventBridge could not deliver an account event to the ${var.name} function; the event is in ${aws_sqs_queue.events_dlq.name}. Re-invoke the function with it once the cause is fixed."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.events_dlq.name }
        statistic   = "Maximum"
      }
    },
    # EventBridge could not invoke the function for a rule (after its retries,
    # or at once for a permission problem): the event went to the dead-letter
    # queue.
    {
      for key in keys(local.enabled_lambda_rules) : "${replace(key, "_", "-")}-failed-invocations" => {
        description = "EventBridge could not deliver an event of the ${aws_cloudwatch_event_rule.lambda[key].name} rule to the ${var.name} function; it is in ${aws_sqs_queue.events_dlq.name}."
        namespace   = "AWS/Events"
        metric      = "FailedInvocations"
        # A rule of a custom bus (tooling mode) has its metrics under both.
        dimensions = merge(
          { RuleName = aws_cloudwatch_event_rule.lambda[key].name },
          aws_cloudwatch_event_rule.lambda[key].event_bus_name == "default" ? {} : { EventBusName = aws_cloudwatch_event_rule.lambda[key].event_bus_name },
        )
        statistic = "Sum"
      }
    },
  )

  # The same two signals for the forwarding rule, in the Control Tower home
  # Region where its metrics are.
  control_tower_alarms = local.forward_control_tower_events ? {
    control-tower-forward-failed-invocations = {
      description = "EventBridge could not forward a Control Tower event to the ${local.region} default bus; it is in ${aws_sqs_queue.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/Events"
      metric      = "FailedInvocations"
      dimensions  = { RuleName = aws_cloudwatch_event_rule.control_tower_forward[0].name }
      statistic   = "Sum"
    }
    ct-forward-dlq-not-empty = {
      description = "A Control Tower event could not be forwarded to ${local.region}; it is in ${aws_sqs_queue.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.control_tower_forward_dlq[0].name }
      statistic   = "Maximum"
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  # No traffic is the normal state, not a reason to alarm.
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

resource "aws_cloudwatch_metric_alarm" "control_tower" {
  for_each = local.control_tower_alarms
  provider = aws.control_tower

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
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

# The two alarms of earlier versions keep their place (no destroy and create).
moved {
  from = aws_cloudwatch_metric_alarm.function_errors
  to   = aws_cloudwatch_metric_alarm.this["errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.failure_queue_not_empty
  to   = aws_cloudwatch_metric_alarm.this["failure-queue-not-empty"]
}
