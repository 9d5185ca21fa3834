package schema

import (
	"bytes"
	"unsafe"
)

// Slab hands out copies of cells from large shared buffers: one allocation
// per slabSize bytes of text instead of one per cell. A reader keeps one
// per chunk and converts a page's cells into it (Mapping.ConvertIn). A
// copy is never written again once handed out (the slab only appends past
// it), so strings made from it are as immutable as any Go string; a buffer
// is freed when the last value pointing into it is. A nil *Slab allocates
// every copy on its own.
type Slab struct {
	buf []byte
}

const (
	slabSize = 64 << 10
	// slabLargest: larger cells get an allocation of their own, so one
	// big value never strands most of a buffer.
	slabLargest = slabSize / 8
)

// Bytes returns a copy of b (nil for nil).
func (s *Slab) Bytes(b []byte) []byte {
	if s == nil || len(b) > slabLargest || b == nil {
		return bytes.Clone(b)
	}
	if len(s.buf)+len(b) > cap(s.buf) {
		s.buf = make([]byte, 0, slabSize)
	}
	start := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[start:len(s.buf):len(s.buf)]
}

// String returns b as a string.
func (s *Slab) String(b []byte) string {
	if s == nil || len(b) > slabLargest {
		return string(b)
	}
	if len(b) == 0 {
		return ""
	}
	c := s.Bytes(b)
	return unsafe.String(&c[0], len(c))
}
