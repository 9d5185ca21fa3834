package schema

import (
	"bytes"
	"time"
	"unsafe"

	"cloud.google.com/go/civil"
)

// Slab hands out the values a reader's rows keep from large shared
// buffers: one allocation per many cells instead of one (or two) per cell.
// A reader keeps one per chunk and converts a page's cells into it
// (Mapping.ConvertIn).
//
//   - Text and bytes are copied into 64 KiB buffers (Bytes, String).
//   - A value boxed into `any` for the Spanner client — a string, NUMERIC,
//     timestamp, date or byte slice — would cost an allocation of its own
//     (Go boxes any value larger than a pointer on the heap); the Any*
//     methods store it in a typed buffer of boxesPer values instead and
//     return an interface that points at its element.
//
// Nothing handed out is ever written again (the slab only appends past
// it), so strings, slices and boxed values made from it are as immutable
// as any Go value; a buffer is freed when the last value pointing into it
// is. A nil *Slab allocates every value on its own.
type Slab struct {
	buf   []byte
	strs  boxes[string]
	nums  boxes[Numeric]
	times boxes[time.Time]
	dates boxes[civil.Date]
	blobs boxes[[]byte]
}

const (
	slabSize = 64 << 10
	// slabLargest: larger cells get an allocation of their own, so one
	// big value never strands most of a buffer.
	slabLargest = slabSize / 8
	// boxesPer is how many boxed values of one type share an allocation.
	boxesPer = 256
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

// AnyString returns v boxed into an interface.
func (s *Slab) AnyString(v string) any {
	if s == nil {
		return v
	}
	return s.strs.box(v)
}

// AnyNumeric returns v boxed into an interface.
func (s *Slab) AnyNumeric(v Numeric) any {
	if s == nil {
		return v
	}
	return s.nums.box(v)
}

// AnyTime returns v boxed into an interface.
func (s *Slab) AnyTime(v time.Time) any {
	if s == nil {
		return v
	}
	return s.times.box(v)
}

// AnyDate returns v boxed into an interface.
func (s *Slab) AnyDate(v civil.Date) any {
	if s == nil {
		return v
	}
	return s.dates.box(v)
}

// AnyBytes returns v boxed into an interface.
func (s *Slab) AnyBytes(v []byte) any {
	if s == nil {
		return v
	}
	return s.blobs.box(v)
}

// boxes boxes values of one type from shared buffers. Only for types
// larger than a pointer: those an interface always holds through a
// pointer to the value, which box points at the buffer's element.
type boxes[T any] struct {
	typ unsafe.Pointer // T's type, as an interface holding a T names it
	buf []T
}

// eface is the layout of an interface value (the runtime's eface): the
// dynamic type, and a pointer to the value for any type larger than a
// pointer.
type eface struct {
	typ, data unsafe.Pointer
}

func (b *boxes[T]) box(v T) any {
	if len(b.buf) == cap(b.buf) {
		if b.typ == nil {
			var zero T
			if unsafe.Sizeof(zero) <= unsafe.Sizeof(uintptr(0)) {
				panic("schema: boxes of a pointer-sized type")
			}
			z := any(zero)
			b.typ = (*eface)(unsafe.Pointer(&z)).typ
		}
		b.buf = make([]T, 0, boxesPer)
	}
	b.buf = append(b.buf, v)
	var out any
	e := (*eface)(unsafe.Pointer(&out))
	e.typ, e.data = b.typ, unsafe.Pointer(&b.buf[len(b.buf)-1])
	return out
}
