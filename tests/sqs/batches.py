"""Batches: SendMessageBatch and DeleteMessageBatch with one bad entry fail just that entry;
ten entries go in one batch; duplicate Ids, an empty batch and eleven entries are refused
with the SQS batch error codes."""

from common import *

ATTRIBUTES = {
    "kind": {"DataType": "String", "StringValue": "batch"},
    "n": {"DataType": "Number", "StringValue": "1"},
}


def main():
    sqs = client()
    url = sqs.create_queue(QueueName="batches-jobs")["QueueUrl"]

    step("SendMessageBatch with one entry's DelaySeconds over 900")
    entries = [
        {"Id": "with-attributes", "MessageBody": "first", "MessageAttributes": ATTRIBUTES},
        {"Id": "plain", "MessageBody": "second ü"},
        {"Id": "too_late", "MessageBody": "third", "DelaySeconds": 901},
    ]
    answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    check_batch_failed(answer, "too_late", "InvalidParameterValue", "SendMessageBatch")
    successful = {s["Id"]: s for s in answer.get("Successful", [])}
    check_eq(sorted(successful), ["plain", "with-attributes"], "SendMessageBatch Successful Ids")
    for entry in entries[:2]:
        check_send_md5s(
            successful[entry["Id"]],
            entry["MessageBody"],
            entry.get("MessageAttributes"),
            entry["Id"],
        )
    check_counts(sqs, url, (2, 0, 0), "after the partly failed batch")

    step("both sent messages arrive as sent")
    received = receive_until(
        sqs, url, 2, "the batch's messages", MessageAttributeNames=["All"], VisibilityTimeout=600
    )
    by_id = {m["MessageId"]: m for m in received}
    for entry in entries[:2]:
        message = by_id.get(successful[entry["Id"]]["MessageId"])
        check(message, f"{entry['Id']} received", "its MessageId", sorted(by_id))
        check_received(message, entry["MessageBody"], entry.get("MessageAttributes"), entry["Id"])

    step("DeleteMessageBatch with one garbage receipt handle")
    handles = [m["ReceiptHandle"] for m in received]
    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": handles[0]},
            {"Id": "garbage", "ReceiptHandle": "not-a-receipt-handle"},
            {"Id": "b", "ReceiptHandle": handles[1]},
        ],
    )
    check_batch_failed(answer, "garbage", "ReceiptHandleIsInvalid", "DeleteMessageBatch")
    check_eq(
        sorted(s["Id"] for s in answer.get("Successful", [])),
        ["a", "b"],
        "DeleteMessageBatch Successful Ids",
    )
    check_counts(sqs, url, (0, 0, 0), "after DeleteMessageBatch")

    step("ten entries in one batch each way")
    ten = [{"Id": f"m{i}", "MessageBody": f"message {i}"} for i in range(10)]
    answer = sqs.send_message_batch(QueueUrl=url, Entries=ten)
    check_eq(answer.get("Failed", []), [], "SendMessageBatch of ten: Failed")
    check_eq(len(answer.get("Successful", [])), 10, "SendMessageBatch of ten: Successful")
    for s in answer["Successful"]:
        check_eq(
            s.get("MD5OfMessageBody"),
            md5_of_body(f"message {s['Id'][1:]}"),
            f"{s['Id']}: MD5OfMessageBody",
        )
    received = receive_until(sqs, url, 10, "the ten", VisibilityTimeout=600)
    check_eq(
        sorted(m["Body"] for m in received), sorted(e["MessageBody"] for e in ten), "the ten bodies"
    )
    deletes = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    answer = sqs.delete_message_batch(QueueUrl=url, Entries=deletes)
    check_eq(
        (len(answer.get("Successful", [])), answer.get("Failed", [])),
        (10, []),
        "DeleteMessageBatch of ten",
    )
    check_counts(sqs, url, (0, 0, 0), "after deleting the ten")

    step("the batch error codes")
    batches = {
        "SendMessageBatch": (sqs.send_message_batch, lambda i: {"Id": i, "MessageBody": "x"}),
        "DeleteMessageBatch": (
            sqs.delete_message_batch,
            lambda i: {"Id": i, "ReceiptHandle": f"garbage-{i}"},
        ),
        "ChangeMessageVisibilityBatch": (
            sqs.change_message_visibility_batch,
            lambda i: {"Id": i, "ReceiptHandle": f"garbage-{i}", "VisibilityTimeout": 0},
        ),
    }
    for operation, (call, entry) in batches.items():
        expect_error(
            f"{operation} with two entries of the same Id",
            lambda: call(QueueUrl=url, Entries=[entry("same"), entry("same")]),
            {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct"},
            400,
            sqs.exceptions.BatchEntryIdsNotDistinct,
        )
        expect_error(
            f"{operation} without entries",
            lambda: call(QueueUrl=url, Entries=[]),
            {"AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest"},
            400,
            sqs.exceptions.EmptyBatchRequest,
        )
        expect_error(
            f"{operation} with eleven entries",
            lambda: call(QueueUrl=url, Entries=[entry(f"e{i}") for i in range(11)]),
            {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest"},
            400,
            sqs.exceptions.TooManyEntriesInBatchRequest,
        )
    check_counts(sqs, url, (0, 0, 0), "after the refused batches")


if __name__ == "__main__":
    run(main)
