# Only the container: the token value is written out of band with
# `aws secretsmanager put-secret-value`, so it never appears in a plan, in
# state or in a variable. The function reads it at run time.
resource "aws_secretsmanager_secret" "tfe_api" {
  #checkov:skip=CKV2_AWS_57:HCP Terraform tokens are issued by HCP Terraform, not AWS; a rotation function would need another long-lived HCP Terraform credential, so the operator rotates with put-secret-value.
  #checkov:skip=CKV_AWS_149:A customer managed key is optional (kms_key_arn); by default the AWS managed key is used, which needs no kms grant on the function role.
  count = local.create_secret ? 1 : 0

  name                    = local.secret_name
  description             = "HCP Terraform API token used by the ${var.name} function. Set the value with put-secret-value."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = local.tags
}
