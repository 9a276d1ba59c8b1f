"""Fixtures that run the real wsgw binary (WSGW_BIN) for integration tests.

`wsgw` starts a server with the given extra flags on ephemeral ports, waits
for its start-up line, and on teardown sends SIGTERM and asserts a clean exit
(exit code 0, no sanitizer report on stderr).
"""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WSGW_BIN = os.environ.get("WSGW_BIN", os.path.join(ROOT, "build", "release", "wsgw"))
ASAN = os.environ.get("WSGW_ASAN") == "1"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def ipv6_available():
    """True where a socket can bind the IPv6 loopback."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Server:
    def __init__(self, args, env=None):
        self.args = [WSGW_BIN, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0"] + list(args)
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=67")
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None
        self.mgmt_port = None
        self.log_path = None

    def start(self, tmp_path):
        self.log_path = tmp_path / "wsgw.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 10
        while time.time() < deadline:
            text = self.read_log()
            m = re.search(r"\(port (\d+)\)", text)
            if m:
                self.port = int(m.group(1))
                mm = re.search(r"management on \S+ \(port (\d+)\)", text)
                if mm:
                    self.mgmt_port = int(mm.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("wsgw exited at start-up:\n" + text)
            time.sleep(0.02)
        raise RuntimeError("wsgw did not start:\n" + self.read_log())

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=15):
        """SIGTERM, wait, return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("wsgw did not exit within %ss of SIGTERM" % timeout)
        self.log.close()
        return self.proc.returncode

    def proc_status_kib(self, field):
        """A /proc/<pid>/status size field (e.g. "VmRSS", "VmHWM") in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name == field:
                    return int(value.split()[0])
        raise KeyError(field)

    def assert_clean(self):
        text = self.read_log()
        for mark in SANITIZER_MARKS:
            assert mark not in text, "sanitizer report in wsgw output:\n" + text


@pytest.fixture
def wsgw_factory(tmp_path):
    """Call with a list of extra flags (and optional env dict); returns a started Server."""
    servers = []

    def make(args=(), env=None):
        d = tmp_path / ("s%d" % len(servers))
        d.mkdir()
        s = Server(args, env).start(d)
        servers.append(s)
        return s

    yield make
    for s in servers:
        code = s.stop()
        s.assert_clean()
        assert code == 0, "wsgw exited with %s:\n%s" % (code, s.read_log()[-4000:])


@pytest.fixture
def wsgw(wsgw_factory):
    """A server on defaults (short close timeout so tests stay quick)."""
    return wsgw_factory(["--close-timeout", "2s"])


# ---- gRPC stubs of the Yandex ConnectionService, shared by the test files ----

@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """The generated protobuf/grpc modules (grpc_stubs.generate), once per run."""
    import grpc_stubs
    return grpc_stubs.generate(tmp_path_factory.mktemp("proto"))


@pytest.fixture(scope="session")
def gw_pb(tmp_path_factory):
    """The generated wsgw.v1 GatewayService message module, once per run."""
    import importlib
    import subprocess
    import sys
    gen = str(tmp_path_factory.mktemp("wsgw_pb"))
    subprocess.run(["protoc", "--python_out=" + gen, "-I" + os.path.join(ROOT, "proto"),
                    "-I/usr/include", "wsgw/v1/gateway_service.proto"], check=True)
    sys.path.insert(0, gen)
    try:
        return importlib.import_module("wsgw.v1.gateway_service_pb2")
    finally:
        sys.path.remove(gen)


@pytest.fixture
def grpc_client(pb):
    """grpc_client(server): a ConnectionService client on server's
    management port (any object with mgmt_port); channels closed after."""
    import grpc
    import grpc_stubs
    channels = []

    def make(server):
        ch = grpc.insecure_channel("127.0.0.1:%d" % server.mgmt_port,
                                   options=[("grpc.enable_http_proxy", 0)])
        channels.append(ch)
        return grpc_stubs.Client(ch, pb)

    yield make
    for ch in channels:
        ch.close()
