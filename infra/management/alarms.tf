# What the forwarding rules could not put on the tooling bus is kept in
# their dead-letter queues; these alarms say so, in the management account
# where the queues are (the tooling part's alarms cannot see them).

locals {
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

# Each notifies a topic of its own Region (infra/modules/metric-alarms).
module "alarms" {
  source = "../modules/metric-alarms"

  name            = var.name
  alarms          = local.alarms
  sns_topic_arn   = var.alarm_sns_topic_arn
  sns_topic_input = "alarm_sns_topic_arn"
  tags            = local.tags
}

module "control_tower_alarms" {
  source    = "../modules/metric-alarms"
  providers = { aws = aws.control_tower }

  name            = var.name
  alarms          = local.control_tower_alarms
  sns_topic_arn   = var.control_tower_alarm_sns_topic_arn
  sns_topic_input = "control_tower_alarm_sns_topic_arn"
  tags            = local.tags
}

# Earlier versions declared the alarms here; they keep their place.
moved {
  from = aws_cloudwatch_metric_alarm.forward
  to   = module.alarms.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.control_tower_forward
  to   = module.control_tower_alarms.aws_cloudwatch_metric_alarm.this
}
