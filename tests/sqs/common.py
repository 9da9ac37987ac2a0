"""Shared helpers of the SQS scenarios: clients of the endpoint under test, the two MD5
digests SQS answers with, checks that fail with what was expected and what came back, and
bounded receive loops.

Environment: SQS_ENDPOINT (the server's URL), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION (us-east-1, the region the clients sign for). Each scenario calls `run(main)`, which exits 0 when `main`
returns, 1 on a failed check and 2 on any other exception.
"""

import hashlib
import json
import os
import struct
import sys
import time
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "000000000000"


class Failure(Exception):
    """A check that did not hold."""


def fail(what, expected, got):
    raise Failure(f"{what}\n  expected: {expected!r}\n  got:      {got!r}")


def check(condition, what, expected, got):
    if not condition:
        fail(what, expected, got)


def check_eq(got, expected, what):
    check(got == expected, what, expected, got)


def env(name):
    value = os.environ.get(name)
    if not value:
        raise Failure(f"the environment variable {name} is not set")
    return value


def step(text):
    print(f"-- {text}", flush=True)


def endpoint():
    return env("SQS_ENDPOINT").rstrip("/")


def queue_url(name):
    return f"{endpoint()}/{ACCOUNT}/{name}"


def queue_arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def client(key_id=None, secret=None):
    """An SQS client of the endpoint, signing with the given key (default: the environment's).
    No retries, so that every answer checked is the server's first."""
    session = boto3.session.Session(
        aws_access_key_id=key_id or env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=secret or env("AWS_SECRET_ACCESS_KEY"),
        region_name=REGION,
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        # Above the longest long poll (20 s).
        read_timeout=60,
    )
    return session.client("sqs", endpoint_url=endpoint(), config=config)


# ---------------------------------------------------------------- MD5 digests


def md5_of_body(body):
    """Hex MD5 of the body's UTF-8 bytes (MD5OfMessageBody)."""
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def _length_prefixed(data):
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes):
    """MD5OfMessageAttributes: for each attribute in name order, the name, the DataType, a
    transport byte (1: StringValue, 2: BinaryValue) and the value, each length-prefixed
    (4 bytes, big-endian); the hex MD5 of the whole. None without attributes."""
    if not attributes:
        return None
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(_length_prefixed(name.encode("utf-8")))
        digest.update(_length_prefixed(value["DataType"].encode("utf-8")))
        if "StringValue" in value:
            digest.update(b"\x01" + _length_prefixed(value["StringValue"].encode("utf-8")))
        else:
            digest.update(b"\x02" + _length_prefixed(bytes(value["BinaryValue"])))
    return digest.hexdigest()


# Known answers: {"a": String "b"} worked out by hand from the algorithm (its bytes are
# 00000001 61 00000006 "String" 01 00000001 62), and published vectors of other SQS
# implementations' tests (ydb's AttributesMD5Test, the sqslite and localstack md5 tests).
_MD5_VECTORS = [
    ({"a": {"DataType": "String", "StringValue": "b"}}, "bef8bf215374a0a228d67533b1a488be"),
    (
        {
            "test_attribute_name_2": {
                "DataType": "String",
                "StringValue": "test_attribute_value_2",
            },
            "test_attribute_name_1": {
                "DataType": "String",
                "StringValue": "test_attribute_value_1",
            },
        },
        "d53f3b558fe951154770f25cb63dbba9",
    ),
    (
        {"test_attribute_name": {"DataType": "Binary", "BinaryValue": b"test_attribute_value"}},
        "23f6bd27ea87aab7dfeadcc9aebee495",
    ),
    (
        {
            "ordinal": {"DataType": "Number", "StringValue": "1"},
            "category": {"DataType": "String", "StringValue": "test"},
        },
        "d21ae90c49061e927f57df5f5d72be1f",
    ),
    (
        {"timestamp": {"DataType": "Number", "StringValue": "1493147359900"}},
        "235c5c510d26fb653d073faed50ae77c",
    ),
]


def check_md5_vectors():
    raw = b"\x00\x00\x00\x01a\x00\x00\x00\x06String\x01\x00\x00\x00\x01b"
    check_eq(hashlib.md5(raw).hexdigest(), _MD5_VECTORS[0][1], "MD5 of the hand-encoded a=b")
    for attributes, expected in _MD5_VECTORS:
        check_eq(md5_of_attributes(attributes), expected, f"md5_of_attributes({attributes})")
    check_eq(md5_of_body("é"), "66ddcd97cfdeabb2f6fb8a999b4bc76f", "md5_of_body('é'), over UTF-8")


def check_send_md5s(answer, body, attributes, what):
    """The MD5s of a SendMessage answer or of a SendMessageBatch Successful entry."""
    check_eq(answer.get("MD5OfMessageBody"), md5_of_body(body), f"{what}: MD5OfMessageBody")
    check_eq(
        answer.get("MD5OfMessageAttributes"),
        md5_of_attributes(attributes),
        f"{what}: MD5OfMessageAttributes",
    )
    check(answer.get("MessageId"), f"{what}: a MessageId", "a MessageId", answer)


