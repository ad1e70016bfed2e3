# Organizations is a global service whose CloudTrail events are delivered
# only to the default bus in us-east-1 of the management account, and
# EventBridge rules only see events of their own Region.

# The account lifecycle patterns are shared with infra/management, whose
# rules forward the same events from the management account in tooling mode.
module "event_patterns" {
  source = "./modules/event-patterns"
}

locals {
  event_patterns = module.event_patterns.patterns

  event_rules = {
    create_account_result = {
      enabled       = true
      description   = "New account created through Organizations"
      event_pattern = jsonencode(local.event_patterns.create_account_result)
    }
    close_account_result = {
      enabled       = local.offboarding_enabled
      description   = "Account closed"
      event_pattern = jsonencode(local.event_patterns.close_account_result)
    }
    remove_account = {
      enabled       = local.offboarding_enabled
      description   = "Account removed from the organization"
      event_pattern = jsonencode(local.event_patterns.remove_account)
    }
    control_tower = {
      enabled       = var.enable_control_tower
      description   = "Control Tower created or re-enrolled a managed account"
      event_pattern = jsonencode(local.event_patterns.control_tower)
    }
  }

  enabled_event_rules = { for key, rule in local.event_rules : key => rule if rule.enabled }
}

resource "aws_cloudwatch_event_rule" "account" {
  for_each = local.enabled_event_rules

  name          = "${var.name}-${replace(each.key, "_", "-")}"
  description   = "${each.value.description} (${var.name})"
  event_pattern = each.value.event_pattern
  # The default bus, or in tooling mode the bus the management account
  # forwards to (tooling.tf).
  event_bus_name = local.account_event_bus_name
  tags           = local.tags

  lifecycle {
    precondition {
      # In tooling mode the management account's forwarding rules are in
      # us-east-1 (infra/management) and the tooling bus may be anywhere.
      condition     = local.tooling_mode || var.allow_non_us_east_1 || local.region == "us-east-1"
      error_message = "Organizations events are only delivered to the default event bus in us-east-1: deploy this module with a us-east-1 provider, or set allow_non_us_east_1 = true (other partitions, tests)."
    }
  }
}

# The rules put events on a queue, and the function drains it at a bounded
# concurrency (queue.tf): a Control Tower landing-zone update fires an event
# for every account at once, and Terraform Cloud's rate limit is per user,
# shared by every container.
resource "aws_cloudwatch_event_target" "account" {
  for_each = local.enabled_event_rules

  rule           = aws_cloudwatch_event_rule.account[each.key].name
  event_bus_name = aws_cloudwatch_event_rule.account[each.key].event_bus_name
  target_id      = "queue"
  arn            = aws_sqs_queue.events.arn

  retry_policy {
    maximum_retry_attempts       = var.rule_maximum_retry_attempts
    maximum_event_age_in_seconds = var.rule_maximum_event_age_in_seconds
  }

  # What EventBridge could not put on the queue is kept, not dropped.
  dead_letter_config {
    arn = module.events_dlq.arn
  }

  # EventBridge checks that it may send to both queues when it needs to. On
  # an upgrade, the new target is in place before the one it replaces goes
  # (target_id "function": earlier versions of this module invoked the
  # function directly).
  depends_on = [aws_sqs_queue_policy.events, module.events_dlq]

  lifecycle {
    create_before_destroy = true
  }
}

moved {
  from = aws_cloudwatch_event_rule.lambda
  to   = aws_cloudwatch_event_rule.account
}

moved {
  from = aws_cloudwatch_event_target.lambda
  to   = aws_cloudwatch_event_target.account
}

# ---------------------------------------------------------------------------
# Control Tower home Region -> us-east-1
#
# Lambda targets must be in the rule's Region, so when the Control Tower home
# Region is not this one, a rule there forwards the lifecycle events to this
# Region's default bus, where the control_tower rule above queues them for the
# function. One function, one queue, one set of alarms.
# ---------------------------------------------------------------------------

data "aws_region" "control_tower" {
  provider = aws.control_tower
}

data "aws_caller_identity" "control_tower" {
  provider = aws.control_tower
}

locals {
  # In tooling mode infra/management forwards them from the home Region.
  forward_control_tower_events = var.enable_control_tower && !local.tooling_mode && data.aws_region.control_tower.id != local.region
}

resource "aws_cloudwatch_event_rule" "control_tower_forward" {
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  name          = "${var.name}-control-tower-forward"
  description   = "Forward Control Tower account lifecycle events to ${local.region} (${var.name})"
  event_pattern = jsonencode(local.event_patterns.control_tower)
  tags          = local.tags

  lifecycle {
    precondition {
      # Lifecycle events reach only the management account's buses, and the
      # forwarding role is created in the account of the default provider.
      condition     = data.aws_caller_identity.control_tower.account_id == local.account_id
      error_message = "The aws.control_tower provider must use the same (management) account as the default aws provider."
    }
  }
}

module "control_tower_forward_role" {
  source = "./modules/event-forward-role"
  count  = local.forward_control_tower_events ? 1 : 0

  name        = "${var.name}-ct-forward"
  description = "Lets the ${var.name} forwarding rule put Control Tower events on the ${local.region} default bus."
  account_id  = local.account_id
  rules = {
    sid  = "EventBridgeForwardRule"
    arns = [aws_cloudwatch_event_rule.control_tower_forward[0].arn]
  }
  bus = {
    sid = "PutOnFunctionRegionDefaultBus"
    arn = local.default_event_bus_arn
  }
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "control_tower_forward" {
  count    = local.forward_control_tower_events ? 1 : 0
  provider = aws.control_tower

  rule      = aws_cloudwatch_event_rule.control_tower_forward[0].name
  target_id = "default-bus-${local.region}"
  arn       = local.default_event_bus_arn
  role_arn  = module.control_tower_forward_role[0].arn

  retry_policy {
    maximum_retry_attempts       = var.rule_maximum_retry_attempts
    maximum_event_age_in_seconds = var.rule_maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = module.control_tower_forward_dlq[0].arn
  }

  depends_on = [module.control_tower_forward_dlq]
}

# Earlier versions declared the role here; it keeps its place.
moved {
  from = aws_iam_role.control_tower_forward[0]
  to   = module.control_tower_forward_role[0].aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.control_tower_forward[0]
  to   = module.control_tower_forward_role[0].aws_iam_role_policy.this
}
