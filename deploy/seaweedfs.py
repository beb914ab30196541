"""The `weed server` command docker-compose.yml's seaweedfs service runs, for the processes that
run it outside containers: the tests' S3 server (tests/conftest.py) and `make load`'s
(load/stack.py). tests/test_compose.py holds these flags to compose's."""

from __future__ import annotations

from pathlib import Path

# No telemetry, one master that starts at once, the filer's HTTP API closed (it would list and
# delete any object without a signature), no IAM API, no Iceberg or Lance catalog ports, and as
# many volumes as the disk holds.
HARDENING = (
    "-master.telemetry=false",
    "-master.peers=none",
    "-filer.disableHttp",
    "-s3.iam=false",
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    "-volume.max=0",
)
# The ports `weed server` opens besides S3's own: each process here picks free loopback ones.
PORTS = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)


def server_command(
    weed: Path, *, data_dir: Path, ports: dict[str, int], config: Path, volume_mb: int
) -> list[str]:
    """`weed server -s3` on loopback with compose's flags, its identities from ``config``."""
    p = ports
    return [
        str(weed),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={p['master']}",
        f"-master.port.grpc={p['master_grpc']}",
        f"-volume.port={p['volume']}",
        f"-volume.port.grpc={p['volume_grpc']}",
        f"-filer.port={p['filer']}",
        f"-filer.port.grpc={p['filer_grpc']}",
        "-s3",
        f"-s3.port={p['s3']}",
        f"-s3.port.grpc={p['s3_grpc']}",
        f"-s3.config={config}",
        f"-master.volumeSizeLimitMB={volume_mb}",
        *HARDENING,
    ]
