# EventBridge only receives "via CloudTrail" events while a trail records
# management events. Most organizations already have one (Control Tower
# creates an organization trail), so this is opt-in.

locals {
  cloudtrail_name = "${var.name}-management-events"
  cloudtrail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.cloudtrail_name}"
}

data "aws_iam_policy_document" "cloudtrail_key" {
  #checkov:skip=CKV_AWS_109:This is a key policy: Resource "*" means this key only, and the account-root statement is the standard delegation of key administration to IAM.
  #checkov:skip=CKV_AWS_111:This is a key policy: Resource "*" means this key only; CloudTrail's use is bound to this trail by aws:SourceArn.
  #checkov:skip=CKV_AWS_356:This is a key policy: Resource "*" means this key only and cannot name anything else.
  count = var.create_cloudtrail ? 1 : 0

  statement {
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "TrailEncryptsLogs"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_arn]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
  }

  statement {
    sid       = "TrailDescribesKey"
    effect    = "Allow"
    actions   = ["kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_arn]
    }
  }
}

resource "aws_kms_key" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  description             = "Encrypts the log files of the ${local.cloudtrail_name} trail."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.cloudtrail_key[0].json
  tags                    = local.tags
}

resource "aws_s3_bucket" "cloudtrail" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket that would itself need logging; the objects are written only by CloudTrail, with log file validation on.
  #checkov:skip=CKV_AWS_144:The trail exists to feed EventBridge; a replica in another Region adds cost without serving that purpose. Keep the organization's archive trail for retention.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object notifications; the function is driven by EventBridge, not by the log files.
  #checkov:skip=CKV_AWS_145:Log files are KMS-encrypted by CloudTrail with the trail key; the bucket default is SSE-S3 so digest files, which do not use that key, can still be delivered.
  count = var.create_cloudtrail ? 1 : 0

  # Bucket names allow neither upper case nor '_', and a prefix may be at
  # most 37 characters.
  bucket_prefix = "${substr(replace(lower(var.name), "_", "-"), 0, 30)}-trail-"
  # Versioned, KMS-encrypted logs: losing them on `terraform destroy` would be
  # worse than a bucket left behind.
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket                  = aws_s3_bucket.cloudtrail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.cloudtrail[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.cloudtrail[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

# Log files are encrypted by CloudTrail itself with the trail's key
# (kms_key_id below). The bucket default stays SSE-S3 because digest files
# are written without the trail key, and a default KMS key whose policy only
# admits the CloudTrail encryption context could make those writes fail.
resource "aws_s3_bucket_server_side_encryption_configuration" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.cloudtrail[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.cloudtrail[0].id

  rule {
    id     = "expire-trail-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.cloudtrail_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "cloudtrail_bucket" {
  count = var.create_cloudtrail ? 1 : 0

  statement {
    sid       = "TrailChecksBucketAcl"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.cloudtrail[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_arn]
    }
  }

  statement {
    sid       = "TrailWritesLogs"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.cloudtrail[0].arn}/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_arn]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.cloudtrail[0].arn,
      "${aws_s3_bucket.cloudtrail[0].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "cloudtrail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.cloudtrail[0].id
  policy = data.aws_iam_policy_document.cloudtrail_bucket[0].json

  # S3 rejects concurrent configuration changes to one bucket.
  depends_on = [aws_s3_bucket_public_access_block.cloudtrail]
}

resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252:Nobody subscribes to per-delivery notifications; EventBridge already carries the events this trail exists for.
  #checkov:skip=CKV2_AWS_10:CloudWatch Logs delivery would duplicate what EventBridge receives and add ingestion cost; the S3 copy is kept for audits.
  count = var.create_cloudtrail ? 1 : 0

  name                          = local.cloudtrail_name
  s3_bucket_name                = aws_s3_bucket.cloudtrail[0].id
  kms_key_id                    = aws_kms_key.cloudtrail[0].arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  tags                          = local.tags

  # CloudTrail verifies bucket access and key usage when the trail is created.
  depends_on = [
    aws_s3_bucket_policy.cloudtrail,
    aws_s3_bucket_server_side_encryption_configuration.cloudtrail,
  ]
}
