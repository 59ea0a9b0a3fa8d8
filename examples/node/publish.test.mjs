// Tests of publish.mjs against a running herd (HERD_HUB): run by e2e.
import { test } from "node:test";
import assert from "node:assert/strict";
import { publish, PublishError } from "./publish.mjs";

const hub = process.env.HERD_HUB;

test("publishes and returns the id", async () => {
  const a = await publish(hub, "node/a", "one");
  const b = await publish(hub, ["node/a", "node/b"], JSON.stringify({ n: 2 }), { event: "note", retryMs: 1500 });
  assert.ok(a && b && a !== b);
});

test("the same idempotency key gets the same id", async () => {
  const a = await publish(hub, "node/key", "x", { idempotencyKey: "job-1" });
  const b = await publish(hub, "node/key", "x", { idempotencyKey: "job-1" });
  assert.equal(a, b);
});

test("a refusal is thrown at once, with the hub's reason", async () => {
  await assert.rejects(publish(hub, "node/*", "x"), (err) =>
    err instanceof PublishError && err.status === 400 && /wildcards are for subscribing/.test(err.message));
});

test("a closed topic refuses", async () => {
  await publish(hub, "node/closed", undefined, { close: true });
  await assert.rejects(publish(hub, "node/closed", "late"), (err) => err.status === 409);
});

test("an unreachable hub fails after the attempts", async () => {
  await assert.rejects(publish("http://127.0.0.1:9", "node/a", "x", { attempts: 2, maxDelayMs: 50 }), (err) =>
    err instanceof PublishError && err.status === undefined && /unreachable/.test(err.message));
});
