// Metrics through a real OpenTelemetry SDK: the in-memory exporter, and the
// Prometheus exporter's text scraped over HTTP; near-cache metrics on Redis.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { metrics } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { requestFrom } from "../conformance/index.js";
import { createSessions, type Session, type Sessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { redisStore } from "../stores/redis/index.js";
import { deletePrefix, REDIS_URL, requireRedis, sparePort, testPrefix } from "../testing/redis-server.js";
import { METRICS, otelMetrics } from "./index.js";

const MIN = 60_000;

function inMemory() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  /** Every metric as of now, by name. */
  const collect = async (): Promise<Map<string, MetricData>> => {
    exporter.reset();
    await reader.forceFlush();
    const byName = new Map<string, MetricData>();
    for (const resource of exporter.getMetrics())
      for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  };
  return { provider, collect, shutdown: () => provider.shutdown() };
}

/** The value of a sum or gauge for the data point whose attributes include `attributes`. */
function valueOf(metric: MetricData | undefined, attributes: Record<string, unknown> = {}): number | undefined {
  if (!metric) return undefined;
  const point = metric.dataPoints.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  return point === undefined ? undefined : (point.value as number);
}

/** Histogram count for the data point whose attributes include `attributes`. */
function countOf(metric: MetricData | undefined, attributes: Record<string, unknown> = {}): number {
  assert.ok(metric, "metric present");
  assert.equal(metric.dataPointType, DataPointType.HISTOGRAM);
  return metric.dataPoints
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (p.value as { count: number }).count, 0);
}

async function signIn(sessions: Sessions, userId: string): Promise<{ session: Session; token: string }> {
  const session = await sessions.load(undefined, requestFrom("curl/8.5.0"));
  await session.login(userId);
  await session.commit();
  const cookie = session.cookieInstruction();
  return { session, token: cookie.action === "set" ? cookie.token : "" };
}

describe("otelMetrics", () => {
  it("returns undefined while no SDK is registered, so nothing is measured", () => {
    assert.equal(otelMetrics(), undefined);
    assert.throws(() => createSessions({ store: memoryStore(), sweepInterval: false, metrics: {} as never }), /metrics must be what otelMetrics\(\) returns/);
    assert.throws(() => otelMetrics({ meterProvider: {} as never }), /must be an OpenTelemetry MeterProvider/);
  });

  it("reports sessions created, rotated and ended by reason, and store operation durations in seconds", async () => {
    const sdk = inMemory();
    const clock = { now: 1_700_000_000_000 };
    const store = memoryStore();
    const sessions = createSessions({
      store,
      sweepInterval: false,
      idleTimeout: 30 * MIN,
      now: () => clock.now,
      metrics: otelMetrics({ meterProvider: sdk.provider })!,
    });
    try {
      // Anonymous with data, then login on top of it (a rotation).
      const anonymous = await sessions.load(undefined);
      anonymous.set("cart", ["a"]);
      await anonymous.commit();
      const token = (anonymous.cookieInstruction() as { token: string }).token;
      const upgraded = await sessions.load(token);
      await upgraded.login("ada");
      // More devices, then log out other devices, a logout, a revoke-user and an expiry.
      const others = [await signIn(sessions, "ada"), await signIn(sessions, "ada")];
      assert.equal(await upgraded.logoutOthers(), 2);
      await upgraded.logout();
      await signIn(sessions, "bob");
      await signIn(sessions, "bob");
      assert.equal(await sessions.revokeUser("bob"), 2);
      const idle = await signIn(sessions, "cy");
      clock.now += 31 * MIN;
      assert.equal((await sessions.load(idle.token)).userId, null);
      assert.equal((await sessions.load(others[0]!.token)).userId, null);

      const m = await sdk.collect();
      assert.equal(m.get(METRICS.created)?.descriptor.unit, "{session}");
      assert.equal(valueOf(m.get(METRICS.created), { "latchkey.session.signed_in": false }), 1);
      assert.equal(valueOf(m.get(METRICS.created), { "latchkey.session.signed_in": true }), 5);
      assert.equal(valueOf(m.get(METRICS.rotated)), 1);
      const ended = m.get(METRICS.ended);
      assert.equal(valueOf(ended, { "latchkey.session.end.reason": "logout-others" }), 2);
      assert.equal(valueOf(ended, { "latchkey.session.end.reason": "logout" }), 1);
      assert.equal(valueOf(ended, { "latchkey.session.end.reason": "revoke-user" }), 2);
      assert.equal(valueOf(ended, { "latchkey.session.end.reason": "expired" }), 1);
      const duration = m.get(METRICS.storeDuration);
      assert.equal(duration?.descriptor.unit, "s");
      assert.equal(countOf(duration, { "latchkey.store.operation": "create" }), 6);
      assert.equal(countOf(duration, { "latchkey.store.operation": "rotate" }), 1);
      assert.equal(countOf(duration, { "latchkey.store.operation": "destroyUser" }), 2);
      assert.ok(countOf(duration, { "latchkey.store.operation": "get" }) >= 3);
      const point = duration!.dataPoints.find((p) => p.attributes["latchkey.store.operation"] === "create")!;
      assert.ok((point.value as { max: number }).max < 1, "durations are in seconds");
      // No feed (memory store): no near-cache metrics at all.
      assert.equal(m.get(METRICS.lookups)?.dataPoints.length ?? 0, 0);

      // A failing store: the duration carries error.type, and the request fails closed.
      await store.close();
      await assert.rejects(sessions.load(idle.token), /unavailable/);
      const failed = await sdk.collect();
      assert.equal(countOf(failed.get(METRICS.storeDuration), { "latchkey.store.operation": "get", "error.type": "Error" }), 1);
    } finally {
      await sessions.close();
      await sdk.shutdown();
    }
  });

  it("is exported as Prometheus text by the Prometheus exporter", async () => {
    const port = await sparePort();
    const exporter = new PrometheusExporter({ port, host: "127.0.0.1" });
    const provider = new MeterProvider({ readers: [exporter] });
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false, metrics: otelMetrics({ meterProvider: provider })! });
    try {
      const { session } = await signIn(sessions, "dee");
      assert.equal(await session.logoutOthers(), 0);
      await signIn(sessions, "dee");
      assert.equal(await session.logoutOthers(), 1);
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.match(text, /^# TYPE latchkey_session_created_total counter$/m);
      assert.match(text, /^latchkey_session_created_total\{latchkey_session_signed_in="true"[^}]*\} 2\b/m);
      assert.match(text, /^latchkey_session_ended_total\{latchkey_session_end_reason="logout-others"[^}]*\} 1\b/m);
      // (Exporter versions differ on appending the unit to the name: _seconds or not.)
      assert.match(text, /^# TYPE latchkey_store_operation_duration(_seconds)? histogram$/m);
      assert.match(text, /^# UNIT latchkey_store_operation_duration(_seconds)? s(econds)?$/m);
      assert.match(text, /^latchkey_store_operation_duration(_seconds)?_count\{latchkey_store_operation="create"[^}]*\} 2\b/m);
      assert.match(text, /^latchkey_store_operation_duration(_seconds)?_bucket\{latchkey_store_operation="create",[^}]*le="0\.0001"\}/m);
    } finally {
      await sessions.close();
      await provider.shutdown();
    }
  });

  it("uses the global MeterProvider once one is registered", async () => {
    const sdk = inMemory();
    assert.equal(metrics.setGlobalMeterProvider(sdk.provider), true);
    try {
      const sessions = createSessions({ store: memoryStore(), sweepInterval: false, metrics: otelMetrics()! });
      await signIn(sessions, "eve");
      await sessions.close();
      assert.equal(valueOf((await sdk.collect()).get(METRICS.created), { "latchkey.session.signed_in": true }), 1);
    } finally {
      metrics.disable();
      await sdk.shutdown();
    }
  });
});

