// The session viewer: follows a session's event log over SSE and renders the transcript live.
// Resumes from the last offset after any drop (the server's offsets are exact), and skips any event
// whose seq it already rendered, so a replayed frame can never duplicate text.

const params = new URLSearchParams(location.search);
const token = params.get("access_token");

export function api(path, init = {}) {
  const headers = { ...(init.headers || {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
  return fetch(path, { ...init, headers });
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

export function startViewer(session) {
  const [agent] = session.split("/");
  const transcript = document.getElementById("transcript");
  const status = document.getElementById("status");
  document.getElementById("title").textContent = session;
  const state = { offset: "-1", lastSeq: 0, events: 0, skipped: 0, connects: [], live: false, drop };
  window.__viewer = state;
  const runs = new Map(); // run id -> { box, text }
  const tools = new Map(); // call id -> element
  let source = null;
  let retry = 0;

  const setStatus = (text, live) => { status.textContent = text; state.live = live; };

  function runBox(run, fresh) {
    let entry = runs.get(run);
    if (!entry || fresh) {
      const box = el("div", { class: "msg msg-assistant", "data-run": run });
      transcript.append(box);
      entry = { box, text: null };
      runs.set(run, entry);
    }
    return entry;
  }

  function apply(ev) {
    if (ev.seq <= state.lastSeq) { state.skipped++; return; }
    state.lastSeq = ev.seq;
    state.events++;
    switch (ev.kind) {
      case "user_message":
        if (ev.run == null) transcript.append(el("div", { class: "msg msg-user" }, ev.text));
        break;
      case "steer_message":
        transcript.append(el("div", { class: "msg msg-user steer" }, ev.text));
        break;
      case "workflow_input":
        transcript.append(el("div", { class: "msg msg-user" }, `${ev.workflow} ${JSON.stringify(ev.input)}`));
        break;
      case "run_started":
        if (ev.agent) runBox(ev.run, ev.attempt > 1);
        break;
      case "text_delta": {
        const entry = runBox(ev.run, false);
        if (!entry.text) { entry.text = el("span", { class: "text" }); entry.box.append(entry.text); }
        entry.text.append(ev.text);
        break;
      }
      case "message_completed": {
        const entry = runBox(ev.run, false);
        for (const call of ev.tool_calls) {
          const node = el("div", { class: "tool", "data-call": call.id }, `${call.name}(${call.arguments})`);
          tools.set(call.id, node);
          entry.box.append(node);
        }
        entry.text = null; // text after the tools opens a new span
        break;
      }
      case "tool_result": {
        const node = tools.get(ev.call_id);
        if (node) {
          node.append(el("div", { class: "result" }, `→ ${ev.output}`));
          if (ev.is_error) node.classList.add("error");
        }
        break;
      }
      case "abort_requested":
        transcript.append(el("div", { class: "muted" }, "stop requested"));
        break;
      case "run_settled": {
        const detail = ev.outcome === "completed" ? (ev.result != null ? ` ${JSON.stringify(ev.result)}` : "") : ` ${ev.error || ""}`;
        transcript.append(el("div", { class: "settled", "data-outcome": ev.outcome, "data-submission": ev.submission || "" }, `${ev.outcome}${detail}`));
        break;
      }
    }
  }

  function connect() {
    const query = new URLSearchParams({ offset: state.offset, live: "sse" });
    if (token) query.set("access_token", token);
    state.connects.push(state.offset);
    const es = new EventSource(`/v1/stream/sessions/${session}?${query}`);
    source = es;
    es.addEventListener("data", (e) => { for (const ev of JSON.parse(e.data)) apply(ev); });
    es.addEventListener("control", (e) => {
      const control = JSON.parse(e.data);
      if (control.streamNextOffset) state.offset = control.streamNextOffset;
      retry = 0;
      setStatus(control.upToDate ? "live" : "catching up…", true);
    });
    es.onerror = () => {
      if (source !== es) return;
      es.close();
      source = null;
      setStatus("reconnecting…", false);
      setTimeout(connect, Math.min(200 * 2 ** retry++, 3000)); // resumes from state.offset
    };
  }

  // Drop the connection as a network failure would (used by tests and by "reconnect" debugging).
  function drop() {
    if (source) source.onerror();
  }

  document.getElementById("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = document.getElementById("message");
    const body = box.value.trim();
    if (!body) return;
    box.value = "";
    const r = await api(`/agents/${session}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ kind: "user", body }),
    });
    if (!r.ok) setStatus(`send failed (${r.status})`, state.live);
  });
  document.getElementById("stop").addEventListener("click", async () => {
    const r = await api(`/agents/${session}/abort`, { method: "POST" });
    if (r.ok) setStatus((await r.json()).aborted ? "stopping…" : "nothing to stop", state.live);
  });
  if (!agent) setStatus("bad session", false);
  connect();
}
