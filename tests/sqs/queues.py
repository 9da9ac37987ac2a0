"""Queues: CreateQueue with attributes (idempotent with the same ones), GetQueueUrl,
ListQueues by prefix, Get/SetQueueAttributes, PurgeQueue, DeleteQueue."""

import time

from common import *

ATTRIBUTES = {"VisibilityTimeout": "45", "DelaySeconds": "0", "MessageRetentionPeriod": "86400"}


def main():
    sqs = client()
    started_s = int(time.time())

    step("CreateQueue with attributes answers the queue's URL")
    url = sqs.create_queue(QueueName="queues-orders", Attributes=ATTRIBUTES)["QueueUrl"]
    check_eq(url, queue_url("queues-orders"), "CreateQueue QueueUrl")
    again = sqs.create_queue(QueueName="queues-orders", Attributes=ATTRIBUTES)["QueueUrl"]
    check_eq(again, url, "CreateQueue again with the same attributes")
    check_eq(sqs.get_queue_url(QueueName="queues-orders")["QueueUrl"], url, "GetQueueUrl")

    step("ListQueues with and without a prefix")
    other = sqs.create_queue(QueueName="queues-order-returns")["QueueUrl"]
    unrelated = sqs.create_queue(QueueName="queues-unrelated")["QueueUrl"]
    listed = sqs.list_queues(QueueNamePrefix="queues-order").get("QueueUrls", [])
    check_eq(sorted(listed), sorted([url, other]), "ListQueues QueueNamePrefix=queues-order")
    everything = set(sqs.list_queues().get("QueueUrls", []))
    check(
        {url, other, unrelated} <= everything,
        "ListQueues without a prefix",
        "all three",
        everything,
    )
    listed = sqs.list_queues(QueueNamePrefix="queues-nothing").get("QueueUrls", [])
    check_eq(listed, [], "ListQueues with a prefix nothing has")

    step("GetQueueAttributes All")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for name, value in ATTRIBUTES.items():
        check_eq(attributes.get(name), value, f"GetQueueAttributes All: {name}")
    check_eq(attributes.get("QueueArn"), queue_arn("queues-orders"), "QueueArn")
    for name in [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]:
        check_eq(attributes.get(name), "0", f"a new queue's {name}")
    created = attributes.get("CreatedTimestamp", "")
    check(
        created.isdigit() and started_s - 5 <= int(created) <= time.time() + 5,
        "CreatedTimestamp",
        f"Unix seconds near {started_s}",
        created,
    )
    check(
        "RedrivePolicy" not in attributes,
        "no RedrivePolicy without one",
        None,
        attributes.get("RedrivePolicy"),
    )

    step("GetQueueAttributes by name answers just those")
    some = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "QueueArn"])[
        "Attributes"
    ]
    check_eq(
        some,
        {"VisibilityTimeout": "45", "QueueArn": queue_arn("queues-orders")},
        "two attributes by name",
    )

    step("SetQueueAttributes")
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"VisibilityTimeout": "60", "DelaySeconds": "120"}
    )
    some = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod"]
    )
    check_eq(
        some["Attributes"],
        {"VisibilityTimeout": "60", "DelaySeconds": "120", "MessageRetentionPeriod": "86400"},
        "the attributes after SetQueueAttributes",
    )

    step("the queue's DelaySeconds delays, a message's own DelaySeconds=0 overrides it")
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=f"delayed {i}")
    sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
    check_counts(sqs, url, (1, 0, 2), "after two delayed sends and one not delayed")
    got = receive_one(sqs, url, "the message not delayed", VisibilityTimeout=600)
    check_eq(got["Body"], "now", "the one message receivable")
    check_counts(sqs, url, (0, 1, 2), "with one in flight")

    step("PurgeQueue removes the delayed and the in-flight messages")
    sqs.purge_queue(QueueUrl=url)
    check_counts(sqs, url, (0, 0, 0), "after PurgeQueue")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    check_nothing_to_receive(sqs, url, "after PurgeQueue", wait=1)

    step("DeleteQueue: the queue is gone")
    sqs.delete_queue(QueueUrl=url)
    missing = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
    not_there = sqs.exceptions.QueueDoesNotExist
    expect_error(
        "GetQueueUrl of a deleted queue",
        lambda: sqs.get_queue_url(QueueName="queues-orders"),
        missing,
        400,
        not_there,
    )
    expect_error(
        "GetQueueAttributes of a deleted queue",
        lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        missing,
        400,
        not_there,
    )
    listed = sqs.list_queues(QueueNamePrefix="queues-order").get("QueueUrls", [])
    check_eq(listed, [other], "ListQueues after DeleteQueue")


if __name__ == "__main__":
    run(main)
