# The module with nothing but its required inputs: every other input keeps
# its default (one run role with AdministratorAccess, no Control Tower rule,
# no trail, offboarding and the daily reconcile on). Build the zip first,
# from the repository root: ./tests/package.sh

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

# Organizations delivers its events only to us-east-1 of the management
# account.
provider "aws" {
  region = "us-east-1"
}

module "tfc_onboarder" {
  source = "../.."

  # No Control Tower: the same provider serves both.
  providers = {
    aws               = aws
    aws.control_tower = aws
  }

  lambda_zip_path  = "${path.module}/../../../target/lambda/tfc-onboarder/bootstrap.zip"
  tfe_organization = var.tfe_organization
}

output "function_name" {
  description = "Name of the function, for aws lambda invoke."
  value       = module.tfc_onboarder.function_name
}

output "secret_arn" {
  description = "Secret to store the HCP Terraform API token in (see the README)."
  value       = module.tfc_onboarder.secret_arn
}
