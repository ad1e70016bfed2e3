terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.32"
      # Control Tower's lifecycle events arrive in its home Region, which may
      # differ from us-east-1 where Organizations' events arrive. Pass the
      # default provider when the home Region is us-east-1 or Control Tower
      # is not used.
      configuration_aliases = [aws.control_tower]
    }
  }
}
