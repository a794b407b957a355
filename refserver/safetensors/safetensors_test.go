package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testFile returns a small file with one tensor of each float dtype and one
// integer tensor.
func testFile(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	tensors := []Tensor{
		{Name: "f32", DType: F32, Shape: []int{2, 2}, Data: EncodeFloat32s([]float32{1, 2, 3, 4})},
		{Name: "f16", DType: F16, Shape: []int{3}, Data: EncodeFloat16s([]float32{0.5, -2, 65504})},
		{Name: "bf16", DType: BF16, Shape: []int{2}, Data: EncodeBFloat16s([]float32{1, -2.5})},
		{Name: "ids", DType: I64, Shape: []int{1}, Data: make([]byte, 8)},
	}
	if err := Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, testFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := make([]float32, 4)
	if err := f.Float32s("f32", got); err != nil {
		t.Fatalf("Float32s: %v", err)
	}
	if want := []float32{1, 2, 3, 4}; !equalFloat32s(got, want) {
		t.Errorf("Float32s(f32) = %v, want %v", got, want)
	}
	if got, want := f.Metadata()["format"], "pt"; got != want {
		t.Errorf("Metadata()[format] = %q, want %q", got, want)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := f.Float32s("f32", got); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Float32s after Close: got error %v, want one about the closed file", err)
	}
	if _, err := f.Raw("f32"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Raw after Close: got error %v, want one about the closed file", err)
	}
	if _, ok := f.Info("f32"); !ok {
		t.Errorf("Info after Close: not found, want found")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := testFile(t)
	tests := []struct {
		name string
		data []byte // nil: do not create the file
		want []string
	}{
		{"missing.safetensors", nil, []string{"missing.safetensors", "no such file"}},
		{"empty.safetensors", []byte{}, []string{"empty.safetensors", "0 bytes, shorter than 8 bytes"}},
		{"truncated.safetensors", good[:len(good)-3], []string{"truncated.safetensors", "file truncated", "but data has"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.want)
			}
			for _, want := range tt.want {
				if got := err.Error(); !strings.Contains(got, want) {
					t.Errorf("got error %q, want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestOpenDirectory(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Errorf("Open(directory) succeeded, want an error")
	}
}

func TestFloat32sErrors(t *testing.T) {
	f, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tensor string
		dstLen int
		want   []string
	}{
		{"unknown name", "nope", 1, []string{`tensor "nope" not found`}},
		{"integer dtype", "ids", 1, []string{`tensor "ids"`, "dtype I64 cannot be decoded as float32"}},
		{"dst too short", "f32", 3, []string{`tensor "f32"`, "dst has 3 elements", "has 4"}},
		{"dst too long", "f16", 4, []string{`tensor "f16"`, "dst has 4 elements", "has 3"}},
		{"nil dst", "bf16", 0, []string{`tensor "bf16"`, "dst has 0 elements", "has 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Float32s(tt.tensor, make([]float32, tt.dstLen))
			if err == nil {
				t.Fatalf("Float32s succeeded, want an error containing %q", tt.want)
			}
			for _, want := range tt.want {
				if got := err.Error(); !strings.Contains(got, want) {
					t.Errorf("got error %q, want it to contain %q", got, want)
				}
			}
		})
	}
	if _, err := f.Raw("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Raw(nope): got error %v, want ErrNotFound", err)
	}
	if err := f.Float32s("nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Float32s(nope): got error %v, want ErrNotFound", err)
	}
}

func TestRawCannotGrowIntoNeighbour(t *testing.T) {
	f, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.Raw("bf16")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cap(raw), len(raw); got != want {
		t.Errorf("cap(Raw(bf16)) = %d, want %d so append cannot overwrite the next tensor", got, want)
	}
}

func TestConcurrentReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, testFile(t), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			dst := make([]float32, 3)
			for range 100 {
				if err := f.Float32s("f16", dst); err != nil {
					errs <- err
					return
				}
				if want := []float32{0.5, -2, 65504}; !equalFloat32s(dst, want) {
					t.Errorf("Float32s(f16) = %v, want %v", dst, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Float32s: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func equalFloat32s(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFloat32(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestTruncatedAfterOpen checks that a file cut short by someone else while
// it is mapped gives an error instead of crashing the program.
func TestTruncatedAfterOpen(t *testing.T) {
	var buf bytes.Buffer
	big := make([]float32, 1<<16)
	if err := Write(&buf, []Tensor{{Name: "big", DType: F32, Shape: []int{len(big)}, Data: EncodeFloat32s(big)}}, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.unmap == nil {
		t.Skip("file was read, not mapped")
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	err = f.Float32s("big", big)
	if err == nil {
		t.Fatalf("Float32s on a truncated mapping succeeded, want an error")
	}
	if got, want := err.Error(), `tensor "big": read data`; !strings.Contains(got, want) {
		t.Errorf("got error %q, want it to contain %q", got, want)
	}
}

// TestOpenFixture reads the tiny GPT-2 checkpoint in ../shared/fixtures,
// which a Python writer made, and checks that Write reproduces its tensors.
func TestOpenFixture(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "fixtures", "gpt2-tiny", "model.safetensors")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("fixture not available: %v", err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()

	wte, ok := f.Info("wte.weight")
	if !ok {
		t.Fatalf("Info(wte.weight) not found; names are %q", f.Names())
	}
	if got, want := wte.Shape, []int{50257, 64}; !slices.Equal(got, want) {
		t.Errorf("wte.weight shape = %v, want %v", got, want)
	}
	var tensors []Tensor
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		if info.DType != F32 {
			t.Errorf("tensor %q dtype = %s, want F32", name, info.DType)
			continue
		}
		dst := make([]float32, info.NumElements())
		if err := f.Float32s(name, dst); err != nil {
			t.Errorf("Float32s(%q): %v", name, err)
		}
		raw, err := f.Raw(name)
		if err != nil {
			t.Fatalf("Raw(%q): %v", name, err)
		}
		if got, want := EncodeFloat32s(dst), raw; !bytes.Equal(got, want) {
			t.Errorf("tensor %q: re-encoded Float32s differ from Raw", name)
		}
		tensors = append(tensors, Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: raw})
	}

	var buf bytes.Buffer
	if err := Write(&buf, tensors, f.Metadata()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	again, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("Parse of rewritten fixture: %v", err)
	}
	for _, tt := range tensors {
		got, _ := again.Info(tt.Name)
		want, _ := f.Info(tt.Name)
		if got.Begin != want.Begin || got.End != want.End || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("rewritten %q = %+v, want %+v", tt.Name, got, want)
		}
	}
}
