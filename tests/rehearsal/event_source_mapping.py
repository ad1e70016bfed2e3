"""Lambda's side of an SQS event source mapping, which moto stores but never runs.

`EventSourceMappings.drain()` does what Lambda's pollers do for every enabled mapping of an
SQS queue: with the function's execution role (assumed as `lambda.amazonaws.com`, so moto's
IAM enforcement checks the role's policy, as AWS checks it for the poller), it reads the
queue's attributes, receives batches of up to the mapping's batch size, invokes the
function synchronously with the batch in Lambda's SQS event shape, reads the partial batch
response (`ReportBatchItemFailures`; an invalid one fails the whole batch, as in AWS) and
deletes the messages that succeeded. A message that failed stays in flight until its
visibility timeout; `expire_in_flight()` stands for that time passing. moto's SQS moves a
message to the dead-letter queue on the receive after its last allowed one.

Batches are processed one at a time here; the benchmark (tests/bench/burst.rs) runs the
mapping's maximum concurrency.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .lambda_runtime import Invocation, LambdaService
from .moto_world import Credentials, MotoWorld


@dataclass
class Batch:
    queue_arn: str
    message_ids: list[str]
    invocation: Invocation
    failed: list[str]


@dataclass
class _InFlight:
    queue_url: str
    receipt_handle: str
    region: str


class EventSourceMappings:
    def __init__(self, world: MotoWorld, lambdas: LambdaService, credentials: Credentials) -> None:
        self.world = world
        self.lambdas = lambdas
        self.credentials = credentials
        self._in_flight: list[_InFlight] = []
        self.batches: list[Batch] = []

    def drain(self, region: str | None = None) -> list[Batch]:
        """Every batch the enabled SQS mappings of `region` find, until their queues are empty."""
        region = region or self.world.region
        lam = self.world.client("lambda", self.credentials, region)
        done: list[Batch] = []
        for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
            if mapping.get("State", "Enabled") not in ("Enabled", "Creating", "Updating") \
                    or mapping["EventSourceArn"].split(":")[2] != "sqs":
                continue
            done += self._drain_mapping(mapping, region)
        self.batches += done
        return done

    def expire_in_flight(self) -> int:
        """The visibility timeout of every message a function failed on has passed (made so
        by the operator: it is time passing, not something Lambda does)."""
        count = 0
        for message in self._in_flight:
            sqs = self.world.client("sqs", self.credentials, message.region)
            sqs.change_message_visibility(QueueUrl=message.queue_url, ReceiptHandle=message.receipt_handle,
                                          VisibilityTimeout=0)
            count += 1
        self._in_flight.clear()
        return count

    def _drain_mapping(self, mapping: dict[str, Any], region: str) -> list[Batch]:
        function = self.world.client("lambda", self.credentials, region).get_function_configuration(
            FunctionName=mapping["FunctionArn"])
        role = self.world.service_assumes(function["Role"], "lambda.amazonaws.com", "event-source-mapping")
        queue_arn = mapping["EventSourceArn"]
        _, _, _, queue_region, queue_account, queue_name = queue_arn.split(":")
        # Lambda knows the queue by its ARN; the harness looks its URL up as the operator.
        url = self.world.client("sqs", self.credentials, queue_region).get_queue_url(
            QueueName=queue_name, QueueOwnerAWSAccountId=queue_account)["QueueUrl"]
        sqs = self.world.client("sqs", role, queue_region)
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])
        report_failures = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
        batches = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(int(mapping.get("BatchSize") or 10), 10),
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return batches
            event = {"Records": [_record(m, queue_arn, queue_region) for m in messages]}
            before = len(self.lambdas.invocations)
            self.world.client("lambda", self.credentials, region).invoke(
                FunctionName=mapping["FunctionArn"], InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
            (invocation,) = self.lambdas.invocations[before:]
            ids = [m["MessageId"] for m in messages]
            failed = _failed_items(invocation, ids, report_failures)
            for message in messages:
                if message["MessageId"] in failed:
                    self._in_flight.append(_InFlight(url, message["ReceiptHandle"], queue_region))
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            batches.append(Batch(queue_arn, ids, invocation, failed))


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            key: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                  "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
            for key, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _failed_items(invocation: Invocation, ids: list[str], report_failures: bool) -> list[str]:
    """Which messages Lambda keeps, by AWS's rules for a partial batch response."""
    if invocation.kind != "response":
        return list(ids)  # a function error: the whole batch comes back
    response = invocation.response
    if not report_failures or response is None or response == {}:
        return []
    if not isinstance(response, dict):
        return list(ids)
    failed = []
    for item in response.get("batchItemFailures") or []:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return list(ids)  # an invalid response fails the whole batch
        failed.append(identifier)
    return failed
