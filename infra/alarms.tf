locals {
  # Every alarm of the function's Region, by the name it gets after
  # "<name>-". Each fires when the metric is above its threshold in five
  # minutes; most thresholds are 0: the first occurrence.
  alarms = merge(
    {
      errors = {
        description = "The ${var.name} function returned an error: a sweep invocation (the state machine retries it), a whole batch of queued events (the queue delivers it again), or a direct invocation."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = aws_lambda_function.this.function_name }
        statistic   = "Sum"
        threshold   = 0
      }
      failure-queue-not-empty = {
        description = "A direct asynchronous invocation of the ${var.name} function failed after Lambda's retries; the event is in ${module.failures.name}."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = module.failures.name }
        statistic   = "Maximum"
        threshold   = 0
      }
      events-failed-not-empty = {
        description = "An account could not be onboarded or offboarded after every receive of its event; the event is in ${module.events_failed.name}. Redrive it to ${aws_sqs_queue.events.name} once the cause (in the function log) is fixed."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = module.events_failed.name }
        statistic   = "Maximum"
        threshold   = 0
      }
      # Older than every receive an event may take: nothing drains the queue
      # (a disabled event source mapping, a role that cannot read it), and
      # SQS deletes what stays 14 days.
      events-queue-stalled = {
        description = "Account events wait in ${aws_sqs_queue.events.name} longer than all their receives should take: check the ${var.name} function's event source mapping and its role."
        namespace   = "AWS/SQS"
        metric      = "ApproximateAgeOfOldestMessage"
        dimensions  = { QueueName = aws_sqs_queue.events.name }
        statistic   = "Maximum"
        threshold   = local.events_visibility_timeout_seconds * local.events_max_receive_count + 900
      }
      # A sweep reports a failed account in its summary, not as a function
      # error; this is the alarm that sees those too.
      onboarding-failures = {
        description = "The ${var.name} function could not onboard an account (in the daily sweep too, which is not a function error). The function's log, and the dashboard's Recent failures table, say which account and why."
        namespace   = "TfcOnboarder"
        metric      = "Onboardings"
        dimensions  = { FunctionName = aws_lambda_function.this.function_name, Outcome = "failed" }
        statistic   = "Sum"
        threshold   = 0
      }
      events-dlq-not-empty = {
        description = "EventBridge could not queue an account event for the ${var.name} function, or EventBridge Scheduler could not start its sweep; the event is in ${module.events_dlq.name}. Send the event to ${aws_sqs_queue.events.name} (or start the sweep) once the cause is fixed."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = module.events_dlq.name }
        statistic   = "Maximum"
        threshold   = 0
      }
      # A sweep that failed visibly: an invocation failed after its retries,
      # accounts failed, or a bound was reached (the error says which).
      sweep-failed = {
        description = "The ${aws_sfn_state_machine.sweep.name} reconcile sweep failed; its execution's error and cause say why and where to resume."
        namespace   = "AWS/States"
        metric      = "ExecutionsFailed"
        dimensions  = { StateMachineArn = aws_sfn_state_machine.sweep.arn }
        statistic   = "Sum"
        threshold   = 0
      }
      sweep-timed-out = {
        description = "The ${aws_sfn_state_machine.sweep.name} reconcile sweep ran out of its execution time; its history shows the last continuation."
        namespace   = "AWS/States"
        metric      = "ExecutionsTimedOut"
        dimensions  = { StateMachineArn = aws_sfn_state_machine.sweep.arn }
        statistic   = "Sum"
        threshold   = 0
      }
    },
    # EventBridge could not queue an event of a rule (after its retries, or
    # at once for a permission problem): the event went to the dead-letter
    # queue.
    {
      for key in keys(local.enabled_event_rules) : "${replace(key, "_", "-")}-failed-invocations" => {
        description = "EventBridge could not queue an event of the ${aws_cloudwatch_event_rule.account[key].name} rule for the ${var.name} function; it is in ${module.events_dlq.name}."
        namespace   = "AWS/Events"
        metric      = "FailedInvocations"
        # A rule of a custom bus (tooling mode) has its metrics under both.
        dimensions = merge(
          { RuleName = aws_cloudwatch_event_rule.account[key].name },
          local.tooling_mode ? { EventBusName = local.account_event_bus_name } : {},
        )
        statistic = "Sum"
        threshold = 0
      }
    },
  )

  # The same two signals for the forwarding rule, in the Control Tower home
  # Region where its metrics are.
  control_tower_alarms = local.forward_control_tower_events ? {
    control-tower-forward-failed-invocations = {
      description = "EventBridge could not forward a Control Tower event to the ${local.region} default bus; it is in ${module.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/Events"
      metric      = "FailedInvocations"
      dimensions  = { RuleName = aws_cloudwatch_event_rule.control_tower_forward[0].name }
      statistic   = "Sum"
      threshold   = 0
    }
    ct-forward-dlq-not-empty = {
      description = "A Control Tower event could not be forwarded to ${local.region}; it is in ${module.control_tower_forward_dlq[0].name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = module.control_tower_forward_dlq[0].name }
      statistic   = "Maximum"
      threshold   = 0
    }
  } : {}
}

# The alarms of the function's Region, and of the Control Tower home Region
# (each notifies a topic of its own Region: infra/modules/metric-alarms).
module "alarms" {
  source = "./modules/metric-alarms"

  name            = var.name
  alarms          = local.alarms
  sns_topic_arn   = var.alarm_sns_topic_arn
  sns_topic_input = "alarm_sns_topic_arn"
  tags            = local.tags
}

module "control_tower_alarms" {
  source    = "./modules/metric-alarms"
  providers = { aws = aws.control_tower }

  name            = var.name
  alarms          = local.control_tower_alarms
  sns_topic_arn   = var.control_tower_alarm_sns_topic_arn
  sns_topic_input = "control_tower_alarm_sns_topic_arn"
  tags            = local.tags
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

# Earlier versions declared the alarms here; they keep their place.
moved {
  from = aws_cloudwatch_metric_alarm.this
  to   = module.alarms.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.control_tower
  to   = module.control_tower_alarms.aws_cloudwatch_metric_alarm.this
}
