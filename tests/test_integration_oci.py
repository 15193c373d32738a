"""Issue 24 item 2: the sklearn example as an OCI image, proven with Debian's skopeo,
podman (runc) and docker-registry.

Two builds: the example, and a copy whose main.go prints one more line. Only the
application layer (and so the config and manifest) may differ between them; a
registry that has the first receives only that layer and the config for the second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, gopack_cli, require_pyenv
from debian_roots import debian_root
from test_oci import fake_bundle

from gopack import pipeline
from gopack.archive import oci
from gopack.archive import write as archive
from gopack.pipeline import Bundle
from gopack.platform.linux import analysis, runtime
from gopack.platform.target import make as make_target
from gopack.recipe import model as recipe

pytestmark = pytest.mark.integration

TOOLS = ("skopeo", "podman", "runc", "docker-registry")
#: What main.go prints in the second version only.
CHANGED = "[CHANGED] second version"


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/bin/{t}").exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make setup` installs Debian's {', '.join(TOOLS)}")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Bundle, Bundle]:
    """The example's image, and that of a copy differing only in main.go (the cache is shared, as a user's is)."""
    require_pyenv("3.7")
    where = tmp_path_factory.mktemp("oci")
    copy = where / "sklearn v2"
    shutil.copytree(EXAMPLES / "sklearn", copy, ignore=shutil.ignore_patterns("dist"))
    main = copy / "main.go"
    source = main.read_text()
    marker = 'fmt.Printf("[CV] %s\\n", call(model, "cv_scores"))'
    assert marker in source
    main.write_text(source.replace(marker, f'{marker}\n\tfmt.Println("{CHANGED}")'))
    built = []
    mp = pytest.MonkeyPatch()
    mp.setenv("GOPACK_CACHE_DIR", str(cache_dir))
    try:
        for n, path in enumerate((EXAMPLES / "sklearn" / "recipe.yaml", copy / "recipe.yaml")):
            built.append(pipeline.bundle(recipe.load(path), output_dir=where / f"out{n}", fmt="oci"))
    finally:
        mp.undo()
    return built[0], built[1]


def skopeo_inspect(bundle: Bundle, *extra: str) -> dict[str, object]:
    assert bundle.image is not None
    ref = f"oci:{bundle.image.layout}:{bundle.image.tag}"
    out = subprocess.run(["skopeo", "inspect", *extra, ref], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def test_skopeo_reads_the_layout(images: tuple[Bundle, Bundle]) -> None:
    one, _ = images
    assert one.image is not None
    seen = skopeo_inspect(one)
    assert seen["Architecture"] == "amd64" and seen["Os"] == "linux"
    assert seen["Digest"] == one.image.manifest.digest
    assert seen["Layers"] == [la.descriptor.digest for la in one.image.layers]
    assert seen["Labels"] == {
        "org.opencontainers.image.title": "sklearn-demo",
        "org.opencontainers.image.version": "0.1.0",
        "org.opencontainers.image.created": "1980-01-01T00:00:00Z",
    }
    config = skopeo_inspect(one, "--config")
    settings = config["config"]
    assert isinstance(settings, dict)
    assert settings["User"] == "65532:65532"
    assert settings["Entrypoint"] == ["/opt/sklearn-demo/bin/sklearn-demo"]
    assert settings["WorkingDir"] == "/opt/sklearn-demo"
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in settings["Env"]
    sizes = {la.created_by.split(": ", 1)[1]: round(la.descriptor.size / 1e6, 1) for la in one.image.layers}
    print(f"layers (MB): {sizes}")


def test_only_the_application_layer_changes_with_main_go(images: tuple[Bundle, Bundle]) -> None:
    one, two = images
    assert one.image is not None and two.image is not None
    first, second = [la.descriptor.digest for la in one.image.layers], [la.descriptor.digest for la in two.image.layers]
    assert len(first) == len(second) == 3
    assert first[:2] == second[:2], "the runtime base and the Python layer must be byte-identical"
    assert first[2] != second[2]
    assert one.image.config.digest != two.image.config.digest
    print(f"equal: {first[:2]}; application {first[2]} -> {second[2]}")


def test_podman_loads_and_runs_the_image_without_network(images: tuple[Bundle, Bundle], tmp_path: Path) -> None:
    _, two = images
    assert two.image is not None
    # podman refuses a runroot path over 50 characters: a short one of its own, removed afterwards.
    runroot = Path(tempfile.mkdtemp(prefix="gopack-podman-"))
    podman = [
        "podman",
        "--root",
        str(tmp_path / "root"),
        "--runroot",
        str(runroot),
        "--runtime",
        "runc",
        "--cgroup-manager=cgroupfs",
        "--storage-driver",
        "vfs",
        "--events-backend",
        "none",
    ]
    try:
        loaded = subprocess.run([*podman, "load", "-i", str(two.image.archive)], capture_output=True, text=True, check=False)
        assert loaded.returncode == 0, loaded.stderr
        assert "localhost/sklearn-demo:0.1.0" in loaded.stdout + loaded.stderr
        limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512"]
        ran = subprocess.run(
            [*podman, "run", "--rm", "--network", "none", *limits, "localhost/sklearn-demo:0.1.0"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        for expected in ("[IMPORT] sklearn version = 1.0.2", "[PREDICT]", "[CV]", CHANGED):
            assert expected in ran.stdout, ran.stdout + ran.stderr
        whoami = subprocess.run(
            [*podman, "image", "inspect", "--format", "{{.Config.User}}", "localhost/sklearn-demo:0.1.0"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert whoami.stdout.strip() == "65532:65532"
    finally:
        # Only this test's store (vfs layers are plain folders; nothing stays mounted): not `system
        # reset`, which would also remove the machine's network definitions.
        subprocess.run([*podman, "rmi", "--all", "--force"], capture_output=True, check=False)
        shutil.rmtree(runroot, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """Debian's docker-registry on 127.0.0.1 with its own storage: (host:port, storage, log)."""
    port = _free_port()
    storage, log = tmp_path / "storage", tmp_path / "registry.log"
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"docker-registry did not start: {log.read_text()}")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", storage, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _uploads(log: Path, since: int) -> list[str]:
    """The digests of the blobs whose upload the registry completed, from its log after byte ``since``."""
    text = log.read_bytes()[since:].decode(errors="replace")
    return re.findall(r'"PUT /v2/\S+/blobs/uploads/\S*?[?&]digest=(sha256(?::|%3A)[0-9a-f]{64})\S* HTTP/[\d.]+" 201 ', text)


