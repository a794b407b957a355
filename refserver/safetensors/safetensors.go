// Package safetensors reads and writes Hugging Face .safetensors files.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
// describing each tensor (dtype, shape and a byte range), and then the
// tensors' bytes. Open maps a file read-only and Parse reads one from
// memory; both check the whole header before returning, so a corrupt,
// truncated or inconsistent file gets an error that names the tensor and
// the problem rather than a panic or wrong numbers later:
//
//	safetensors: tensor "h.0.mlp.c_fc.weight": holds 1000 bytes, F32 [16 16] needs 1024
//
// Tensors of a dtype this package does not know (DType.Size returns 0) are
// accepted, because a file may mix them with tensors the caller wants: their
// byte ranges are still checked against the file and each other, but not
// against their shape, and only Raw can read them.
//
// Write builds files, for tests and tools: tensors sorted by name and laid
// out back to back, as the tiny GPT-2 fixture is. EncodeFloat32s,
// EncodeFloat16s and EncodeBFloat16s build their data.
package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"sync"
)

// ErrNotFound is wrapped by the error for a tensor name that is not in the
// file. Check it with errors.Is.
var ErrNotFound = errors.New("not found")

// errClosed is returned when reading tensor data after Close.
var errClosed = errors.New("file is closed")

// TensorInfo describes one tensor in a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int // e.g. [768 2304]; empty for a scalar
	Begin int64 // offset of the first byte in the data buffer after the header
	End   int64 // offset just past the last byte
}

// NumElements returns the number of elements, the product of Shape: 1 for a
// scalar, 0 if any dimension is 0. It returns 0 too for a shape whose
// product does not fit in an int or has a negative dimension, which Parse
// never returns.
func (t TensorInfo) NumElements() int {
	n, _ := elementCount(t.Shape)
	return n
}

// File is a parsed safetensors file. Its methods are safe for concurrent
// use, Close included: Close waits for reads in progress, and reads after it
// return an error. The zero value is not usable; get a File from Open or
// Parse.
type File struct {
	h     *header
	unmap func() error // nil when the data is not a mapping

	mu     sync.RWMutex // guards buf and closed against Close
	buf    []byte       // the data buffer after the header
	closed bool
}

// Open maps the file at path read-only (reading it into memory where it
// cannot be mapped) and parses it. Close the File to release the mapping.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	h, buf, err := parseFile(data)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return &File{h: h, unmap: unmap, buf: buf}, nil
}

// Parse parses a whole safetensors file held in memory. The File refers to
// data rather than copying it, so data must not change while the File is in
// use.
func Parse(data []byte) (*File, error) {
	h, buf, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return &File{h: h, buf: buf}, nil
}

// Close releases the mapping made by Open, after any reads in progress have
// finished. Slices returned by Raw must not be used after Close. Names,
// Info and Metadata keep working; Float32s and Raw return an error. Closing
// twice is not an error.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.buf = nil
	if f.unmap != nil {
		if err := f.unmap(); err != nil {
			return fmt.Errorf("safetensors: close: %w", err)
		}
	}
	return nil
}

// Names returns the names of the tensors in the file, sorted. The
// __metadata__ entry is not a tensor and is not included.
func (f *File) Names() []string {
	return slices.Clone(f.h.names)
}

// Info returns the description of the named tensor, and whether the file
// has it.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.h.tensors[name]
	t.Shape = slices.Clone(t.Shape)
	return t, ok
}

// Metadata returns a copy of the header's __metadata__ map, or nil if the
// file has none.
func (f *File) Metadata() map[string]string {
	return maps.Clone(f.h.metadata)
}

// Float32s decodes the named tensor into dst, converting F16 and BF16 values
// to float32. len(dst) must equal the tensor's element count. It returns an
// error, wrapping ErrNotFound, if the file has no such tensor, and an error
// for any other dtype.
func (f *File) Float32s(name string, dst []float32) (err error) {
	t, ok := f.h.tensors[name]
	if !ok {
		return notFound(name)
	}
	switch t.DType {
	case F32, F16, BF16:
	default:
		return fmt.Errorf("safetensors: tensor %q: dtype %s cannot be decoded as float32 (want F32, F16 or BF16)", name, t.DType)
	}
	if n := t.NumElements(); len(dst) != n {
		return fmt.Errorf("safetensors: tensor %q: dst has %d elements, tensor %v has %d", name, len(dst), t.Shape, n)
	}

	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("safetensors: tensor %q: %w", name, errClosed)
	}
	src := f.buf[t.Begin:t.End] // Parse checked that len(src) == len(dst)*size
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverFault(&err, name)

	le := binary.LittleEndian
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = Float16ToFloat32(le.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(le.Uint16(src[2*i:]))
		}
	}
	return nil
}

// Raw returns the bytes of the named tensor. The slice refers to the file's
// memory, which Open maps read-only: do not modify it (writing to a mapping
// crashes the program), and do not use it after Close. Copy it to keep it.
func (f *File) Raw(name string) ([]byte, error) {
	t, ok := f.h.tensors[name]
	if !ok {
		return nil, notFound(name)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, errClosed)
	}
	return f.buf[t.Begin:t.End:t.End], nil
}

func notFound(name string) error {
	return fmt.Errorf("safetensors: tensor %q %w", name, ErrNotFound)
}

// recoverFault turns a memory fault while reading a mapping, as when the
// file is truncated by another process after Open, into an error. Other
// panics pass through. The reader defers it after turning on
// debug.SetPanicOnFault.
func recoverFault(err *error, name string) {
	r := recover()
	if r == nil {
		return
	}
	if _, ok := r.(interface{ Addr() uintptr }); !ok {
		panic(r)
	}
	*err = fmt.Errorf("safetensors: tensor %q: read data: %v", name, r)
}
