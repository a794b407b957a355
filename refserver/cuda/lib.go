package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// ErrNoLibrary says a CUDA library is not on this machine; errors.Is finds
// it in Open's and CompileKernels' errors.
var ErrNoLibrary = errors.New("CUDA library not found")

// Library names tried in order: the driver has one soname; cuBLAS and
// NVRTC are tried for CUDA 13, 12 and 11 (NVRTC 11.x's soname is 11.2).
var (
	driverLibs = []string{"libcuda.so.1", "libcuda.so"}
	blasLibs   = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}
	nvrtcLibs  = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}
)

// library is an opened shared library.
type library struct {
	name   string
	handle uintptr
}

// open tries names in order, first where the system's loader looks, then
// in the CUDA toolkit's library folders (which the loader often does not
// search), and returns the first that loads; the error names every one
// tried and wraps ErrNoLibrary.
func open(what string, names []string) (*library, error) {
	var why []string
	for _, n := range names {
		h, err := dlopen(n)
		if err == nil {
			return &library{name: n, handle: h}, nil
		}
		why = append(why, err.Error())
	}
	for _, dir := range toolkitDirs() {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if h, err := dlopen(p); err == nil {
				return &library{name: p, handle: h}, nil
			}
		}
	}
	return nil, fmt.Errorf("%s: %w: tried %s (%s)", what, ErrNoLibrary, strings.Join(names, ", "), strings.Join(why, "; "))
}

// toolkitDirs are the CUDA toolkit's library folders: $CUDA_HOME and
// $CUDA_PATH's lib64, then /usr/local/cuda's.
func toolkitDirs() []string {
	var dirs []string
	for _, root := range []string{os.Getenv("CUDA_HOME"), os.Getenv("CUDA_PATH"), "/usr/local/cuda"} {
		if root != "" {
			dirs = append(dirs, filepath.Join(root, "lib64"), filepath.Join(root, "targets", "x86_64-linux", "lib"),
				filepath.Join(root, "targets", "sbsa-linux", "lib"))
		}
	}
	return dirs
}

// bind registers each function pointer in fns under its symbol name,
// trying "name" then the name's fallbacks; it fails on the first symbol
// the library lacks.
func (l *library) bind(fns map[string]any) error {
	for name, fn := range fns {
		if err := dlsym(l.handle, strings.Split(name, "|"), fn); err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return nil
}

// cString is s as a NUL-terminated byte slice.
func cString(s string) *byte {
	b := append([]byte(s), 0)
	return &b[0]
}

// goString reads a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for ptr := unsafe.Pointer(p); ; ptr = unsafe.Add(ptr, 1) {
		c := *(*byte)(ptr)
		if c == 0 {
			return string(b)
		}
		b = append(b, c)
	}
}
