# Deploys the onboarder into the Organizations management account, with the
# options most organizations want to see: split plan/apply roles, alarms,
# and Control Tower or a new trail only when asked for. Build the zip first,
# from the repository root: ./tests/package.sh (or cargo lambda build
# --release --arm64 --output-format zip).

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

variable "lambda_zip_path" {
  type        = string
  description = "Deployment zip; null means target/lambda/tfc-onboarder/bootstrap.zip in this repository, where ./tests/package.sh and cargo lambda build put it."
  default     = null
}

variable "region" {
  type        = string
  description = "Region of the function. Organizations delivers its events only to us-east-1 (in the commercial partition), so keep the default there."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region name such as us-east-1."
  }
}

variable "control_tower_home_region" {
  type        = string
  description = "Home Region of your Control Tower landing zone, or null without Control Tower. Control Tower lifecycle events are then forwarded from there to the function's Region."
  default     = null

  validation {
    condition     = var.control_tower_home_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.control_tower_home_region))
    error_message = "control_tower_home_region must be null or an AWS Region name such as eu-west-1."
  }
}

variable "create_cloudtrail" {
  type        = bool
  description = "Create a trail recording management events. Leave false when an organization trail (Control Tower's, for one) already records them; a second trail bills every management event twice."
  default     = false
}

variable "tfe_hostname" {
  type        = string
  description = "Hostname of HCP Terraform or of your Terraform Enterprise instance (the OIDC issuer)."
  default     = "app.terraform.io"
}

variable "tfe_address" {
  type        = string
  description = "Base URL of the API when it differs from https://<tfe_hostname> (a proxy, for one); null otherwise."
  default     = null
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "Existing SNS topic, in var.region, for alarm notifications (its key policy must allow CloudWatch if it is encrypted)."
  default     = null
}

provider "aws" {
  region = var.region
}

# Without Control Tower, or with its home Region equal to var.region, this is
# the same Region and the module creates no forwarding rule.
provider "aws" {
  alias  = "control_tower"
  region = coalesce(var.control_tower_home_region, var.region)
}

module "tfc_onboarder" {
  source = "../.."

  providers = {
    aws               = aws
    aws.control_tower = aws.control_tower
  }

  lambda_zip_path = coalesce(var.lambda_zip_path, "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip")
  architecture    = "arm64"

  tfe_organization = var.tfe_organization
  tfe_hostname     = var.tfe_hostname
  tfe_address      = var.tfe_address
  tfc_project      = "landing-zone"
  tfc_workspace    = "*"
  varset_name      = "aws-{account_id}"

  # Tried in this order in every member account.
  access_role_names = ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]

  role_mode                = "split"
  role_policy_arns         = ["arn:aws:iam::aws:policy/AdministratorAccess"]
  plan_policy_arns         = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  max_session_duration     = 7200
  permissions_boundary_arn = null

  # Per-OU overrides use the JSON format documented in the top-level README:
  # ou_rules = file("${path.module}/ou-rules.json")

  enable_control_tower = var.control_tower_home_region != null
  offboarding          = "remove-variables"
  reconcile_schedule   = "rate(1 day)"
  emit_ready_events    = true
  dry_run              = false

  alarm_sns_topic_arn = var.alarm_sns_topic_arn
  create_cloudtrail   = var.create_cloudtrail

  tags = {
    owner = "platform"
  }
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

output "state_machine_arn" {
  description = "The reconcile sweep (aws stepfunctions start-execution to sweep now)."
  value       = module.tfc_onboarder.state_machine_arn
}

output "events_queue_url" {
  description = "Account events waiting for the function."
  value       = module.tfc_onboarder.events_queue_url
}

output "events_failed_queue_url" {
  description = "Account events the function failed on every receive."
  value       = module.tfc_onboarder.events_failed_queue_url
}

output "failure_queue_url" {
  description = "Direct asynchronous invocations that failed after Lambda's retries."
  value       = module.tfc_onboarder.failure_queue_url
}

output "events_dlq_url" {
  description = "Events EventBridge could not queue, and sweeps the scheduler could not start."
  value       = module.tfc_onboarder.events_dlq_url
}

output "rule_arns" {
  description = "The EventBridge rules that queue account events for the function."
  value       = module.tfc_onboarder.rule_arns
}

output "dashboard_url" {
  description = "The function's CloudWatch dashboard."
  value       = module.tfc_onboarder.dashboard_url
}
