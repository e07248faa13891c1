"""``s3stream doctor`` on SeaweedFS and moto (the table, JSON, the cache later uploads use),
its cleanup also when interrupted, and the bad input around store capabilities: an unknown
profile, a profile the flags contradict, a bucket the credentials cannot write to, an
unreachable endpoint."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from s3stream.embedded import EmbeddedS3
from s3stream.store.probe import PROBE_PREFIX
from s3stream.store.profiles import PROFILES
from tests.support.cli import Running, cli_env, error_line, run_cli
from tests.support.faultproxy import Fault, FaultProxy, RequestInfo
from tests.support.moto import MotoS3


def no_profile(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "S3STREAM_STORE_PROFILE"}


def leftovers(client: Any, bucket: str, prefix: str) -> list[str]:
    objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


def test_doctor_on_seaweedfs_prints_the_table_caches_it_and_leaves_nothing(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    env = no_profile(cli_env(tmp_path, s3server))
    done = run_cli(["doctor", f"s3://{bucket}/{unique_key}/"], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"s3stream doctor: s3://{bucket}/{unique_key}/ at http://")
    rows = {line.split("  ")[0]: line for line in lines[2:]}
    assert "verified (a wrong value: 400 BadDigest)" in rows["checksum crc64nvme"]
    assert "sends CRC64NVME; the store verifies it" in rows["checksum crc64nvme"]
    assert "honoured (412" in rows["If-None-Match on CompleteMultipartUpload"]
    assert "--no-clobber is atomic" in rows["If-None-Match on PutObject"]
    assert "accepted" in rows["unequal parts"] and "streams grow" in rows["unequal parts"]
    assert leftovers(s3client, bucket, f"{unique_key}/") == []
    cache = tmp_path / "xdg-state" / "s3stream" / "stores.json"
    stored = json.loads(cache.read_text())["stores"]
    assert [entry["full"] for entry in stored.values()] == [True]
    src = tmp_path / "small.txt"
    src.write_bytes(b"uses the cache")
    upload = run_cli(["cp", "--debug", str(src), f"s3://{bucket}/{unique_key}/small"], env)
    assert upload.returncode == 0, upload.stderr
    assert f"store capabilities of {bucket} from {cache}" in upload.stderr
    assert PROBE_PREFIX not in upload.stderr  # no probe this time


def test_doctor_json_on_moto(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    done = run_cli(["doctor", "--json", f"s3://{bucket}"], cli_env(tmp_path, **moto.env()))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    caps = report["capabilities"]
    assert set(caps["checksums"].values()) == {"accepted"} and caps["multipart"] == {}
    assert caps["if_none_match_complete"] is True and caps["max_parts"] == 10_000
    assert report["actions"]["checksums"].startswith("computes CRC64NVME, sends none")
    facts = {f["fact"]: f for f in report["findings"]}
    assert facts["checksum crc32c"]["result"] == "accepted, not verified"
    assert facts["aws-chunked trailers"]["detail"] == "the object reads back byte for byte"
    assert leftovers(moto.client(), bucket, PROBE_PREFIX) == []


def test_an_interrupted_doctor_cleans_up(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    """Ctrl-C while the probe waits for the store: what it wrote is removed on the way out."""
    stalled: list[RequestInfo] = []

    def stall_the_copy(request: RequestInfo) -> Fault | None:
        if "x-amz-copy-source" in request.headers and not stalled:
            stalled.append(request)
            return Fault.stall(30)
        return None

    with FaultProxy(s3server.endpoint_url, stall_the_copy) as proxy:
        env = no_profile(cli_env(tmp_path, s3server, AWS_ENDPOINT_URL_S3=proxy.url))
        doctor = Running(["doctor", f"s3://{bucket}/{unique_key}/"], env)
        try:
            deadline = time.monotonic() + 60
            while not stalled and time.monotonic() < deadline:
                time.sleep(0.05)
            assert stalled, doctor.stderr
            assert leftovers(s3client, bucket, f"{unique_key}/")  # it wrote things
            doctor.proc.send_signal(signal.SIGINT)
            assert doctor.finish(timeout=30) == 130
        finally:
            doctor.kill()
    assert doctor.stderr == ["s3stream: error: interrupted"]
    assert leftovers(s3client, bucket, f"{unique_key}/") == []


def test_an_unknown_store_profile_is_one_line(
    s3server: EmbeddedS3, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(b"a")
    env = cli_env(tmp_path, s3server)
    for args, extra in (
        (["--store-profile", "s4"], {}),
        ([], {"S3STREAM_STORE_PROFILE": "s4"}),
    ):
        done = run_cli(["cp", *args, str(src), f"s3://{bucket}/never"], {**env, **extra})
        assert done.returncode == 2
        line = error_line(done.stderr)
        assert f"unknown store profile 's4': use one of {', '.join(PROFILES)}" in line
    assert s3server.client().list_objects_v2(Bucket=bucket, Prefix="never").get("KeyCount") == 0


def test_a_flag_that_contradicts_the_profile_wins_and_says_so_once_at_debug_level(
    s3server: EmbeddedS3, s3client: Any, bucket: str, unique_key: str, tmp_path: Path
) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"b" * 1000)
    args = ["cp", "--store-profile", "r2", "--no-equal-parts", str(src)]
    env = cli_env(tmp_path, s3server)
    quiet = run_cli([*args, f"s3://{bucket}/{unique_key}"], env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    debug = run_cli([*args, "--debug", f"s3://{bucket}/{unique_key}-d"], env)
    assert debug.returncode == 0, debug.stderr
    said = [line for line in debug.stderr.splitlines() if "the setting wins" in line]
    assert len(said) == 1 and " DEBUG " in said[0]
    assert "the store needs parts of equal size (store profile r2)" in said[0]


def test_doctor_on_a_bucket_it_cannot_write_to_is_one_line(
    s3server: EmbeddedS3, bucket: str, tmp_path: Path
) -> None:
    def read_only(request: RequestInfo) -> Fault | None:
        if request.method in ("PUT", "POST", "DELETE"):
            return Fault.reply(403, "AccessDenied", "Access Denied")
        return None

    with FaultProxy(s3server.endpoint_url, read_only) as proxy:
        env = cli_env(tmp_path, s3server, AWS_ENDPOINT_URL_S3=proxy.url)
        done = run_cli(["doctor", f"s3://{bucket}/ro/"], env)
        assert done.returncode == 1
        line = error_line(done.stderr)
        assert line.startswith(f"s3stream: error: cannot write to s3://{bucket}/ro/: PutObject:")
        assert "AccessDenied" in line and "use credentials that may write there" in line
        assert [r.method for r in proxy.injected] == ["PUT"]  # nothing else was tried


def test_an_unreachable_endpoint_is_one_line(bucket: str, tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="k",
        AWS_SECRET_ACCESS_KEY="s",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
    )
    src = tmp_path / "a.txt"
    src.write_bytes(b"a")
    for args in (["doctor", f"s3://{bucket}"], ["cp", str(src), f"s3://{bucket}/a"]):
        done = run_cli(args, env)
        assert done.returncode == 1, done.stderr
        line = error_line(done.stderr)
        assert "cannot reach the store: check --endpoint-url" in line, line
