package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// place is a folder extracted bundles go in: base. Made if need be, but not its root when
// it has one ($HOME, the parent of GOPACK_EXTRACT_DIR, a temporary folder); a folder in a shared temporary folder
// (shared) must be this user's own and closed to others.
type place struct {
	base, root string
	shared     bool
}

// candidates: the places tried, in order. With GOPACK_EXTRACT_DIR set, that folder alone
// (explicit).
func candidates() (places []place, explicit bool) {
	if dir := os.Getenv("GOPACK_EXTRACT_DIR"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			fail("GOPACK_EXTRACT_DIR=%s: %v", dir, err)
		}
		return []place{{base: abs, root: filepath.Dir(abs)}}, true
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(dir) {
		places = append(places, place{base: filepath.Join(dir, "gopack-exe")}) // made if need be, as XDG says
	}
	if dir := os.Getenv("HOME"); filepath.IsAbs(dir) {
		places = append(places, place{base: filepath.Join(dir, userCache, "gopack-exe"), root: dir})
	}
	own := "gopack-exe-" + strconv.Itoa(os.Getuid())
	seen := map[string]bool{}
	for _, tmp := range []string{os.Getenv("TMPDIR"), "/tmp", "/var/tmp"} {
		if filepath.IsAbs(tmp) && !seen[filepath.Clean(tmp)] {
			seen[filepath.Clean(tmp)] = true
			places = append(places, place{base: filepath.Join(tmp, own), root: tmp, shared: true})
		}
	}
	return places, false
}

func bases(places []place) []string {
	out := make([]string, len(places))
	for i, p := range places {
		out[i] = p.base
	}
	return out
}

// choose: the first place this user can write in and execute files from, or why none is.
func choose(places []place, explicit bool) (string, string) {
	var why []string
	for _, p := range places {
		err := usable(p)
		if err == nil {
			return p.base, ""
		}
		say("cannot use %s: %v", p.base, err)
		why = append(why, fmt.Sprintf("%s: %v", p.base, err))
	}
	if explicit {
		return "", "GOPACK_EXTRACT_DIR " + strings.Join(why, "")
	}
	return "", strings.Join(why, "; ")
}

// usable makes p's folder if need be and checks that files can be written there and run from there.
func usable(p place) error {
	if info, err := os.Stat(p.root); p.root != "" && (err != nil || !info.IsDir()) {
		return fmt.Errorf("%s does not exist", p.root)
	}
	if p.shared {
		if err := os.Mkdir(p.base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return simple(err)
		}
		info, err := os.Lstat(p.base)
		if err != nil {
			return simple(err)
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !info.IsDir() || !ok || int(st.Uid) != os.Getuid() || info.Mode().Perm()&0o022 != 0 {
			return errors.New("not a folder of this user's own")
		}
	} else if err := os.MkdirAll(p.base, 0o755); err != nil {
		return simple(err)
	}
	probe, err := os.CreateTemp(p.base, ".probe-*")
	if err != nil {
		return simple(err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if noExec(p.base) {
		return errors.New("mounted noexec")
	}
	return nil
}

// simple: an error without the path it names (the caller says where).
func simple(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		if errors.Is(pathErr.Err, syscall.EROFS) {
			return errors.New("read-only file system")
		}
		return pathErr.Err
	}
	return err
}

// lockFile takes an exclusive flock on path (made if need be), waiting for it. A lock file
// removed by a clean while this run waited is taken again from the new file.
func lockFile(path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, simple(err)
		}
		if err := flock(f, true); err != nil {
			f.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return func() { f.Close() }, nil
		}
		f.Close()
	}
}

func flock(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// list prints every folder a gopack executable extracted in the candidate places; this
// executable's is marked with *.
func list(b bundle) {
	places, _ := candidates()
	count := 0
	for _, base := range bases(places) {
		markers, _ := filepath.Glob(filepath.Join(base, "*.complete"))
		folders, _ := filepath.Glob(filepath.Join(base, "*-????????????????"))
		names := map[string]bool{}
		for _, m := range markers {
			names[strings.TrimSuffix(filepath.Base(m), ".complete")] = true
		}
		for _, f := range folders {
			if info, err := os.Lstat(f); err == nil && info.IsDir() {
				names[filepath.Base(f)] = true
			}
		}
		sorted := make([]string, 0, len(names))
		for name := range names {
			sorted = append(sorted, name)
		}
		sort.Strings(sorted)
		for _, name := range sorted {
			mine := " "
			if name == b.name {
				mine = "*"
			}
			state := "complete"
			if _, err := os.Lstat(filepath.Join(base, name+".complete")); err != nil {
				state = "incomplete (the next run extracts it afresh)"
			}
			fmt.Printf("%s %8.1f MB  %s  %s\n", mine, float64(treeSize(filepath.Join(base, name)))/1e6, filepath.Join(base, name), state)
			count++
		}
	}
	if count == 0 {
		fmt.Printf("nothing extracted (looked in %s)\n", strings.Join(bases(places), ", "))
	}
}

func treeSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// verify re-hashes this executable's folder against its manifest; a damaged one is removed,
// so that the next run extracts it afresh.
func verify(b bundle) int {
	places, _ := candidates()
	for _, base := range bases(places) {
		dir := b.folder(base)
		if _, err := os.Lstat(b.marker(base)); err != nil {
			continue
		}
		n, err := quickCheck(dir, b.marker(base), b.t)
		if err == nil {
			n, err = fullCheck(dir, b.t)
		}
		if err == nil {
			fmt.Printf("ok %s: %d files match the manifest (sha256)\n", dir, n)
			return 0
		}
		unlock, lerr := lockFile(b.lock(base))
		if lerr == nil {
			os.Remove(b.marker(base))
			discard(b, base, dir)
			unlock()
		}
		fmt.Printf("damaged %s: %v; removed, the next run extracts it afresh\n", dir, err)
		return 1
	}
	fmt.Printf("not extracted yet (looked in %s)\n", strings.Join(bases(places), ", "))
	return 1
}

// clean removes this executable's folder, its marker and lock, and what killed runs left.
func clean(b bundle) {
	places, _ := candidates()
	removed := 0
	for _, base := range bases(places) {
		if _, err := os.Lstat(b.lock(base)); err != nil {
			continue
		}
		unlock, err := lockFile(b.lock(base))
		if err != nil {
			continue
		}
		sweep(b, base)
		os.Remove(b.marker(base))
		if err := discard(b, base, b.folder(base)); err != nil {
			fmt.Fprintf(os.Stderr, "gopack-exe: cannot remove %s: %v\n", b.folder(base), err)
		} else {
			fmt.Printf("removed %s\n", b.folder(base))
			removed++
		}
		os.Remove(b.lock(base)) // while held: a run waiting for it takes the new file's lock (lockFile)
		unlock()
	}
	if removed == 0 {
		fmt.Println("nothing to remove")
	}
}
