"""etcds:// (TLS) targets: cacert=, cert=, key= and connect_timeout= (the CLI's --cacert,
--cert, --key, --connect-timeout), against a real etcd started here on 127.0.0.1 with
certificates made by openssl (a throwaway CA, as jlock-etcd's Rust tests make them in
crates/etcd/src/local.rs), requiring client certificates (--client-cert-auth).

Skipped, saying why, when the package was built without etcd-tls or etcd/openssl is
missing — unless JLOCK_REQUIRE_ETCD=1 (CI: .ci/py-etcd-test builds with etcd-tls).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import jlock
from conftest import BOUND, jlock_bin

REQUIRE = os.environ.get("JLOCK_REQUIRE_ETCD") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}, and JLOCK_REQUIRE_ETCD=1")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(d: Path, *args: str) -> None:
    out = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=BOUND)
    assert out.returncode == 0, f"openssl {args}: {out.stderr}"


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_certs(d: Path) -> dict[str, Path]:
    openssl(d, "req", "-x509", *EC, "-days", "2", "-subj", "/CN=jlock-test-ca", "-keyout", "ca.key", "-out", "ca.pem")
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n"),
        ("client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
    ):
        (d / f"{who}.ext").write_text(ext)
        openssl(d, "req", *EC, "-subj", f"/CN=jlock-test-{who}", "-keyout", f"{who}.key", "-out", f"{who}.csr")
        openssl(d, "x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{who}.pem", "-extfile", f"{who}.ext")
    return {n: d / f for n, f in (("ca", "ca.pem"), ("cert", "client.pem"), ("key", "client.key"),
                                   ("server_cert", "server.pem"), ("server_key", "server.key"))}


class TlsCluster:
    def __init__(self, port: int, certs: dict[str, Path]) -> None:
        self.port = port
        self.certs = certs

    def target(self, name: str) -> str:
        return f"etcds://127.0.0.1:{self.port}/{name}"

    @property
    def options(self) -> dict[str, Path]:
        return {"cacert": self.certs["ca"], "cert": self.certs["cert"], "key": self.certs["key"]}

    def cli_args(self) -> list[str]:
        return [f"--cacert={self.certs['ca']}", f"--cert={self.certs['cert']}", f"--key={self.certs['key']}"]


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    if not jlock.HAS_ETCD_TLS:
        skip_or_fail(
            "the jlock package was built without etcd-tls "
            "(pip install ./crates/py --config-settings=build-args=--features=etcd-tls)"
        )
    for tool in ("etcd", "etcdctl", "openssl"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (bash .ci/etcd-setup.sh)")
    d = tmp_path_factory.mktemp("etcd-tls")
    certs = make_certs(d)
    client, peer = free_port(), free_port()
    with open(d / "etcd.log", "w") as log:
        proc = subprocess.Popen(
            [
                "etcd", "--name", "m0", "--data-dir", str(d / "m0"),
                f"--cert-file={certs['server_cert']}", f"--key-file={certs['server_key']}",
                f"--trusted-ca-file={certs['ca']}", "--client-cert-auth",
                f"--listen-client-urls=https://127.0.0.1:{client}",
                f"--advertise-client-urls=https://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=m0=http://127.0.0.1:{peer}",
                "--initial-cluster-token=jlock-py-tls", "--initial-cluster-state=new",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )
    cluster = TlsCluster(client, certs)
    try:
        deadline = time.monotonic() + 60
        while True:
            ok = subprocess.run(
                ["etcdctl", f"--endpoints=https://127.0.0.1:{client}", *cluster.cli_args(), "endpoint", "health"],
                env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True, timeout=BOUND,
            ).returncode == 0
            if ok:
                break
            assert proc.poll() is None, (d / "etcd.log").read_text()
            assert time.monotonic() < deadline, "etcd not healthy in 60 s"
            time.sleep(0.1)  # polling a server's readiness: nothing to wait on instead
        yield cluster
    finally:
        proc.kill()
        proc.wait(timeout=BOUND)


def test_store_and_lock_over_tls_beside_the_cli(tls_etcd: TlsCluster) -> None:
    name = f"py-{uuid.uuid4().hex[:12]}"
    store = jlock.Store(tls_etcd.target(name), connect_timeout=5, **tls_etcd.options)
    assert store.incr(".n") == 1
    assert store.push(".todo", "a") == 1
    # The CLI on the same document, with the same files (when it was built with etcd-tls,
    # as CI builds it; jlock-etcd's own tests cover the CLI over TLS).
    cli = jlock_bin()
    if cli and os.access(cli, os.X_OK):
        got = subprocess.run([cli, "incr", *tls_etcd.cli_args(), tls_etcd.target(name), ".n"],
                             capture_output=True, text=True, timeout=BOUND)
        built_without = ("unexpected argument", "not supported by this jlock build", "without TLS")
        if REQUIRE or not any(m in got.stderr for m in built_without):
            assert (got.returncode, got.stdout.strip()) == (0, "2"), got.stderr
            assert store.get(".n") == 2
    assert store.pop(".todo", timeout=0) == "a"
    lock = jlock.FileLock(tls_etcd.target(f"{name}-lock"), timeout=BOUND, **tls_etcd.options)
    with lock:
        assert lock.is_locked and lock.fence is not None
        other = jlock.FileLock(tls_etcd.target(f"{name}-lock"), **tls_etcd.options)
        with pytest.raises(jlock.Timeout):
            other.acquire(blocking=False)
    sem = jlock.Semaphore(tls_etcd.target(f"{name}-sem"), 2, **tls_etcd.options)
    with sem:
        assert sem.slot in (0, 1)


def test_tls_options_refused_where_they_do_not_apply(tls_etcd: TlsCluster, tmp_path: Path) -> None:
    target = tls_etcd.target("refused")
    # No CA: jlock does not fall back to the system's roots.
    with pytest.raises(jlock.UsageError, match="CA certificate"):
        jlock.Store(target)
    with pytest.raises(jlock.UsageError, match="together"):
        jlock.Store(target, cacert=tls_etcd.certs["ca"], cert=tls_etcd.certs["cert"])
    # Without the client certificate the server (--client-cert-auth) refuses us.
    with pytest.raises(jlock.Error):
        jlock.Store(target, cacert=tls_etcd.certs["ca"], connect_timeout=2).get()
    with pytest.raises(jlock.UsageError, match="etcds://"):
        jlock.Store(f"etcd://127.0.0.1:{tls_etcd.port}/x", cacert=tls_etcd.certs["ca"])
    with pytest.raises(ValueError, match="connect_timeout"):
        jlock.Store(target, connect_timeout=0, **tls_etcd.options)
