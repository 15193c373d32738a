"""The SBOM, the Go build info, dpkg's answers and SHA256SUMS, without building anything."""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.output.json import JsonV1Dot6

from gopack import sbom
from gopack._fs import sha256_file
from gopack.archive import checksums
from gopack.errors import BuildError
from gopack.go import buildinfo
from gopack.platform.base import Origin
from gopack.platform.linux import dpkg
from gopack.platform.linux.platform import LINUX
from gopack.platform.target import Target
from gopack.python.conda import Record
from gopack.sbom import cyclonedx
from gopack.verify import checks


@pytest.mark.parametrize("module", [buildinfo, dpkg, checksums, checks], ids=lambda m: m.__name__)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, verbose=False, report=False)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


BUILD_INFO = buildinfo.parse(
    "bin/app: go1.26.8\n\tpath\texample.com/app\n\tmod\texample.com/app\t(devel)\t\n"
    "\tdep\tgithub.com/DataDog/go-python3\tv0.0.0-20211102160307-40adc605f1fe\th1:bNMi0HArOQY4899TKLi4RP7g9BZ2kwLOiVpoJHWxyFs=\n"
    "\tdep\tgolang.org/x/text\tv0.3.0\th1:abc=\n\t=>\t../text\t(devel)\t\n"
    "\tbuild\tCGO_ENABLED=1\n",
    where="bin/app",
)
SHA = {name: f"{i:064x}" for i, name in enumerate(["bin/app", "python/lib/libz-1234abcd.so.1", "python/lib/libgfortran-9f.so.5", "other"])}


def manifest(**changes: Any) -> dict[str, Any]:
    document = {
        "name": "app",
        "version": "1.0",
        "platform": "manylinux_2_31_x86_64",
        "python": {
            "version": "3.7.16",
            "abi": "cp37m",
            "tag": "cp37",
            "libpython": "libpython3.7m.so.1.0",
            "executable": "python/bin/python3.7",
        },
        "go": {"version": "go1.26.8", "goos": "linux", "goarch": "amd64", "binary": "bin/app", "linked_for": "x86_64-linux-gnu.2.31"},
        "glibc": {"floor": "2.31"},
        "installer": "uv",
        "packages": [
            {"name": "numpy", "version": "1.21.6", "license": "BSD"},
            {"name": "Scikit_Learn", "version": "1.0.2", "license": "BSD-3-Clause"},
            {"name": "mystery", "version": "1", "license": "UNKNOWN"},
        ],
        "vendored": [
            {
                "name": "libz-1234abcd.so.1",
                "soname": "libz.so.1",
                "source": "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
                "sha256": "ab" * 32,
                "needed_by": [
                    "python/lib/python3.7/site-packages/numpy/core/x.so",
                    "python/lib/python3.7/lib-dynload/zlib.so",
                    "libgfortran.so.5",
                ],
            },
            {
                "name": "libgfortran-9f.so.5",
                "soname": "libgfortran.so.5",
                "source": "/opt/built-by-hand/libgfortran.so.5",
                "sha256": "cd" * 32,
                "needed_by": ["bin/app"],
            },
        ],
    }
    document.update(changes)
    return document


def sources(**changes: Any) -> sbom.Sources:
    values: dict[str, Any] = {
        "build_info": BUILD_INFO,
        "origins": {
            "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13": Origin(
                manager="deb", namespace="debian", name="zlib1g", version="1:1.2.13.dfsg-1", arch="amd64", distro="debian-12"
            )
        },
        "owners": {"python/lib/python3.7/site-packages/numpy/core/x.so": "numpy"},
        "sysroot": Path("/roots/bullseye"),
    }
    values.update(changes)
    return sbom.Sources(**values)


def files() -> list[dict[str, Any]]:
    return [{"path": p, "size": 1, "mode": 420, "sha256": d} for p, d in SHA.items()]


def components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in [document["metadata"]["component"], *document["components"]]}


