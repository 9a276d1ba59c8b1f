"""Python message classes for wsgw's protos, generated at test time.

grpcio-tools is not available, so `protoc --python_out` (protobuf-compiler)
generates the *_pb2 modules into a temporary directory (never the repo), and
the gRPC callables are built by hand with channel.unary_unary(path, ...).

health.proto lives under proto/grpc/health/v1/; generating it there would
create a `grpc` package in the output directory that shadows grpcio, so it
is copied to a neutral directory and compiled from there (the Python module
path does not change the wire format; only the proto package name matters).
"""
import importlib
import os
import shutil
import subprocess
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto")
WS_DIR = "yandex/cloud/serverless/apigateway/websocket/v1"
SERVICE = "yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService"
GET = "/%s/Get" % SERVICE
SEND = "/%s/Send" % SERVICE
DISCONNECT = "/%s/Disconnect" % SERVICE
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def generate(outdir):
    """Compiles the protos into outdir and imports them.

    Returns a namespace: Connection, Identity, GetConnectionRequest,
    SendToConnectionRequest, SendToConnectionResponse, DisconnectRequest,
    DisconnectResponse, HealthCheckRequest, HealthCheckResponse.
    """
    outdir = str(outdir)
    gen = os.path.join(outdir, "gen")
    hc = os.path.join(outdir, "hc")
    os.makedirs(gen, exist_ok=True)
    os.makedirs(hc, exist_ok=True)
    shutil.copy(os.path.join(PROTO, "grpc", "health", "v1", "health.proto"), hc)
    subprocess.run(["protoc", "--python_out=" + gen, "-I" + PROTO, "-I/usr/include",
                    WS_DIR + "/connection.proto", WS_DIR + "/connection_service.proto"],
                   check=True, cwd=ROOT)
    subprocess.run(["protoc", "--python_out=" + gen, "-I" + hc, "health.proto"], check=True)
    sys.path.insert(0, gen)
    try:
        conn = importlib.import_module(WS_DIR.replace("/", ".") + ".connection_pb2")
        svc = importlib.import_module(WS_DIR.replace("/", ".") + ".connection_service_pb2")
        health = importlib.import_module("health_pb2")
    finally:
        sys.path.remove(gen)
    ns = types.SimpleNamespace()
    for mod, names in ((conn, ("Connection", "Identity")),
                       (svc, ("GetConnectionRequest", "SendToConnectionRequest",
                              "SendToConnectionResponse", "DisconnectRequest",
                              "DisconnectResponse")),
                       (health, ("HealthCheckRequest", "HealthCheckResponse"))):
        for name in names:
            setattr(ns, name, getattr(mod, name))
    return ns


def identity(b):
    return b


class Client:
    """The four unary calls on one grpc channel, with optional metadata."""

    def __init__(self, channel, pb, metadata=None):
        self.channel = channel
        self.pb = pb
        self.metadata = metadata
        self.get_ = channel.unary_unary(GET, request_serializer=pb.GetConnectionRequest.SerializeToString,
                                        response_deserializer=pb.Connection.FromString)
        self.send_ = channel.unary_unary(SEND,
                                         request_serializer=pb.SendToConnectionRequest.SerializeToString,
                                         response_deserializer=pb.SendToConnectionResponse.FromString)
        self.disconnect_ = channel.unary_unary(
            DISCONNECT, request_serializer=pb.DisconnectRequest.SerializeToString,
            response_deserializer=pb.DisconnectResponse.FromString)
        self.check_ = channel.unary_unary(
            HEALTH_CHECK, request_serializer=pb.HealthCheckRequest.SerializeToString,
            response_deserializer=pb.HealthCheckResponse.FromString)

    def raw(self, path):
        """A callable on any path that sends and returns bytes as they are."""
        return self.channel.unary_unary(path, request_serializer=identity,
                                        response_deserializer=identity)

    def _kw(self, kw):
        if self.metadata is not None and "metadata" not in kw:
            kw["metadata"] = self.metadata
        return kw

    def get(self, cid, **kw):
        return self.get_(self.pb.GetConnectionRequest(connection_id=cid), **self._kw(kw))

    def send(self, cid, data, type=0, **kw):
        req = self.pb.SendToConnectionRequest(connection_id=cid, data=data, type=type)
        return self.send_(req, **self._kw(kw))

    def disconnect(self, cid, **kw):
        return self.disconnect_(self.pb.DisconnectRequest(connection_id=cid), **self._kw(kw))

    def check(self, service="", **kw):
        return self.check_(self.pb.HealthCheckRequest(service=service), **self._kw(kw))
