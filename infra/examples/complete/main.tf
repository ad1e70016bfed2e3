# Deploys the onboarder into the Organizations management account with every
# optional feature on. Build the zip first from the repository root:
#   cargo lambda build --release --arm64 --output-format zip

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

variable "alarm_sns_topic_arn" {
  type        = string
  description = "Existing SNS topic for alarm notifications (its key policy must allow CloudWatch if it is encrypted)."
  default     = null
}

# Organizations events are only delivered in us-east-1.
provider "aws" {
  region = "us-east-1"
}

# Control Tower home Region. When it is us-east-1, pass the default provider
# as aws.control_tower instead and no forwarding rule is created.
provider "aws" {
  alias  = "control_tower"
  region = "eu-west-1"
}

module "tfc_onboarder" {
  source = "../.."

  providers = {
    aws               = aws
    aws.control_tower = aws.control_tower
  }

  lambda_zip_path = "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip"
  architecture    = "arm64"

  tfe_organization = var.tfe_organization
  tfc_project      = "landing-zone"
  tfc_workspace    = "*"
  varset_name      = "aws-{account_id}"

  role_mode                = "split"
  role_policy_arns         = ["arn:aws:iam::aws:policy/AdministratorAccess"]
  plan_policy_arns         = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  max_session_duration     = 7200
  permissions_boundary_arn = null

  # Per-OU overrides use the JSON format documented in the top-level README:
  # ou_rules = file("${path.module}/ou-rules.json")

  enable_control_tower = true
  offboarding          = "remove-variables"
  reconcile_schedule   = "rate(1 day)"
  emit_ready_events    = true
  dry_run              = false

  alarm_sns_topic_arn = var.alarm_sns_topic_arn
  # Only where no trail records management events yet; a Control Tower
  # landing zone already has an organization trail.
  create_cloudtrail = true

  tags = {
    owner = "platform"
  }
}

output "function_name" {
  value = module.tfc_onboarder.function_name
}

output "secret_arn" {
  description = "Store the token with: aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string <token>"
  value       = module.tfc_onboarder.secret_arn
}

output "failure_queue_url" {
  value = module.tfc_onboarder.failure_queue_url
}

output "rule_arns" {
  value = module.tfc_onboarder.rule_arns
}
