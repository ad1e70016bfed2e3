# The broker role and the organization's delegation policy: the tooling
# function's two ways into the organization.
#
# The member accounts' access roles trust the management account, and no
# delegation lets another account assume them, so the function assumes the
# broker first and chains into the member accounts from its session. That is
# all the broker may do.
#
# The Organizations reads need no role here: the organization's resource-based
# delegation policy lets the function's own role (and the operators' roles)
# make exactly those reads from the tooling account. Not delegated
# administration for an AWS service, which would make the tooling account the
# administrator of some service, for every principal of the account, to get
# the reads (README, "Deploy from a tooling account").

locals {
  # The principals of the tooling account the broker trusts and the delegation
  # policy names: its function's role and the operators' roles, nothing else.
  tooling_account_root = "arn:${local.partition}:iam::${local.tooling_account_id}:root"
  tooling_principals   = concat([var.tooling_role_arn], var.operator_role_arns)
}

module "organizations_reads" {
  source = "../modules/organizations-reads"

  partition             = local.partition
  management_account_id = local.account_id
  organization_id       = local.organization_id
}

data "aws_iam_policy_document" "broker_trust" {
  statement {
    sid     = "ToolingFunctionOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    # The tooling account delegates to its own IAM policies, and of its
    # principals only the function's role may assume this one: its identity
    # policy allows exactly this role, and this condition names exactly it.
    # Naming the account (rather than the role as principal) keeps the trust
    # valid when the tooling part replaces its role, and lets this part be
    # applied before or after it.
    principals {
      type        = "AWS"
      identifiers = [local.tooling_account_root]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = local.tooling_principals
    }
  }
}

resource "aws_iam_role" "broker" {
  name        = local.broker_role_name
  description = "Assumed by the ${var.name} function of account ${local.tooling_account_id}: the member accounts' access roles, nothing else."
  # The function's own credentials are a role session, so this one is
  # chained: AWS caps it at one hour whatever the maximum says.
  max_session_duration = 3600
  assume_role_policy   = data.aws_iam_policy_document.broker_trust.json
  tags                 = local.tags
}

data "aws_iam_policy_document" "broker" {
  statement {
    sid     = "AssumeAccessRolesInMemberAccounts"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    # Any account, because new accounts are not known in advance; only the
    # named roles, and only in accounts of this organization.
    resources = [for role in var.access_role_names : "arn:${local.partition}:iam::*:role/${role}"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceOrgID"
      values   = [local.organization_id]
    }
  }
}

resource "aws_iam_role_policy" "broker" {
  name   = "${local.broker_role_name}-least-privilege"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker.json
}

# The function role's Organizations statements (iam.tf of the root module),
# granted to the tooling account, and there only to the function's role and
# the operators' roles: the same principals the broker trusts. The identity
# policy of the role must allow them too; DescribeOrganization any member may
# call anyway.
data "aws_iam_policy_document" "delegation" {
  dynamic "statement" {
    for_each = module.organizations_reads.statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      principals {
        type        = "AWS"
        identifiers = [local.tooling_account_root]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:PrincipalArn"
        values   = local.tooling_principals
      }
    }
  }
}

# An organization has one delegation policy: this replaces any other. With
# manage_delegation_policy = false, merge output delegation_policy into the
# organization's own instead.
resource "aws_organizations_resource_policy" "delegation" {
  count = var.manage_delegation_policy ? 1 : 0

  content = data.aws_iam_policy_document.delegation.json
  tags    = local.tags
}
