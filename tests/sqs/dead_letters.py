"""Dead letters: a queue whose RedrivePolicy names a DLQ by its QueueArn, maxReceiveCount 2,
moves a message received twice and not deleted to the DLQ, as sent; ListDeadLetterSourceQueues
on the DLQ lists the source queues."""

import json

from common import *

ATTRIBUTES = {"tenant": {"DataType": "String", "StringValue": "acme"}}


def check_redrive_policy(sqs, url, dlq_arn, what):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])[
        "Attributes"
    ]
    policy = json.loads(attributes.get("RedrivePolicy", "null") or "null")
    ok = (
        isinstance(policy, dict)
        and policy.get("deadLetterTargetArn") == dlq_arn
        and str(policy.get("maxReceiveCount")) == "2"
    )
    check(
        ok,
        f"{what}: RedrivePolicy",
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2},
        attributes,
    )


def main():
    sqs = client()
    dlq = sqs.create_queue(QueueName="dead-letters-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    check_eq(dlq_arn, queue_arn("dead-letters-dlq"), "the DLQ's QueueArn")

    step("source queues with a RedrivePolicy (maxReceiveCount as a string and as a number)")
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}
    source = sqs.create_queue(
        QueueName="dead-letters-jobs", Attributes={"RedrivePolicy": json.dumps(policy)}
    )["QueueUrl"]
    check_redrive_policy(sqs, source, dlq_arn, 'created with maxReceiveCount "2"')
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    other = sqs.create_queue(
        QueueName="dead-letters-other", Attributes={"RedrivePolicy": json.dumps(policy)}
    )["QueueUrl"]
    check_redrive_policy(sqs, other, dlq_arn, "created with maxReceiveCount 2")
    later = sqs.create_queue(QueueName="dead-letters-later")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=later, Attributes={"RedrivePolicy": json.dumps(policy)})
    check_redrive_policy(sqs, later, dlq_arn, "set by SetQueueAttributes")

    step("two receives without a delete")
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison", MessageAttributes=ATTRIBUTES)
    for attempt in ["1", "2"]:
        got = receive_one(
            sqs,
            source,
            f"receive {attempt}",
            VisibilityTimeout=1,
            AttributeNames=["ApproximateReceiveCount"],
        )
        check_eq(
            (got["MessageId"], got["Attributes"].get("ApproximateReceiveCount")),
            (sent["MessageId"], attempt),
            f"receive {attempt}",
        )

    step("the message lands in the DLQ, never a third time in the source queue")
    dead = []
    for _ in range(10):
        again = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        check_eq(
            again, [], "the source queue after two receives (delivered beyond maxReceiveCount)"
        )
        dead = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if dead:
            break
    check_eq(
        [m["MessageId"] for m in dead],
        [sent["MessageId"]],
        "the DLQ's messages (the same MessageId)",
    )
    check_received(dead[0], "poison", ATTRIBUTES, "the dead letter")
    check_counts(sqs, source, (0, 0, 0), "the source queue")
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"])
    check_counts(sqs, dlq, (0, 0, 0), "the DLQ after deleting the dead letter")

    step("ListDeadLetterSourceQueues")
    listed = sqs.list_dead_letter_source_queues(QueueUrl=dlq).get("queueUrls", [])
    check_eq(
        sorted(listed), sorted([source, other, later]), "ListDeadLetterSourceQueues of the DLQ"
    )
    listed = sqs.list_dead_letter_source_queues(QueueUrl=source).get("queueUrls", [])
    check_eq(listed, [], "ListDeadLetterSourceQueues of a queue that is no DLQ")


if __name__ == "__main__":
    run(main)
