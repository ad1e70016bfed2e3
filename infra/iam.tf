# The management account and the organization come from DescribeOrganization,
# which any member account may call: in the single-account layout that is
# this account, in tooling mode the management account.
module "organizations_reads" {
  source = "./modules/organizations-reads"

  partition             = local.partition
  management_account_id = data.aws_organizations_organization.this.master_account_id
  organization_id       = local.organization_id
}

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    sid     = "LambdaService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = var.name
  description        = "Execution role of the ${var.name} function."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
  tags               = local.tags
}

data "aws_iam_policy_document" "lambda" {
  # Single-account layout: the access roles trust this (the management) account.
  dynamic "statement" {
    for_each = local.tooling_mode ? [] : [1]

    content {
      sid     = "AssumeAccessRolesInMemberAccounts"
      effect  = "Allow"
      actions = ["sts:AssumeRole"]
      # Any account, because new accounts are not known in advance; only the
      # named roles, so no other role in the organization is reachable.
      resources = [for role in var.access_role_names : "arn:${local.partition}:iam::*:role/${role}"]

      # ...and only in accounts of this organization: a role of that name in
      # any other account, even one trusting this one, stays out of reach.
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceOrgID"
        values   = [local.organization_id]
      }
    }
  }

  # Tooling mode: the management account's broker role, and nothing else in
  # it. Its session enters the member accounts; this role has no access role
  # of its own.
  dynamic "statement" {
    for_each = local.tooling_mode ? [var.management_role_arn] : []

    content {
      sid       = "AssumeManagementBrokerRole"
      effect    = "Allow"
      actions   = ["sts:AssumeRole"]
      resources = [statement.value]
    }
  }

  # The Organizations reads, in both layouts. In tooling mode the function
  # makes them with its own credentials from the tooling account, which the
  # organization's delegation policy (infra/management) allows; that policy
  # grants exactly these statements, and IAM wants both sides to allow.
  dynamic "statement" {
    for_each = module.organizations_reads.statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # doctor ({"action": "doctor"}) reads, never writes: whether a trail of this
  # account feeds EventBridge, and whether the function's own rules are in place.
  dynamic "statement" {
    for_each = local.tooling_mode ? [] : [1]

    content {
      sid     = "DoctorListTrails"
      effect  = "Allow"
      actions = ["cloudtrail:DescribeTrails"]
      # DescribeTrails has no resource type in IAM, so only "*" matches it.
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.tooling_mode ? [] : [1]

    content {
      sid    = "DoctorReadTrails"
      effect = "Allow"
      actions = [
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrailStatus",
      ]
      # This account's trails, in any Region: a multi-Region trail is read in
      # its home Region.
      resources = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
  }

  dynamic "statement" {
    for_each = local.tooling_mode ? [] : [1]

    content {
      sid    = "DoctorReadRules"
      effect = "Allow"
      actions = [
        "events:DescribeRule",
        "events:ListRuleNamesByTarget",
      ]
      # The rules of this account and Region: every one that targets the
      # function is read, not only the ones this module made.
      resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/*"]
    }
  }

  statement {
    sid       = "ReadApiToken"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.secret_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseCustomerManagedKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      # Only through the services whose data the key protects: reading the
      # secret, receiving queued events and sending to the failure queue.
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "secretsmanager.${local.region}.amazonaws.com",
          "sqs.${local.region}.amazonaws.com",
        ]
      }
    }
  }

  dynamic "statement" {
    for_each = var.emit_ready_events ? [local.ready_event_bus_arn] : []

    content {
      sid       = "PublishOnboardingEvents"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = [statement.value]
    }
  }

  # Lambda's event source mapping polls the events queue with this role; the
  # function's code never touches the queue.
  statement {
    sid       = "ReceiveQueuedEvents"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.events.arn]
  }

  statement {
    sid       = "SendFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [module.failures.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  statement {
    sid     = "WriteTraces"
    effect  = "Allow"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray has no resource-level permissions for these actions.
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