def test_the_sbom_is_cyclonedx_1_6_and_says_what_is_inside() -> None:
    data = sbom.document(manifest(), files(), sources(), epoch=1700000000)
    assert sbom.validate(data) is None
    document = json.loads(data)
    assert document["specVersion"] == "1.6" and document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    found = components(document)
    purls = {c.get("purl") for c in found.values()}
    assert {
        "pkg:generic/app@1.0",
        "pkg:golang/example.com/app",
        "pkg:golang/github.com/DataDog/go-python3@v0.0.0-20211102160307-40adc605f1fe",
        "pkg:golang/stdlib@1.26.8",
        "pkg:generic/cpython@3.7.16",
        "pkg:pypi/numpy@1.21.6",
        "pkg:pypi/scikit-learn@1.0.2",
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12",
    } <= purls
    # A replaced module is the replacement that was compiled in, saying what it replaces; a local path has no purl.
    text = found["golang:../text@(devel)"]
    assert "purl" not in text and {"name": "gopack:go.replaces", "value": "golang.org/x/text v0.3.0"} in text["properties"]
    # Licences: an SPDX id as an id, a name as a name, UNKNOWN as nothing.
    assert found["pkg:pypi/scikit-learn@1.0.2"]["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    assert found["pkg:pypi/numpy@1.21.6"]["licenses"] == [{"license": {"name": "BSD"}}]
    assert "licenses" not in found["pkg:pypi/mystery@1"]
    # A library no package manager knows still says where it came from, with both hashes.
    fortran = found["native:python/lib/libgfortran-9f.so.5"]
    assert "purl" not in fortran and fortran["hashes"] == [{"alg": "SHA-256", "content": SHA["python/lib/libgfortran-9f.so.5"]}]
    assert {"name": "gopack:source", "value": "/opt/built-by-hand/libgfortran.so.5"} in fortran["properties"]
    assert {"name": "gopack:source.sha256", "value": "cd" * 32} in fortran["properties"]
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["gopack:glibc.floor"] == "2.31" and properties["gopack:platform"] == "manylinux_2_31_x86_64"
    assert properties["gopack:target.goarch"] == "amd64" and properties["gopack:target.sysroot"] == "/roots/bullseye"
    assert sbom.file_hashes(document) == {p: SHA[p] for p in ("bin/app", "python/lib/libz-1234abcd.so.1", "python/lib/libgfortran-9f.so.5")}
    assert sbom.counts(document) == {
        "application": 1,
        "cpython": 1,
        "go main module": 1,
        "go module": 2,
        "go toolchain": 1,
        "native library": 2,
        "python distribution": 3,
    }


def test_importing_gopack_builds_no_iri_parser_yet_the_sbom_check_still_checks_iris() -> None:
    # In a fresh interpreter, as gopack runs: what matters is what its import loads (gopack._jsonschema).
    probe = """
import json, sys
import gopack.cli
from gopack import sbom
loaded = "rfc3987_syntax" in sys.modules
data = bytes.fromhex(sys.argv[1])
good = sbom.validate(data)
bad = sbom.validate(data.replace(b"https://example.com/app", b"https://exa mple.com/<app>"))
print(json.dumps([loaded, good, bad]))
"""
    document = json.loads(sbom.document(manifest(), files(), sources(), epoch=0))
    document["metadata"]["component"]["externalReferences"] = [{"type": "website", "url": "https://example.com/app"}]
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(document).encode().hex()], capture_output=True, text=True, check=True)
    loaded, good, bad = json.loads(out.stdout)
    assert loaded is False and good is None
    assert bad is not None and "iri-reference" in bad


