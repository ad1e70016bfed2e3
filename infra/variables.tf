# ---------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------

variable "name" {
  type        = string
  description = "Name of the function; also the prefix of every resource this module creates."
  default     = "tfc-onboarder"

  validation {
    # 40 leaves room for the longest suffix within the 64-character limit of
    # EventBridge rule and IAM role names.
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits, '-' or '_'."
  }
}

variable "lambda_zip_path" {
  type        = string
  description = "Path to the deployment zip holding the `bootstrap` binary (e.g. target/lambda/tfc-onboarder/bootstrap.zip from `cargo lambda build --release --arm64 --output-format zip`)."

  validation {
    condition     = can(regex("\\.zip$", var.lambda_zip_path))
    error_message = "lambda_zip_path must point to a .zip file."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set the binary was built for."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "memory_size" {
  type        = number
  description = "Function memory in MB."
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number between 128 and 10240."
  }
}

variable "timeout" {
  type        = number
  description = "Function timeout in seconds. A new account can stay closed (AccessDenied to every access role) for minutes; the function polls until 20 s before its timeout, so the default 360 covers 5 minutes closed with 40 s to spare. Each sweep invocation covers the accounts it can start until 30 s before it. The events queue's visibility timeout is six times this."
  default     = 360

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number between 1 and 900."
  }
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Reserved concurrency for the function; null leaves it unreserved."
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions, false)
    error_message = "reserved_concurrent_executions must be null or a whole number >= 1 (0 would disable the function)."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the function's CloudWatch log group, in days (0 keeps logs forever)."
  default     = 90

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of the values CloudWatch Logs accepts: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_level" {
  type        = string
  description = "RUST_LOG filter directive for the function (e.g. \"info\" or \"info,tfc_onboarder=debug\")."
  default     = "info"

  validation {
    condition     = can(regex("^[A-Za-z0-9_=,:.-]+$", var.log_level))
    error_message = "log_level must be a non-empty RUST_LOG directive without spaces."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Optional customer managed KMS key ARN for the token secret, the queues and the log group. Its key policy must let CloudWatch Logs and EventBridge (events.amazonaws.com: kms:GenerateDataKey, kms:Decrypt) use it. Null uses AWS managed encryption."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (not an alias), because IAM grants cannot be scoped to aliases."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every taggable resource."
  default     = {}
}

variable "allow_non_us_east_1" {
  type        = bool
  description = "Allow deploying outside us-east-1. In the commercial partition Organizations events are only delivered in us-east-1; set this only for other partitions or tests."
  default     = false
}

# ---------------------------------------------------------------------------
# HCP Terraform / Terraform Enterprise
# ---------------------------------------------------------------------------

variable "tfe_organization" {
  type        = string
  description = "HCP Terraform organization that receives the variable sets and that the trust policy names."

  validation {
    condition     = length(trimspace(var.tfe_organization)) > 0
    error_message = "tfe_organization must not be empty."
  }

  validation {
    # A wildcard organization would let any HCP Terraform customer assume
    # the roles.
    condition     = !strcontains(var.tfe_organization, "*")
    error_message = "tfe_organization must not contain '*'."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+$", var.tfe_organization))
    error_message = "tfe_organization may contain only letters, digits, '-' and '_'."
  }
}

variable "tfe_hostname" {
  type        = string
  description = "Hostname of HCP Terraform or of a Terraform Enterprise instance; also the OIDC issuer host."
  default     = "app.terraform.io"

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+(:[0-9]+)?$", var.tfe_hostname))
    error_message = "tfe_hostname must be a bare hostname (optionally with :port), without scheme or path."
  }
}

variable "tfe_address" {
  type        = string
  description = "Optional full base URL of the API when it differs from https://<tfe_hostname> (e.g. a proxy). Must be https."
  default     = null

  validation {
    condition     = var.tfe_address == null || can(regex("^https://[^\\s]+$", var.tfe_address))
    error_message = "tfe_address must be an https:// URL; TLS verification is never disabled."
  }
}

