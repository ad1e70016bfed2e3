# The role an EventBridge rule needs to put events on another bus (another
# Region's or another account's): only the given rules of this account may
# assume it, and it may only put events on that one bus. Used by both parts
# of the module: the root module's Control Tower forwarding rule, and
# infra/management's forwarding rules to the tooling bus.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type        = string
  description = "Name of the role and of its inline policy."
}

variable "description" {
  type        = string
  description = "Description of the role."
}

variable "account_id" {
  type        = string
  description = "This account: the only one whose rules may assume the role (aws:SourceAccount)."
}

variable "rules" {
  type = object({
    sid  = string
    arns = list(string)
  })
  description = "The rules that may assume the role (aws:SourceArn), and the statement id that says so."
}

variable "bus" {
  type = object({
    sid = string
    arn = string
  })
  description = "The one bus the role may put events on, and the statement id that says so."
}

variable "tags" {
  type        = map(string)
  description = "Tags of the role."
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = var.rules.sid
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    # Only these rules of this account may use the role (confused-deputy
    # guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = var.rules.arns
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = var.description
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = var.bus.sid
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [var.bus.arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

output "arn" {
  description = "ARN of the role."
  value       = aws_iam_role.this.arn
}
