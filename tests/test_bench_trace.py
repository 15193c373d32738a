"""bench/_pruned.py's reading of an strace log: which files inside the bundle a run opened (its floor rows)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))  # after everything else: it shadows nothing

import _pruned  # bench/ is a folder of scripts, not a package


def test_only_successful_opens_inside_the_bundle_count_resumed_calls_and_escaped_bytes_included(tmp_path: Path) -> None:
    bundle = tmp_path / "corpus-1.0.0"
    site = bundle / "python/lib/python3.12/site-packages"
    site.mkdir(parents=True)
    outside = tmp_path / "elsewhere.txt"
    b = bundle.resolve()
    trace = "\n".join(
        [
            f'101   openat(AT_FDCWD, "{site}/numpy/__init__.pyc", O_RDONLY|O_CLOEXEC) = 3<{b}/python/lib/python3.12/site-packages/numpy/__init__.pyc>',
            f'101   openat(AT_FDCWD, "{site}/gone.pyc", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
            f'102   openat(AT_FDCWD, "{site}/cv2/cv2.abi3.so", O_RDONLY|O_CLOEXEC <unfinished ...>',
            f"102   <... openat resumed>) = 4<{b}/python/lib/python3.12/site-packages/cv2/cv2.abi3.so>",
            f'103   open("{outside}", O_RDONLY) = 5<{outside.resolve()}>',
            f'103   openat(AT_FDCWD, "x", O_RDONLY) = 6<{b}/python/lib/python3.12/site-packages/caf\\xc3\\xa9/data.csv>',
            "104   +++ exited with 0 +++",
            f'105   stat("{site}/numpy", {{st_mode=S_IFDIR|0755}}) = 0',
        ]
    )
    assert _pruned.opened_in(trace, bundle) == {
        "python/lib/python3.12/site-packages/numpy/__init__.pyc",
        "python/lib/python3.12/site-packages/cv2/cv2.abi3.so",
        "python/lib/python3.12/site-packages/café/data.csv",
    }


def test_code_is_modules_and_native_libraries_the_rest_is_data() -> None:
    assert [
        p
        for p in ("a.py", "a.pyc", "m.cpython-312-x86_64-linux-gnu.so", "libz.so.1", "fonts/x.ttf", "data.csv", "stub.pyi")
        if _pruned.is_code(Path(p))
    ] == [
        "a.py",
        "a.pyc",
        "m.cpython-312-x86_64-linux-gnu.so",
        "libz.so.1",
    ]
