// Publish to a herd hub from Node.js 18 or newer: fetch is built in, so
// this needs no dependency. Copy it into your project, or run it:
//
//   node examples/node/publish.mjs [--hub URL] [--event TYPE] [--close] TOPIC [DATA]
//
// A publish is retried when the hub cannot be reached or answers 429 or
// 5xx, always with the same idempotency key, so it is never published
// twice; any other refusal throws a PublishError with the hub's reason.

import { randomUUID } from "node:crypto";

export class PublishError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "PublishError";
    this.status = status; // the HTTP status; undefined if the hub was unreachable
  }
}

export async function publish(hub, topics, data, options = {}) {
  const { event, close = false, private: isPrivate = false, retryMs, key = process.env.HERD_PUBLISH_KEY,
    idempotencyKey = randomUUID(), attempts = 5, maxDelayMs = 5000, timeoutMs = 10000 } = options;
  const body = { topic: [].concat(topics) };
  if (data !== undefined) body.data = data;
  if (event) body.event = event;
  if (close) body.close = true;
  if (isPrivate) body.private = true;
  if (retryMs !== undefined) body.retry = retryMs;
  const headers = { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey };
  if (key) headers.Authorization = "Bearer " + key;
  const url = hub.replace(/\/$/, "") + "/events";
  let last;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let delay = Math.min(maxDelayMs, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
    try {
      const resp = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
      const answer = await resp.json().catch(() => ({}));
      if (resp.ok) return answer.id;
      last = new PublishError(`herd answered ${resp.status}: ${answer.error ?? resp.statusText}`, resp.status);
      if (resp.status !== 429 && resp.status < 500) throw last;
      const after = Number(resp.headers.get("Retry-After"));
      if (after > 0) delay = Math.min(maxDelayMs, after * 1000);
    } catch (err) {
      if (err instanceof PublishError && err.status !== 429 && err.status < 500) throw err;
      if (!(err instanceof PublishError)) last = new PublishError(`herd at ${url} unreachable: ${err.cause?.code ?? err.message}`);
    }
    if (attempt + 1 < attempts) await new Promise((r) => setTimeout(r, delay));
  }
  throw last;
}

// As a command: print the new event's id.
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  let hub = process.env.HERD_HUB ?? "http://localhost:8080";
  const options = {};
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--hub") hub = args[++i];
    else if (args[i] === "--event") options.event = args[++i];
    else if (args[i] === "--close") options.close = true;
    else rest.push(args[i]);
  }
  if (rest.length < 1 || rest.length > 2) {
    console.error("usage: node publish.mjs [--hub URL] [--event TYPE] [--close] TOPIC [DATA]");
    process.exit(2);
  }
  try {
    console.log(await publish(hub, rest[0], rest[1], options));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
