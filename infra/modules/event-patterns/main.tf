# The EventBridge patterns of the account lifecycle events, in one place for
# both parts of the module: the root module's rules (on the default bus in
# the single-account layout, on the tooling bus in tooling mode) and the
# management account's forwarding rules (infra/management). A pattern that
# differed between the two would silently drop events at one of them.
#
# Organizations is a global service whose CloudTrail events are delivered
# only to the default bus in us-east-1 of the management account, and
# EventBridge rules only see events of their own Region.

locals {
  patterns = {
    # CreateAccountResult is a service event, not an API call: patterns
    # using "AWS API Call via CloudTrail" never match it.
    create_account_result = {
      source        = ["aws.organizations"]
      "detail-type" = ["AWS Service Event via CloudTrail"]
      detail = {
        eventSource = ["organizations.amazonaws.com"]
        eventName   = ["CreateAccountResult"]
        serviceEventDetails = {
          createAccountStatus = {
            state = ["SUCCEEDED"]
          }
        }
      }
    }

    close_account_result = {
      source        = ["aws.organizations"]
      "detail-type" = ["AWS Service Event via CloudTrail"]
      detail = {
        eventSource = ["organizations.amazonaws.com"]
        eventName   = ["CloseAccountResult"]
        serviceEventDetails = {
          closeAccountStatus = {
            state = ["SUCCEEDED"]
          }
        }
      }
    }

    remove_account = {
      source        = ["aws.organizations"]
      "detail-type" = ["AWS API Call via CloudTrail"]
      detail = {
        eventSource = ["organizations.amazonaws.com"]
        eventName   = ["RemoveAccountFromOrganization"]
        # A refused call is recorded too, with an errorCode; the account is
        # then still a member and must not be offboarded.
        errorCode = [{ exists = false }]
      }
    }

    # State is checked in code: Update events carry updateManagedAccountStatus,
    # so a filter on createManagedAccountStatus.state would drop them, and
    # Control Tower sends Update instead of Create when it retries.
    control_tower = {
      source        = ["aws.controltower"]
      "detail-type" = ["AWS Service Event via CloudTrail"]
      detail = {
        eventName = ["CreateManagedAccount", "UpdateManagedAccount"]
      }
    }
  }
}

output "patterns" {
  description = "Event patterns by rule key: create_account_result, close_account_result, remove_account, control_tower."
  value       = local.patterns
}
