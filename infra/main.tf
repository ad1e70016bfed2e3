data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# `id` is the Region name in both the 5.x and 6.x providers; `name` is
# deprecated in 6.x and `region` does not exist in 5.x.
data "aws_region" "current" {}

# The function may only assume roles in accounts of this organization
# (aws:ResourceOrgID), and its Organizations reads name it.
data "aws_organizations_organization" "this" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id

  organization_id = data.aws_organizations_organization.this.id

  create_secret = var.existing_token_secret_arn == null
  secret_arn    = local.create_secret ? aws_secretsmanager_secret.tfe_api[0].arn : var.existing_token_secret_arn
  secret_name   = coalesce(var.secret_name, "${var.name}/tfe-api-token")

  default_event_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"

  offboarding_enabled = var.offboarding != "off"

  tags = merge(var.tags, { "managed-by" = "tfc-onboarder" })
}
