# The function's Organizations reads, in one place for both parts of the
# module: the function role's identity policy (the root module, in either
# layout) and the organization's delegation policy (infra/management), which
# must grant exactly what the identity policy asks for. Every Organizations
# call of the function and its doctor is here (src/aws/organizations.rs).
# No resources: statements only.

variable "partition" {
  type        = string
  description = "Partition of the organization (aws, aws-us-gov, aws-cn)."
  nullable    = false
}

variable "management_account_id" {
  type        = string
  description = "The organization's management account: Organizations ARNs name it."
  nullable    = false
}

variable "organization_id" {
  type        = string
  description = "The organization (o-...) whose accounts, OUs and roots may be read."
  nullable    = false
}

locals {
  arn_prefix = "arn:${var.partition}:organizations::${var.management_account_id}"
}

output "statements" {
  description = "The read statements: sid, actions and resources of each (Allow; no principal, no condition)."
  value = [
    {
      sid = "TfcOnboarderReadAccountsOusAndRoots"
      actions = [
        "organizations:DescribeAccount",
        "organizations:DescribeOrganizationalUnit",
        "organizations:ListParents",
        "organizations:ListTagsForResource",
      ]
      # These actions support resource-level permissions, so they are held to
      # the accounts, OUs and roots of this one organization.
      resources = [
        "${local.arn_prefix}:account/${var.organization_id}/*",
        "${local.arn_prefix}:ou/${var.organization_id}/ou-*",
        "${local.arn_prefix}:root/${var.organization_id}/r-*",
      ]
    },
    {
      sid = "TfcOnboarderListOrganization"
      actions = [
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
      ]
      # These actions have no resource type in IAM, so only "*" matches them.
      resources = ["*"]
    },
  ]
}
