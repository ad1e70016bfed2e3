"""The matcher the rule tests rely on must itself be right."""

from __future__ import annotations

import pytest

from eventbridge import PatternError, matches

EVENT = {
    "source": "aws.organizations",
    "detail-type": "AWS Service Event via CloudTrail",
    "detail": {
        "eventName": "CreateAccountResult",
        "count": 3,
        "flag": True,
        "nothing": None,
        "tags": ["prod", "payments"],
        "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": "444455556666"}},
    },
}


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.organizations"]},
        {"source": ["aws.ec2", "aws.organizations"]},
        {"detail": {"serviceEventDetails": {"createAccountStatus": {"state": ["SUCCEEDED"]}}}},
        {"detail": {"count": [3]}},
        {"detail": {"flag": [True]}},
        {"detail": {"nothing": [None]}},
        {"detail": {"tags": ["payments"]}},
        {"detail": {"eventName": [{"prefix": "CreateAccount"}]}},
        {"detail": {"eventName": [{"suffix": "Result"}]}},
        {"detail": {"eventName": [{"equals-ignore-case": "createaccountresult"}]}},
        {"detail": {"eventName": [{"anything-but": "CloseAccountResult"}]}},
        {"detail": {"eventName": [{"anything-but": ["CloseAccountResult", "CreateAccount"]}]}},
        {"detail": {"eventName": [{"anything-but": {"prefix": "Close"}}]}},
        {"detail": {"errorCode": [{"exists": False}]}},
        {"detail": {"eventName": [{"exists": True}]}},
        {"missing": {"deeper": [{"exists": False}]}},
        {"$or": [{"source": ["aws.controltower"]}, {"detail": {"eventName": ["CreateAccountResult"]}}]},
        {
            "source": ["aws.organizations"],
            "$or": [{"detail": {"count": [1]}}, {"detail": {"flag": [True]}}],
        },
    ],
)
def test_matching_patterns(pattern):
    assert matches(pattern, EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.controltower"]},
        # Values are case sensitive.
        {"source": ["AWS.Organizations"]},
        # A field the event lacks never equals a value.
        {"detail": {"errorCode": ["AccessDenied"]}},
        {"detail": {"serviceEventDetails": {"createAccountStatus": {"state": ["FAILED"]}}}},
        # The classic mistake: CreateAccountResult is a service event.
        {"source": ["aws.organizations"], "detail-type": ["AWS API Call via CloudTrail"]},
        # JSON types are not coerced.
        {"detail": {"count": ["3"]}},
        {"detail": {"flag": [1]}},
        {"detail": {"nothing": ["null"]}},
        {"detail": {"tags": ["staging"]}},
        {"detail": {"eventName": [{"prefix": "Close"}]}},
        {"detail": {"eventName": [{"anything-but": "CreateAccountResult"}]}},
        {"detail": {"eventName": [{"anything-but": {"prefix": "Create"}}]}},
        # anything-but needs the field to be there.
        {"detail": {"errorCode": [{"anything-but": "AccessDenied"}]}},
        {"detail": {"eventName": [{"exists": False}]}},
        {"detail": {"errorCode": [{"exists": True}]}},
        # A nested pattern does not match a scalar.
        {"source": {"inner": ["aws.organizations"]}},
        {"$or": [{"source": ["aws.controltower"]}, {"detail": {"eventName": ["CloseAccountResult"]}}]},
        # Every top-level key must match, $or included.
        {"source": ["aws.organizations"], "$or": [{"detail": {"count": [1]}}, {"detail": {"flag": [False]}}]},
    ],
)
def test_non_matching_patterns(pattern):
    assert not matches(pattern, EVENT)


def test_matches_non_object_event_as_empty():
    assert not matches({"source": ["aws.organizations"]}, ["not", "an", "object"])
    assert matches({"source": [{"exists": False}]}, "text")


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"source": "aws.organizations"},
        {"source": []},
        {"detail": {}},
        {"detail": {"eventName": [{"wildcard": "Create*"}]}},
        {"detail": {"eventName": [{"prefix": "a", "suffix": "b"}]}},
        {"detail": {"eventName": [{"exists": "yes"}]}},
        {"detail": {"eventName": [{"anything-but": []}]}},
        {"$or": [{"source": ["aws.organizations"]}]},
        {"$or": {"source": ["aws.organizations"]}},
    ],
)
def test_invalid_patterns_are_rejected(pattern):
    with pytest.raises(PatternError):
        matches(pattern, EVENT)
