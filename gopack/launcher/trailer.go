package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
)

// The fixed-size trailer at the very end of a gopack executable (gopack/archive/exe.py writes it):
//
//	0   [8]   magic "GOPACKX1"
//	8   u32   trailer version (1)
//	12  u32   flags (0)
//	16  u64   payload offset: where the bundle's tar.gz starts in the file
//	24  u64   payload size
//	32  [32]  sha256 of the payload
//	64  [32]  sha256 of the bundle's gopack.json (its files' digests): the folder's name
//	96  u16   length of the bundle's top folder name; 98 u16 length of the program's path in it
//	100 [28]  zeros
//	128 [256] the top folder name (<name>-<version>), zero-padded
//	384 [512] the program, relative to the top folder (bin/<name>), zero-padded
//	896 [120] zeros
//	1016 [8]  magic again
//
// Integers are little-endian.
const (
	trailerSize = 1024
	magic       = "GOPACKX1"
	version     = 1
)

type trailer struct {
	offset, size int64
	payloadSHA   [32]byte
	manifestSHA  [32]byte
	top, program string
}

func (t trailer) digest() string { return hex.EncodeToString(t.manifestSHA[:]) }

// readTrailer reads the trailer at the end of f, whose size is fileSize.
func readTrailer(f io.ReaderAt, fileSize int64) (trailer, error) {
	var t trailer
	if fileSize < trailerSize {
		return t, errors.New("the file is too short to hold a bundle")
	}
	b := make([]byte, trailerSize)
	if _, err := f.ReadAt(b, fileSize-trailerSize); err != nil {
		return t, err
	}
	le := binary.LittleEndian
	if string(b[0:8]) != magic || string(b[1016:1024]) != magic || le.Uint32(b[8:12]) != version {
		return t, errors.New("no gopack bundle at its end (the file was cut short or is not a gopack executable)")
	}
	t.offset, t.size = int64(le.Uint64(b[16:24])), int64(le.Uint64(b[24:32]))
	copy(t.payloadSHA[:], b[32:64])
	copy(t.manifestSHA[:], b[64:96])
	topLen, programLen := int(le.Uint16(b[96:98])), int(le.Uint16(b[98:100]))
	if topLen == 0 || topLen > 256 || programLen == 0 || programLen > 512 {
		return t, errors.New("its trailer is damaged")
	}
	t.top, t.program = string(b[128:128+topLen]), string(b[384:384+programLen])
	if t.offset < 0 || t.size <= 0 || t.offset+t.size != fileSize-trailerSize {
		return t, errors.New("its trailer does not match its length (the file was cut short or appended to)")
	}
	if !plainName(t.top) || bytes.ContainsRune([]byte(t.top), '/') || !plainPath(t.program) {
		return t, errors.New("its trailer names an unsafe folder or program")
	}
	return t, nil
}
