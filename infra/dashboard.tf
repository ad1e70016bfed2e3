locals {
  # The CloudWatch console of each partition, for the dashboard's address.
  console_hosts = {
    aws        = "console.aws.amazon.com"
    aws-cn     = "console.amazonaws.cn"
    aws-us-gov = "console.amazonaws-us-gov.com"
  }
  console_host = lookup(local.console_hosts, local.partition, null)
}

# The function's own metrics (embedded metric format, extracted from its log
# group; namespace TfcOnboarder), Lambda's, the alarms and two log queries.
# The body is a template file so that the tests on the Rust side, which check
# it against the metrics the function really writes, read the same text.
resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.name
  dashboard_body = templatefile("${path.module}/dashboard.json.tftpl", {
    region        = local.region
    function_name = aws_lambda_function.this.function_name
    log_group     = aws_cloudwatch_log_group.lambda.name
    alarm_arns    = jsonencode(values(module.alarms.arns))
  })
}