def test_every_format_the_validated_schemas_use_is_checked_though_unused_format_libraries_stay_unimported() -> None:
    """gopack._jsonschema keeps jsonschema's optional format libraries out of its import where no schema
    gopack validates (its own, CycloneDX 1.6's) uses their formats: each format those use must still
    have a check, by the checker of the draft the schema names (CycloneDX's validator uses draft 7's)."""
    probe = """
import json, sys
from importlib import resources
import gopack.cli
import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON

def formats(node):
    if isinstance(node, dict):
        if isinstance(node.get("format"), str) and node.get("type") in ("string", ["string"], None) and "properties" not in node:
            yield node["format"]
        for value in node.values():
            yield from formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from formats(value)

missing = {}
for name in ("recipe", "manifest", "inspect"):
    schema = json.loads(resources.files("gopack.schemas").joinpath(name + ".schema.json").read_text())
    checker = jsonschema.validators.validator_for(schema).FORMAT_CHECKER
    missing[name] = sorted(f for f in set(formats(schema)) if f not in checker.checkers)
cyclonedx = json.load(open(BOM_JSON[SchemaVersion.V1_6]))
used = sorted(set(formats(cyclonedx)))
missing["cyclonedx"] = [f for f in used if f not in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers]
print(json.dumps({"missing": missing, "cyclonedx_uses": used, "loaded": sorted(m for m in ("isoduration", "arrow", "webcolors", "fqdn", "jsonpointer", "uri_template", "rfc3986_validator") if m in sys.modules)}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert out["missing"] == {"recipe": [], "manifest": [], "inspect": [], "cyclonedx": []}, out
    assert out["cyclonedx_uses"] == ["date-time", "idn-email", "iri-reference"], "a new format: check that it is registered"
    assert out["loaded"] == [], "importing gopack should not import the format libraries no schema of it uses"


def test_the_dependency_graph_follows_needed_by() -> None:
    document = json.loads(sbom.document(manifest(), files(), sources(), epoch=0))
    graph = {d["ref"]: set(d.get("dependsOn", ())) for d in document["dependencies"]}
    libz, fortran = "native:python/lib/libz-1234abcd.so.1", "native:python/lib/libgfortran-9f.so.5"
    program = "golang:example.com/app@(devel)"
    assert graph["pkg:pypi/numpy@1.21.6"] == {libz}  # numpy's file needs it (RECORD owns the file)
    assert libz in graph["cpython"]  # a lib-dynload module needs it
    assert graph[fortran] == {libz}  # another vendored library, by soname
    datadog = "golang:github.com/DataDog/go-python3@v0.0.0-20211102160307-40adc605f1fe"
    assert graph[program] == {fortran, "golang:stdlib@1.26.8", datadog, "golang:../text@(devel)"}
    assert {program, "cpython", "pkg:pypi/numpy@1.21.6"} <= graph["application"]


def test_same_inputs_same_bytes_and_the_serial_number_follows_the_content() -> None:
    one = sbom.document(manifest(), files(), sources(), epoch=0)
    assert sbom.document(manifest(), files(), sources(), epoch=0) == one
    other = sbom.document(manifest(version="1.1"), files(), sources(), epoch=0)
    assert json.loads(one)["serialNumber"] != json.loads(other)["serialNumber"]
    assert json.loads(one)["serialNumber"].startswith("urn:uuid:")


def test_the_serial_number_put_into_the_draft_gives_what_writing_it_again_would(monkeypatch: pytest.MonkeyPatch) -> None:
    boms = []

    class Recording(JsonV1Dot6):
        def output_as_string(self, **kwargs: object) -> str:
            boms.append(self._bom)  # the model the document was written from
            return super().output_as_string(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cyclonedx, "JsonV1Dot6", Recording)
    quick = sbom.document(manifest(), files(), sources(), epoch=0)
    assert len(boms) == 1, "the document is written once"
    (bom,) = boms
    bom.serial_number = uuid.UUID(json.loads(quick)["serialNumber"].removeprefix("urn:uuid:"))
    assert quick == (JsonV1Dot6(bom).output_as_string(indent=1) + "\n").encode()


def test_a_conda_recipe_names_conda_packages() -> None:
    records = [
        Record(
            name="python", version="3.7.16", license="PSF", build="0_cpython", subdir="linux-64", channel="conda-forge", sha256="ee" * 32
        ),
        Record(name="numpy", version="1.21.6", license="BSD", build="py37h0", subdir="linux-64", channel="conda-forge", sha256="ff" * 32),
    ]
    packages = [{"name": "numpy", "version": "1.21.6", "license": "BSD"}, {"name": "python", "version": "3.7.16", "license": "PSF"}]
    data = sbom.document(manifest(packages=packages), files(), sources(conda=records), epoch=0)
    assert sbom.validate(data) is None
    found = components(json.loads(data))
    assert found["cpython"]["purl"] == "pkg:conda/python@3.7.16?build=0_cpython&channel=conda-forge&subdir=linux-64"
    numpy = next(c for c in found.values() if c["name"] == "numpy")
    assert numpy["purl"] == "pkg:conda/numpy@1.21.6?build=py37h0&channel=conda-forge&subdir=linux-64"
    assert numpy["hashes"] == [{"alg": "SHA-256", "content": "ff" * 32}]
    assert sum(c["name"] == "python" for c in found.values()) == 1  # CPython once, not also as a package


def fake_root(root: Path) -> None:
    info = root / "var" / "lib" / "dpkg" / "info"
    info.mkdir(parents=True)
    # dpkg recorded the unmerged spelling; the loader found it under /usr.
    (info / "zlib1g:amd64.list").write_text(
        "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libz.so.1.2.11\n/lib/x86_64-linux-gnu/libz.so.1\n"
    )
    (info / "other.list").write_text("/usr/bin/other\n")
    (root / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.11.dfsg-2+deb11u2\nDescription: x\n more\n\n"
        "Package: other\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n"
    )
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="11"\n')
    lib = root / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libz.so.1.2.11").write_bytes(b"\x7fELF")
    (lib / "libz.so.1").symlink_to("libz.so.1.2.11")
    (lib / "libmine.so").write_bytes(b"\x7fELF")


def test_dpkg_of_a_root_through_the_usr_merge(tmp_path: Path) -> None:
    fake_root(tmp_path)
    target = Target(goarch="amd64", libc="2.31", ld_paths=(), sysroot=tmp_path)
    lib = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    found = LINUX.origins([str(lib / "libz.so.1"), str(lib / "libmine.so"), "/elsewhere/libz.so.1"], target=target)
    assert found == {
        str(lib / "libz.so.1"): Origin(
            manager="deb", namespace="debian", name="zlib1g", version="1:1.2.11.dfsg-2+deb11u2", arch="amd64", distro="debian-11"
        )
    }


def test_dpkg_of_a_root_without_dpkg_is_no_answer(tmp_path: Path) -> None:
    assert dpkg.origins(["/usr/lib/libz.so.1"], root=tmp_path) == {}


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian host")
def test_dpkg_agrees_with_dpkg_s_on_this_host() -> None:
    libc = next(p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6") if Path(p).exists())
    # dpkg -S knows the spelling dpkg recorded alone; gopack asks with the path the loader found.
    said = subprocess.run(["dpkg", "-S", libc], capture_output=True, text=True, check=False).stdout
    found = dpkg.origins([str(Path(libc).resolve())], root=Path("/"))
    assert found and said.split(":")[0] == next(iter(found.values())).name


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_sha256sums_keeps_other_lines_replaces_its_own_and_sha256sum_reads_it(tmp_path: Path) -> None:
    a, b = write(tmp_path, "b-1.tar.gz", b"b"), write(tmp_path, "a-1.tar.gz", b"a")
    checksums.update(tmp_path, [a])
    checksums.update(tmp_path, [b])
    write(tmp_path, "b-1.tar.gz", b"b, rebuilt")
    sums = checksums.update(tmp_path, [a])
    lines = sums.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["a-1.tar.gz", "b-1.tar.gz"]
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_name_sha256sum_escapes_round_trips(tmp_path: Path) -> None:
    odd = write(tmp_path, "odd\\name.tar.gz", b"x")
    checksums.update(tmp_path, [odd])
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checksums.parse((tmp_path / "SHA256SUMS").read_text(), where="x") == {"odd\\name.tar.gz": sha256_file(odd)}


def test_a_checksum_file_gopack_cannot_read_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "SHA256SUMS").write_text("these are my notes\n")
    with pytest.raises(BuildError, match=r"SHA256SUMS:1: not a line sha256sum writes"):
        checksums.update(tmp_path, [write(tmp_path, "a.tar.gz", b"a")])
    assert (tmp_path / "SHA256SUMS").read_text() == "these are my notes\n"


def test_verify_refuses_an_sbom_that_disagrees_with_the_manifest(tmp_path: Path) -> None:
    data = sbom.document(manifest(), files(), sources(), epoch=0)
    listed = [*files(), {"path": sbom.NAME, "size": len(data), "mode": 420, "sha256": "0" * 64}]
    bundle = {**manifest(), "files": listed}
    (tmp_path / sbom.NAME).write_bytes(data)
    assert checks.check_sbom(tmp_path, bundle).ok
    changed = [dict(f, sha256="9" * 64) if f["path"] == "python/lib/libz-1234abcd.so.1" else f for f in listed]
    failed = checks.check_sbom(tmp_path, {**bundle, "files": changed})
    assert not failed.ok and "python/lib/libz-1234abcd.so.1: the SBOM's sha256" in failed.detail
    assert not checks.check_sbom(tmp_path, {**bundle, "name": "impostor"}).ok
    (tmp_path / sbom.NAME).write_bytes(data.replace(b'"type": "library"', b'"type": "gadget"'))
    assert "not CycloneDX 1.6" in checks.check_sbom(tmp_path, bundle).detail
    # A bundle from before SBOMs (or made by hand) has none to check; one present but unlisted is check_files' to refuse.
    unlisted = checks.check_sbom(tmp_path, {**bundle, "files": files()})
    assert unlisted.ok and "lists no sbom.cdx.json" in unlisted.detail
    assert "sbom.cdx.json: present but not in the manifest" in checks.check_files(tmp_path, {**bundle, "files": []}).detail


def test_concurrent_updates_lose_no_line(tmp_path: Path) -> None:
    """Eight writers at once, each adding its own files one by one: every line is there at the end."""
    for i in range(8):
        for j in range(5):
            write(tmp_path, f"w{i}-{j}.tar.gz", f"{i} {j}".encode())
    code = "import sys; from pathlib import Path; from gopack.archive import checksums\n" + (
        "for j in range(5): checksums.update(Path(sys.argv[1]), [Path(sys.argv[1]) / f'w{sys.argv[2]}-{j}.tar.gz'])"
    )
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)]) for i in range(8)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 8
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert len(lines) == 40
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
