# The broker role: the tooling function's only way into the organization.
# The member accounts' access roles trust the management account, and no
# delegation lets another account assume them, so the function assumes this
# role first and chains into the member accounts from its session. The same
# session makes the Organizations reads (see the README, "Deploy from a
# tooling account", for why not a delegation policy).

locals {
  organizations_arn_prefix = "arn:${local.partition}:organizations::${local.account_id}"
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
      identifiers = ["arn:${local.partition}:iam::${local.tooling_account_id}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = concat([var.tooling_role_arn], var.operator_role_arns)
    }
  }
}

resource "aws_iam_role" "broker" {
  name        = local.broker_role_name
  description = "Assumed by the ${var.name} function of account ${local.tooling_account_id}: Organizations reads and the member accounts' access roles, nothing else."
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

  # Every Organizations call the function and its doctor make (src/aws/organizations.rs).
  statement {
    sid    = "ReadAccountsOusAndRoots"
    effect = "Allow"
    actions = [
      "organizations:DescribeAccount",
      "organizations:DescribeOrganizationalUnit",
      "organizations:ListParents",
      "organizations:ListTagsForResource",
    ]
    resources = [
      "${local.organizations_arn_prefix}:account/${local.organization_id}/*",
      "${local.organizations_arn_prefix}:ou/${local.organization_id}/ou-*",
      "${local.organizations_arn_prefix}:root/${local.organization_id}/r-*",
    ]
  }

  statement {
    sid    = "ListOrganization"
    effect = "Allow"
    actions = [
      "organizations:DescribeOrganization",
      "organizations:ListAccounts",
    ]
    # These actions have no resource type in IAM, so only "*" matches them.
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "broker" {
  name   = "${local.broker_role_name}-least-privilege"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker.json
}
