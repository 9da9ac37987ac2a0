"""Messages: SendMessage with String, Number, Binary and custom-typed attributes answers the
right MD5s; ReceiveMessage with All attributes returns the body, the typed attributes as sent
and plausible system attributes; DeleteMessage leaves the queue empty."""

from common import *

BODY = 'order #1 – crème brûlée, 2×, {"json": true} <xml/> & emoji 🚚'
ATTRIBUTES = {
    "customer": {"DataType": "String", "StringValue": "acme ✓"},
    "amount": {"DataType": "Number", "StringValue": "-12.50"},
    "count": {"DataType": "Number.int", "StringValue": "7"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "thumbnail": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG\r\n\x1a\n\x00"},
    "region": {"DataType": "String.label", "StringValue": "eu-west"},
}


def main():
    sqs = client()
    url = sqs.create_queue(QueueName="messages-orders")["QueueUrl"]

    step("SendMessage with typed attributes answers both MD5s")
    sent_ms = now_ms()
    sent = sqs.send_message(QueueUrl=url, MessageBody=BODY, MessageAttributes=ATTRIBUTES)
    check_send_md5s(sent, BODY, ATTRIBUTES, "SendMessage")
    plain = sqs.send_message(QueueUrl=url, MessageBody="no attributes")
    check_send_md5s(plain, "no attributes", None, "SendMessage without attributes")
    check(
        plain["MessageId"] != sent["MessageId"],
        "distinct MessageIds",
        "two ids",
        plain["MessageId"],
    )
    check_counts(sqs, url, (2, 0, 0), "after two sends")

    step("ReceiveMessage with All attributes")
    received = receive_until(
        sqs,
        url,
        2,
        "both messages",
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    received_ms = now_ms()
    by_id = {m["MessageId"]: m for m in received}
    check_eq(set(by_id), {sent["MessageId"], plain["MessageId"]}, "the MessageIds received")
    message = by_id[sent["MessageId"]]
    check_received(message, BODY, ATTRIBUTES, "the message with attributes")
    check_received(
        by_id[plain["MessageId"]], "no attributes", None, "the message without attributes"
    )
    system = message.get("Attributes", {})
    check_eq(system.get("ApproximateReceiveCount"), "1", "ApproximateReceiveCount")
    sent_at = check_timestamp_ms(system.get("SentTimestamp"), sent_ms, received_ms, "SentTimestamp")
    first = check_timestamp_ms(
        system.get("ApproximateFirstReceiveTimestamp"),
        sent_ms,
        received_ms,
        "ApproximateFirstReceiveTimestamp",
    )
    check(sent_at <= first, "SentTimestamp <= ApproximateFirstReceiveTimestamp", sent_at, first)
    check_counts(sqs, url, (0, 2, 0), "with both in flight")

    step("DeleteMessage: the queue is empty")
    for m in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check_counts(sqs, url, (0, 0, 0), "after deleting both")
    check_nothing_to_receive(sqs, url, "after deleting both", wait=1)

    step("the legacy AttributeNames parameter")
    sent = sqs.send_message(QueueUrl=url, MessageBody="again", MessageAttributes=ATTRIBUTES)
    message = receive_one(
        sqs, url, "the third message", AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    check_received(message, "again", ATTRIBUTES, "the third message")
    for name in ["ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"]:
        check(
            name in message.get("Attributes", {}),
            f"AttributeNames=All: {name}",
            "present",
            message.get("Attributes"),
        )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    check_counts(sqs, url, (0, 0, 0), "at the end")


if __name__ == "__main__":
    run(main)