def check_received(message, body, attributes, what):
    """A received message: its body and typed attributes as sent (none: no or an empty
    MessageAttributes), and both MD5s (none: no MD5OfMessageAttributes)."""
    check_eq(message.get("Body"), body, f"{what}: Body")
    check_eq(message.get("MD5OfBody"), md5_of_body(body), f"{what}: MD5OfBody")
    received = message.get("MessageAttributes") or None
    check_eq(received, attributes or None, f"{what}: MessageAttributes")
    check_eq(
        message.get("MD5OfMessageAttributes"),
        md5_of_attributes(attributes),
        f"{what}: MD5OfMessageAttributes",
    )
    check(message.get("ReceiptHandle"), f"{what}: a ReceiptHandle", "a ReceiptHandle", message)


# ---------------------------------------------------------------- errors


def _dump(response):
    return json.dumps(response, indent=2, default=str)


def expect_error(what, call, codes, status=None, exception=None):
    """Calls `call()`, which must fail with an error code in `codes` (the code botocore
    exposes as Error.Code: the query code of the x-amzn-query-error header when the server
    sends one, else the __type); with HTTP `status`; raised as the modelled `exception` class
    when given (botocore picks it by Error.QueryErrorCode). Returns the error response."""
    codes = {codes} if isinstance(codes, str) else set(codes)
    try:
        answer = call()
    except ClientError as e:
        response = e.response
        error = response.get("Error", {})
        problems = []
        if error.get("Code") not in codes:
            problems.append(f"Error.Code {error.get('Code')!r} is not one of {sorted(codes)}")
        got_status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status is not None and got_status != status:
            problems.append(f"HTTP status {got_status}, expected {status}")
        if not str(error.get("Message", "")).strip():
            problems.append("an empty error message")
        if "QueryErrorCode" in error and error.get("Type") != "Sender":
            problems.append(f"Error.Type {error.get('Type')!r}, expected 'Sender'")
        if exception is not None and not isinstance(e, exception):
            problems.append(f"raised as {type(e).__name__}, expected {exception.__name__}")
        if problems:
            raise Failure(
                f"{what}: " + "; ".join(problems) + f"\nthe whole response:\n{_dump(response)}"
            )
        return response
    raise Failure(
        f"{what}: expected an error in {sorted(codes)}, the call succeeded:\n{_dump(answer)}"
    )


def check_batch_failed(answer, entry_id, codes, what):
    """A batch answer whose Failed list holds exactly `entry_id`, as a sender fault with a
    code in `codes`."""
    codes = {codes} if isinstance(codes, str) else set(codes)
    failed = answer.get("Failed", [])
    check_eq([f.get("Id") for f in failed], [entry_id], f"{what}: the Failed entries' Ids")
    entry = failed[0]
    if entry.get("Code") not in codes or entry.get("SenderFault") is not True:
        fail(f"{what}: the failed entry", f"Code in {sorted(codes)}, SenderFault True", entry)


# ---------------------------------------------------------------- receiving


def receive_until(sqs, url, count, what, wait=5, attempts=6, **kwargs):
    """Receives until `count` messages have come, asking each time for at most the ones
    missing (at most `attempts` long polls of `wait` seconds); fails if fewer arrive."""
    got = []
    for _ in range(attempts):
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, count - len(got)),
            WaitTimeSeconds=wait,
            **kwargs,
        )
        got.extend(answer.get("Messages", []))
        if len(got) >= count:
            break
    check_eq(len(got), count, f"{what}: the number of messages received")
    return got


def receive_one(sqs, url, what, **kwargs):
    return receive_until(sqs, url, 1, what, **kwargs)[0]


def check_nothing_to_receive(sqs, url, what, wait=0):
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
    check_eq(answer.get("Messages", []), [], f"{what}: messages received")


def counts(sqs, url):
    """(ApproximateNumberOfMessages, ...NotVisible, ...Delayed) as strings."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return tuple(attributes.get(n) for n in names)


def check_counts(sqs, url, expected, what):
    """`expected`: (visible, not visible, delayed) as ints."""
    check_eq(
        counts(sqs, url), tuple(str(n) for n in expected), f"{what}: (visible, in flight, delayed)"
    )


def now_ms():
    return int(time.time() * 1000)


def check_timestamp_ms(value, low, high, what):
    """A decimal string of Unix ms within [low - 2 s, high + 2 s]."""
    ok = isinstance(value, str) and value.isdigit() and low - 2000 <= int(value) <= high + 2000
    check(ok, what, f"a decimal string of Unix ms in [{low}, {high}]", value)
    return int(value)


# ---------------------------------------------------------------- running


def run(main):
    name = os.path.basename(sys.argv[0])
    try:
        check_md5_vectors()
        main()
    except Failure as e:
        print(f"FAIL {name}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except ClientError as e:
        trace = traceback.format_exc()
        print(
            f"ERROR {name}: an unexpected error answer\n{trace}{_dump(e.response)}", file=sys.stderr
        )
        sys.exit(2)
    except Exception:
        print(f"ERROR {name}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"ok {name}", flush=True)
