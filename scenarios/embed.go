// Package scenarios is the scenario scripts that ship with llmbench, with
// their modules (lib/) and data (data/), embedded so that a copy of the
// llmbench binary can run them outside a checkout (`llmbench demo`).
package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed *.js lib/*.js data nightly.json
var files embed.FS

// Extract writes the shipped scenarios into dir, keeping their layout
// (dir/baseline.js, dir/lib/target.js, ...), so that their relative
// imports resolve.
func Extract(dir string) error {
	return fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("extract scenario %s: %w", path, err)
		}
		return nil
	})
}
