output "function_arn" {
  description = "ARN of the onboarding function."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the onboarding function (for manual, backfill or dry-run invocations)."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.lambda.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "rule_arns" {
  description = "ARNs of the EventBridge rules that queue account events for the function, keyed by create_account_result, close_account_result, remove_account and control_tower (only the enabled ones)."
  value       = { for key, rule in aws_cloudwatch_event_rule.account : key => rule.arn }
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that starts the reconcile sweep, or null when reconcile_schedule is null."
  value       = one(aws_scheduler_schedule.sweep[*].arn)
}

output "state_machine_arn" {
  description = "ARN of the reconcile sweep's Step Functions state machine (start an execution to sweep now; input {\"continuation\": \"<account id>\"} resumes a sweep)."
  value       = aws_sfn_state_machine.sweep.arn
}

output "events_queue_url" {
  description = "URL of the queue the rules put account events on and the function drains."
  value       = aws_sqs_queue.events.url
}

output "events_queue_arn" {
  description = "ARN of the queue the rules put account events on and the function drains (doctor outside Lambda reads it from ONBOARD_EVENTS_QUEUE_ARN)."
  value       = aws_sqs_queue.events.arn
}

output "events_failed_queue_url" {
  description = "URL of the queue receiving account events the function failed on every receive (redrive them to events_queue_url)."
  value       = module.events_failed.url
}

output "control_tower_forward_rule_arn" {
  description = "ARN of the rule forwarding Control Tower events from its home Region, or null when none is needed."
  value       = one(aws_cloudwatch_event_rule.control_tower_forward[*].arn)
}

output "failure_queue_url" {
  description = "URL of the queue receiving direct asynchronous invocations that failed after Lambda's retries."
  value       = module.failures.url
}

output "failure_queue_arn" {
  description = "ARN of the queue receiving invocations that failed after all retries."
  value       = module.failures.arn
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret the function reads the HCP Terraform API token from."
  value       = local.secret_arn
}

output "cloudtrail_arn" {
  description = "ARN of the trail created when create_cloudtrail is true, otherwise null."
  value       = one(aws_cloudtrail.this[*].arn)
}

output "events_dlq_url" {
  description = "URL of the queue receiving events EventBridge could not queue, and sweeps EventBridge Scheduler could not start."
  value       = module.events_dlq.url
}

output "events_dlq_arn" {
  description = "ARN of the queue receiving events EventBridge could not queue, and sweeps EventBridge Scheduler could not start."
  value       = module.events_dlq.arn
}

output "control_tower_forward_dlq_url" {
  description = "URL of the queue, in the Control Tower home Region, receiving events the forwarding rule could not forward; null when nothing is forwarded."
  value       = one(module.control_tower_forward_dlq[*].url)
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard, or null when create_dashboard is false."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "dashboard_url" {
  description = "Address of the CloudWatch dashboard in the AWS console, or null when create_dashboard is false."
  value       = var.create_dashboard && local.console_host != null ? "https://${local.console_host}/cloudwatch/home?region=${local.region}#dashboards:name=${var.name}" : null
}
