/* Added to the program's main package by gopack at build time (go build -overlay).
 *
 * Before main() and before any Go or Python code runs, point the embedded
 * CPython at the bundle: its program name becomes <root>/python/bin/pythonX.Y,
 * the interpreter shipped in the bundle, so CPython's own getpath finds the
 * bundle's stdlib from there and sys.executable is that interpreter (what
 * multiprocessing and joblib relaunch). <root> is found from /proc/self/exe
 * (macOS: _NSGetExecutablePath, else dladdr of this file's code), with symlinks
 * resolved; no path is compiled in. Every variable CPython's path
 * search reads from the environment is removed, so that neither the embedded
 * interpreter nor the processes it starts (the bundle's pythonX.Y, which
 * multiprocessing and joblib run) see it, and the user site directory is off.
 * Py_IgnoreEnvironmentFlag is not enough: 3.11 to 3.13's getpath reads
 * PYTHONEXECUTABLE and __PYVENV_LAUNCHER__ whatever the flag says, takes them
 * for the executable and searches for the prefix from there (the bundle's
 * site-packages is then not found); children started without -E read
 * PYTHONHOME, PYTHONPATH and (3.9+) PYTHONPLATLIBDIR. 2.7 to 3.10 read the
 * first two only on macOS. PATH is read only for a program name without a
 * slash, and the name set here always has one.
 *
 * Paths: the program name is decoded with the codec the interpreter will
 * encode it back with when it looks for its stdlib, so that it names the same
 * bytes. Which codec is decided as CPython decides: Py_Initialize sets LC_CTYPE
 * from the environment (LC_ALL, LC_CTYPE, LANG); when that leaves the C or
 * POSIX locale (nothing set, C/POSIX named, or a locale this machine lacks, as
 * in most containers: setlocale fails and the C locale stays), the interpreter
 * runs in UTF-8 mode, as the python3 executable does there (PEP 540), since the
 * C locale's ASCII cannot encode a non-ASCII path. So the constructor sets
 * LC_CTYPE the same way, reads the outcome and puts the C locale back. In UTF-8
 * mode and in a UTF-8 locale the name is decoded from UTF-8 into real characters
 * (3.12+ cannot load an extension module from a path holding surrogate escapes).
 * In another codeset (ISO-8859-1, EUC-JP) a non-ASCII path that is UTF-8 also
 * gets UTF-8 mode; one that is not is decoded by Py_DecodeLocale under that
 * locale, as the interpreter will encode it. Bytes that are text neither in the
 * locale's codeset nor in UTF-8 (a Latin-1 name under a UTF-8 locale) can be
 * named only with surrogate escapes: the stdlib is found, but 3.12+ cannot load
 * an extension module from there, a limit of CPython's the python3 executable
 * shares.
 * Python 2 takes the name as bytes and needs none of this. On macOS the
 * interpreter encodes paths in UTF-8 whatever the locale, so the same steps name
 * the same bytes there too.
 */
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <dlfcn.h>
#include <mach-o/dyld.h>
#else
#include <sys/auxv.h>
#endif

/* GOPACK_INTERPRETER, GOPACK_BIN_DEPTH and GOPACK_PY_MAJOR are defined by gopack above this line. */

/* What this file uses of CPython, declared as Python.h declares it (tests/test_home_header.py
 * compiles the two together, which a differing declaration fails) rather than by including
 * Python.h: cgo compiles this file into the main package, again at every edit of the program,
 * several times (cgo's probes, the file, its exports), and Python.h was most of that work. */
extern int Py_IgnoreEnvironmentFlag;
extern int Py_NoUserSiteDirectory;
#if GOPACK_PY_MAJOR >= 3
#include <wchar.h>
extern int Py_UTF8Mode;
wchar_t *Py_DecodeLocale(const char *arg, size_t *size);
void Py_SetProgramName(const wchar_t *);
#else
void Py_SetProgramName(char *);
#endif

#if defined(__APPLE__)
/* The program's own path, symlinks resolved: what dyld says it exec'd, else the image
 * holding this function (the program itself: the file is compiled into main). */
