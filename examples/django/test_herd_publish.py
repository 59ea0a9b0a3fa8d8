"""Tests of herd_publish against a running herd (HERD_HUB): run by e2e."""

import os
import unittest

from herd_publish import Publisher, PublishError

HUB = os.environ["HERD_HUB"]


class PublisherTest(unittest.TestCase):
    def test_publish(self):
        hub = Publisher(HUB)
        first = hub.publish("py/a", "one")
        second = hub.publish(["py/a", "py/b"], '{"n": 2}', event="note", retry_ms=1500)
        self.assertTrue(first and second and first != second)

    def test_same_key_same_id(self):
        hub = Publisher(HUB)
        a = hub.publish("py/key", "x", idempotency_key="job-1")
        b = hub.publish("py/key", "x", idempotency_key="job-1")
        self.assertEqual(a, b)

    def test_refusal_is_not_retried(self):
        hub = Publisher(HUB, attempts=5)
        with self.assertRaises(PublishError) as caught:
            hub.publish("py/*", "x")
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("wildcards are for subscribing", str(caught.exception))

    def test_closed_topic(self):
        hub = Publisher(HUB)
        hub.publish("py/closed", close=True)
        with self.assertRaises(PublishError) as caught:
            hub.publish("py/closed", "late")
        self.assertEqual(caught.exception.status, 409)

    def test_unreachable(self):
        hub = Publisher("http://127.0.0.1:9", attempts=2, max_delay=0.05)
        with self.assertRaises(PublishError) as caught:
            hub.publish("py/a", "x")
        self.assertIsNone(caught.exception.status)
        self.assertIn("unreachable", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
