// Command launcher is the start of every gopack executable (output.format: exe): the
// bundle's tar.gz and a trailer follow it in the same file. It extracts the bundle once
// into a per-user cache folder named by the bundle's digest, checking every file against
// the bundle's manifest, and then execs the program there, so that arguments, standard
// streams, exit code and signals are the program's own and the program's /proc/self/exe
// lies in the extracted folder (where it finds its Python).
//
// Environment (the program's arguments are never read):
//
//	GOPACK_EXE=list|verify|clean|extract   manage the extracted copies instead of running
//	GOPACK_EXTRACT_DIR=DIR                 extract under DIR, nowhere else
//	GOPACK_EXE_CHECK=full                  re-hash every file before running (else: sizes)
//	GOPACK_EXE_LOG=1                       say on stderr what the launcher did
//
// Only os_linux.go / os_other.go hold what differs between Linux and macOS.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// exitLauncher is the exit code of the launcher's own failures (the program's never is it,
// unless the program chooses it).
const exitLauncher = 125

var logging = os.Getenv("GOPACK_EXE_LOG") != ""

func say(format string, args ...any) {
	if logging {
		fmt.Fprintf(os.Stderr, "gopack-exe: "+format+"\n", args...)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gopack-exe: "+format+"\n", args...)
	os.Exit(exitLauncher)
}

// bundle is this executable's bundle: its file, its trailer, and the names of its folder.
type bundle struct {
	self  *os.File
	where string // its path, for messages
	t     trailer
	name  string // <top>-<first 16 hex digits of the manifest's sha256>
}

func (b bundle) folder(base string) string { return filepath.Join(base, b.name) }
func (b bundle) marker(base string) string { return filepath.Join(base, b.name+".complete") }
func (b bundle) lock(base string) string   { return filepath.Join(base, b.name+".lock") }

func main() {
	self, err := openSelf()
	if err != nil {
		fail("cannot read its own file: %v; run it from a path this user can read", err)
	}
	info, err := self.Stat()
	if err != nil {
		fail("cannot read its own file: %v; run it from a path this user can read", err)
	}
	where, err := os.Executable() // for messages: the file's path (self is /proc/self/exe on Linux)
	if err != nil {
		where = os.Args[0]
	}
	t, err := readTrailer(self, info.Size())
	if err != nil {
		fail("%s: %v; copy the executable again", where, err)
	}
	b := bundle{self: self, where: where, t: t, name: t.top + "-" + t.digest()[:16]}
	switch action := os.Getenv("GOPACK_EXE"); action {
	case "":
		run(b)
	case "list":
		list(b)
	case "verify":
		os.Exit(verify(b))
	case "clean":
		clean(b)
	case "extract":
		fmt.Println(ensure(b))
	default:
		fail("GOPACK_EXE=%s: unknown; use list, verify, clean or extract (or unset it to run the program)", action)
	}
}

// run finds (or makes) the extracted folder and execs the program in it.
func run(b bundle) {
	for attempt := 0; ; attempt++ {
		dir := ensure(b)
		program := filepath.Join(dir, filepath.FromSlash(b.t.program))
		b.self.Close()
		err := syscall.Exec(program, os.Args, os.Environ())
		// Only if the exec failed: the folder went away in between (a clean), or cannot run.
		if errors.Is(err, syscall.ENOENT) && attempt == 0 {
			say("%s vanished before it could run; extracting again", program)
			if b.self, err = openSelf(); err == nil {
				continue
			}
		}
		fail("cannot run %s: %v (set GOPACK_EXTRACT_DIR to a folder on a file system that allows executing files)", program, err)
	}
}

// ensure returns a complete, checked folder holding the bundle, extracting it if needed.
func ensure(b bundle) string {
	full := os.Getenv("GOPACK_EXE_CHECK") == "full"
	places, explicit := candidates()
	// A complete folder in any candidate place: checked without a lock (it is never changed in place).
	for _, base := range bases(places) {
		if dir, ok := trusted(b, base, full); ok {
			return dir
		}
	}
	base, why := choose(places, explicit)
	if base == "" {
		fail("no folder to extract %s into (%s); set GOPACK_EXTRACT_DIR to a folder you can write and execute files in", b.t.top, why)
	}
	return extractUnderLock(b, base, full)
}

// trusted: base holds this bundle's folder with its completion marker, and the folder passes
// the warm check (every file's size, or with full, every file's sha256).
func trusted(b bundle, base string, full bool) (string, bool) {
	dir, marker := b.folder(base), b.marker(base)
	if _, err := os.Lstat(marker); err != nil {
		return "", false
	}
	start := time.Now()
	n, err := quickCheck(dir, marker, b.t)
	if err == nil && full {
		n, err = fullCheck(dir, b.t)
	}
	if err != nil {
		say("%s is damaged (%v); extracting it afresh", dir, err)
		return "", false
	}
	how := "by size"
	if full {
		how = "by sha256"
	}
	say("found %s: %d files checked %s in %.1f ms", dir, n, how, float64(time.Since(start).Microseconds())/1000)
	return dir, true
}

func extractUnderLock(b bundle, base string, full bool) string {
	waited := time.Now()
	unlock, err := lockFile(b.lock(base))
	if err != nil {
		fail("cannot lock %s: %v; set GOPACK_EXTRACT_DIR to a folder you can write in", b.lock(base), err)
	}
	defer unlock()
	if wait := time.Since(waited); wait > 50*time.Millisecond {
		say("waited %.2f s for another run holding %s", wait.Seconds(), b.lock(base))
	}
	// Another run may have finished it while this one waited for the lock.
	if dir, ok := trusted(b, base, full); ok {
		return dir
	}
	sweep(b, base)
	dir := b.folder(base)
	// Not trusted: the marker goes first, so that no later run trusts what is left if this one dies.
	if err := os.Remove(b.marker(base)); err != nil && !errors.Is(err, os.ErrNotExist) {
		fail("cannot remove %s: %v; remove it by hand, or set GOPACK_EXTRACT_DIR to another folder", b.marker(base), err)
	}
	if err := discard(b, base, dir); err != nil {
		fail("cannot remove the damaged %s: %v; remove it by hand, or set GOPACK_EXTRACT_DIR to another folder", dir, err)
	}
	start := time.Now()
	tmp := filepath.Join(base, fmt.Sprintf(".%s.%d.tmp", b.name, os.Getpid()))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		fail("cannot extract into %s: %v; set GOPACK_EXTRACT_DIR to a folder you can write in", base, err)
	}
	n, err := extract(b.self, b.t, tmp)
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	var manifest os.FileInfo
	if err == nil {
		manifest, err = os.Stat(filepath.Join(tmp, manifestName))
	}
	var files []manifestFile
	if err == nil {
		files, err = readManifest(tmp, b.t)
	}
	// Not flushed to disk first (that would cost seconds on a busy disk): after a crash of the
	// machine, files the disk had not received are short or empty, which the size check finds.
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = writeAtomic(b.marker(base), markerText(b.t, files, manifest.Size()))
	}
	if err != nil {
		os.RemoveAll(tmp)
		var pathErr *fs.PathError
		var linkErr *os.LinkError
		if errors.As(err, &pathErr) || errors.As(err, &linkErr) {
			fail("cannot extract %s into %s: %v; set GOPACK_EXTRACT_DIR to a folder with room that you can write in", b.where, base, err)
		}
		fail("cannot extract %s: %v; the executable is damaged: copy it again", b.where, err)
	}
	say("extracted %d files to %s in %.2f s", n, dir, time.Since(start).Seconds())
	return dir
}

// discard removes dir: renamed aside first (one step), then deleted.
func discard(b bundle, base, dir string) error {
	aside := filepath.Join(base, fmt.Sprintf(".%s.%d.old.tmp", b.name, os.Getpid()))
	if err := os.Rename(dir, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return removeAll(aside)
}

// sweep removes what killed runs of this bundle left in base (held: its lock, so none is running).
func sweep(b bundle, base string) {
	left, _ := filepath.Glob(filepath.Join(base, "."+globEscape(b.name)+".*.tmp"))
	for _, path := range left {
		say("removing %s, left by a run that was stopped", path)
		removeAll(path)
	}
}

func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(s)
}

// removeAll removes a tree, making its folders writable first (a user may have made them read-only).
func removeAll(path string) error {
	filepath.Walk(path, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

func writeAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
