"""Long polling: a ReceiveMessage with WaitTimeSeconds waits on an empty queue, and one
already waiting returns a message sent after it started, before its wait is over."""

import threading
import time

from common import *

WAIT = 10


def main():
    sqs = client()
    url = sqs.create_queue(QueueName="long-poll-events")["QueueUrl"]

    step("a long poll of an empty queue waits, then answers no messages")
    started = time.monotonic()
    check_nothing_to_receive(sqs, url, "an empty queue", wait=2)
    waited = time.monotonic() - started
    check(waited >= 1.5, "the time an empty 2 s long poll took", ">= 1.5 s", f"{waited:.2f} s")

    step(f"a receive waiting up to {WAIT} s gets a message sent while it waits")
    receiver = client()
    ready = threading.Event()
    outcome = {}

    def receive():
        try:
            ready.set()
            began = time.monotonic()
            outcome["answer"] = receiver.receive_message(
                QueueUrl=url,
                WaitTimeSeconds=WAIT,
                MaxNumberOfMessages=1,
                MessageAttributeNames=["All"],
            )
            outcome["elapsed"] = time.monotonic() - began
        except Exception as e:
            outcome["error"] = e

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    check(ready.wait(5), "the receiving thread starts", "started within 5 s", "not started")
    # Gives the request time to reach the server, so that it is waiting when the message comes.
    time.sleep(1)
    sent = sqs.send_message(QueueUrl=url, MessageBody="woken up")
    thread.join(WAIT + 20)
    check(not thread.is_alive(), "the long poll returns", f"within {WAIT + 20} s", "still waiting")
    if "error" in outcome:
        raise outcome["error"]
    messages = outcome["answer"].get("Messages", [])
    check_eq([m["MessageId"] for m in messages], [sent["MessageId"]], "the long poll's messages")
    check_received(messages[0], "woken up", None, "the message")
    elapsed = outcome["elapsed"]
    check(
        elapsed < WAIT - 1,
        "the long poll's duration",
        f"< {WAIT - 1} s (it ends when the message comes)",
        f"{elapsed:.2f} s",
    )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    check_counts(sqs, url, (0, 0, 0), "at the end")


if __name__ == "__main__":
    run(main)
