"""The AWS CLI (v1, the `aws` executable of this Python environment) against the endpoint:
create-queue, send-message, receive-message, delete-message, get-queue-attributes, and a
service error's exit status and code."""

import json
import os
import subprocess
import sys

from common import *

AWS = os.path.join(os.path.dirname(sys.executable), "aws")


def aws(*args, expect_ok=True):
    """Runs `aws sqs <args>` (JSON output, the endpoint, us-east-1), bounded to 60 s.
    Returns (exit status, parsed JSON output or None, stderr)."""
    command = [
        AWS,
        "sqs",
        *args,
        "--endpoint-url",
        endpoint(),
        "--region",
        REGION,
        "--output",
        "json",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as e:
        raise Failure(
            f"{' '.join(args[:1])}: no exit within 60 s\nstdout: {e.stdout}\nstderr: {e.stderr}"
        )
    what = f"aws sqs {' '.join(args)}"[:200]
    if expect_ok and done.returncode != 0:
        raise Failure(
            f"{what}: exit status {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        )
    output = None
    if done.stdout.strip():
        try:
            output = json.loads(done.stdout)
        except ValueError:
            raise Failure(f"{what}: output is not JSON:\n{done.stdout}\nstderr: {done.stderr}")
    return done.returncode, output, done.stderr


def main():
    attributes = {
        "source": {"DataType": "String", "StringValue": "awscli"},
        "n": {"DataType": "Number", "StringValue": "42"},
    }

    step("aws sqs create-queue")
    _, created, _ = aws(
        "create-queue", "--queue-name", "cli-jobs", "--attributes", "VisibilityTimeout=40"
    )
    url = created and created.get("QueueUrl")
    check_eq(url, queue_url("cli-jobs"), "create-queue QueueUrl")

    step("aws sqs send-message")
    body = "hello from the aws cli – ü"
    _, sent, _ = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        body,
        "--message-attributes",
        json.dumps(attributes),
    )
    check_send_md5s(sent or {}, body, attributes, "send-message")

    step("aws sqs receive-message")
    _, received, _ = aws(
        "receive-message",
        "--queue-url",
        url,
        "--wait-time-seconds",
        "10",
        "--attribute-names",
        "All",
        "--message-attribute-names",
        "All",
    )
    messages = (received or {}).get("Messages", [])
    check_eq(
        [m.get("MessageId") for m in messages], [sent["MessageId"]], "receive-message MessageIds"
    )
    message = messages[0]
    check_received(message, body, attributes, "receive-message")
    check_eq(
        message.get("Attributes", {}).get("ApproximateReceiveCount"), "1", "ApproximateReceiveCount"
    )

    step("aws sqs get-queue-attributes --attribute-names All, with the message in flight")
    _, answer, _ = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    got = (answer or {}).get("Attributes", {})
    check_eq(got.get("VisibilityTimeout"), "40", "VisibilityTimeout")
    check_eq(got.get("QueueArn"), queue_arn("cli-jobs"), "QueueArn")
    check_eq(
        (got.get("ApproximateNumberOfMessages"), got.get("ApproximateNumberOfMessagesNotVisible")),
        ("0", "1"),
        "(visible, in flight)",
    )

    step("aws sqs delete-message")
    status, output, _ = aws(
        "delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]
    )
    check_eq(output, None, "delete-message output")
    _, answer, _ = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    got = (answer or {}).get("Attributes", {})
    check_eq(
        (got.get("ApproximateNumberOfMessages"), got.get("ApproximateNumberOfMessagesNotVisible")),
        ("0", "0"),
        "(visible, in flight) after delete-message",
    )

    step("a service error: non-zero exit status and the SQS code on stderr")
    status, output, stderr = aws(
        "get-queue-url", "--queue-name", "cli-never-created", expect_ok=False
    )
    check(status != 0, "get-queue-url of a missing queue: exit status", "non-zero", status)
    check(
        "AWS.SimpleQueueService.NonExistentQueue" in stderr or "QueueDoesNotExist" in stderr,
        "get-queue-url of a missing queue: stderr",
        "AWS.SimpleQueueService.NonExistentQueue or QueueDoesNotExist",
        stderr,
    )


if __name__ == "__main__":
    run(main)