static int gopack_executable(char *exe) {
	char named[PATH_MAX];
	uint32_t size = sizeof named;
	if (_NSGetExecutablePath(named, &size) == 0 && realpath(named, exe) != NULL) return 1;
	Dl_info info;
	if (dladdr((const void *)&gopack_executable, &info) != 0 && info.dli_fname != NULL && realpath(info.dli_fname, exe) != NULL) return 1;
	return 0;
}
#endif

static int gopack_bundle_root(char *out, size_t size) {
	char exe[PATH_MAX];
#if defined(__APPLE__)
	if (!gopack_executable(exe)) return 0;
#else
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
	} else {
		/* No /proc: the path the kernel exec'd, resolved against the start-up directory. */
		const char *execfn = (const char *)getauxval(AT_EXECFN);
		if (execfn == NULL || realpath(execfn, exe) == NULL) return 0;
	}
#endif
	/* exe is <root>/bin/<name>: drop the name, then GOPACK_BIN_DEPTH directories. */
	for (int i = 0; i <= GOPACK_BIN_DEPTH; i++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL) return 0;
		*slash = '\0';
	}
	return snprintf(out, size, "%s", exe[0] ? exe : "/") < (int)size;
}

#if GOPACK_PY_MAJOR >= 3
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

/* The program name as the interpreter will encode it back (see above); sets Py_UTF8Mode
 * where the interpreter would otherwise not start. NULL if it cannot be decoded. */
static wchar_t *gopack_decode_program(const char *program) {
	char saved[256];
	const char *current = setlocale(LC_CTYPE, NULL);
	if (current == NULL || snprintf(saved, sizeof saved, "%s", current) >= (int)sizeof saved) snprintf(saved, sizeof saved, "C");
	const char *chosen = setlocale(LC_CTYPE, "");
	if (chosen == NULL) chosen = setlocale(LC_CTYPE, NULL); /* a locale this machine lacks: C stays */
	int c_locale = chosen == NULL || strcmp(chosen, "C") == 0 || strcmp(chosen, "POSIX") == 0;
	int utf8_locale = !c_locale && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	wchar_t *wide = gopack_utf8_decode(program); /* NULL if the bytes are not UTF-8 */
	int ascii = 1;
	for (const char *c = program; *c; c++) ascii &= (unsigned char)*c < 0x80;
	if (c_locale) Py_UTF8Mode = 1;
	/* In another codeset (Latin-1, EUC-JP) a path whose name is UTF-8 would be decoded into
	 * mojibake that Python's own codec may not encode back (EUC-JP: not at all, and the python3
	 * executable fails there too): UTF-8 mode names it exactly. The bundle's python3.X, which
	 * multiprocessing and joblib start, gets it too (in the C locale it turns it on itself). */
	if (!c_locale && !utf8_locale && !ascii && wide != NULL) {
		Py_UTF8Mode = 1;
		setenv("PYTHONUTF8", "1", 1);
	}
	/* Bytes that are not UTF-8 (a Latin-1 name in a Latin-1 locale): decoded as the interpreter does. */
	if (wide == NULL) wide = Py_DecodeLocale(program, NULL);
	setlocale(LC_CTYPE, saved);
	return wide;
}
#endif

__attribute__((constructor)) static void gopack_point_python_home(void) {
	static const char *const path_search[] = {"PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__", "PYTHONPLATLIBDIR"};
	char root[PATH_MAX], program[PATH_MAX + 64];
	for (size_t i = 0; i < sizeof path_search / sizeof path_search[0]; i++) unsetenv(path_search[i]);
	Py_IgnoreEnvironmentFlag = 1;
	Py_NoUserSiteDirectory = 1;
	if (!gopack_bundle_root(root, sizeof root)) return;
	if (snprintf(program, sizeof program, "%s/python/bin/%s", root, GOPACK_INTERPRETER) >= (int)sizeof program) return;
#if GOPACK_PY_MAJOR >= 3
	static wchar_t *wide;
	wide = gopack_decode_program(program);
	if (wide != NULL) Py_SetProgramName(wide);
#else
	static char narrow[PATH_MAX + 64];
	memcpy(narrow, program, sizeof narrow);
	Py_SetProgramName(narrow);
#endif
}
