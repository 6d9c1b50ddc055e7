// Drives a flue-py server with Flue's own client, @flue/sdk. Usage: node sdk.mjs <base-url> [token]
// Prints one JSON object with what it saw; the pytest side asserts on it.
import { createFlueClient, FlueApiError, FlueExecutionError } from '@flue/sdk';

const [base, token] = process.argv.slice(2);
const out = {};
const id = `sdk-${Date.now()}`;
const client = createFlueClient({ url: `${base}/agents/chat/${id}`, ...(token ? { token } : {}) });

function waitFor(observation, predicate, ms = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`timed out; phase=${observation.getSnapshot().phase}`)); }, ms);
    const check = () => {
      const snap = observation.getSnapshot();
      if (snap.conversation && predicate(snap.conversation)) { clearTimeout(timer); unsubscribe(); resolve(snap.conversation); }
    };
    const unsubscribe = observation.subscribe(check);
    check();
  });
}

async function main() {
  // 1. send + read: a tool call, then the answer.
  const first = await client.send({ message: { kind: 'user', body: 'tool please' }, uid: null });
  out.first = first;
  const reply = await client.read(first);
  out.reply = reply;

  // 2. idempotency, create-only and continue-only conditions.
  const a = await client.send({ message: { kind: 'user', body: 'hello once' }, idempotencyKey: 'k-1' });
  const b = await client.send({ message: { kind: 'user', body: 'hello once' }, idempotencyKey: 'k-1' });
  out.dedupe = { same: a.submissionId === b.submissionId, deduplicated: b.deduplicated === true, offset: b.offset };
  out.onceReply = (await client.read(a)).text;
  try { await client.send({ message: { kind: 'user', body: 'x' }, uid: null }); out.createOnly = 'accepted'; }
  catch (e) { out.createOnly = e instanceof FlueApiError ? { status: e.status, type: e.body?.error?.type, uid: e.body?.error?.meta?.uid } : String(e); }
  try { await client.send({ message: { kind: 'user', body: 'x' }, uid: 'inc_wrong' }); out.continueOnly = 'accepted'; }
  catch (e) { out.continueOnly = e instanceof FlueApiError ? { status: e.status, type: e.body?.error?.type } : String(e); }
  const cont = await client.send({ message: { kind: 'user', body: 'same instance' }, uid: first.uid });
  out.continued = (await client.read(cont)).text;

  // 3. observe live (SSE and long-poll), then abort a long answer mid-stream.
  const sse = client.observe({ live: 'sse' });
  const poll = client.observe({ live: 'long-poll' });
  await waitFor(sse, (c) => c.settlements.length >= 3);
  const long = await client.send({ message: { kind: 'user', body: 'long 400' } });
  const streaming = await waitFor(sse, (c) => {
    const m = c.messages.find((m) => m.role === 'assistant' && m.submissionId === long.submissionId);
    return m && m.parts.some((p) => p.type === 'text' && p.text.length > 40);
  });
  out.liveText = streaming.messages.at(-1).parts.find((p) => p.type === 'text').text.slice(0, 40);
  out.abort = await client.abort();
  const settled = await waitFor(sse, (c) => c.settlements.some((s) => s.submissionId === long.submissionId));
  out.abortedOutcome = settled.settlements.find((s) => s.submissionId === long.submissionId).outcome;
  const polled = await waitFor(poll, (c) => c.settlements.some((s) => s.submissionId === long.submissionId));
  out.pollSawAbort = polled.settlements.find((s) => s.submissionId === long.submissionId).outcome;
  try { await client.read(long); out.readAborted = 'resolved'; }
  catch (e) { out.readAborted = e instanceof FlueExecutionError ? e.failure : String(e); }
  out.idleAbort = await client.abort();
  sse.close(); poll.close();

  // 4. history agrees with what was observed live.
  const history = await client.history();
  out.history = { messages: history.messages.length, settlements: history.settlements.map((s) => s.outcome) };
  out.sameAsLive = JSON.stringify(history.settlements) === JSON.stringify(settled.settlements);
}

main().then(
  () => { console.log(JSON.stringify(out)); process.exit(0); },
  (e) => { console.log(JSON.stringify({ ...out, error: String(e?.stack || e) })); process.exit(1); },
);
