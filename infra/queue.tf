# Asynchronous invocations that still fail after Lambda's retries land here
# with the original event and the error, so an account is never silently
# left half onboarded. Redrive by re-invoking the function with the event.
resource "aws_sqs_queue" "failures" {
  #checkov:skip=CKV2_AWS_73:A customer managed key is optional (kms_key_arn); SSE-SQS encrypts the queue by default and needs no key policy.
  name                      = "${var.name}-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  # Set only without a CMK: the provider rejects both at once.
  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  tags                    = local.tags
}
