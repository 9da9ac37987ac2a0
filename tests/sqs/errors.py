"""Errors and limits: the SQS error codes for a missing queue, out-of-range parameters and
unparseable receipt handles; a 1 MiB body accepted and one byte more refused; a read-only
key's AccessDenied, an unknown key's InvalidClientTokenId, a wrong secret's
SignatureDoesNotMatch. Extra environment: SQS_READONLY_KEY_ID, SQS_READONLY_SECRET (a key
of a token with the scope read:queue:*)."""

from common import *

MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
INVALID = {"InvalidParameterValue"}
BAD_RECEIPT = {"ReceiptHandleIsInvalid"}
MIB = 1024 * 1024


def main():
    sqs = client()
    url = sqs.create_queue(QueueName="errors-inbox")["QueueUrl"]

    step("a missing queue")
    missing_url = queue_url("errors-never-created")
    not_there = sqs.exceptions.QueueDoesNotExist
    expect_error(
        "GetQueueUrl",
        lambda: sqs.get_queue_url(QueueName="errors-never-created"),
        MISSING,
        400,
        not_there,
    )
    expect_error(
        "SendMessage",
        lambda: sqs.send_message(QueueUrl=missing_url, MessageBody="x"),
        MISSING,
        400,
        not_there,
    )
    expect_error(
        "ReceiveMessage", lambda: sqs.receive_message(QueueUrl=missing_url), MISSING, 400, not_there
    )
    expect_error(
        "DeleteQueue", lambda: sqs.delete_queue(QueueUrl=missing_url), MISSING, 400, not_there
    )

    step("parameters out of range")
    for n in [0, 11]:
        expect_error(
            f"MaxNumberOfMessages {n}",
            lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n),
            INVALID,
            400,
        )
    expect_error(
        "WaitTimeSeconds 21",
        lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21),
        INVALID,
        400,
    )
    expect_error(
        "ReceiveMessage VisibilityTimeout 43201",
        lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=43201),
        INVALID,
        400,
    )
    expect_error(
        "SendMessage DelaySeconds 901",
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901),
        INVALID,
        400,
    )
    for name, value in [("DelaySeconds", "901"), ("VisibilityTimeout", "43201")]:
        expect_error(
            f"CreateQueue {name} {value}",
            lambda: sqs.create_queue(QueueName="errors-bad", Attributes={name: value}),
            {"InvalidAttributeValue", "InvalidParameterValue"},
            400,
        )
    expect_error(
        "GetQueueUrl of a queue whose creation was refused",
        lambda: sqs.get_queue_url(QueueName="errors-bad"),
        MISSING,
        400,
        not_there,
    )
    check_counts(sqs, url, (0, 0, 0), "after the refused sends")

    step("the largest values are accepted")
    delayed = sqs.create_queue(QueueName="errors-delayed")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=delayed, MessageBody="late", DelaySeconds=900)
    check_send_md5s(sent, "late", None, "SendMessage DelaySeconds 900")
    check_counts(sqs, delayed, (0, 0, 1), "with the delayed message")
    limits = {"DelaySeconds": "900", "VisibilityTimeout": "43200"}
    other = sqs.create_queue(QueueName="errors-limits", Attributes=limits)["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=list(limits))["Attributes"]
    check_eq(got, limits, "CreateQueue with the largest DelaySeconds and VisibilityTimeout")
    sqs.send_message(QueueUrl=url, MessageBody="held")
    held = receive_one(sqs, url, "the message to hold", VisibilityTimeout=43200)
    expect_error(
        "ChangeMessageVisibility 43201",
        lambda: sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=43201
        ),
        INVALID,
        400,
    )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"])

    step("unparseable receipt handles")
    invalid = sqs.exceptions.ReceiptHandleIsInvalid
    for handle in ["garbage", "AQEB" + "x" * 200]:
        expect_error(
            f"DeleteMessage {handle[:8]}...",
            lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle),
            BAD_RECEIPT,
            400,
            invalid,
        )
    expect_error(
        "ChangeMessageVisibility garbage",
        lambda: sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=0
        ),
        BAD_RECEIPT,
        400,
        invalid,
    )

    step("a 1 MiB body (524288 × é) is accepted and received whole")
    body = "é" * (MIB // 2)
    check_eq(len(body.encode("utf-8")), MIB, "the body's UTF-8 length")
    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    check_send_md5s(sent, body, None, "SendMessage of 1 MiB")
    got = receive_one(sqs, url, "the 1 MiB message")
    check(
        got.get("Body") == body,
        "the 1 MiB body received",
        f"{MIB} bytes of é",
        f"{len(got.get('Body', ''))} characters",
    )
    check_eq(got.get("MD5OfBody"), md5_of_body(body), "MD5OfBody of the 1 MiB body")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])

    step("a body one byte over 1 MiB is refused")
    for what, body in [
        ("ASCII", "a" * (MIB + 1)),
        ("é and one ASCII byte", "é" * (MIB // 2) + "a"),
    ]:
        expect_error(
            f"SendMessage of 1 MiB + 1 byte ({what})",
            lambda: sqs.send_message(QueueUrl=url, MessageBody=body),
            INVALID,
            400,
        )
    check_counts(sqs, url, (0, 0, 0), "at the end")

    step("a read-only key may look but not send")
    reader = client(env("SQS_READONLY_KEY_ID"), env("SQS_READONLY_SECRET"))
    check_eq(
        reader.get_queue_url(QueueName="errors-inbox")["QueueUrl"],
        url,
        "GetQueueUrl with the read-only key",
    )
    reader.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    check(
        url in reader.list_queues().get("QueueUrls", []),
        "ListQueues with the read-only key",
        url,
        "not listed",
    )
    expect_error(
        "SendMessage with the read-only key",
        lambda: reader.send_message(QueueUrl=url, MessageBody="x"),
        "AccessDenied",
        403,
    )
    check_counts(sqs, url, (0, 0, 0), "after the refused send")

    step("an unknown key and a wrong secret")
    stranger = client("AKIAUNKNOWNKEY000000", "0" * 40)
    expect_error(
        "ListQueues with an unknown key", stranger.list_queues, "InvalidClientTokenId", 403
    )
    forger = client(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY") + "x")
    expect_error("ListQueues with a wrong secret", forger.list_queues, "SignatureDoesNotMatch", 403)
    expect_error(
        "SendMessage with a wrong secret",
        lambda: forger.send_message(QueueUrl=url, MessageBody="x"),
        "SignatureDoesNotMatch",
        403,
    )
    check_counts(sqs, url, (0, 0, 0), "after the forged send")


if __name__ == "__main__":
    run(main)
