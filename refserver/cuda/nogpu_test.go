package cuda

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// needNVRTC skips a test when this machine has no NVRTC, or fails it under
// make test ($LLMBENCH_INTEGRATION=1), which installs one (make nvrtc).
func needNVRTC(t *testing.T, err error) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrNoLibrary) {
		return
	}
	if os.Getenv("LLMBENCH_INTEGRATION") == "1" {
		t.Fatalf("the kernel compile test needs NVRTC: %v (make nvrtc installs Debian's libnvrtc)", err)
	}
	t.Skipf("skipping the kernel compile test: no NVRTC on this machine (%v); make nvrtc installs one", err)
}

// TestCompileKernels compiles every kernel with NVRTC, which needs no GPU,
// for the compute capabilities of the GPUs refserver targets: Pascal,
// Volta, Ampere (bf16), Ada and Hopper (the H100 and H200).
func TestCompileKernels(t *testing.T) {
	for _, cc := range []int{60, 70, 80, 89, 90} {
		k, err := CompileKernels(cc)
		needNVRTC(t, err)
		if err != nil {
			t.Fatalf("compute capability %d: %v", cc, err)
		}
		if k.Arch > cc || k.Arch < MinComputeCapability {
			t.Errorf("compute capability %d: compiled for compute_%d", cc, k.Arch)
		}
		ptx := string(k.PTX)
		for _, name := range Kernels() {
			if !strings.Contains(ptx, ".entry "+name+"(") {
				t.Errorf("compute_%d: the PTX has no kernel %s", k.Arch, name)
			}
		}
		t.Logf("compute capability %d: compute_%d with NVRTC %s, %d bytes of PTX", cc, k.Arch, k.NVRTC, len(k.PTX))
	}
}

func TestCompileErrorQuotesTheLog(t *testing.T) {
	n, err := loadNVRTC()
	needNVRTC(t, err)
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.compile("broken.cu", `extern "C" __global__ void k(float *x) { x[0] = undefined_name; }`, 70)
	if err == nil || !strings.Contains(err.Error(), "undefined_name") || !strings.Contains(err.Error(), "broken.cu") || strings.Contains(err.Error(), "\n") {
		t.Errorf("compile error %q: want one line quoting NVRTC's log, naming the file and the undefined name", err)
	}
}

// TestProbeWithoutGPU is what `refserver --device cuda` meets on a
// machine without a GPU: a clear error that says which part is missing,
// the driver or a device, and no panic.
func TestProbeWithoutGPU(t *testing.T) {
	n, err := Probe()
	if err == nil {
		t.Skipf("this machine has %d CUDA device(s): the no-GPU path is not reachable here", n)
	}
	switch {
	case errors.Is(err, ErrNoLibrary):
		if !strings.Contains(err.Error(), "libcuda.so.1") {
			t.Errorf("error %q does not name the missing driver library", err)
		}
	case errors.Is(err, ErrNoDevice):
		if !strings.Contains(err.Error(), "no CUDA device") {
			t.Errorf("error %q does not say there is no device", err)
		}
	default:
		if !strings.HasPrefix(err.Error(), "cuda: ") {
			t.Errorf("error %q: want one line that starts with cuda:", err)
		}
	}
	if strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("error %q spans lines, want one", err)
	}
	t.Logf("without a GPU: %v", err)
}

// TestNoDevice is the driver present with no GPU: cuInit's answer, as
// libcuda gives it, becomes ErrNoDevice or a one-line start failure. (The
// driver library cannot be installed on this CI machine without a GPU's
// packages, so its functions are stand-ins here.)
func TestNoDevice(t *testing.T) {
	name := func(s string) *byte { return &append([]byte(s), 0)[0] }
	for _, tc := range []struct {
		what   string
		init   int32
		count  int32
		noDev  bool
		substr string
	}{
		{"cuInit says no device", cudaErrorNoDevice, 0, true, "no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE"},
		{"cuInit fails otherwise", 999, 0, false, "the driver did not start: cuInit: CUDA_ERROR_UNKNOWN"},
		{"no devices counted", cudaSuccess, 0, true, "no CUDA device: the driver found none"},
		{"one device", cudaSuccess, 1, false, ""},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d := &driver{
				cuInit:           func(uint32) int32 { return tc.init },
				cuDeviceGetCount: func(n *int32) int32 { *n = tc.count; return cudaSuccess },
				cuGetErrorName: func(res int32, s **byte) int32 {
					*s = name(map[int32]string{cudaErrorNoDevice: "CUDA_ERROR_NO_DEVICE", 999: "CUDA_ERROR_UNKNOWN"}[res])
					return cudaSuccess
				},
				cuGetErrorString: func(res int32, s **byte) int32 { *s = name("a description"); return cudaSuccess },
			}
			n, err := countDevices(d)
			if tc.substr == "" {
				if err != nil || n != int(tc.count) {
					t.Errorf("countDevices = %d, %v; want %d, nil", n, err, tc.count)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNoDevice) != tc.noDev || !strings.Contains(err.Error(), tc.substr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("countDevices: %v; want one line with %q (no device: %v)", err, tc.substr, tc.noDev)
			}
		})
	}
}
