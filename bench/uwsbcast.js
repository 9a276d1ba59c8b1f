// bench/uwsbcast.js — the anchor of bench/run-bcast.sh: uWebSockets' topic
// publish (uWebSockets.js, the C++ uWebSockets + uSockets built as a Node.js
// addon) driven by the same trigger as wsgw's broadcast, so bench/bcastload
// measures both the same way.
//
//   UWS_NODE=/work/peers/uws/package/binaries/uws_linux_x64_115.node \
//     node bench/uwsbcast.js [--listen 127.0.0.1:0]
//
// Every WebSocket connection (any path) subscribes to topic "all" when it
// opens, and gets back what it sends (the echo probe). POST /wsgw/v1/broadcast with wsgw's body {"data":"<base64>",
// "type":"TEXT"|"BINARY"} calls app.publish("all", data, isBinary) once and
// answers 200 {"delivered":N,"skipped":0,"total":N}, N = the subscribers at
// the call (uWebSockets does not tell how many it dropped for backpressure;
// bcastload counts receipts itself). Prints "uwsbcast: listening on ADDR
// (port N)" on stderr. No compression, no idle timeout, no pings: what wsgw
// runs with in the benchmark. UWS_NODE must name the .node file itself (not
// the package): the package falls back to a pure-JS server when the
// binary does not load, and that must not be measured by mistake.
"use strict";

const path = process.env.UWS_NODE;
if (!path) {
  console.error("uwsbcast: set UWS_NODE to the uWebSockets.js .node binary (bench/README.md)");
  process.exit(2);
}
const uws = require(path);

let listen = "127.0.0.1:0";
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--listen" && i + 1 < process.argv.length) listen = process.argv[++i];
  else {
    console.error("usage: node uwsbcast.js [--listen IPv4:PORT]");
    process.exit(2);
  }
}
const colon = listen.lastIndexOf(":");
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

const TOPIC = "all";
const MAX_BODY = 1 << 20;
let open = 0;

const app = uws.App();
app.ws("/*", {
  compression: uws.DISABLED,
  maxPayloadLength: 16 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  // bcastload's echo probe: its messages come back as they are
  message: (ws, message, isBinary) => {
    ws.send(message, isBinary);
  },
  open: (ws) => {
    ws.subscribe(TOPIC);
    open++;
  },
  close: () => {
    open--;
  },
});

app.post("/wsgw/v1/broadcast", (res) => {
  const parts = [];
  let size = 0;
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, last) => {
    // the chunk is only valid during this call: copy it
    size += chunk.byteLength;
    if (size <= MAX_BODY) parts.push(Buffer.from(Buffer.from(chunk)));
    if (!last || aborted) return;
    let status = "200 OK";
    let reply;
    try {
      if (size > MAX_BODY) throw new Error("body too large");
      const req = JSON.parse(Buffer.concat(parts).toString("utf8"));
      const data = Buffer.from(String(req.data || ""), "base64");
      const n = app.numSubscribers(TOPIC);
      app.publish(TOPIC, data, req.type === "BINARY", false);
      reply = JSON.stringify({ delivered: n, skipped: 0, total: n });
    } catch (e) {
      status = "400 Bad Request";
      reply = JSON.stringify({ code: 3, message: String(e.message) });
    }
    res.cork(() => {
      res.writeStatus(status).writeHeader("Content-Type", "application/json").end(reply);
    });
  });
});

app.any("/*", (res) => {
  res.writeStatus("404 Not Found").end();
});

app.listen(host, port, (sock) => {
  if (!sock) {
    console.error(`uwsbcast: cannot listen on ${listen}`);
    process.exit(1);
  }
  console.error(`uwsbcast: listening on ${host} (port ${uws.us_socket_local_port(sock)})`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    console.error(`uwsbcast: ${open} connections open at exit`);
    process.exit(0);
  });
}
