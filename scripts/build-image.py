#!/usr/bin/env python3
"""Builds the wasmdask host image as an OCI image layout, without a container daemon.

    python3 scripts/build-image.py [--binary target/release/wasmdask] [--output target/oci/wasmdask]
                                   [--tag latest]
    skopeo copy oci:target/oci/wasmdask:latest docker://ghcr.io/me/wasmdask:0.1   # push

One layer, written directly (Python's tarfile/gzip, no umoci/buildah needed to build):
  /usr/local/bin/wasmdask            the release binary, debug info stripped
  /usr/local/bin/{dask-scheduler,dask-worker,dask} -> wasmdask
  the shared libraries `ldd` lists and the dynamic loader (copied from this machine, so the
  binary needs no second, static build), /etc/ssl/certs/ca-certificates.crt (s3:// over TLS),
  /etc/passwd + /etc/group with the non-root user 65532, /etc/nsswitch.conf, /tmp (1777),
  /home/nonroot. No shell, no package manager.

The config has no ENTRYPOINT: Kubernetes `args` without `command` then run args[0] from PATH
(/usr/local/bin), and every args[0] the Flyte plugin and `wasmdask render` write — `wasmdask
execute …`, `dask-scheduler`, `dask-worker …`, `dask scheduler` — is this binary under one of
its names. CMD is `wasmdask --help`. The user is 65532:65532, and the compiled-component
cache is /tmp/wasmdask-cache.

Reproducible: every file has mtime SOURCE_DATE_EPOCH (default 0) and uid/gid 0 (the home
directory 65532), entries are sorted, gzip carries no timestamp and the config no creation
time, so the same binary gives the same manifest digest (printed on the last line).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

USER = 65532
BIN_DIR = "usr/local/bin"
NAMES = ("dask-scheduler", "dask-worker", "dask")
CA_CERTS = "/etc/ssl/certs/ca-certificates.crt"
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def shared_libraries(binary):
    """The paths `ldd` resolves for `binary`, the loader included (not the vDSO)."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            paths.append(match.group(1))
    if not any("ld-linux" in p or "ld-musl" in p for p in paths) and "statically" not in out:
        sys.exit(f"ldd found no dynamic loader for {binary}:\n{out}")
    return paths


def stripped(binary, workdir):
    """A copy without debug info when `strip` exists (deterministic), else the binary itself."""
    if shutil.which("strip") is None:
        return binary
    copy = os.path.join(workdir, "wasmdask")
    subprocess.run(["strip", "--strip-debug", "-o", copy, binary], check=True)
    return copy


class Layer:
    """A tar layer with fixed metadata, entries added in sorted order at the end."""

    def __init__(self):
        self.entries = {}

    def _info(self, path, kind, mode, owner=0):
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.mtime = kind, mode, EPOCH
        info.uid = info.gid = owner
        info.uname = info.gname = ""
        return info

    def directory(self, path, mode=0o755, owner=0):
        self.entries[path] = (self._info(path, tarfile.DIRTYPE, mode, owner), None)

    def file(self, path, data, mode=0o644):
        info = self._info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.entries[path] = (info, data)
        self._parents(path)

    def symlink(self, path, target):
        info = self._info(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.entries[path] = (info, None)
        self._parents(path)

    def _parents(self, path):
        parent = os.path.dirname(path)
        while parent and parent not in self.entries:
            self.directory(parent)
            parent = os.path.dirname(parent)

    def tar(self):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                info, data = self.entries[path]
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buffer.getvalue()


def rootfs(binary, workdir):
    layer = Layer()
    with open(stripped(binary, workdir), "rb") as f:
        layer.file(f"{BIN_DIR}/wasmdask", f.read(), 0o755)
    for name in NAMES:
        layer.symlink(f"{BIN_DIR}/{name}", "wasmdask")
    for library in shared_libraries(binary):
        with open(os.path.realpath(library), "rb") as f:
            layer.file(library.lstrip("/"), f.read(), 0o755)
        # /lib64 and friends are often symlinks on the host; in the image they are real paths.
    if os.path.exists(CA_CERTS):
        with open(CA_CERTS, "rb") as f:
            layer.file(CA_CERTS.lstrip("/"), f.read())
    else:
        sys.exit(f"{CA_CERTS} is missing: apt-get install ca-certificates")
    layer.file(
        "etc/passwd",
        f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/home/nonroot:/sbin/nologin\n".encode(),
    )
    layer.file("etc/group", f"root:x:0:\nnonroot:x:{USER}:\n".encode())
    layer.file("etc/nsswitch.conf", b"hosts: files dns\n")
    layer.directory("tmp", 0o1777)
    layer.directory("home")
    layer.directory("home/nonroot", 0o755, USER)
    return layer.tar()


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build(binary, layout, tag, version):
    if os.path.exists(layout):
        shutil.rmtree(layout)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    with tempfile.TemporaryDirectory() as workdir:
        tar = rootfs(binary, workdir)
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
        gz.write(tar)
    layer = blob(layout, compressed.getvalue())
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {
            "User": f"{USER}:{USER}",
            "Env": [
                "PATH=/usr/local/bin",
                "HOME=/home/nonroot",
                "WASMDASK_CACHE_DIR=/tmp/wasmdask-cache",
                "SSL_CERT_FILE=" + CA_CERTS,
            ],
            "Cmd": ["wasmdask", "--help"],
            "WorkingDir": "/home/nonroot",
            "ExposedPorts": {"8786/tcp": {}, "8787/tcp": {}},
            "Labels": {
                "org.opencontainers.image.title": "wasmdask",
                "org.opencontainers.image.version": version,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created_by": "scripts/build-image.py"}],
    }
    config_desc = blob(layout, canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    manifest_desc = blob(layout, canonical(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_desc,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(canonical(index))
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    return manifest_desc["digest"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="target/release/wasmdask")
    parser.add_argument("--output", default="target/oci/wasmdask", help="the OCI layout directory (replaced)")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--version", default="0.1.0", help="the image's version label")
    args = parser.parse_args()
    if not os.path.isfile(args.binary):
        sys.exit(f"{args.binary} is missing: cargo build --release -p wasmdask")
    digest = build(args.binary, args.output, args.tag, args.version)
    print(f"built oci:{args.output}:{args.tag}", file=sys.stderr)
    print(digest)


if __name__ == "__main__":
    main()
