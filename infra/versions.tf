terraform {
  # strcontains() in variable validations needs 1.5.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # logging_config on aws_lambda_function arrived in 5.32.
      version = ">= 5.32"
      # Control Tower lifecycle events arrive in the Control Tower home
      # Region, which may differ from us-east-1 where Organizations events
      # (and therefore this function) live. Pass the default provider here
      # when the home Region is us-east-1 or Control Tower is not used.
      configuration_aliases = [aws.control_tower]
    }
  }
}
