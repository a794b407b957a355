//go:build !(linux && (amd64 || arm64))

package cuda

import (
	"errors"
	"runtime"
)

var errPlatform = errors.New("the CUDA backend runs on Linux on amd64 or arm64, not " + runtime.GOOS + "/" + runtime.GOARCH)

func dlopen(string) (uintptr, error) { return 0, errPlatform }

func dlsym(uintptr, []string, any) error { return errPlatform }
