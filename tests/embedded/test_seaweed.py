"""The embedded SeaweedFS store: signed access, loopback-only listeners, restarts, clean stops."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from s3stream.embedded import EmbeddedS3, EmbeddedStoreError, find_weed_binary

LISTEN = "0A"  # TCP state code in /proc/net/tcp*


def _decode_address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Decode the address column of /proc/net/{tcp,udp}[6] (32-bit words, host byte order)."""
    raw = b"".join(bytes.fromhex(hex_addr[i : i + 8])[::-1] for i in range(0, len(hex_addr), 8))
    return ipaddress.ip_address(raw)


def listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP and unconnected UDP socket of *pid*."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        table = Path(f"/proc/{pid}/net/{proto}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode not in inodes:
                continue
            remote_port = int(remote.split(":")[1], 16)
            if (proto.startswith("tcp") and state != LISTEN) or remote_port != 0:
                continue
            hex_addr, hex_port = local.split(":")
            address = _decode_address(hex_addr)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            found.append((proto, str(address), int(hex_port, 16)))
    return found


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _get(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_signed_requests_work(s3client: Any, bucket: str, unique_key: str) -> None:
    names = [b["Name"] for b in s3client.list_buckets()["Buckets"]]
    assert bucket in names
    s3client.put_object(Bucket=bucket, Key=unique_key, Body=b"hello")
    assert _get(s3client, bucket, unique_key) == b"hello"


def test_wrong_secret_key_is_rejected(s3server: EmbeddedS3, bucket: str) -> None:
    client = botocore.session.get_session().create_client(
        "s3",
        region_name=s3server.region,
        endpoint_url=s3server.endpoint_url,
        aws_access_key_id=s3server.access_key,
        aws_secret_access_key=s3server.secret_key + "x",
    )
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=bucket)
    assert info.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_missing_bucket_is_not_auto_created(s3client: Any, unique_key: str) -> None:
    with pytest.raises(ClientError) as info:
        s3client.put_object(Bucket="no-such-bucket", Key=unique_key, Body=b"x")
    assert info.value.response["Error"]["Code"] == "NoSuchBucket"


def test_every_listener_is_on_loopback(s3server: EmbeddedS3) -> None:
    assert s3server.pid is not None
    sockets = listening_sockets(s3server.pid)
    assert ("tcp", "127.0.0.1", s3server.port) in sockets
    assert len(sockets) >= 5  # master, volume, filer, s3, admin (plus their gRPC ports)
    assert {address for _, address, _ in sockets} == {"127.0.0.1"}, sockets


def test_env_points_at_the_store(s3server: EmbeddedS3) -> None:
    env = s3server.env()
    assert env["AWS_ENDPOINT_URL_S3"] == s3server.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == s3server.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == s3server.secret_key
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert s3server.endpoint_url.startswith("http://127.0.0.1:")


@pytest.mark.integration
def test_restart_keep_objects_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = EmbeddedS3(data_dir=tmp_path / "store", buckets=("keep",))
    with server:
        client = server.client()
        client.put_object(Bucket="keep", Key="a", Body=b"before restart")
        old_pid, old_url = server.pid, server.endpoint_url
        server.restart()
        assert server.pid != old_pid
        assert server.endpoint_url == old_url
        assert _get(client, "keep", "a") == b"before restart"

        client.put_object(Bucket="keep", Key="b", Body=b"before crash")
        server.kill()
        assert server.pid is None and not server.running
        server.start()
        assert server.running
        assert _get(client, "keep", "b") == b"before crash"
        pid = server.pid
    assert pid is not None and _process_gone(pid)
    assert server.pid is None
    server.stop()  # idempotent
    assert (tmp_path / "store" / "weed.log").stat().st_size > 0

    # A new instance (new ports, new keys) on the same directory sees the same objects.
    with EmbeddedS3(data_dir=tmp_path / "store") as again:
        assert _get(again.client(), "keep", "a") == b"before restart"


@pytest.mark.integration
def test_temporary_data_dir_is_removed() -> None:
    server = EmbeddedS3()
    with server:
        data_dir = server.data_dir
        assert data_dir.is_dir()
    assert not data_dir.exists()
    with pytest.raises(EmbeddedStoreError, match="temporary data"):
        server.start()


def test_port_in_use_is_reported(s3server: EmbeddedS3) -> None:
    with pytest.raises(EmbeddedStoreError, match="not free"):
        EmbeddedS3(port=s3server.port).start()


def test_early_exit_is_reported_with_log_tail(tmp_path: Path) -> None:
    script = tmp_path / "weed"
    script.write_text("#!/bin/sh\necho 'pretend weed cannot start' >&2\nexit 3\n")
    script.chmod(0o755)
    server = EmbeddedS3(data_dir=tmp_path / "store", weed_binary=str(script))
    with pytest.raises(EmbeddedStoreError, match="status 3") as info:
        server.start()
    assert "pretend weed cannot start" in str(info.value)
    assert server.pid is None


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedStoreError, match="not found"):
        find_weed_binary(str(tmp_path / "nowhere" / "weed"))
