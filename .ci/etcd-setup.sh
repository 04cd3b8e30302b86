#!/usr/bin/env bash
# Installs what the etcd backend needs to build and test (issue 11): etcd and etcdctl
# (Debian's etcd 3.4; the tests start their own servers on 127.0.0.1, the package's
# service is not used) and protoc with the well-known protobuf types (for etcd-client's
# build), and openssl (the TLS test makes a throwaway CA and certificates with it).
# Idempotent: does nothing when everything is already there.
# Then (as .ci/run does): JLOCK_REQUIRE_ETCD=1 cargo test -p jlock-etcd, and
# JLOCK_REQUIRE_ETCD=1 cargo test --features etcd --test integration etcd
set -euo pipefail

have_all() {
    command -v etcd >/dev/null && command -v etcdctl >/dev/null &&
        command -v protoc >/dev/null && [ -e /usr/include/google/protobuf/descriptor.proto ] &&
        command -v openssl >/dev/null
}

if have_all; then
    echo "etcd-setup: etcd, etcdctl, protoc and openssl already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q etcd-server etcd-client protobuf-compiler libprotobuf-dev openssl
# Debian's etcd-server package may try to start its service; the tests never use it.
if have_all; then
    echo "etcd-setup: installed $(etcd --version | head -1), $(protoc --version)"
else
    echo "etcd-setup: installation incomplete" >&2
    exit 1
fi