def _stored(storage: Path) -> set[str]:
    return {p.parent.name for p in storage.glob("docker/registry/v2/blobs/sha256/*/*/data")}


def test_second_push_uploads_only_the_application_layer_and_config(
    images: tuple[Bundle, Bundle], registry: tuple[str, Path, Path], cache_dir: Path
) -> None:
    one, two = images
    assert one.image is not None and two.image is not None
    host, storage, log = registry
    counts = []
    for n, bundle in enumerate((one, two)):
        assert bundle.image is not None
        since = log.stat().st_size
        before = _stored(storage)
        pushed = subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{bundle.image.layout}:{bundle.image.tag}",
                f"docker://{host}/sklearn-demo:v{n + 1}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert pushed.returncode == 0, pushed.stderr
        time.sleep(0.5)  # the access log is written after the response
        uploads = {u.replace("%3A", ":") for u in _uploads(log, since)}
        added = _stored(storage) - before
        counts.append((len(uploads), len(added)))
        if n == 0:
            assert uploads == {*(la.descriptor.digest for la in one.image.layers), one.image.config.digest}
        else:
            assert uploads == {two.image.layers[2].descriptor.digest, two.image.config.digest}
            # The registry stores the manifest as a blob too: the application layer, config and manifest.
            assert added == {two.image.layers[2].descriptor.hex, two.image.config.hex, two.image.manifest.hex}
    print(f"blobs uploaded (uploads, new blobs in storage): first push {counts[0]}, second push {counts[1]}")
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{host}/sklearn-demo:v2"], capture_output=True, text=True, check=True
    )
    assert json.loads(inspected.stdout)["Digest"] == two.image.manifest.digest
    # gopack push: the same through skopeo, tagged with the version; the registry has every blob by now.
    since = log.stat().st_size
    pushed = gopack_cli("push", str(two.image.layout), f"{host}/sklearn-demo", "--insecure", "--json", cache=cache_dir)
    assert pushed.returncode == 0, pushed.stderr
    report = json.loads(pushed.stdout)
    assert report["destination"] == f"docker://{host}/sklearn-demo:0.1.0"
    assert report["digest"] == two.image.manifest.digest
    time.sleep(0.5)
    assert _uploads(log, since) == []
    refused = gopack_cli("push", str(two.image.layout), "no registry here", cache=cache_dir)
    assert refused.returncode == 6 and "is not a registry reference" in refused.stderr


def test_an_arm64_image_takes_its_runtime_base_from_the_arm64_root(tmp_path: Path) -> None:
    """The aarch64 target: the runtime base from a Debian 11 arm64 root, linux/arm64 in the index
    (a made-up bundle: building the example for arm64 under qemu is the cross tests' job)."""
    root = debian_root("bullseye", arch="arm64")
    target = make_target("arm64", sysroot=root, glibc=None)
    bundle = fake_bundle(tmp_path)
    found = runtime.runtime_base(bundle, program="bin/demo", host_libraries=["libstdc++.so.6"], target=target)
    paths = {f.path: f for f in found.files}
    assert "lib/ld-linux-aarch64.so.1" in paths
    assert {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6"} <= {Path(p).name for p in paths}
    for f in found.files:
        assert f.source.is_relative_to(root) and analysis.elf_machine(f.source) == "EM_AARCH64", f
    assert found.record["root"] == "the target's root" and found.record["glibc"] == "2.31"
    assert all(not str(f["from"]).startswith(str(root)) for f in found.record["files"]), "no build paths in the record"
    python = frozenset({"python", *(f"python/{r.as_posix()}" for r in archive.walk(bundle / "python"))})
    spec = oci.ImageSpec(name="demo", version="1.0", goarch=target.goarch, program="bin/demo", created=archive.epoch(), env=found.env)
    made = oci.write_image(bundle, tmp_path / "demo.oci", spec=spec, python=python, links={}, level=6, segment=None, runtime=found)
    seen = json.loads(
        subprocess.run(["skopeo", "inspect", f"oci:{made.layout}:{made.tag}"], capture_output=True, text=True, check=True).stdout
    )
    assert (seen["Architecture"], seen["Os"]) == ("arm64", "linux")
    index = json.loads((made.layout / "index.json").read_text())
    assert index["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
