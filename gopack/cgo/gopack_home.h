/* Added to the program's main package by gopack at build time (go build -overlay).
 *
 * Before main() and before any Go or Python code runs, point the embedded
 * CPython at the bundle: its program name becomes <root>/python/bin/pythonX.Y,
 * the interpreter shipped in the bundle, so CPython's own getpath finds the
 * bundle's stdlib from there and sys.executable is that interpreter (what
 * multiprocessing and joblib relaunch). <root> is found from /proc/self/exe,
 * with symlinks resolved; no path is compiled in. The host's PYTHONHOME and
 * PYTHONPATH are removed so that neither the embedded interpreter nor the
 * processes it starts see them, and the user site directory is off.
 */
#include <Python.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

/* GOPACK_INTERPRETER and GOPACK_BIN_DEPTH are defined by gopack above this line. */

static int gopack_bundle_root(char *out, size_t size) {
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
	} else {
		/* No /proc: the path the kernel exec'd, resolved against the start-up directory. */
		const char *execfn = (const char *)getauxval(AT_EXECFN);
		if (execfn == NULL || realpath(execfn, exe) == NULL) return 0;
	}
	/* exe is <root>/bin/<name>: drop the name, then GOPACK_BIN_DEPTH directories. */
	for (int i = 0; i <= GOPACK_BIN_DEPTH; i++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL) return 0;
		*slash = '\0';
	}
	return snprintf(out, size, "%s", exe[0] ? exe : "/") < (int)size;
}

__attribute__((constructor)) static void gopack_point_python_home(void) {
	char root[PATH_MAX], program[PATH_MAX + 64];
	unsetenv("PYTHONHOME");
	unsetenv("PYTHONPATH");
	Py_IgnoreEnvironmentFlag = 1;
	Py_NoUserSiteDirectory = 1;
	if (!gopack_bundle_root(root, sizeof root)) return;
	if (snprintf(program, sizeof program, "%s/python/bin/%s", root, GOPACK_INTERPRETER) >= (int)sizeof program) return;
#if PY_MAJOR_VERSION >= 3
	static wchar_t *wide;
	wide = Py_DecodeLocale(program, NULL);
	if (wide != NULL) Py_SetProgramName(wide);
#else
	static char narrow[PATH_MAX + 64];
	memcpy(narrow, program, sizeof narrow);
	Py_SetProgramName(narrow);
#endif
}
