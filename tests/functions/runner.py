#!/usr/bin/env python3
"""Serves a handler written for Yandex Cloud Functions over HTTP, so wsgw's
--function FUNCTION_ID=http://127.0.0.1:PORT/ runs it locally, unchanged:
    python3 tests/functions/runner.py path/to/index.py [port]   (prints "listening on PORT")
wsgw POSTs the event JSON; the answer is handler(event, context) as JSON (a
coroutine is awaited). A handler that raises answers 502 {errorMessage,
errorType, stackTrace} with X-Function-Error: true, as Cloud Functions does.
Standard library only."""
import asyncio, importlib.util, json, sys, time, traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

spec = importlib.util.spec_from_file_location("handler_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


class Context:  # the attributes of Cloud Functions' Python context a handler reads
    def __init__(self, headers):
        self.request_id, self.function_name = headers.get("X-Request-Id"), headers.get("X-Function-Id")
        self.function_version, self.memory_limit_in_mb, self.token = headers.get("X-Function-Tag"), 128, None
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Handler(BaseHTTPRequestHandler):
    protocol_version, disable_nagle_algorithm = "HTTP/1.1", True

    def log_message(self, *args):
        pass

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        try:
            result = module.handler(event, Context(self.headers))
            status, out = 200, json.dumps(asyncio.run(result) if asyncio.iscoroutine(result) else result)
        except Exception as e:
            status, out = 502, json.dumps({"errorMessage": str(e), "errorType": type(e).__name__,
                                           "stackTrace": traceback.format_exc().splitlines()})
        data = out.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 502:
            self.send_header("X-Function-Error", "true")
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
print("listening on %d" % server.server_address[1], flush=True)
server.serve_forever()
