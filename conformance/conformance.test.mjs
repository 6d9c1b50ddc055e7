// The official Durable Streams server conformance suite, pointed at a running server.
// tests/server/test_conformance.py starts flue-py and runs this file with vitest.
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

runConformanceTests({
  baseUrl: process.env.CONFORMANCE_TEST_URL,
  longPollTimeoutMs: Number(process.env.CONFORMANCE_LONG_POLL_MS ?? "500"),
  subscriptions: process.env.CONFORMANCE_SUBSCRIPTIONS === "1",
})
