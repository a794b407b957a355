//go:build unix

package safetensors

import (
	"fmt"
	"io"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the file at path read-only. Where it cannot (an empty file,
// something that is not a regular file, or a failed mmap) it reads the file
// instead and returns a nil unmap.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if size := fi.Size(); fi.Mode().IsRegular() && size > 0 && size <= math.MaxInt {
		data, err := unix.Mmap(int(fh.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err == nil {
			return data, func() error { return unix.Munmap(data) }, nil
		}
	}
	data, err = io.ReadAll(fh)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil, nil
}