variable "existing_token_secret_arn" {
  type        = string
  description = "Complete ARN (with the six random characters Secrets Manager appends to the name) of an existing Secrets Manager secret holding the HCP Terraform API token. Null creates an empty secret that the operator fills with `aws secretsmanager put-secret-value`."
  default     = null

  validation {
    condition     = var.existing_token_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.existing_token_secret_arn))
    error_message = "existing_token_secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    # IAM matches the grant against the complete ARN; a partial ARN (without
    # the suffix) would leave the function unable to read its own token.
    condition     = var.existing_token_secret_arn == null || can(regex(":secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$", var.existing_token_secret_arn))
    error_message = "existing_token_secret_arn must be the secret's complete ARN, ending in '-' and the six random characters Secrets Manager appends to the name (e.g. ...:secret:tfe-api-token-AbC123). A partial ARN would not match the function's secretsmanager:GetSecretValue grant. Print the complete one with: aws secretsmanager describe-secret --secret-id <name> --query ARN --output text"
  }
}

variable "secret_name" {
  type        = string
  description = "Name of the secret created when existing_token_secret_arn is null. Defaults to \"<name>/tfe-api-token\"."
  default     = null

  validation {
    condition     = var.secret_name == null || can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.secret_name))
    error_message = "secret_name must be 1-512 characters of letters, digits and /_+=.@-."
  }
}

# ---------------------------------------------------------------------------
# What the function creates in each account
# ---------------------------------------------------------------------------

variable "access_role_names" {
  type        = list(string)
  description = "Roles the function tries, in this order, to reach each member account; the first it may assume is used. Accounts created through Organizations have OrganizationAccountAccessRole, accounts enrolled by Control Tower have AWSControlTowerExecution, invited accounts have neither unless someone created it."
  default     = ["OrganizationAccountAccessRole", "AWSControlTowerExecution"]

  validation {
    # IAM role names are unique regardless of case, as the function also checks.
    condition     = length(var.access_role_names) >= 1 && length(var.access_role_names) <= 5 && length(distinct([for role in var.access_role_names : lower(role)])) == length(var.access_role_names)
    error_message = "access_role_names must hold 1 to 5 role names, none of them twice (IAM role names are not case-sensitive)."
  }

  validation {
    # ',' is valid in IAM role names but separates the names in
    # ONBOARD_ACCESS_ROLE_NAMES, so it is refused here.
    condition     = alltrue([for role in var.access_role_names : can(regex("^[A-Za-z0-9+=.@_-]{1,64}$", role))])
    error_message = "Every access_role_names entry must be a plain IAM role name: 1-64 letters, digits or +=.@_- (no path, no wildcard, no comma)."
  }
}

variable "role_name" {
  type        = string
  description = "Name of the IAM role created in each account for HCP Terraform runs (the apply role in split mode)."
  default     = "terraform-cloud"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name."
  }
}

