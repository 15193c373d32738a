package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

const manifestName = "gopack.json"

// plainName: one path component gopack writes (no "", ".", "..", control characters).
func plainName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '/' {
			return false
		}
	}
	return true
}

// plainPath: a relative '/'-separated path of plain components.
func plainPath(p string) bool {
	if p == "" || len(p) > 4095 {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if !plainName(part) {
			return false
		}
	}
	return true
}

// inside: a symlink's text keeps it inside the bundle by the text alone (gopack's own rule,
// gopack/archive/entries.py): relative, its ".." parts all leading and no more of them than
// the folders the link sits in.
func inside(link, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") {
		return false
	}
	depth := strings.Count(link, "/")
	up, seenName := 0, false
	for _, part := range strings.Split(target, "/") {
		switch {
		case part == "..":
			if seenName {
				return false
			}
			up++
		case part == "." || part == "":
			return false
		default:
			seenName = true
		}
	}
	return up <= depth
}

// manifestFile is what the launcher reads of each gopack.json "files" entry.
type manifestFile struct {
	Path   string  `json:"path"`
	Size   int64   `json:"size"`
	Sha256 string  `json:"sha256"`
	Link   *string `json:"link"`
}

type found struct {
	size   int64
	sha256 string
	link   *string
}

// extract unpacks the payload into dir (a new, empty folder), hashing every file and the
// payload as they stream past, then checks the lot against the trailer and gopack.json.
func extract(self io.ReaderAt, t trailer, dir string) (int, error) {
	payload := sha256.New()
	raw := bufio.NewReaderSize(io.TeeReader(io.NewSectionReader(self, t.offset, t.size), payload), 1<<20)
	gz, err := gzip.NewReader(raw) // reads concatenated gzip members as one stream, as gopack writes them
	if err != nil {
		return 0, fmt.Errorf("its bundle is damaged: %v", err)
	}
	have := map[string]found{}
	links := map[string]bool{} // symlinks made: nothing may be written through one
	tr := tar.NewReader(gz)
	buf := make([]byte, 1<<20)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("its bundle is damaged: %v", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == t.top {
			continue
		}
		rel, ok := strings.CutPrefix(name, t.top+"/")
		if !ok || !plainPath(rel) {
			return 0, fmt.Errorf("its bundle holds an unsafe name %q", h.Name)
		}
		for i := range rel {
			if rel[i] == '/' && links[rel[:i]] {
				return 0, fmt.Errorf("its bundle writes %q through a symlink", rel)
			}
		}
		if _, dup := have[rel]; dup {
			return 0, fmt.Errorf("its bundle holds %q twice", rel)
		}
		full := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(full, 0o755); err != nil {
				return 0, err
			}
		case tar.TypeReg:
			digest, err := writeFile(full, tr, h.Size, h.Mode&0o111 != 0, buf)
			if err != nil {
				return 0, err
			}
			have[rel] = found{size: h.Size, sha256: digest}
		case tar.TypeSymlink:
			if !inside(rel, h.Linkname) {
				return 0, fmt.Errorf("its bundle holds a symlink %q that leads out of it", rel)
			}
			if err := os.Symlink(h.Linkname, full); err != nil {
				return 0, err
			}
			target := h.Linkname
			have[rel], links[rel] = found{link: &target}, true
		case tar.TypeLink:
			source, ok := strings.CutPrefix(h.Linkname, t.top+"/")
			first, seen := have[source]
			if !ok || !seen || first.link != nil {
				return 0, fmt.Errorf("its bundle holds a hard link %q to %q, which is not a file before it", rel, h.Linkname)
			}
			if err := os.Link(filepath.Join(dir, filepath.FromSlash(source)), full); err != nil {
				return 0, err
			}
			have[rel] = first
		default:
			return 0, fmt.Errorf("its bundle holds %q of a kind gopack never writes", rel)
		}
	}
	// The end-of-archive blocks, then every byte of the payload, through the hash.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return 0, fmt.Errorf("its bundle is damaged: %v", err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return 0, err
	}
	if !bytes.Equal(payload.Sum(nil), t.payloadSHA[:]) {
		return 0, errors.New("its bundle does not match the sha256 its trailer records (the file is damaged)")
	}
	files, err := readManifest(dir, t)
	if err != nil {
		return 0, err
	}
	return len(files), compare(files, have)
}

func writeFile(full string, r io.Reader, size int64, executable bool, buf []byte) (string, error) {
	out, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(out, h), io.LimitReader(r, size), buf)
	if err == nil && n != size {
		err = fmt.Errorf("its bundle is damaged: %s is short", full)
	}
	mode := os.FileMode(0o644)
	if executable {
		mode = 0o755
	}
	if err == nil {
		err = out.Chmod(mode)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), err
}

