# ---------------------------------------------------------------------------
# Tooling mode: the function in a delegated tooling account
#
# With management_role_arn set, this module is deployed in a tooling account
# instead of the Organizations management account. The management account
# keeps only infra/management: rules that forward the account lifecycle
# events to the bus below, the broker role the function assumes to enter
# member accounts (whose access roles trust only the management account), and
# the organization's delegation policy that lets the function's own role make
# its Organizations reads (iam.tf). Without it (the default), nothing here
# is created and the module is the single-account layout: both parts in the
# management account.
# ---------------------------------------------------------------------------

variable "management_role_arn" {
  type        = string
  description = "Tooling mode: ARN of the broker role in the Organizations management account (output broker_role_arn of infra/management). The function then assumes only this role and enters member accounts through its session, reads Organizations with its own role (allowed by infra/management's delegation policy), and receives the account events on its own bus (tooling_event_bus_name). null: the single-account layout, deployed in the management account."
  default     = null

  validation {
    condition     = var.management_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", var.management_role_arn))
    error_message = "management_role_arn must be an IAM role ARN, arn:<partition>:iam::<management account id>:role/<name> (output broker_role_arn of infra/management)."
  }
}

variable "tooling_event_bus_name" {
  type        = string
  description = "Tooling mode: name of the event bus created in this account for the events the management account forwards (infra/management's tooling_event_bus_arn is its ARN). Default: <name>-organization-events."
  default     = null

  validation {
    condition     = var.tooling_event_bus_name == null || can(regex("^[A-Za-z0-9._-]{1,256}$", var.tooling_event_bus_name))
    error_message = "tooling_event_bus_name must be 1 to 256 letters, digits, dots, hyphens or underscores (not default, which is not a custom bus)."
  }
}

variable "ready_event_bus_name" {
  type        = string
  description = "Event bus of this account the ready events (emit_ready_events) are published on. It must exist; the function may put events on it and on no other bus."
  default     = "default"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.ready_event_bus_name))
    error_message = "ready_event_bus_name must be the name of an event bus of this account (letters, digits, dots, hyphens, underscores)."
  }
}

locals {
  tooling_mode          = var.management_role_arn != null
  management_account_id = local.tooling_mode ? split(":", var.management_role_arn)[4] : local.account_id

  # Where the account rules listen: the forwarded events arrive on the tooling
  # bus; in the single-account layout they are the management account's own,
  # on its default bus.
  account_event_bus_name = local.tooling_mode ? aws_cloudwatch_event_bus.organization[0].name : "default"
  ready_event_bus_arn    = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.ready_event_bus_name}"

  # Exactly what infra/management forwards: the sources and detail types of
  # the enabled account rules' patterns.
  forwarded_patterns = [
    for key, pattern in local.event_patterns : pattern
    if key == "create_account_result"
    || (local.offboarding_enabled && contains(["close_account_result", "remove_account"], key))
    || (var.enable_control_tower && key == "control_tower")
  ]
  forwarded_sources      = sort(distinct(flatten([for p in local.forwarded_patterns : p.source])))
  forwarded_detail_types = sort(distinct(flatten([for p in local.forwarded_patterns : p["detail-type"]])))
}

resource "aws_cloudwatch_event_bus" "organization" {
  #checkov:skip=CKV_AWS_382:The bus carries Organizations' and Control Tower's own events, which AWS encrypts at rest with an AWS owned key; a customer managed key would need a key policy for the sending account's rules too.
  count = local.tooling_mode ? 1 : 0

  name = coalesce(var.tooling_event_bus_name, "${var.name}-organization-events")
  tags = local.tags

  lifecycle {
    precondition {
      condition     = local.management_account_id != local.account_id
      error_message = "management_role_arn names a role of this account: tooling mode is for a tooling account; in the management account leave management_role_arn null (the single-account layout)."
    }
    precondition {
      condition     = !var.create_cloudtrail
      error_message = "create_cloudtrail makes a trail in this account, but the Organizations events are recorded in the management account: in tooling mode leave it false and make sure a trail of the management account (an organization trail) records management events in us-east-1."
    }
    precondition {
      condition     = split(":", var.management_role_arn)[1] == local.partition
      error_message = "management_role_arn is in another partition than this account: a role of another partition can never be assumed."
    }
    precondition {
      condition     = local.management_account_id == data.aws_organizations_organization.this.master_account_id
      error_message = "management_role_arn names account ${local.management_account_id}, but this account's organization is managed by ${data.aws_organizations_organization.this.master_account_id}: the broker role is in the management account (output broker_role_arn of infra/management applied there)."
    }
  }
}

data "aws_iam_policy_document" "organization_bus" {
  count = local.tooling_mode ? 1 : 0

  statement {
    sid       = "ManagementAccountLifecycleEventsOnly"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.organization[0].arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.management_account_id}:root"]
    }

    # Only the events the forwarding rules match: anything else from the
    # management account (or made up there) is refused by the bus.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "events:source"
      values   = local.forwarded_sources
    }

    condition {
      test     = "StringEquals"
      variable = "events:detail-type"
      values   = local.forwarded_detail_types
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "organization" {
  count = local.tooling_mode ? 1 : 0

  event_bus_name = aws_cloudwatch_event_bus.organization[0].name
  policy         = data.aws_iam_policy_document.organization_bus[0].json
}

output "tooling_event_bus_arn" {
  description = "Tooling mode: ARN of the bus the management account forwards the account events to (input tooling_event_bus_arn of infra/management); null in the single-account layout."
  value       = local.tooling_mode ? aws_cloudwatch_event_bus.organization[0].arn : null
}