variable "role_policy_arns" {
  type        = list(string)
  description = "Managed policies attached to the run (or apply) role in each account."
  default     = ["arn:aws:iam::aws:policy/AdministratorAccess"]

  validation {
    condition     = length(var.role_policy_arns) >= 1 && length(var.role_policy_arns) <= 20
    error_message = "role_policy_arns must hold 1 to 20 policy ARNs."
  }

  validation {
    condition     = alltrue([for arn in var.role_policy_arns : can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[^,*]+$", arn))])
    error_message = "Every role_policy_arns entry must be an IAM managed policy ARN without ',' or '*'."
  }
}

variable "plan_policy_arns" {
  type        = list(string)
  description = "Managed policies attached to the plan role when role_mode is \"split\"."
  default     = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]

  validation {
    condition     = length(var.plan_policy_arns) >= 1 && length(var.plan_policy_arns) <= 20
    error_message = "plan_policy_arns must hold 1 to 20 policy ARNs."
  }

  validation {
    condition     = alltrue([for arn in var.plan_policy_arns : can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[^,*]+$", arn))])
    error_message = "Every plan_policy_arns entry must be an IAM managed policy ARN without ',' or '*'."
  }
}

variable "role_mode" {
  type        = string
  description = "\"single\" creates one run role; \"split\" creates a read-only plan role and an apply role."
  default     = "single"

  validation {
    condition     = contains(["single", "split"], var.role_mode)
    error_message = "role_mode must be \"single\" or \"split\"."
  }
}

variable "permissions_boundary_arn" {
  type        = string
  description = "Optional permissions boundary set on the roles created in each account."
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[^*]+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM managed policy ARN."
  }
}

variable "max_session_duration" {
  type        = number
  description = "Optional maximum session duration, in seconds, of the roles created in each account."
  default     = null

  validation {
    condition     = var.max_session_duration == null || try(var.max_session_duration >= 3600 && var.max_session_duration <= 43200 && floor(var.max_session_duration) == var.max_session_duration, false)
    error_message = "max_session_duration must be null or a whole number between 3600 and 43200."
  }
}

variable "audience" {
  type        = string
  description = "OIDC audience HCP Terraform puts in its tokens (TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE)."
  default     = "aws.workload.identity"

  validation {
    condition     = can(regex("^[^\\s,*]{1,255}$", var.audience))
    error_message = "audience must be 1-255 characters without spaces, ',' or '*'."
  }
}

variable "tfc_project" {
  type        = string
  description = "HCP Terraform project allowed in the trust policy `sub` (\"*\" allows every project of the organization)."
  default     = "*"

  validation {
    # ':' separates the fields of the `sub` claim, so it would widen the match.
    condition     = length(var.tfc_project) > 0 && !strcontains(var.tfc_project, ":")
    error_message = "tfc_project must be non-empty and must not contain ':'."
  }
}

variable "tfc_workspace" {
  type        = string
  description = "HCP Terraform workspace allowed in the trust policy `sub` (\"*\" allows every workspace of the project)."
  default     = "*"

  validation {
    condition     = length(var.tfc_workspace) > 0 && !strcontains(var.tfc_workspace, ":")
    error_message = "tfc_workspace must be non-empty and must not contain ':'."
  }
}

variable "varset_name" {
  type        = string
  description = "Name template of the variable set created per account; the function replaces {account_id}."
  default     = "aws-{account_id}"

  validation {
    condition     = length(trimspace(var.varset_name)) > 0
    error_message = "varset_name must not be empty."
  }
}

variable "onboard_region" {
  type        = string
  description = "AWS Region the function configures for HCP Terraform runs against the onboarded account."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.onboard_region))
    error_message = "onboard_region must be an AWS Region name such as us-east-1."
  }
}

variable "tag_prefix" {
  type        = string
  description = "Prefix of the account tags the function reads as per-account overrides (e.g. tfc:project)."
  default     = "tfc:"

  validation {
    condition     = length(var.tag_prefix) >= 1 && length(var.tag_prefix) <= 64
    error_message = "tag_prefix must be 1-64 characters."
  }
}

variable "ou_rules" {
  type        = string
  description = "Optional JSON document mapping OUs to per-account settings. Lambda limits all environment variables to 4 KB together."
  default     = null

  validation {
    condition     = var.ou_rules == null || can(jsondecode(var.ou_rules))
    error_message = "ou_rules must be valid JSON."
  }

  validation {
    condition     = try(length(var.ou_rules), 0) <= 3072
    error_message = "ou_rules must be at most 3072 characters so the environment stays under Lambda's 4 KB limit."
  }
}

# ---------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------

variable "dry_run" {
  type        = bool
  description = "Log the planned IAM and HCP Terraform changes without writing anything."
  default     = false
}

