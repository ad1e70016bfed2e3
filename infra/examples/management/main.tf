# Tooling mode, part 2 of 2: the management account's part, applied after
# examples/tooling with credentials of the Organizations management account,
# in us-east-1 where Organizations delivers its events.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.32"
    }
  }
}

variable "tooling_role_arn" {
  type        = string
  description = "The tooling function's role (terraform output role_arn of examples/tooling): the only principal the broker role trusts."
}

variable "tooling_event_bus_arn" {
  type        = string
  description = "The tooling account's bus (terraform output tooling_event_bus_arn of examples/tooling)."
}

variable "control_tower_home_region" {
  type        = string
  description = "Home Region of your Control Tower landing zone, or null without Control Tower. Its lifecycle events are then forwarded from there."
  default     = null
}

variable "manage_delegation_policy" {
  type        = bool
  description = "Write the organization's delegation policy. It replaces any the organization has: set false if it has one, and merge output delegation_policy into it."
  default     = true
}

provider "aws" {
  region = "us-east-1"
}

provider "aws" {
  alias  = "control_tower"
  region = coalesce(var.control_tower_home_region, "us-east-1")
}

module "tfc_onboarder_management" {
  source = "../../management"

  providers = {
    aws               = aws
    aws.control_tower = aws.control_tower
  }

  tooling_role_arn      = var.tooling_role_arn
  tooling_event_bus_arn = var.tooling_event_bus_arn
  enable_control_tower  = var.control_tower_home_region != null

  manage_delegation_policy = var.manage_delegation_policy
}

output "broker_role_arn" {
  description = "The broker role the tooling function assumes (its management_role_arn)."
  value       = module.tfc_onboarder_management.broker_role_arn
}

output "forward_rule_arns" {
  description = "The rules forwarding the account events to the tooling bus."
  value       = module.tfc_onboarder_management.forward_rule_arns
}

output "forward_dlq_url" {
  description = "Events that could not be put on the tooling bus."
  value       = module.tfc_onboarder_management.forward_dlq_url
}

output "delegation_policy" {
  description = "The delegation policy letting the tooling function read Organizations: written with manage_delegation_policy, to merge by hand without."
  value       = module.tfc_onboarder_management.delegation_policy
}
