variable "name" {
  type        = string
  description = "Prefix of every resource name; use the tooling part's name so that both parts are recognisable together."
  default     = "tfc-onboarder"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits, hyphens or underscores (it prefixes role, rule and queue names)."
  }
}

variable "tooling_role_arn" {
  type        = string
  description = "ARN of the tooling function's execution role (output role_arn of the root module applied in the tooling account): the only principal the broker role trusts and the delegation policy lets read Organizations (with operator_role_arns)."
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", var.tooling_role_arn))
    error_message = "tooling_role_arn must be an IAM role ARN, arn:<partition>:iam::<tooling account id>:role/<name> (output role_arn of the tooling part)."
  }
}

variable "tooling_event_bus_arn" {
  type        = string
  description = "ARN of the event bus in the tooling account (output tooling_event_bus_arn of the root module in tooling mode) that the account lifecycle events are forwarded to."
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]+$", var.tooling_event_bus_arn))
    error_message = "tooling_event_bus_arn must be an EventBridge event bus ARN, arn:<partition>:events:<Region>:<tooling account id>:event-bus/<name>."
  }
}

variable "operator_role_arns" {
  type        = list(string)
  description = "Roles of the tooling account that may also assume the broker and make the function's Organizations reads, for operators running the CLI in tooling mode (for example an SSO permission set's role). Empty: only the function's role. A role listed here that also runs Terraform on the tooling part makes hashicorp/aws (5.x) go on from ListAccounts to ListRoots in data.aws_organizations_organization, which the delegation policy does not allow: deploy with another role."
  default     = []

  validation {
    condition     = alltrue([for arn in var.operator_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$", arn))])
    error_message = "Every operator_role_arns entry must be an IAM role ARN of the tooling account."
  }
}

variable "access_role_names" {
  type        = list(string)
  description = "The member accounts' access roles the broker may assume: the same list as the tooling part's access_role_names."
  default     = ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]

  validation {
    condition     = length(var.access_role_names) >= 1 && length(var.access_role_names) <= 5 && alltrue([for role in var.access_role_names : can(regex("^[A-Za-z0-9+=.@_-]{1,64}$", role))])
    error_message = "access_role_names must hold 1 to 5 plain IAM role names (1-64 letters, digits or +=.@_-; no path, no wildcard, no comma)."
  }
}

variable "manage_delegation_policy" {
  type        = bool
  description = "Write the organization's delegation policy (aws_organizations_resource_policy), which lets the tooling function's role read Organizations. An organization has one delegation policy, and this replaces it: set false when the organization has one already, and merge output delegation_policy into it."
  default     = true
  nullable    = false
}

variable "broker_role_name" {
  type        = string
  description = "Name of the broker role. Default: <name>-broker."
  default     = null

  validation {
    condition     = var.broker_role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.broker_role_name))
    error_message = "broker_role_name must be an IAM role name (1-64 letters, digits or +=,.@_-)."
  }
}

variable "forward_offboarding_events" {
  type        = bool
  description = "Forward CloseAccountResult and RemoveAccountFromOrganization too. Set false only when the tooling part's offboarding is off."
  default     = true
}

variable "enable_control_tower" {
  type        = bool
  description = "Forward Control Tower's CreateManagedAccount/UpdateManagedAccount events from the Region of the aws.control_tower provider (the Control Tower home Region)."
  default     = false
}

variable "rule_maximum_retry_attempts" {
  type        = number
  description = "Retries EventBridge makes to put an event on the tooling bus before putting it in the forwarding dead-letter queue."
  default     = 185

  validation {
    condition     = var.rule_maximum_retry_attempts >= 0 && var.rule_maximum_retry_attempts <= 185 && floor(var.rule_maximum_retry_attempts) == var.rule_maximum_retry_attempts
    error_message = "rule_maximum_retry_attempts must be a whole number between 0 and 185."
  }
}

variable "rule_maximum_event_age_in_seconds" {
  type        = number
  description = "How long EventBridge keeps retrying to put an event on the tooling bus before putting it in the forwarding dead-letter queue."
  default     = 86400

  validation {
    condition     = var.rule_maximum_event_age_in_seconds >= 60 && var.rule_maximum_event_age_in_seconds <= 86400 && floor(var.rule_maximum_event_age_in_seconds) == var.rule_maximum_event_age_in_seconds
    error_message = "rule_maximum_event_age_in_seconds must be a whole number between 60 and 86400."
  }
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "Optional SNS topic, in this (us-east-1) Region, notified by the forwarding alarms."
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "control_tower_alarm_sns_topic_arn" {
  type        = string
  description = "Optional SNS topic in the Control Tower home Region, notified by the alarms of the forwarding rule there."
  default     = null

  validation {
    condition     = var.control_tower_alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.control_tower_alarm_sns_topic_arn))
    error_message = "control_tower_alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "allow_non_us_east_1" {
  type        = bool
  description = "Allow deploying outside us-east-1. In the commercial partition Organizations events are only delivered in us-east-1; set this only for other partitions or tests."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every taggable resource."
  default     = {}
}
