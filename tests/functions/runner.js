#!/usr/bin/env node
// Serves a handler written for Yandex Cloud Functions over HTTP, so wsgw's
// --function FUNCTION_ID=http://127.0.0.1:PORT/ runs it locally, unchanged:
//   node tests/functions/runner.js path/to/index.js [port]   (prints "listening on PORT")
// wsgw POSTs the event JSON; the answer is the handler's result as JSON. A
// handler that throws answers 502 {errorMessage, errorType, stackTrace} with
// X-Function-Error: true, as Cloud Functions does. Standard library only.
'use strict';
const http = require('http');
const path = require('path');
const [file, port = '0'] = process.argv.slice(2);
const { handler } = require(path.resolve(file));

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const deadline = Date.now() + 30000;
    const context = { // the fields of Cloud Functions' context a handler reads
      requestId: req.headers['x-request-id'], functionName: req.headers['x-function-id'],
      functionVersion: req.headers['x-function-tag'], memoryLimitInMB: 128, token: undefined,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let status = 200, out;
    try {
      out = JSON.stringify(await handler(JSON.parse(Buffer.concat(chunks).toString('utf8')), context) ?? null);
    } catch (e) {
      status = 502;
      out = JSON.stringify({ errorMessage: String(e && e.message || e), errorType: (e && e.name) || 'Error',
        stackTrace: String((e && e.stack) || '').split('\n') });
    }
    res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 502 ? { 'X-Function-Error': 'true' } : {}) });
    res.end(out);
  });
}).listen(Number(port), '127.0.0.1', function () { console.log('listening on ' + this.address().port); });
