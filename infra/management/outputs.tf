output "broker_role_arn" {
  description = "ARN of the broker role: input management_role_arn of the tooling part. It may only assume the access roles of the organization's accounts."
  value       = aws_iam_role.broker.arn
}

output "forward_role_arn" {
  description = "ARN of the role the forwarding rules put events on the tooling bus with."
  value       = module.forward_role.arn
}

output "forward_rule_arns" {
  description = "ARNs of the forwarding rules, keyed by create_account_result, close_account_result, remove_account, control_tower (only the enabled ones; control_tower here when the Control Tower home Region is this one)."
  value = merge(
    { for key, rule in aws_cloudwatch_event_rule.forward : key => rule.arn },
    { for rule in aws_cloudwatch_event_rule.control_tower_forward : "control_tower" => rule.arn },
  )
}

output "forward_dlq_url" {
  description = "Dead-letter queue of the forwarding rules: events that could not be put on the tooling bus."
  value       = module.forward_dlq.url
}

output "organization_id" {
  description = "The organization the broker may reach accounts of (aws:ResourceOrgID) and the delegation policy lets the function read."
  value       = local.organization_id
}

output "delegation_policy" {
  description = "The organization's delegation policy (JSON) that lets the tooling function's role (and operator_role_arns) make its Organizations reads: what this module writes with manage_delegation_policy = true, and what to merge into the organization's own policy with false."
  value       = data.aws_iam_policy_document.delegation.json
}
