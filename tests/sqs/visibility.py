"""Visibility: a message received with VisibilityTimeout=1 and not deleted comes back with
ApproximateReceiveCount 2; ChangeMessageVisibility to 0 makes it receivable at once;
ChangeMessageVisibilityBatch changes several, failing only a bad entry."""

from common import *


def main():
    sqs = client()
    url = sqs.create_queue(QueueName="visibility-tasks", Attributes={"VisibilityTimeout": "600"})[
        "QueueUrl"
    ]
    count = ["ApproximateReceiveCount"]

    step("received with VisibilityTimeout=1, it comes back with ApproximateReceiveCount 2")
    sent = sqs.send_message(QueueUrl=url, MessageBody="retry me")
    first = receive_one(sqs, url, "the first receive", VisibilityTimeout=1, AttributeNames=count)
    check_eq(
        (first["MessageId"], first["Attributes"].get("ApproximateReceiveCount")),
        (sent["MessageId"], "1"),
        "first receive",
    )
    # The queue's own VisibilityTimeout (600 s) holds from the second receive on.
    second = receive_one(
        sqs, url, "the message after its 1 s visibility timeout", AttributeNames=count
    )
    check_eq(
        (second["MessageId"], second["Attributes"].get("ApproximateReceiveCount")),
        (sent["MessageId"], "2"),
        "second receive",
    )
    check_nothing_to_receive(sqs, url, "while it is in flight for 600 s")
    check_counts(sqs, url, (0, 1, 0), "with the message in flight")

    step("ChangeMessageVisibility to 0 makes it receivable at once")
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    check_counts(sqs, url, (1, 0, 0), "after ChangeMessageVisibility 0")
    third = receive_one(
        sqs,
        url,
        "the message after ChangeMessageVisibility 0",
        wait=1,
        attempts=1,
        AttributeNames=count,
    )
    check_eq(
        (third["MessageId"], third["Attributes"].get("ApproximateReceiveCount")),
        (sent["MessageId"], "3"),
        "third receive",
    )

    step("ChangeMessageVisibility extends the timeout of the latest receipt")
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=third["ReceiptHandle"], VisibilityTimeout=3600
    )
    check_nothing_to_receive(sqs, url, "after extending its visibility timeout")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    check_counts(sqs, url, (0, 0, 0), "after deleting it")

    step("ChangeMessageVisibilityBatch: two to 0, one garbage receipt handle")
    bodies = ["one", "two", "three"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = {m["Body"]: m for m in receive_until(sqs, url, 3, "the three")}
    check_eq(sorted(received), sorted(bodies), "the three bodies")
    answer = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "one",
                "ReceiptHandle": received["one"]["ReceiptHandle"],
                "VisibilityTimeout": 0,
            },
            {"Id": "garbage", "ReceiptHandle": "not-a-receipt-handle", "VisibilityTimeout": 0},
            {
                "Id": "two",
                "ReceiptHandle": received["two"]["ReceiptHandle"],
                "VisibilityTimeout": 0,
            },
        ],
    )
    check_batch_failed(answer, "garbage", "ReceiptHandleIsInvalid", "ChangeMessageVisibilityBatch")
    check_eq(
        sorted(s["Id"] for s in answer.get("Successful", [])),
        ["one", "two"],
        "ChangeMessageVisibilityBatch Successful Ids",
    )
    check_counts(sqs, url, (2, 1, 0), "after the batch")
    again = receive_until(sqs, url, 2, "the two made visible", wait=1, attempts=2)
    check_eq(sorted(m["Body"] for m in again), ["one", "two"], "the messages back at once")
    check_nothing_to_receive(sqs, url, "with all three in flight")
    for m in again + [received["three"]]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check_counts(sqs, url, (0, 0, 0), "at the end")


if __name__ == "__main__":
    run(main)
