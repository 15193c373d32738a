"""Issue 26: what a smoke program could still reach or leave behind through ``gopack verify``'s
sandbox, each tried by a real bundle's program in real sandboxes.

- it dies with verify, however verify dies (SIGKILL, SIGHUP), and within verify's own
  time limit whatever the manifest asks for;
- it gets pseudo-terminals of its own only, a few, never the host's;
- it has a keyring of its own: none of the caller's keys, nothing it adds outlives it;
- no unix socket of the host answers it, wherever it is; its own do.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, Canaries
from hostile import Bundle
from test_hostile_archives import confined, failures, leftovers

from gopack import _proc
from gopack.verify import sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")


def compiled(tmp_path: Path, name: str, source: str) -> bytes:
    """A small C program, built with the host's gcc (it runs in the glibc-only root too)."""
    (tmp_path / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / name), str(tmp_path / f"{name}.c")], check=True)
    return (tmp_path / name).read_bytes()


PAUSE = (
    "#include <stdio.h>\n#include <unistd.h>\n"
    'int main(int argc, char **argv) { printf("STARTED %s\\n", argv[1]); fflush(stdout); for (;;) pause(); }\n'
)


def sleeper(tmp_path: Path, marker: str, *, timeout: float = 86400) -> Path:
    """A bundle whose smoke program waits forever, with ``marker`` on its command line."""
    bundle = Bundle("sleeper-1.0").file("bin/app", compiled(tmp_path, "pause", PAUSE), executable=True)
    bundle.smoke = {"command": ["bin/app", marker], "expect": ["never printed"], "timeout": timeout}
    return bundle.tar(tmp_path / "sleeper-1.0.tar.gz")


def uids(pids: list[str]) -> set[str]:
    found = set()
    for pid in pids:
        try:
            found.update(re.findall(r"^Uid:\t(\d+)\t", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE))
        except OSError:
            pass  # gone meanwhile
    return found - {"0"}


