# Tooling mode, part 1 of 2: the function in a delegated tooling account,
# reaching the organization through the broker role of infra/management
# (examples/management, applied next, in the management account). Run with
# credentials of the tooling account. Build the zip first, from the
# repository root: ./tests/package.sh

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.32"
    }
  }
}

variable "tfe_organization" {
  type        = string
  description = "HCP Terraform organization to register accounts in."
}

variable "management_account_id" {
  type        = string
  description = "Id of the Organizations management account, where examples/management creates the broker role."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.management_account_id))
    error_message = "management_account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  type        = string
  description = "Region of the function and of its event bus; the management account forwards to it from us-east-1."
  default     = "us-east-1"
}

variable "enable_control_tower" {
  type        = bool
  description = "Onboard on Control Tower's events too (examples/management forwards them when given control_tower_home_region)."
  default     = false
}

variable "lambda_zip_path" {
  type        = string
  description = "Deployment zip; null means target/lambda/tfc-onboarder/bootstrap.zip in this repository, where ./tests/package.sh and cargo lambda build put it."
  default     = null
}

variable "tfe_address" {
  type        = string
  description = "Base URL of the API when it differs from https://app.terraform.io (a proxy, for one); null otherwise."
  default     = null
}

provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}

module "tfc_onboarder" {
  source = "../.."

  # Control Tower events reach the tooling bus from the management account's
  # home Region (examples/management): nothing to forward here.
  providers = {
    aws               = aws
    aws.control_tower = aws
  }

  lambda_zip_path  = coalesce(var.lambda_zip_path, "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip")
  tfe_organization = var.tfe_organization
  tfe_address      = var.tfe_address

  enable_control_tower = var.enable_control_tower

  # infra/management's broker_role_arn: its name is known before it exists.
  management_role_arn = "arn:${data.aws_partition.current.partition}:iam::${var.management_account_id}:role/tfc-onboarder-broker"
}

output "region" {
  description = "Region of the function (for the aws CLI)."
  value       = var.region
}

output "function_name" {
  description = "Name of the function, for aws lambda invoke."
  value       = module.tfc_onboarder.function_name
}

output "secret_arn" {
  description = "Secret to store the HCP Terraform API token in (see the README)."
  value       = module.tfc_onboarder.secret_arn
}

output "role_arn" {
  description = "The function's role: input tooling_role_arn of examples/management."
  value       = module.tfc_onboarder.role_arn
}

output "tooling_event_bus_arn" {
  description = "The bus the management account forwards to: input tooling_event_bus_arn of examples/management."
  value       = module.tfc_onboarder.tooling_event_bus_arn
}
