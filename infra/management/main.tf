# The management account's part of tooling mode: rules that forward the
# account lifecycle events to the tooling account's bus, the broker role the
# tooling function assumes and the organization's delegation policy for its
# reads (broker.tf). Nothing here runs code.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_organizations_organization" "this" {}

data "aws_region" "control_tower" {
  provider = aws.control_tower
}

data "aws_caller_identity" "control_tower" {
  provider = aws.control_tower
}

module "event_patterns" {
  source = "../modules/event-patterns"
}

locals {
  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  region          = data.aws_region.current.id
  organization_id = data.aws_organizations_organization.this.id

  tooling_account_id = split(":", var.tooling_role_arn)[4]
  broker_role_name   = coalesce(var.broker_role_name, "${var.name}-broker")

  # Control Tower's events are forwarded from its home Region: by the rules
  # below when that is this Region, by a rule of its own there otherwise.
  control_tower_elsewhere = var.enable_control_tower && data.aws_region.control_tower.id != local.region

  forwarded = {
    create_account_result = true
    close_account_result  = var.forward_offboarding_events
    remove_account        = var.forward_offboarding_events
    control_tower         = var.enable_control_tower && !local.control_tower_elsewhere
  }
  forward_rules = {
    for key, on in local.forwarded : key => module.event_patterns.patterns[key] if on
  }

  tags = merge(var.tags, { "managed-by" = "tfc-onboarder" })
}

# ---------------------------------------------------------------------------
# Forwarding rules (us-east-1, where Organizations delivers its events)
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "forward" {
  for_each = local.forward_rules

  name          = "${var.name}-forward-${replace(each.key, "_", "-")}"
  description   = "Forward ${each.key} events to the ${var.name} tooling bus"
  event_pattern = jsonencode(each.value)
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = var.allow_non_us_east_1 || local.region == "us-east-1"
      error_message = "Organizations events are only delivered to the default event bus in us-east-1: apply infra/management with a us-east-1 provider, or set allow_non_us_east_1 = true (other partitions, tests)."
    }
    precondition {
      condition     = data.aws_organizations_organization.this.master_account_id == local.account_id
      error_message = "infra/management belongs in the organization's management account (${data.aws_organizations_organization.this.master_account_id}): only it receives the account lifecycle events and is trusted by the access roles."
    }
    precondition {
      condition     = local.tooling_account_id != local.account_id
      error_message = "tooling_role_arn is a role of the management account itself: for the single-account layout apply the root module alone, without infra/management."
    }
    precondition {
      condition     = alltrue([for arn in var.operator_role_arns : split(":", arn)[4] == local.tooling_account_id])
      error_message = "operator_role_arns must be roles of the tooling account: the broker trusts that account only."
    }
    precondition {
      condition     = split(":", var.tooling_event_bus_arn)[4] == local.tooling_account_id
      error_message = "tooling_event_bus_arn and tooling_role_arn must be in the same (tooling) account."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward" {
  for_each = local.forward_rules

  rule      = aws_cloudwatch_event_rule.forward[each.key].name
  target_id = "tooling-bus"
  arn       = var.tooling_event_bus_arn
  # A cross-account bus target needs a role of the sending account.
  role_arn = module.forward_role.arn

  retry_policy {
    maximum_retry_attempts       = var.rule_maximum_retry_attempts
    maximum_event_age_in_seconds = var.rule_maximum_event_age_in_seconds
  }

  # What could not be put on the tooling bus is kept, not dropped.
  dead_letter_config {
    arn = module.forward_dlq.arn
  }

  depends_on = [module.forward_dlq, module.forward_role]
}

module "forward_dlq" {
  source = "../modules/dead-letter-queue"

  name = "${var.name}-forward-dlq"
  tags = local.tags
  senders = {
    sid         = "OnlyTheForwardRulesSendUndeliveredEvents"
    principal   = "events.amazonaws.com"
    source_arns = [for key in sort(keys(local.forward_rules)) : aws_cloudwatch_event_rule.forward[key].arn]
  }
}

# ---------------------------------------------------------------------------
# Control Tower home Region, when it is not this one
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "control_tower_forward" {
  count    = local.control_tower_elsewhere ? 1 : 0
  provider = aws.control_tower

  name          = "${var.name}-forward-control-tower"
  description   = "Forward Control Tower account lifecycle events to the ${var.name} tooling bus"
  event_pattern = jsonencode(module.event_patterns.patterns.control_tower)
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = data.aws_caller_identity.control_tower.account_id == local.account_id
      error_message = "The aws.control_tower provider must use the same (management) account as the default aws provider."
    }
  }
}

resource "aws_cloudwatch_event_target" "control_tower_forward" {
  count    = local.control_tower_elsewhere ? 1 : 0
  provider = aws.control_tower

  rule      = aws_cloudwatch_event_rule.control_tower_forward[0].name
  target_id = "tooling-bus"
  arn       = var.tooling_event_bus_arn
  role_arn  = module.forward_role.arn

  retry_policy {
    maximum_retry_attempts       = var.rule_maximum_retry_attempts
    maximum_event_age_in_seconds = var.rule_maximum_event_age_in_seconds
  }

  dead_letter_config {
    arn = module.control_tower_forward_dlq[0].arn
  }

  depends_on = [module.control_tower_forward_dlq, module.forward_role]
}

# EventBridge only uses a dead-letter queue of the rule's own Region.
module "control_tower_forward_dlq" {
  source    = "../modules/dead-letter-queue"
  count     = local.control_tower_elsewhere ? 1 : 0
  providers = { aws = aws.control_tower }

  name = "${var.name}-forward-ct-dlq"
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
  from = aws_sqs_queue.forward_dlq
  to   = module.forward_dlq.aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.forward_dlq
  to   = module.forward_dlq.aws_sqs_queue_policy.this[0]
}

moved {
  from = aws_sqs_queue.control_tower_forward_dlq[0]
  to   = module.control_tower_forward_dlq[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue_policy.control_tower_forward_dlq[0]
  to   = module.control_tower_forward_dlq[0].aws_sqs_queue_policy.this[0]
}

# ---------------------------------------------------------------------------
# The forwarding rules' role: PutEvents on exactly the tooling bus
# ---------------------------------------------------------------------------

module "forward_role" {
  source = "../modules/event-forward-role"

  name        = "${var.name}-forward"
  description = "Lets the ${var.name} forwarding rules put the account lifecycle events on the tooling bus."
  account_id  = local.account_id
  rules = {
    sid = "EventBridgeForwardRules"
    arns = concat(
      [for key in sort(keys(local.forward_rules)) : aws_cloudwatch_event_rule.forward[key].arn],
      aws_cloudwatch_event_rule.control_tower_forward[*].arn,
    )
  }
  bus = {
    sid = "PutOnTheToolingBusOnly"
    arn = var.tooling_event_bus_arn
  }
  tags = local.tags
}

# Earlier versions declared the role here; it keeps its place.
moved {
  from = aws_iam_role.forward
  to   = module.forward_role.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.forward
  to   = module.forward_role.aws_iam_role_policy.this
}
