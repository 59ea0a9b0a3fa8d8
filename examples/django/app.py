"""The cowsay page, served by a plain synchronous Django app.

Django serves the page and publishes the ten cowsay quotes to herd over
HTTP; the browser subscribes to herd, not to Django, so no Django worker is
held by a stream, and none of the post's pitfalls can happen: herd sends
whole frames, ends the stream with a close event that htmx obeys, and holds
any number of streams.

    python3 examples/django/app.py --hub http://localhost:8080

(herd must allow this page's origin: herd --cors-origins http://localhost:8000;
run.sh starts both.)
"""

import argparse
import html
import os
import sys
import threading
import time
import uuid
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herd_publish import Publisher  # noqa: E402

QUOTES = [
    "I'm a moo-dern programmer.", "Stay udderly fantastic!",
    "Moo may represent an idea, but only the cow knows.", "I've got the mooves like Jagger.",
    "It's pasture bedtime!", "Don’t follow your dreams; follow my Twitter @theCoolCow.",
    "Holy cow! That’s udderly amazing!", "Remember to always hoof it over to the sunny side!",
    "Sometimes I'm outstanding in my field, sometimes I'm just standing.", "Cowabunga dude, let’s surf the net!",
]

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["localhost", "127.0.0.1", "[::1]"],
    SECRET_KEY="an example's key: set your own",
    MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

from django.http import HttpResponse  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

HUB = os.environ.get("HERD_HUB", "http://localhost:8080")
INTERVAL = 1.0
publisher = None  # set in main

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cowsay, from Django through herd</title>
<script src="{hub}/static/vendor/htmx2/htmx.min.js"></script>
<script src="{hub}/static/vendor/htmx2/sse.js"></script>
<style>body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }}
#quotes div {{ padding: .3rem .6rem; margin: .3rem 0; border-left: 3px solid #2f7d32; }}</style>
</head><body data-state="ready">
<h1>cowsay</h1>
<p>Django publishes ten quotes to herd, one a second; this page follows herd.</p>
<button hx-post="/start" hx-target="#stream" hx-headers='{{"X-CSRFToken": "{csrf}"}}'>Start</button>
<div id="stream"></div>
<script>
  document.body.addEventListener("htmx:sseOpen", () => document.body.dataset.state = "streaming");
  document.body.addEventListener("htmx:sseClose", () => document.body.dataset.state = "closed");
</script>
</body></html>"""

# The stream: everything published to the topic from its start, each quote
# appended; herd's close event ends it, and htmx does not reconnect.
STREAM = """<div id="quotes" hx-ext="sse" sse-connect="{url}" sse-swap="message" sse-close="close" hx-swap="beforeend"></div>"""


@require_GET
def index(request):
    page = PAGE.format(hub=html.escape(HUB), csrf=get_token(request))
    return HttpResponse(page)


@require_POST
def start(request):
    topic = "cowsay/" + uuid.uuid4().hex[:12]
    # A short thread keeps the one-a-second pacing of the post off the
    # request; in production a task queue (Celery, RQ) does this.
    threading.Thread(target=publish_quotes, args=(topic,), daemon=True).start()
    url = f"{HUB}/events?topic={topic}&last_event_id=earliest"
    return HttpResponse(STREAM.format(url=html.escape(url)))


def publish_quotes(topic):
    for i, quote in enumerate(QUOTES):
        time.sleep(INTERVAL)
        # The key makes a retried publish safe: herd answers a repeat with
        # the first id instead of publishing twice.
        publisher.publish(topic, "<div>" + html.escape(quote) + "</div>", idempotency_key=f"{topic}-{i}")
    publisher.publish(topic, close=True, idempotency_key=f"{topic}-close")


urlpatterns = [path("", index), path("start", start)]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def check_cors(hub, origin):
    """Asks herd, as a browser would, whether pages of origin may read its
    answers, and prints the command that fixes it when they may not: a page
    refused by CORS shows nothing, and its browser says so nowhere a
    newcomer looks."""
    import urllib.error
    import urllib.request
    start = f"go run ./cmd/herd --store memory --cors-origins {origin}"
    req = urllib.request.Request(hub + "/healthz", headers={"Origin": origin})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            allowed = resp.headers.get("Access-Control-Allow-Origin")
    except (urllib.error.URLError, OSError) as e:
        print(f"herd does not answer at {hub} ({e}).\nStart it, letting this example's pages in, "
              f"from a clone of herd:\n    {start}", file=sys.stderr, flush=True)
        return False
    if allowed in (origin, "*"):
        return True
    print(f"herd at {hub} does not let pages of {origin} read its streams: they would show nothing, "
          f"and the browser would not say why.\nRestart herd with this origin listed (add it to any "
          f"--cors-origins it has), from a clone of herd:\n    {start}", file=sys.stderr, flush=True)
    return False


def main():
    global HUB, INTERVAL, publisher
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="localhost:8000", help="listen address (default localhost:8000)")
    parser.add_argument("--hub", default=HUB, help="herd's URL (env HERD_HUB, default http://localhost:8080)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between quotes")
    args = parser.parse_args()
    HUB, INTERVAL = args.hub.rstrip("/"), args.interval
    publisher = Publisher(HUB, key=os.environ.get("HERD_PUBLISH_KEY"))
    host, port = args.addr.rsplit(":", 1)

    from django.core.wsgi import get_wsgi_application
    server = make_server(host, int(port), get_wsgi_application(), handler_class=QuietHandler)
    check_cors(HUB, "http://" + ("localhost" + args.addr if args.addr.startswith(":") else args.addr))
    print(f"cowsay (Django) on http://{args.addr}, publishing to {HUB}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
