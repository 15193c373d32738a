"""The OCI image writer and the base reader on small made-up bundles: reproducible bytes,
the platform of an arm64 target, a user's base, a stranger's broken layout refused."""

from __future__ import annotations

import doctest
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES

from gopack import pipeline
from gopack.archive import oci, oci_base, oci_push
from gopack.archive import write as archive
from gopack.errors import UsageError
from gopack.platform.base import RuntimeBase, RuntimeFile
from gopack.platform.linux import runtime
from gopack.platform.target import make as make_target
from gopack.recipe import model as recipe


def fake_bundle(where: Path, *, program: bytes = b"\x7fELF program") -> Path:
    root = where / "bundle"
    (root / "python" / "lib" / "python3.11").mkdir(parents=True)
    (root / "python" / "lib" / "python3.11" / "os.py").write_text("# os\n")
    (root / "python" / "lib" / "python3.11" / "copy.py").write_text("# os\n")  # the same bytes: a hard link
    (root / "python" / "bin").mkdir()
    (root / "python" / "bin" / "python3.11").write_bytes(b"\x7fELF python")
    (root / "python" / "bin" / "python3.11").chmod(0o755)
    (root / "python" / "bin" / "python3").symlink_to("python3.11")
    (root / "bin").mkdir()
    (root / "bin" / "demo").write_bytes(program)
    (root / "bin" / "demo").chmod(0o755)
    (root / "app").mkdir()
    (root / "app" / "hello.py").write_text("print('hi')\n")
    (root / "gopack.json").write_text("{}\n")
    return root


