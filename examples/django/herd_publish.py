"""Publish to a herd hub from any Python backend, with the standard library only.

    from herd_publish import Publisher
    hub = Publisher("http://localhost:8080", key=os.environ.get("HERD_PUBLISH_KEY"))
    event_id = hub.publish("orders/42", "shipped")

A publish is retried when the hub cannot be reached or answers 429 or 5xx,
always with the same idempotency key, so a retry never publishes twice: the
hub answers a repeat with the first event's id. Any other refusal (a bad
topic, a closed topic, a missing key) raises PublishError at once with the
hub's reason. A Publisher holds no connection and is safe to share between
threads.
"""

import json
import random
import time
import urllib.error
import urllib.request
import uuid

__all__ = ["Publisher", "PublishError"]


class PublishError(Exception):
    """The hub refused the publish, or could not be reached in time."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status  # the HTTP status, None if the hub was unreachable


class Publisher:
    def __init__(self, hub, key=None, attempts=5, timeout=10.0, max_delay=5.0):
        self.url = hub.rstrip("/") + "/events"
        self.key = key
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.max_delay = max_delay

    def publish(self, topics, data=None, event=None, close=False, private=False,
                retry_ms=None, idempotency_key=None):
        """Publish data to topics (a topic or a list) and return the event's id.

        data may be omitted only with close=True (the topics end without a
        last event). idempotency_key defaults to a new random key, used for
        every attempt of this call.
        """
        if isinstance(topics, str):
            topics = [topics]
        body = {"topic": list(topics)}
        if data is not None:
            body["data"] = data
        if event:
            body["event"] = event
        if close:
            body["close"] = True
        if private:
            body["private"] = True
        if retry_ms is not None:
            body["retry"] = retry_ms
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        payload = json.dumps(body).encode()

        last = None
        for attempt in range(self.attempts):
            delay = min(self.max_delay, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0)
            request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.load(response)["id"]
            except urllib.error.HTTPError as e:
                reason = _reason(e)
                if e.code != 429 and e.code < 500:
                    raise PublishError(f"herd answered {e.code}: {reason}", e.code) from None
                last = PublishError(f"herd answered {e.code}: {reason}", e.code)
                retry_after = e.headers.get("Retry-After")
                if retry_after and retry_after.isdigit():
                    delay = min(self.max_delay, float(retry_after))
            except (urllib.error.URLError, OSError) as e:
                last = PublishError(f"herd at {self.url} unreachable: {getattr(e, 'reason', e)}")
            if attempt + 1 < self.attempts:
                time.sleep(delay)
        raise last


def _reason(error):
    try:
        return json.load(error)["error"]
    except Exception:
        return error.reason
