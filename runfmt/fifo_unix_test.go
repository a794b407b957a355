//go:build unix

package runfmt

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFIFOIsRefused: a FIFO in place of a run-folder file would block its
// reader for ever; it is refused at once.
func TestFIFOIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{SummaryFile, RequestsFile} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	done := make(chan error, 2)
	go func() { _, err := ReadSummary(dir); done <- err }()
	go func() {
		for _, err := range Requests(dir) {
			done <- err
			return
		}
		done <- nil
	}()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("reading a FIFO: %v, want ErrNotRegular", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO blocked")
		}
	}
}
