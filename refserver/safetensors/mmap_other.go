//go:build !unix

package safetensors

import "os"

// mapFile reads the file at path into memory; this platform has no mmap
// support here, so unmap is nil.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	data, err = os.ReadFile(path)
	return data, nil, err
}
