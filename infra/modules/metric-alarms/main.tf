# The alarms of one Region, for both parts of the module (infra/ and
# infra/management): each fires when its metric is above its threshold in
# five minutes, and notifies one SNS topic of that Region (the provider passed
# in), if any. CloudWatch alarms only notify topics of their own Region.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type        = string
  description = "Prefix of the alarm names: <name>-<key of alarms>."
}

variable "alarms" {
  type = map(object({
    description = string
    namespace   = string
    metric      = string
    dimensions  = map(string)
    statistic   = string
    # Most alarms fire on the first occurrence.
    threshold = optional(number, 0)
  }))
  description = "The alarms, by the name each gets after \"<name>-\"."
}

variable "sns_topic_arn" {
  type        = string
  description = "The SNS topic (of the provider's Region) the alarms notify when they fire and when they recover. null: none."
  default     = null
}

variable "sns_topic_input" {
  type        = string
  description = "The caller's input that gives sns_topic_arn, named by the error a topic of another Region gets."
}

variable "tags" {
  type        = map(string)
  description = "Tags of the alarms."
}

data "aws_region" "current" {}

locals {
  actions = var.sns_topic_arn == null ? [] : [var.sns_topic_arn]
  # The fourth field of a topic ARN is its Region.
  topic_region = try(split(":", var.sns_topic_arn)[3], null)
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  # No traffic is the normal state, not a reason to alarm.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.actions
  ok_actions         = local.actions
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = local.topic_region == null || local.topic_region == data.aws_region.current.id
      error_message = "${var.sns_topic_input} must be a topic in ${data.aws_region.current.id}, the Region of its alarms: CloudWatch alarms only notify topics of their own Region."
    }
  }
}

output "arns" {
  description = "ARN of each alarm, by its key in alarms."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
}