const redis = await requireRedis();
describe("otelMetrics with a near-cache on Redis", { skip: redis.skip }, () => {
  const prefix = testPrefix();
  after(() => deletePrefix(REDIS_URL, prefix));

  it("reports lookups (hit / miss) from stats(), feed state, notice propagation and strict waits", async () => {
    // Two managers in one process, each with its own near-cache, feed subscription and SDK: to each other, another process.
    const sdkA = inMemory();
    const sdkB = inMemory();
    const options = { sweepInterval: false, nearCache: true, revocation: "strict" } as const;
    const a = createSessions({ ...options, store: redisStore({ url: REDIS_URL, prefix }), metrics: otelMetrics({ meterProvider: sdkA.provider })! });
    const b = createSessions({ ...options, store: redisStore({ url: REDIS_URL, prefix }), metrics: otelMetrics({ meterProvider: sdkB.provider })! });
    try {
      const waitReady = async (s: Sessions) => {
        for (let i = 0; i < 500 && !s.stats().serving; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(s.stats().serving, true, "the near-cache serves");
      };
      await waitReady(a);
      await waitReady(b);
      const { token } = await signIn(a, "fay");
      for (let i = 0; i < 5; i++) assert.equal((await b.load(token)).userId, "fay");
      assert.equal(await a.revokeUser("fay"), 1); // strict: waits for b's acknowledgement
      assert.equal((await b.load(token)).userId, null);

      const m = await sdkB.collect();
      const lookups = m.get(METRICS.lookups);
      assert.equal(lookups?.descriptor.unit, "{lookup}");
      const stats = b.stats();
      assert.equal(valueOf(lookups, { "latchkey.nearcache.lookup.result": "hit" }), stats.hits);
      assert.equal(valueOf(lookups, { "latchkey.nearcache.lookup.result": "miss" }), stats.misses);
      assert.equal(valueOf(lookups, { "latchkey.nearcache.lookup.result": "bypass" }), stats.bypasses);
      assert.ok(stats.hits >= 4, `b answered from its cache (${stats.hits} hits)`);
      assert.ok(stats.misses >= 1);
      assert.equal(valueOf(m.get(METRICS.invalidations)), stats.invalidations);
      assert.equal(valueOf(m.get(METRICS.feedStatus), { "latchkey.feed.state": "ready" }), 1);
      assert.equal(valueOf(m.get(METRICS.feedStatus), { "latchkey.feed.state": "down" }), 0);
      assert.equal(valueOf(m.get(METRICS.flushes), { "latchkey.nearcache.flush.reason": "feed_lost" }), 0);
      assert.equal(valueOf(m.get(METRICS.entries)), stats.entries);
      assert.equal(m.get(METRICS.size)?.descriptor.unit, "By");
      assert.ok(countOf(m.get(METRICS.propagation)) >= 1, "b timed a notice from a");
      assert.equal(m.get(METRICS.propagation)!.descriptor.unit, "s");
      assert.equal(countOf((await sdkA.collect()).get(METRICS.strictWait)), 1, "a timed its strict revocation");
    } finally {
      await a.close();
      await b.close();
      await sdkA.shutdown();
      await sdkB.shutdown();
    }
  });
});
