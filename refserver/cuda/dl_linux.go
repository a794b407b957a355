//go:build linux && (amd64 || arm64)

package cuda

import (
	"fmt"

	"github.com/ebitengine/purego"
)

// dlopen loads a shared library with the system's loader, through purego:
// no cgo, so a refserver built with CGO_ENABLED=0 still loads CUDA.
func dlopen(name string) (uintptr, error) {
	return purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
}

// dlsym points the Go function variable fn at the first of names the
// library has.
func dlsym(handle uintptr, names []string, fn any) error {
	var err error
	for _, n := range names {
		var sym uintptr
		if sym, err = purego.Dlsym(handle, n); err == nil {
			purego.RegisterFunc(fn, sym)
			return nil
		}
	}
	return fmt.Errorf("no symbol %s: %v", names[0], err)
}