// readManifest reads dir's gopack.json, which must be the one the trailer names.
func readManifest(dir string, t trailer) ([]manifestFile, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", manifestName, err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], t.manifestSHA[:]) {
		return nil, fmt.Errorf("%s differs from the one this executable was made with", manifestName)
	}
	var m struct {
		Files []manifestFile `json:"files"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", manifestName, err)
	}
	return m.Files, nil
}

// compare: every listed file is there with its size and sha256 (or link text), nothing else is.
func compare(files []manifestFile, have map[string]found) error {
	listed := map[string]bool{manifestName: true}
	for _, f := range files {
		listed[f.Path] = true
		got, ok := have[f.Path]
		switch {
		case !ok:
			return fmt.Errorf("%s: listed in %s but missing", f.Path, manifestName)
		case f.Link != nil:
			if got.link == nil || *got.link != *f.Link {
				return fmt.Errorf("%s: not the symlink %s lists", f.Path, manifestName)
			}
		case got.link != nil || got.size != f.Size || got.sha256 != f.Sha256:
			return fmt.Errorf("%s: content differs from %s (sha256 %.12s..., expected %.12s...)", f.Path, manifestName, got.sha256, f.Sha256)
		}
	}
	for path := range have {
		if !listed[path] {
			return fmt.Errorf("%s: present but not in %s", path, manifestName)
		}
	}
	return nil
}

// hashTree reads every file and link under dir (a full check).
func hashTree(dir string) (map[string]found, error) {
	have := map[string]found{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(path[len(dir)+1:])
		if rel == manifestName {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			have[rel] = found{link: &target}
		case d.Type().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			n, err := io.CopyBuffer(h, f, buf)
			if err != nil {
				return err
			}
			have[rel] = found{size: n, sha256: hex.EncodeToString(h.Sum(nil))}
		default:
			have[rel] = found{sha256: "not a file"}
		}
		return nil
	})
	return have, err
}

// fullCheck re-hashes the extracted folder against its manifest and the trailer.
func fullCheck(dir string, t trailer) (int, error) {
	files, err := readManifest(dir, t)
	if err != nil {
		return 0, err
	}
	have, err := hashTree(dir)
	if err != nil {
		return 0, err
	}
	return len(files), compare(files, have)
}

// The completion marker, written beside the folder once it is complete and renamed into
// place: its first line names the manifest's digest, then one line per file, "f SIZE PATH"
// or "l PATH" (a symlink), which a later run checks with one lstat each.
func markerText(t trailer, files []manifestFile, manifestSize int64) []byte {
	var b strings.Builder
	b.WriteString("gopack-exe 1 " + t.digest() + "\n")
	sorted := append([]manifestFile{{Path: manifestName, Size: manifestSize}}, files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		if f.Link != nil {
			b.WriteString("l " + f.Path + "\n")
		} else {
			b.WriteString("f " + strconv.FormatInt(f.Size, 10) + " " + f.Path + "\n")
		}
	}
	return []byte(b.String())
}

// quickCheck: the marker names this bundle, and every file it lists is there with its size
// (no content is read). The lstat calls are shared among a few goroutines (a bundle holds
// thousands of files). Returns the number of files checked.
func quickCheck(dir, marker string, t trailer) (int, error) {
	data, err := os.ReadFile(marker)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) == 0 || lines[0] != "gopack-exe 1 "+t.digest() {
		return 0, errors.New("its completion marker names another bundle")
	}
	lines = lines[1:]
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(part []string) { errs <- checkLines(dir, part) }(lines[len(lines)*w/workers : len(lines)*(w+1)/workers])
	}
	for w := 0; w < workers; w++ {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return len(lines), err
}

func checkLines(dir string, lines []string) error {
	for _, line := range lines {
		kind, rest, _ := strings.Cut(line, " ")
		var size int64 = -1
		if kind == "f" {
			n, path, ok := strings.Cut(rest, " ")
			var err error
			if size, err = strconv.ParseInt(n, 10, 64); !ok || err != nil {
				return errors.New("its completion marker is damaged")
			}
			rest = path
		} else if kind != "l" {
			return errors.New("its completion marker is damaged")
		}
		info, err := os.Lstat(dir + string(os.PathSeparator) + filepath.FromSlash(rest))
		switch {
		case err != nil:
			return fmt.Errorf("%s: %v", rest, simple(err))
		case kind == "l" && info.Mode()&fs.ModeSymlink == 0, kind == "f" && (!info.Mode().IsRegular() || info.Size() != size):
			return fmt.Errorf("%s: changed since it was extracted", rest)
		}
	}
	return nil
}
