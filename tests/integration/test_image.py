"""The container image (`make image`): built with Debian's podman from the
top-level Dockerfile, saved as an OCI archive, loaded back from that archive,
and its own /wsgw run from its own root filesystem.

`podman run` cannot start a container in this project's sandbox (the runtime's
setrlimit is refused), so the image is mounted (`podman image mount`) and its
/wsgw started with `chroot --userspec=<the image's USER>` and the image's
environment, on loopback ephemeral ports given as flags (flags win over the
image's WSGW_* defaults). A real WebSocket client and a real gRPC client then
talk to it.

The image always holds build/image/wsgw (the release objects linked with
the libraries' static archives: Makefile), whichever WSGW_BIN the phase
tests. Needs root (chroot, podman's system storage). When podman is missing,
`make image` installs it (`make image-deps`); the tests skip, with the reason,
only when podman cannot build an image on this machine at all. The image
gets a name of its own (never the user's wsgw:latest) and is removed after.
"""
import asyncio
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time

import grpc
import pytest
import websockets

import grpc_stubs
from conftest import ROOT, Server

ID_HEADER = "X-Yc-Apigateway-Websocket-Connection-Id"
NAME = "localhost/wsgw-imagetest-%d:latest" % os.getpid()
WAIT = 20.0


def run(args, timeout=120, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert p.returncode == 0, "%s: exit %s\n%s%s" % (" ".join(args), p.returncode,
                                                         p.stdout[-3000:], p.stderr[-3000:])
    return p


def last_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def podman_can_build(tmp):
    """None, or why podman cannot build a FROM scratch image here."""
    ctx = tmp / "probe"
    ctx.mkdir()
    (ctx / "f").write_text("x")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    tag = NAME.replace("imagetest", "imagetest-probe")
    p = run(["podman", "build", "--pull=never", "-q", "-t", tag, str(ctx)], check=False)
    run(["podman", "rmi", "-f", tag], check=False)
    return None if p.returncode == 0 else last_line(p.stderr)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """Builds NAME with `make image`, removes it, loads it back from the OCI
    archive and mounts it. A namespace: tar, config (podman's Config), root."""
    if os.geteuid() != 0:
        pytest.skip("the image test needs root (chroot, podman's system storage)")
    tmp = tmp_path_factory.mktemp("image")
    if shutil.which("podman") is None:
        p = run(["make", "-C", ROOT, "image-deps"], timeout=900, check=False)
        if p.returncode != 0 or shutil.which("podman") is None:
            pytest.skip("podman is missing and `make image-deps` could not install it: "
                        + last_line(p.stdout + p.stderr))
    why = podman_can_build(tmp)
    if why:
        pytest.skip("podman cannot build an image on this machine: " + why)
    tar = str(tmp / "wsgw-image.tar")
    try:
        run(["make", "-C", ROOT, "image", "IMAGE=" + NAME, "IMAGE_TAR=" + tar], timeout=600)
        # What follows uses the image as loaded from the archive.
        run(["podman", "rmi", NAME])
        run(["podman", "load", "-q", "-i", tar])
        info = json.loads(run(["podman", "image", "inspect", NAME]).stdout)[0]
        root = run(["podman", "image", "mount", NAME]).stdout.strip()
        assert os.path.isfile(os.path.join(root, "wsgw")), root
        yield type("Image", (), {"tar": tar, "config": info["Config"], "root": root})
    finally:
        run(["podman", "image", "unmount", "-f", NAME], check=False)
        run(["podman", "rmi", "-f", NAME], check=False)


def image_user(image):
    assert re.fullmatch(r"\d+(:\d+)?", image.config.get("User", "")), \
        "USER %r: not numeric (Kubernetes' runAsNonRoot needs a number)" % image.config.get("User")
    uid, _, gid = image.config["User"].partition(":")
    return int(uid), int(gid or uid)


def image_env(image):
    return dict(e.split("=", 1) for e in image.config["Env"])


def in_image(image, *args):
    uid, gid = image_user(image)
    return [shutil.which("chroot") or "/usr/sbin/chroot", "--userspec=%d:%d" % (uid, gid), image.root] + list(args)


@pytest.fixture(scope="module")
def gateway(image, tmp_path_factory):
    """The image's /wsgw, started from its root filesystem as its USER, with
    exactly its environment, on loopback ephemeral ports."""
    s = Server([])
    s.args = in_image(image, "/wsgw", "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
                      "--close-timeout", "2s")
    s.env = image_env(image)
    s.start(tmp_path_factory.mktemp("gateway"))
    yield s
    code = s.stop()
    assert code == 0, "wsgw in the image exited with %s:\n%s" % (code, s.read_log()[-4000:])


def test_image_config(image):
    c = image.config
    assert c["Entrypoint"] == ["/wsgw"]
    assert not c.get("Cmd")
    uid, gid = image_user(image)
    assert uid != 0 and gid != 0, c["User"]
    env = image_env(image)
    assert env["WSGW_LISTEN"] == "0.0.0.0:8080"
    assert env["WSGW_MGMT_LISTEN"] == "0.0.0.0:9090"
    assert set(c.get("ExposedPorts", {})) == {"8080/tcp", "9090/tcp"}
    with open(os.path.join(image.root, "etc/passwd")) as f:
        users = {int(ln.split(":")[2]): ln.strip().split(":") for ln in f if ln.strip()}
    assert set(users) == {0, uid}, users
    assert users[uid][0] == "wsgw" and int(users[uid][3]) == gid, users[uid]
    assert users[uid][6].endswith("nologin"), users[uid]
    with open(os.path.join(image.root, "etc/group")) as f:
        groups = {int(ln.split(":")[2]): ln.split(":")[0] for ln in f if ln.strip()}
    assert groups == {0: "root", gid: "wsgw"}, groups


def test_archive_is_an_oci_image(image):
    """build/wsgw-image.tar: an OCI image layout whose every blob matches its
    digest, naming the image, with the same configuration podman shows."""
    with tarfile.open(image.tar) as t:
        def blob(digest):
            algo, _, hexd = digest.partition(":")
            assert algo == "sha256", digest
            data = t.extractfile("blobs/sha256/" + hexd).read()
            assert hashlib.sha256(data).hexdigest() == hexd, digest
            return data

        assert json.load(t.extractfile("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        index = json.load(t.extractfile("index.json"))
        (desc,) = index["manifests"]
        assert desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert desc["annotations"]["org.opencontainers.image.ref.name"] == NAME
        manifest = json.loads(blob(desc["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        diff_ids = []
        for layer in manifest["layers"]:
            data = blob(layer["digest"])
            assert layer["size"] == len(data)
            if layer["mediaType"].endswith("+gzip"):
                data = gzip.decompress(data)
            diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
    assert config["rootfs"]["diff_ids"] == diff_ids
    # Issue 11's target: the compressed image within 8 MB (3.5 MB with the
    # statically linked /wsgw; 4 MB with shared libraries, 8.8 MB with libcurl).
    assert os.path.getsize(image.tar) <= 8_000_000, os.path.getsize(image.tar)
    for key in ("User", "Entrypoint", "Env"):
        assert config["config"][key] == image.config[key], key


def mapped_files(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {ln.split(None, 5)[5].strip() for ln in f if len(ln.split(None, 5)) == 6}


def test_root_filesystem_holds_only_what_wsgw_uses(image, gateway):
    """Every file is root's and not writable by the gateway's user; the
    shared objects are exactly those the running gateway has mapped."""
    files, other = set(), []
    for dirpath, dirnames, filenames in os.walk(image.root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, image.root)
            assert st.st_uid == 0 and st.st_gid == 0, rel
            assert st.st_mode & 0o022 == 0, "%s is writable by others: %o" % (rel, st.st_mode)
            if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path)):
                other.append(rel)
            elif os.path.isfile(path):
                files.add(rel)
    assert not other, "neither file nor directory: %s" % other
    root = image.root.rstrip("/")
    mapped = {p[len(root):] for p in mapped_files(gateway.proc.pid) if p.startswith(root + "/")}
    assert "/wsgw" in mapped and any("/ld-linux" in p for p in mapped), mapped
    ca = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle (package ca-certificates)
    expected = mapped | {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", ca}
    assert files == expected, "extra: %s; missing: %s" % (sorted(files - expected),
                                                         sorted(expected - files))
    with open(ca, "rb") as host, open(os.path.join(image.root, ca.lstrip("/")), "rb") as img:
        bundle = img.read()
        assert bundle == host.read() and b"BEGIN CERTIFICATE" in bundle


def test_gateway_runs_as_the_image_user(image, gateway):
    uid, gid = image_user(image)
    status = {}
    with open("/proc/%d/status" % gateway.proc.pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            status[k] = v.split()
    assert status["Uid"] == [str(uid)] * 4, status["Uid"]
    assert status["Gid"] == [str(gid)] * 4, status["Gid"]
    assert status["Groups"] in ([], [str(gid)]), status["Groups"]
    # The flags, not the image's 0.0.0.0 defaults, chose the addresses.
    log = gateway.read_log()
    assert "WebSocket on 127.0.0.1:0 (port %d)" % gateway.port in log, log
    assert "management on 127.0.0.1:0 (port %d)" % gateway.mgmt_port in log, log


def test_http_probes(gateway):
    """The README's httpGet probes answer in the image, without a token."""
    import urllib.request
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (gateway.mgmt_port, path),
                                    timeout=WAIT) as r:
            assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}, path


def test_websocket_echo_and_grpc_get(gateway, pb):
    async def talk():
        async with websockets.connect(gateway.url + "/image", compression=None,
                                      user_agent_header="wsgw-image-test") as ws:
            cid = ws.response_headers[ID_HEADER]
            await ws.send("hello from the image")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "hello from the image"
            await ws.send(b"\x00\x01\xfe\xff")
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\x01\xfe\xff"
            c = await asyncio.get_running_loop().run_in_executor(None, get, cid)
            assert c.id == cid
            assert c.identity.user_agent == "wsgw-image-test"
            assert c.identity.source_ip == "127.0.0.1"

    def get(cid):
        with grpc.insecure_channel("127.0.0.1:%d" % gateway.mgmt_port,
                                   options=[("grpc.enable_http_proxy", 0)]) as ch:
            return grpc_stubs.Client(ch, pb).get(cid, timeout=WAIT)

    asyncio.run(talk())


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmRSS:")))


def test_idle_rss_within_5_mb(image, tmp_path):
    """Issue 11's target: an idle gateway's VmRSS at most 5 MB (4 882 KiB),
    at start and with one WebSocket client connected and echoed. A gateway
    of its own, started as the README measures it (the flags of
    bench/run.sh; VmRSS 0.5 s after it is ready). About 3.8 MiB is measured
    (README, "Deploying"): the image's /wsgw links OpenSSL statically, laid
    out by src/image.ld. Breaks when the layout goes stale (a library update:
    regenerate it with bench/image-layout.py) or when the image's binary is
    the dynamically linked one again (6.6 MiB)."""
    limit = 5_000_000 // 1024
    s = Server([])
    s.args = in_image(image, "/wsgw", "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
                      "--idle-timeout", "off", "--ping-interval", "off",
                      "--max-connections", "25000")
    s.env = image_env(image)
    s.start(tmp_path)
    try:
        time.sleep(0.5)
        at_start = vm_rss_kib(s.proc.pid)

        async def talk():
            async with websockets.connect(s.url + "/rss", compression=None) as ws:
                await ws.send("x")
                assert await asyncio.wait_for(ws.recv(), WAIT) == "x"
                await asyncio.sleep(0.5)
                return vm_rss_kib(s.proc.pid)

        with_client = asyncio.run(talk())
    finally:
        code = s.stop()
    assert code == 0, s.read_log()[-4000:]
    assert at_start <= limit, "VmRSS at start %d KiB, over 5 MB" % at_start
    assert with_client <= limit, "VmRSS with one client %d KiB, over 5 MB" % with_client


def test_version_names_the_commit(image):
    """--version from the image: the commit of this tree (`git describe`), or
    "unknown" where the tree is not a git checkout."""
    out = run(in_image(image, "/wsgw", "--version"), env={}).stdout
    m = re.fullmatch(r"wsgw \d+\.\d+\.\d+ \(commit ([A-Za-z0-9._-]+)\)\n", out)
    assert m, out
    commit = "unknown"
    if os.path.exists(os.path.join(ROOT, ".git")) and shutil.which("git"):
        p = run(["git", "describe", "--always", "--dirty"], cwd=ROOT, check=False)
        commit = re.sub(r"[^A-Za-z0-9._-]", "", p.stdout) or "unknown"
    assert m.group(1) == commit, (out, commit)


def dockerfile():
    """[(INSTRUCTION, rest)] with continuation lines joined."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    return [tuple(ln.split(None, 1)) for ln in text.split("\n")]


def test_readme_kubernetes_example_fits_the_image():
    """README's Deployment: the image's ports and user, HTTP probes
    (/healthz liveness, /readyz readiness) on the management port, one replica, a grace period that covers preStop and the
    drain. Needs no podman: it reads the Dockerfile."""
    import yaml
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"<!-- readme-k8s -->\s*```yaml\n(.*?)```\s*<!-- /readme-k8s -->", text, re.S)
    assert m, "README.md lost its Kubernetes example markers"
    deploy, service = yaml.safe_load_all(m.group(1))
    assert (deploy["kind"], service["kind"]) == ("Deployment", "Service")
    df = dockerfile()
    exposed = {int(p) for k, v in df if k == "EXPOSE" for p in v.split()}
    user = [v.strip() for k, v in df if k == "USER"]
    assert len(user) == 1 and re.fullmatch(r"[1-9]\d*(:\d+)?", user[0]), user
    mgmt = int(re.search(r"WSGW_MGMT_LISTEN=\S+:(\d+)", "".join(v for k, v in df if k == "ENV"))
               .group(1))
    assert deploy["spec"]["replicas"] == 1
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["image"] == "wsgw:latest"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert set(ports.values()) == exposed and mgmt in exposed, (ports, exposed)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert (get["path"], ports.get(get["port"], get["port"])) == (path, mgmt), probe
    args = c["args"]
    drain = int(args[args.index("--drain-timeout") + 1].rstrip("s"))
    pre = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre + drain
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert service["spec"]["selector"] == deploy["spec"]["template"]["metadata"]["labels"]
