// Scenarios of wsgateway.js's recovery against an in-memory WebSocket (run by
// tests/recovery/test_js_client.py with node). Prints one JSON object: scenario -> observations.
"use strict";
const path = require("path");

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(frame) { this.sent.push(JSON.parse(frame)); }
  close() { this.readyState = 3; if (this.onclose) this.onclose({ code: 1000, reason: "", wasClean: true }); }
  open() { this.readyState = 1; this.onopen(); }
  receive(data) { this.onmessage({ data: JSON.stringify(data) }); }
  drop() { this.readyState = 3; this.onclose({ code: 1006, reason: "", wasClean: false }); }
}
FakeSocket.all = [];
globalThis.WebSocket = FakeSocket;
require(path.resolve(process.argv[2]));
const WsGateway = globalThis.WsGateway;

function client(extra) {
  const seen = { messages: [], recovered: [], gaps: [] };
  const c = new WsGateway(Object.assign({
    websocketUrl: "ws://test/x", channel: "room", backoffBaseSeconds: 0, backoffMaxSeconds: 0,
    onMessage: (d) => seen.messages.push(d.text !== undefined ? d.text : d),
    onRecovered: (d) => seen.recovered.push(d),
    onRecoveryGap: (d) => seen.gaps.push(d),
  }, extra || {}));
  return { c, seen };
}
const msg = (text, id, channel) => ({ text, message_id: "m-" + text, recovery_id: id, recovery_channel: channel || "room" });
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function opened(c) { await c.connect(); last().open(); return last(); }

async function main() {
  const out = {};

  // 1. First open: the channel's starting point; then live messages; a reconnect resumes after
  //    the newest id; live messages during the replay are held and merged in id order.
  {
    const { c, seen } = client();
    let s = await opened(c);
    const first = s.sent[0];
    s.receive({ type: "wsgateway.recovery", channel: "room", since: null, latest: "100-0", request: first.request, part: 1, parts: 1, messages: [] });
    s.receive(msg("a", "101-0"));
    s.receive(msg("b", "102-0"));
    c.send("post", { text: "queued" }); // sent at once (open)
    s.drop();
    c.send("post", { text: "while away" });
    await tick(5);
    s = last();
    s.open();
    const resume = s.sent[0];
    s.receive(msg("e", "105-0")); // live, during the replay: held
    s.receive({ type: "wsgateway.recovery", channel: "room", since: "102-0", latest: "105-0", request: resume.request, part: 2, parts: 2, messages: [msg("d", "104-0")] });
    const heldWhileWaiting = seen.messages.slice();
    s.receive({ type: "wsgateway.recovery", channel: "room", since: "102-0", latest: "105-0", request: resume.request, part: 1, parts: 2, messages: [msg("b", "102-0"), msg("c", "103-0")] });
    s.receive(msg("e", "105-0")); // a redelivery
    s.receive(msg("f", "106-0"));
    out.reconnect = {
      first: first, resume: resume, afterResume: s.sent[1], heldWhileWaiting, messages: seen.messages,
      recovered: seen.recovered, lastIds: c.lastIds, recovering: c.recovering,
    };
    c.close();
  }

  // 2. A gap: the held live messages come after the event; the new starting point is taken.
  {
    const { c, seen } = client();
    let s = await opened(c);
    s.receive({ type: "wsgateway.recovery", channel: "room", since: null, latest: "1-0", request: s.sent[0].request, part: 1, parts: 1, messages: [] });
    s.receive(msg("a", "2-0"));
    s.drop(); await tick(5); s = last(); s.open();
    const request = s.sent[0].request;
    s.receive(msg("z", "90-0"));
    s.receive({ type: "wsgateway.recovery_gap", channel: "room", since: "2-0", reason: "window", latest: "89-0", request: "stale" });
    const afterStale = seen.messages.slice();
    s.receive({ type: "wsgateway.recovery_gap", channel: "room", since: "2-0", reason: "window", latest: "89-0", request });
    out.gap = { afterStale, messages: seen.messages, gaps: seen.gaps, lastIds: c.lastIds };
    c.close();
  }

  // 3. No answer in time: a "timeout" gap, held messages delivered.
  {
    const { c, seen } = client({ recoveryTimeoutSeconds: 0.05 });
    const s = await opened(c);
    s.receive(msg("x", "7-0"));
    await tick(120);
    out.timeout = { messages: seen.messages, gaps: seen.gaps, recovering: c.recovering };
    c.close();
  }

  // 4. The socket closes mid-recovery: held messages are dropped, the next resume asks after
  //    the same id; a subscribe frame can carry its own resume.
  {
    const { c, seen } = client();
    let s = await opened(c);
    s.receive({ type: "wsgateway.recovery", channel: "room", since: null, latest: "5-0", request: s.sent[0].request, part: 1, parts: 1, messages: [] });
    s.drop(); await tick(5); s = last(); s.open();
    s.receive(msg("held", "6-0"));
    s.drop(); await tick(5); s = last(); s.open();
    const again = s.sent[0];
    const fields = c._recoveryFields("news");
    out.closed = { again, messages: seen.messages, fields, recovering: c.recovering.sort() };
    c.close();
  }

  // 5. Recovery off: no resume frame, frames pass through as messages.
  {
    const { c, seen } = client({ recovery: false });
    const s = await opened(c);
    s.receive(msg("plain", "1-0"));
    out.off = { sent: s.sent, messages: seen.messages };
    c.close();
  }
  out.compare = [WsGateway.compareIds("10-0", "9-5"), WsGateway.compareIds("9-10", "9-9"), WsGateway.compareIds("3-3", "3-3")];
  process.stdout.write(JSON.stringify(out));
}
main().catch((err) => { console.error(err); process.exit(1); });