variable "offboarding" {
  type        = string
  description = "What happens when an account is closed or leaves the organization: \"remove-variables\", \"delete-set\" or \"off\" (no offboarding rules are created)."
  default     = "remove-variables"

  validation {
    condition     = contains(["remove-variables", "delete-set", "off"], var.offboarding)
    error_message = "offboarding must be \"remove-variables\", \"delete-set\" or \"off\"."
  }
}

variable "emit_ready_events" {
  type        = bool
  description = "Publish onboarding result events to the default event bus (grants events:PutEvents on that bus only)."
  default     = true
}

variable "onboard_concurrency" {
  type        = number
  description = "How many accounts the function processes in parallel during a reconcile or within a batch of queued events (they share the container's TFE_RATE_LIMIT)."
  default     = 8

  validation {
    condition     = var.onboard_concurrency >= 1 && var.onboard_concurrency <= 64 && floor(var.onboard_concurrency) == var.onboard_concurrency
    error_message = "onboard_concurrency must be a whole number between 1 and 64."
  }
}

variable "reconcile_schedule" {
  type        = string
  description = "EventBridge Scheduler expression (UTC) on which the reconcile sweep's state machine is started, to catch events CloudTrail failed to deliver; null creates no schedule (the state machine can still be started by hand)."
  default     = "rate(1 day)"

  validation {
    condition     = var.reconcile_schedule == null || can(regex("^(rate|cron)\\(.+\\)$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be null or a rate(...) or cron(...) expression."
  }
}

variable "sweep_max_invocations" {
  type        = number
  description = "Most function invocations one sweep makes before it fails (Sweep.TooManyInvocations) with the continuation to resume from; a bound, never reached by a healthy sweep (each invocation covers a few thousand accounts)."
  default     = 100

  validation {
    condition     = var.sweep_max_invocations >= 1 && var.sweep_max_invocations <= 1000 && floor(var.sweep_max_invocations) == var.sweep_max_invocations
    error_message = "sweep_max_invocations must be a whole number between 1 and 1000."
  }
}

variable "sweep_retry_attempts" {
  type        = number
  description = "Retries of a failed sweep invocation (throttling, Terraform Cloud down, a crash) before the sweep fails; errors the function marks NonRetryable fail it at once."
  default     = 3

  validation {
    condition     = var.sweep_retry_attempts >= 0 && var.sweep_retry_attempts <= 10 && floor(var.sweep_retry_attempts) == var.sweep_retry_attempts
    error_message = "sweep_retry_attempts must be a whole number between 0 and 10."
  }
}

variable "sweep_retry_interval_seconds" {
  type        = number
  description = "Pause before the first retry of a failed sweep invocation; it doubles for each further retry (at most 15 minutes, with full jitter)."
  default     = 60

  validation {
    condition     = var.sweep_retry_interval_seconds >= 1 && var.sweep_retry_interval_seconds <= 900 && floor(var.sweep_retry_interval_seconds) == var.sweep_retry_interval_seconds
    error_message = "sweep_retry_interval_seconds must be a whole number between 1 and 900."
  }
}

variable "event_max_concurrency" {
  type        = number
  description = "Most containers that process queued account events at once (the event source mapping's maximum concurrency; SQS allows 2 to 1000). tfe_requests_per_second is split between them."
  default     = 2

  validation {
    condition     = var.event_max_concurrency >= 2 && var.event_max_concurrency <= 30 && floor(var.event_max_concurrency) == var.event_max_concurrency
    error_message = "event_max_concurrency must be a whole number between 2 and 30 (each container needs at least 1 request per second of tfe_requests_per_second)."
  }
}

variable "tfe_requests_per_second" {
  type        = number
  description = "Terraform Cloud requests per second this deployment may send while processing account events, split evenly between the event_max_concurrency containers (TFE_RATE_LIMIT). The API admits 30 per second per user; lower this when other automations use the same user or team token."
  default     = 28

  validation {
    condition     = var.tfe_requests_per_second >= 1 && var.tfe_requests_per_second <= 30 && floor(var.tfe_requests_per_second) == var.tfe_requests_per_second
    error_message = "tfe_requests_per_second must be a whole number between 1 and 30."
  }
}

variable "enable_control_tower" {
  type        = bool
  description = "Also onboard on Control Tower CreateManagedAccount/UpdateManagedAccount events, received in the Region of the aws.control_tower provider (the Control Tower home Region). Which roles the function may assume is access_role_names' business."
  default     = false
}

# ---------------------------------------------------------------------------
# Failure handling and alarms
# ---------------------------------------------------------------------------

variable "maximum_retry_attempts" {
  type        = number
  description = "Retries of a failed account event: receives of a queued event after the first before it goes to the events-failed queue (each after the queue's visibility timeout), and Lambda's retries of a failed asynchronous invocation before it goes to the failure queue."
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  type        = number
  description = "Maximum age of an event Lambda still retries."
  default     = 21600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600 && floor(var.maximum_event_age_in_seconds) == var.maximum_event_age_in_seconds
    error_message = "maximum_event_age_in_seconds must be a whole number between 60 and 21600."
  }
}

variable "alarm_sns_topic_arn" {
  type        = string
  description = "Optional SNS topic, in the function's Region, notified by the alarms (alarm and OK transitions)."
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "control_tower_alarm_sns_topic_arn" {
  type        = string
  description = "Optional SNS topic in the Control Tower home Region notified by the alarms of the forwarding rule there (a CloudWatch alarm only notifies topics of its own Region). Only used when Control Tower events are forwarded from another Region."
  default     = null

  validation {
    condition     = var.control_tower_alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.control_tower_alarm_sns_topic_arn))
    error_message = "control_tower_alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "rule_maximum_retry_attempts" {
  type        = number
  description = "Retries EventBridge makes to deliver an event to a rule's target (the events queue, or the forwarding bus), and EventBridge Scheduler makes to start the sweep, before putting it in the dead-letter queue."
  default     = 185

  validation {
    condition     = var.rule_maximum_retry_attempts >= 0 && var.rule_maximum_retry_attempts <= 185 && floor(var.rule_maximum_retry_attempts) == var.rule_maximum_retry_attempts
    error_message = "rule_maximum_retry_attempts must be a whole number between 0 and 185."
  }
}

variable "rule_maximum_event_age_in_seconds" {
  type        = number
  description = "How long EventBridge keeps retrying delivery of an event to a rule's target, and EventBridge Scheduler the start of the sweep, before putting it in the dead-letter queue."
  default     = 86400

  validation {
    condition     = var.rule_maximum_event_age_in_seconds >= 60 && var.rule_maximum_event_age_in_seconds <= 86400 && floor(var.rule_maximum_event_age_in_seconds) == var.rule_maximum_event_age_in_seconds
    error_message = "rule_maximum_event_age_in_seconds must be a whole number between 60 and 86400."
  }
}

variable "create_dashboard" {
  type        = bool
  description = "Create a CloudWatch dashboard named after the function over its metrics, Lambda's, the alarms and its failures."
  default     = true
}

# ---------------------------------------------------------------------------
# CloudTrail
# ---------------------------------------------------------------------------

variable "create_cloudtrail" {
  type        = bool
  description = "Create a multi-Region trail (with an encrypted, private, versioned bucket) in this account. Leave false when an organization trail already records management events, as Control Tower's does."
  default     = false
}

variable "cloudtrail_log_retention_days" {
  type        = number
  description = "Days the created trail's log files are kept before expiring."
  default     = 365

  validation {
    condition     = var.cloudtrail_log_retention_days >= 1 && floor(var.cloudtrail_log_retention_days) == var.cloudtrail_log_retention_days
    error_message = "cloudtrail_log_retention_days must be a whole number >= 1."
  }
}
