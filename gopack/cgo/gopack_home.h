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
 *
 * Paths: the name is decoded from UTF-8 into real characters (3.12+ cannot
 * load an extension module from a path holding surrogate escapes), and in
 * the C or POSIX locale Python runs in UTF-8 mode, as the python3 executable
 * itself does there (PEP 540); otherwise a non-ASCII install path would not
 * encode back to its bytes.
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

static int gopack_locale_is_c(void) {
	const char *value = getenv("LC_ALL");
	if (value == NULL || *value == '\0') value = getenv("LC_CTYPE");
	if (value == NULL || *value == '\0') value = getenv("LANG");
	return value == NULL || *value == '\0' || strcmp(value, "C") == 0 || strcmp(value, "POSIX") == 0;
}

#if PY_MAJOR_VERSION >= 3
/* Strict UTF-8 to wchar_t; NULL if the bytes are not valid UTF-8. */
static wchar_t *gopack_utf8_decode(const char *text) {
	size_t n = strlen(text), o = 0;
	wchar_t *out = malloc((n + 1) * sizeof(wchar_t));
	if (out == NULL) return NULL;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)text[i];
		int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
		unsigned long cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
		if (extra < 0 || i + extra >= n + (extra == 0)) { free(out); return NULL; }
		for (int k = 1; k <= extra; k++) {
			unsigned char cc = (unsigned char)text[i + k];
			if ((cc & 0xC0) != 0x80) { free(out); return NULL; }
			cp = (cp << 6) | (cc & 0x3F);
		}
		if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) { free(out); return NULL; }
		out[o++] = (wchar_t)cp;
		i += extra + 1;
	}
	out[o] = L'\0';
	return out;
}
#endif

__attribute__((constructor)) static void gopack_point_python_home(void) {
	char root[PATH_MAX], program[PATH_MAX + 64];
	unsetenv("PYTHONHOME");
	unsetenv("PYTHONPATH");
	Py_IgnoreEnvironmentFlag = 1;
	Py_NoUserSiteDirectory = 1;
	if (!gopack_bundle_root(root, sizeof root)) return;
	if (snprintf(program, sizeof program, "%s/python/bin/%s", root, GOPACK_INTERPRETER) >= (int)sizeof program) return;
#if PY_MAJOR_VERSION >= 3
	if (gopack_locale_is_c()) Py_UTF8Mode = 1;
	static wchar_t *wide;
	wide = gopack_utf8_decode(program);
	if (wide == NULL) wide = Py_DecodeLocale(program, NULL);
	if (wide != NULL) Py_SetProgramName(wide);
#else
	static char narrow[PATH_MAX + 64];
	memcpy(narrow, program, sizeof narrow);
	Py_SetProgramName(narrow);
#endif
}