def smoke_cgroups(uid: str) -> list[Path]:
    """The memory cgroups of the smoke run by ``uid`` that still exist (verify names them after it)."""
    return [p for root in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")) for p in root.rglob(f"gopack-smoke-{uid}")]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_the_smoke_program_dies_with_verify(signum: signal.Signals, canaries: Canaries, tmp_path: Path) -> None:
    marker = f"gopack-sleeper-{uuid.uuid4().hex}"
    archive = sleeper(tmp_path, marker)
    env = {**os.environ, "TMPDIR": str(canaries.tmpdir)}
    # SIGHUP as a terminal would deliver it, even when the tests themselves run under nohup
    # (which leaves it ignored, and gopack then rightly goes on).
    command = ["env", "--default-signal=HUP", sys.executable, "-m", "gopack", "verify", str(archive)]
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as verify:
        try:
            deadline = time.monotonic() + 120
            while not uids(leftovers(marker)) and time.monotonic() < deadline and verify.poll() is None:
                time.sleep(0.05)
            (uid,) = uids(leftovers(marker))  # the program runs, as the run's own uid: the sandbox is set up
            verify.send_signal(signum)
            _, stderr = verify.communicate(timeout=30)
        finally:
            verify.kill()
    deadline = time.monotonic() + 5
    while leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(marker) == [], f"still running 5 s after {signum.name}"
    if signum == signal.SIGHUP:  # a signal verify sees: it cleans up as for SIGTERM
        assert verify.returncode == 128 + signal.SIGHUP, stderr
        assert "Traceback" not in stderr, stderr
        assert list(canaries.tmpdir.iterdir()) == []
        assert smoke_cgroups(uid) == []


def test_the_command_line_caps_the_manifests_timeout(canaries: Canaries, tmp_path: Path) -> None:
    marker = f"gopack-sleeper-{uuid.uuid4().hex}"
    archive = sleeper(tmp_path, marker)  # the manifest asks for a day
    env = {**os.environ, "TMPDIR": str(canaries.tmpdir)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "verify", "--timeout", "2", str(archive)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 5, result.stderr
    assert result.stderr.count("timed out after 2 s") == 3, result.stderr
    assert leftovers(marker) == []


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_timeout_that_leaves_no_time_is_a_usage_error(value: str, canaries: Canaries, tmp_path: Path) -> None:
    archive = sleeper(tmp_path, "unused")
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "verify", "--timeout", value, str(archive)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 6, result.stderr
    assert "Traceback" not in result.stderr and "--timeout" in result.stderr


PTYS = (
    "#define _XOPEN_SOURCE 600\n#include <fcntl.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
    "int main(void) {\n"
    "  int n = 0;\n"
    "  while (n < 64 && posix_openpt(O_RDWR | O_NOCTTY) >= 0) n++;\n"
    '  printf("PTYS %d\\n", n); puts("OK"); return 0;\n}\n'
)


def host_ptys() -> int:
    return len([p for p in os.listdir("/dev/pts") if p.isdigit()])


def test_the_smoke_program_gets_a_few_ptys_of_its_own(canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("ptys-1.0").file("bin/app", compiled(tmp_path, "ptys", PTYS), executable=True)
    stderr = confined(bundle.tar(tmp_path / "ptys-1.0.tar.gz"), canaries, expect_ok=True)
    assert failures(stderr) == []
    opened = [int(n) for n in re.findall(r"PTYS (\d+)", stderr)]
    assert len(opened) == 3, stderr
    assert all(n <= sandbox.MAX_PTYS for n in opened), opened  # the glibc-only root has none
    assert max(opened) == sandbox.MAX_PTYS  # the host view's runs: their own instance, full


KEYS = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SESSION (-3)
#define USER (-4)
#define USER_SESSION (-5)
static long keyctl(long op, long a, long b, long c, long d) { return syscall(SYS_keyctl, op, a, b, c, d); }
int main(int argc, char **argv) {
  printf("UID %d\n", getuid());
  FILE *f = fopen("/proc/keys", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) printf("KEYS %s", line);
  for (int i = 1; i <= 2; i++) {
    long id = keyctl(10 /* SEARCH */, SESSION, (long)"user", (long)argv[i], 0);
    if (id < 0) { printf("search %s: %s\n", argv[i], strerror(errno)); continue; }
    char value[256] = {0};
    if (keyctl(11 /* READ */, id, (long)value, sizeof value - 1, 0) >= 0) printf("READ %s=%s\n", argv[i], value);
    if (keyctl(2 /* UPDATE */, id, (long)"pwned", 5, 0) == 0) printf("MODIFIED %s\n", argv[i]);
  }
  long where[] = {SESSION, USER, USER_SESSION};
  for (int i = 0; i < 3; i++) {
    if (syscall(SYS_add_key, "user", argv[3], "planted", 7, where[i]) >= 0) printf("ADDED %ld\n", where[i]);
    else printf("add_key %ld: %s\n", where[i], strerror(errno));
  }
  puts("OK");
  return 0;
}
"""


def keyctl(*args: str) -> str:
    return subprocess.run(["keyctl", *args], capture_output=True, text=True, check=True).stdout.strip()


def key_users() -> set[str]:
    """The uids the kernel keeps keys for (/proc/key-users)."""
    return {line.split(":")[0].strip() for line in Path("/proc/key-users").read_text().splitlines()}


@pytest.mark.skipif(shutil.which("keyctl") is None, reason="keyctl (Debian's keyutils; make setup installs it) is missing")
def test_the_smoke_program_has_a_keyring_of_its_own(canaries: Canaries, tmp_path: Path) -> None:
    """In verify's session keyring, a key, and a link to root's user keyring holding another
    (pam_keyinit's session keyrings link it): the program reads, changes and adds nothing."""
    tag = uuid.uuid4().hex[:12]
    in_session, in_user, planted = f"gopack-session-{tag}", f"gopack-user-{tag}", f"gopack-planted-{tag}"
    bundle = Bundle("keys-1.0").file("bin/app", compiled(tmp_path, "keys", KEYS), executable=True)
    bundle.smoke = {"command": ["bin/app", in_session, in_user, planted], "expect": ["OK"], "timeout": 60}
    archive = bundle.tar(tmp_path / "keys-1.0.tar.gz")
    user_key = keyctl("add", "user", in_user, "root's own", "@u")
    try:
        script = (
            f'keyctl add user {in_session} "the caller\'s" @s >/dev/null && keyctl link @u @s && '
            f"TMPDIR={shlex.quote(str(canaries.tmpdir))} {shlex.quote(sys.executable)} -m gopack verify --show-output {shlex.quote(str(archive))}; "
            f"echo EXIT $?; keyctl print %user:{in_session}; keyctl search @s user {planted} || echo NO-PLANTED"
        )
        before = canaries.snapshot()
        result = subprocess.run(["keyctl", "session", "-", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, check=False)
        assert canaries.snapshot() == before
        assert keyctl("print", user_key) == "root's own"
    finally:
        subprocess.run(["keyctl", "unlink", user_key, "@u"], capture_output=True, check=False)
    out = result.stdout + result.stderr
    assert "EXIT 0" in out and "Traceback" not in out, out
    assert out.count("OK") >= 3 and failures(result.stderr) == []
    assert "READ " not in out and "MODIFIED " not in out and "ADDED " not in out, out
    assert out.count("Operation not permitted") >= 3 * 5  # two searches, three add_keys, in each run
    for name in (in_session, in_user):
        assert not [line for line in out.splitlines() if line.startswith("  | KEYS") and name in line], out
    assert "the caller's" in result.stdout and "NO-PLANTED" in result.stdout  # the caller's session keyring as it was
    run_uids = set(re.findall(r"\| UID (\d+)", out))
    assert len(run_uids) == 3 and not run_uids & key_users()  # no keyring of the runs' uids outlives them


CONNECT = r"""
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static socklen_t address(struct sockaddr_un *a, const char *path) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  strncpy(a->sun_path, path, sizeof a->sun_path - 1);
  if (path[0] == '@') a->sun_path[0] = 0;  /* abstract */
  return offsetof(struct sockaddr_un, sun_path) + strlen(path) + (path[0] != '@');
}
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    struct sockaddr_un a;
    socklen_t n = address(&a, argv[i]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, n) == 0) { printf("CONNECTED %s\n", argv[i]); write(s, "pwned", 5); }
    else printf("connect %s: %s\n", argv[i], strerror(errno));
    close(s);
  }
  /* What multiprocessing and joblib do: a listener of its own under /tmp, and socketpair. */
  struct sockaddr_un a;
  socklen_t n = address(&a, "/tmp/own.sock");
  int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0), pair[2];
  if (bind(l, (struct sockaddr *)&a, n) == 0 && listen(l, 1) == 0 && connect(c, (struct sockaddr *)&a, n) == 0 && accept(l, 0, 0) >= 0)
    puts("OWN OK");
  else perror("own socket");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0 && write(pair[0], "x", 1) == 1) puts("PAIR OK");
  puts("OK");
  return 0;
}
"""


def test_no_host_unix_socket_answers(canaries: Canaries, tmp_path: Path) -> None:
    """0666 sockets listening under /run, in the checkout (any folder of the host) and in the
    abstract namespace: none of the three runs reaches one; the program's own socket works."""
    tag = uuid.uuid4().hex[:12]
    paths = [Path("/run") / f"gopack-{tag}.sock", REPO / f".gopack-{tag}.sock"]
    listeners = []
    try:
        for path in paths:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            path.chmod(0o666)
            listeners.append(listener)
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        abstract.bind(f"\0gopack-{tag}")
        listeners.append(abstract)
        for listener in listeners:
            listener.listen(8)
            listener.setblocking(False)
        bundle = Bundle("sockets-1.0").file("bin/app", compiled(tmp_path, "connect", CONNECT), executable=True)
        bundle.smoke = {"command": ["bin/app", *map(str, paths), f"@gopack-{tag}"], "expect": ["OWN OK", "PAIR OK"], "timeout": 60}
        stderr = confined(bundle.tar(tmp_path / "sockets-1.0.tar.gz"), canaries, expect_ok=True)
        for listener in listeners:
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody connected, in any of the three runs
    finally:
        for listener in listeners:
            listener.close()
        for path in paths:
            path.unlink(missing_ok=True)
    assert "CONNECTED" not in stderr, stderr
    for path in paths:  # the glibc-only root has no such path; the host's view has it, and it refuses
        assert stderr.count(f"connect {path}: No such file or directory") == 1, stderr
        assert stderr.count(f"connect {path}: Connection refused") == 2, stderr
    assert stderr.count("OWN OK") == 3 and stderr.count("PAIR OK") == 3


def test_a_stop_whose_exception_a_finalizer_swallowed_still_ends_a_smoke_run(tmp_path: Path) -> None:
    """The signal handler raises where the main thread is; inside a finalizer Python swallows
    that exception. The stop it recorded must still end a run that would otherwise go on for
    its whole timeout (CI once saw verify outlive a SIGHUP this way), its processes killed."""
    marker = f"gopack-stopped-{uuid.uuid4().hex}"
    _proc.STOP.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            sandbox.run_plain(["sh", "-c", 'sleep 600; echo "$0"', marker], cwd=tmp_path, timeout=600)
    finally:
        _proc.STOP.clear()
    assert leftovers(marker) == []