def fake_runtime(where: Path) -> RuntimeBase:
    libc = where / "libc.so.6"
    libc.write_bytes(b"\x7fELF libc")
    return RuntimeBase(
        files=(
            RuntimeFile(path="lib64/ld-linux-x86-64.so.2", source=libc, why="the loader"),
            RuntimeFile(path="usr/lib/x86_64-linux-gnu/libc.so.6", source=libc, why="needed by the bundle"),
        ),
        env=(("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),),
        record={"root": "this machine"},
    )


def image(
    root: Path, dest: Path, *, goarch: str = "amd64", base: oci_base.Base | None = None, runtime_base: RuntimeBase | None = None
) -> oci.Image:
    python = frozenset({"python", *(f"python/{r.as_posix()}" for r in archive.walk(root / "python"))})
    files = archive.manifest_files(root)
    links = archive.duplicates(files, "tar.gz")
    spec = oci.ImageSpec(name="demo", version="1.2.3", goarch=goarch, program="bin/demo", created=archive.epoch())
    return oci.write_image(root, dest, spec=spec, python=python, links=links, level=6, segment=None, runtime=runtime_base, base=base)


def load(layout: Path, digest: str) -> Any:
    return json.loads((layout / "blobs" / "sha256" / digest.partition(":")[2]).read_bytes())


def members(layout: Path, layer: oci.Layer) -> list[tarfile.TarInfo]:
    with tarfile.open(layout / "blobs" / "sha256" / layer.descriptor.hex) as tar:
        return tar.getmembers()


def test_an_image_is_the_same_bytes_each_time_and_its_digests_hold(tmp_path: Path) -> None:
    root = fake_bundle(tmp_path)
    one = image(root, tmp_path / "one" / "demo.oci", runtime_base=fake_runtime(tmp_path))
    two = image(root, tmp_path / "two" / "demo.oci", runtime_base=fake_runtime(tmp_path))
    assert one.archive.read_bytes() == two.archive.read_bytes()
    assert one.manifest == two.manifest
    layout = one.layout
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    config = load(layout, one.config.digest)
    for layer, diff_id in zip(one.layers, config["rootfs"]["diff_ids"]):
        data = (layout / "blobs" / "sha256" / layer.descriptor.hex).read_bytes()
        assert layer.descriptor.size == len(data)
        assert f"sha256:{hashlib.sha256(gzip.decompress(data)).hexdigest()}" == diff_id
        assert data[4:8] == b"\0\0\0\0" and not data[3] & 0x08  # gzip: no time, no name
    assert len(config["history"]) == 3
    # Layers: runtime base, then python/ alone, then the rest; every entry 0:0 at the fixed time.
    base, python, app = (members(layout, la) for la in one.layers)
    assert {m.name for m in python} == {
        "opt",
        "opt/demo",
        *(f"opt/demo/{r.as_posix()}" for r in [Path("python"), *(Path("python") / p for p in archive.walk(root / "python"))]),
    }
    assert [m.name for m in app] == [
        "opt",
        "opt/demo",
        "opt/demo/app",
        "opt/demo/app/hello.py",
        "opt/demo/bin",
        "opt/demo/bin/demo",
        "opt/demo/gopack.json",
    ]
    assert {"etc/passwd", "etc/group", "tmp", "home/nonroot", oci.RECORD, "lib64/ld-linux-x86-64.so.2"} <= {m.name for m in base}
    for m in base + python + app:
        assert m.mtime == archive.DEFAULT_EPOCH and m.uname == m.gname == ""
        assert (m.uid, m.gid) == ((oci.NONROOT,) * 2 if m.name == "home/nonroot" else (0, 0))
    assert next(m for m in base if m.name == "tmp").mode == 0o1777
    assert any(m.islnk() for m in python), "identical files are stored once"
    # The tar that podman load and docker load read: the layout plus Docker's manifest.json.
    with tarfile.open(one.archive) as tar:
        names = tar.getnames()
        docker = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert names == sorted(names) and {"oci-layout", "index.json", "manifest.json"} <= set(names)
    assert docker == [
        {
            "Config": f"blobs/sha256/{one.config.hex}",
            "RepoTags": ["demo:1.2.3"],
            "Layers": [f"blobs/sha256/{la.descriptor.hex}" for la in one.layers],
        }
    ]


def test_source_date_epoch_sets_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_bundle(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    made = image(root, tmp_path / "demo.oci")
    config = load(made.layout, made.config.digest)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"]["Labels"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert {m.mtime for la in made.layers for m in members(made.layout, la)} == {1700000000}


def test_an_arm64_image_says_linux_arm64_v8_in_the_index_and_config(tmp_path: Path) -> None:
    made = image(fake_bundle(tmp_path), tmp_path / "demo.oci", goarch="arm64")
    index = json.loads((made.layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "demo:1.2.3"}
    assert entry["digest"] == made.manifest.digest
    config = load(made.layout, made.config.digest)
    assert (config["architecture"], config["os"], config["variant"]) == ("arm64", "linux", "v8")
    assert config["config"]["Entrypoint"] == ["/opt/demo/bin/demo"]
    assert config["config"]["User"] == "65532:65532"


def test_an_image_on_a_users_base_appends_its_layers_and_keeps_the_bases_settings(tmp_path: Path) -> None:
    base_made = image(fake_bundle(tmp_path), tmp_path / "base.oci", runtime_base=fake_runtime(tmp_path))
    # Make the base look like a user's: its own Env, Cmd and label.
    config = load(base_made.layout, base_made.config.digest)
    config["config"] = {"Env": ["PATH=/usr/sbin:/usr/bin", "LANG=C.UTF-8"], "Cmd": ["bash"], "Labels": {"vendor": "me"}}
    _rewrite_config(base_made.layout, config)
    base = oci_base.read(f"{base_made.layout}:demo:1.2.3", goarch="amd64")
    assert base.name == "demo:1.2.3" and len(base.layers) == 3
    other = tmp_path / "other"
    other.mkdir()
    made = image(fake_bundle(other, program=b"\x7fELF another program"), tmp_path / "on-base.oci", base=base)
    assert made.base_layers == 3 and len(made.layers) == 5
    assert [la.descriptor for la in made.layers[:3]] == [la.descriptor for la in base.layers]
    mine = load(made.layout, made.config.digest)
    assert mine["rootfs"]["diff_ids"][:3] == config["rootfs"]["diff_ids"]
    assert len(mine["history"]) == 5
    assert mine["config"]["Env"] == ["PATH=/opt/demo/bin:/usr/sbin:/usr/bin", "LANG=C.UTF-8"]
    assert "Cmd" not in mine["config"] and mine["config"]["Labels"]["vendor"] == "me"
    manifest = load(made.layout, made.manifest.digest)
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == base.manifest.digest
    for layer in made.layers:
        assert (made.layout / "blobs" / "sha256" / layer.descriptor.hex).is_file()


def _rewrite_config(layout: Path, config: dict[str, Any]) -> None:
    """Put ``config`` in the layout's only image, its manifest and index updated."""
    data = json.dumps(config).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    index = json.loads((layout / "index.json").read_text())
    manifest = load(layout, index["manifests"][0]["digest"])
    manifest["config"] = {**manifest["config"], "digest": f"sha256:{digest}", "size": len(data)}
    mdata = json.dumps(manifest).encode()
    mdigest = hashlib.sha256(mdata).hexdigest()
    (layout / "blobs" / "sha256" / mdigest).write_bytes(mdata)
    index["manifests"][0].update(digest=f"sha256:{mdigest}", size=len(mdata))
    (layout / "index.json").write_text(json.dumps(index))


def test_a_base_of_another_platform_or_damaged_is_refused_before_any_work(tmp_path: Path) -> None:
    made = image(fake_bundle(tmp_path), tmp_path / "base.oci")
    with pytest.raises(UsageError, match="no image for linux/arm64"):
        oci_base.read(str(made.layout), goarch="arm64")
    with pytest.raises(UsageError, match="no image tagged 'nope'"):
        oci_base.read(f"{made.layout}:nope", goarch="amd64")
    with pytest.raises(UsageError, match="not an OCI image layout"):
        oci_base.read(str(tmp_path), goarch="amd64")
    damaged = tmp_path / "damaged.oci"
    shutil.copytree(made.layout, damaged)
    (damaged / "blobs" / "sha256" / made.config.hex).write_bytes(b"{}")
    with pytest.raises(UsageError, match="is not a file of"):
        oci_base.read(str(damaged), goarch="amd64")
    (damaged / "blobs" / "sha256" / made.config.hex).write_bytes(b"x" * made.config.size)
    with pytest.raises(UsageError, match="does not match its digest"):
        oci_base.read(str(damaged), goarch="amd64")
    (damaged / "index.json").write_text('{"schemaVersion": 2, "manifests": [{"digest": "sha256:../../etc", "size": 1}]}')
    with pytest.raises(UsageError, match="not sha256"):
        oci_base.read(str(damaged), goarch="amd64")


def test_a_changed_base_layer_is_found_while_it_is_copied(tmp_path: Path) -> None:
    made = image(fake_bundle(tmp_path), tmp_path / "base.oci")
    base = oci_base.read(str(made.layout), goarch="amd64")
    blob = base.layers[0].source
    blob.write_bytes(b"\0" * blob.stat().st_size)  # after the check, before the copy
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(Exception, match="does not match its digest"):
        image(fake_bundle(other), tmp_path / "on-base.oci", base=base)
    assert not (tmp_path / "on-base.oci").exists() and not list(tmp_path.glob(".on-base.oci.*"))


def test_the_runtime_base_from_this_machine_holds_the_closure_of_what_the_bundle_needs(tmp_path: Path) -> None:
    root = fake_bundle(tmp_path)
    target = make_target("amd64", sysroot=None, glibc=None)
    found = runtime.runtime_base(root, program="bin/demo", host_libraries=["libstdc++.so.6"], target=target)
    names = {Path(f.path).name for f in found.files}
    assert {"ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"} <= names
    assert found.files[0].path == "lib64/ld-linux-x86-64.so.2"
    # The libraries in folders, not links to them, as on this machine: where the loader's search finds them.
    assert all(not Path("/", f.path).parent.is_symlink() for f in found.files[1:])
    # No _ssl in the tree, no crypto/x509 in the program, no zoneinfo: neither certificates nor zones.
    assert found.record["certificates"] is None and found.record["zoneinfo"] is None and found.env == ()
    record = {f["path"]: f for f in found.record["files"]}
    assert record["/lib64/ld-linux-x86-64.so.2"]["why"] == "the loader every program of the bundle names"
    if Path("/var/lib/dpkg/status").is_file():
        assert record["/lib64/ld-linux-x86-64.so.2"]["package"].startswith("libc6 ")
    # Go's TLS and time zones in the program: both come in, SSL_CERT_FILE names the certificates.
    (root / "bin" / "demo").write_bytes(b"\x7fELF crypto/x509.(*CertPool) time.LoadLocation")
    found = runtime.runtime_base(root, program="bin/demo", host_libraries=[], target=target)
    if Path("/etc/ssl/certs/ca-certificates.crt").is_file():
        assert found.env == (("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),)
    if Path("/usr/share/zoneinfo/UTC").is_file():
        zones = {f.path for f in found.files if f.path.startswith("usr/share/zoneinfo/")}
        assert "usr/share/zoneinfo/UTC" in zones and not any(z.startswith("usr/share/zoneinfo/right/") for z in zones)


def test_doctests() -> None:
    for module in (oci, oci_base, oci_push):
        assert doctest.testmod(module, report=False).failed == 0


def test_tags_and_names_fit_what_registries_take() -> None:
    assert oci.tag_of("1.0.0+build.5") == "1.0.0-build.5"
    assert oci.docker_name("My_App") == "my_app"
    assert oci_base.split("/no/such/layout:v1") == (Path("/no/such/layout"), "v1")
    assert oci_base.split("/tmp:demo:1.0") == (Path("/tmp"), "demo:1.0")


def test_what_a_killed_writer_left_is_removed_and_a_live_ones_is_not(tmp_path: Path) -> None:
    root = fake_bundle(tmp_path)
    dest = tmp_path / "out" / "demo.oci"
    dead = 2**22 + 1  # above pid_max's default: no such process
    left = [dest.with_name(f".demo.oci.{dead}.tmp"), dest.with_name(f".demo.oci-old.{dead}.tmp")]
    for folder in left:
        (folder / "blobs").mkdir(parents=True)
    dest.with_name(f".demo.oci.tar.{dead}.tmp").write_bytes(b"half")
    live = dest.with_name(f".demo.oci.{dead + 1}.tmp")
    live.mkdir()
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        image(root, dest)
        image(root, dest)  # a second run replaces the first's layout
    finally:
        os.close(fd)
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted(["demo.oci", "demo.oci.tar", live.name])


def test_base_without_an_image_and_a_gzip_level_over_9_are_refused_before_any_work(tmp_path: Path) -> None:
    hello = recipe.load(EXAMPLES / "hello" / "recipe.yaml")
    with pytest.raises(UsageError, match="output format is tar.gz"):
        pipeline.bundle(hello, output_dir=tmp_path, fmt="tar.gz", base=str(tmp_path))
    with pytest.raises(UsageError, match="level 12 is out of range"):
        pipeline.bundle(hello, output_dir=tmp_path, fmt="oci", level=12)
    assert list(tmp_path.iterdir()) == []
