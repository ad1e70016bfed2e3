# A dead-letter queue: what a rule, a schedule or Lambda could not deliver is
# kept here (as long as SQS allows: 14 days) instead of being dropped. Used by
# both parts of the module (infra/ and infra/management), in whichever Region
# the provider passed in serves: EventBridge only uses a dead-letter queue of
# the rule's own Region.

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
  description = "Name of the queue."
}

variable "kms_key_arn" {
  type        = string
  description = "A customer managed KMS key of the queue's Region to encrypt it with. null: SSE-SQS."
  default     = null
}

variable "senders" {
  type = object({
    sid         = string
    principal   = string
    source_arns = list(string)
  })
  description = "The AWS service (principal) that puts undelivered messages on the queue, and the only resources (aws:SourceArn) it may do it for: the queue's policy. null: no queue policy (senders that use an IAM role of this account, such as SQS redrive or a Lambda destination, need none)."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags of the queue."
}

resource "aws_sqs_queue" "this" {
  #checkov:skip=CKV2_AWS_73:A customer managed key is optional (kms_key_arn); SSE-SQS encrypts the queue by default and needs no key policy for the senders.
  name                      = var.name
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  # Set only without a CMK: the provider rejects both at once.
  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  tags                    = var.tags
}

data "aws_iam_policy_document" "this" {
  count = var.senders == null ? 0 : 1

  statement {
    sid       = var.senders.sid
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]

    principals {
      type        = "Service"
      identifiers = [var.senders.principal]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = var.senders.source_arns
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = var.senders == null ? 0 : 1

  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.this[0].json
}

output "arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}

output "name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.this.name
}

output "url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.this.url
}
