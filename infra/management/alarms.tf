# What the forwarding rules could not put on the tooling bus is kept in
# their dead-letter queues; these alarms say so, in the management account
# where the queues are (the tooling part's alarms cannot see them).

locals {
  alarm_actions               = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  control_tower_alarm_actions = var.control_tower_alarm_sns_topic_arn == null ? [] : [var.control_tower_alarm_sns_topic_arn]

  alarms = merge(
    {
      forward-dlq-not-empty = {
        description = "An account event could not be forwarded to the ${var.name} tooling bus; it is in ${module.forward_dlq.name}."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = module.forward_dlq.name }
        statistic   = "Maximum"
      }
    },
    {
      for key in keys(local.forward_rules) : "forward-${replace(key, "_", "-")}-failed-invocations" => {
        description = "EventBridge could not forward an event of ${aws_cloudwatch_event_rule.forward[key].name} to the tooling bus; it is in ${module.forward_dlq.name}."
        namespace   = "AWS/Events"
        metric      = "FailedInvocations"
        dimensions  = { RuleName = aws_cloudwatch_event_rule.forward[key].name }
        statistic   = "Sum"
      }
    },
  )

  # The same two signals in the Control Tower home Region, where that rule's
  # metrics and queue are.
  control_tower_alarms = local.control_tower_elsewhere ? {
    forward-control-tower-failed-invocations = {
      description = "EventBridge could not forward a Control Tower event to the ${var.name} tooling bus; it is in ${module.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/Events"
      metric      = "FailedInvocations"
      dimensions  = { RuleName = aws_cloudwatch_event_rule.control_tower_forward[0].name }
      statistic   = "Sum"
    }
    forward-ct-dlq-not-empty = {
      description = "A Control Tower event could not be forwarded to the ${var.name} tooling bus; it is in ${module.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = module.control_tower_forward_dlq[0].name }
      statistic   = "Maximum"
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "forward" {
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
}

resource "aws_cloudwatch_metric_alarm" "control_tower_forward" {
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
}
