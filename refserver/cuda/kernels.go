package cuda

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed kernels.cu
var kernelSource string

// KernelSource is the CUDA C of refserver's kernels (kernels.cu).
func KernelSource() string { return kernelSource }

// Kernels lists the entry points of kernels.cu: each templated kernel for
// f32, f16 and bf16, and the type-free ones.
func Kernels() []string {
	var out []string
	for _, k := range []string{"embed", "layernorm", "qkv", "attention", "bias_gelu"} {
		for _, t := range []string{"f32", "f16", "bf16"} {
			out = append(out, k+"_"+t)
		}
	}
	return append(out, "residual_add")
}

// MinComputeCapability is the oldest GPU the kernels are built for
// (Pascal, 6.0); bf16 weights need 8.0 (Ampere), where cuBLAS multiplies
// them.
const (
	MinComputeCapability     = 60
	MinComputeCapabilityBF16 = 80
)

// Compiled is kernels.cu compiled to PTX for one compute capability.
type Compiled struct {
	Arch  int    // the compute_XY it was compiled for, e.g. 90
	NVRTC string // NVRTC's version, e.g. "12.4"
	PTX   []byte // NUL-terminated
}

// CompileKernels compiles kernels.cu with the NVRTC found on this machine
// for compute capability cc (major·10+minor, e.g. 90): for the newest
// architecture NVRTC knows that is not newer than cc, since PTX runs on
// newer GPUs through the driver's JIT. It needs no GPU. The error wraps
// ErrNoLibrary when there is no NVRTC, and quotes NVRTC's log when the
// source does not compile.
func CompileKernels(cc int) (*Compiled, error) {
	n, err := loadNVRTC()
	if err != nil {
		return nil, err
	}
	return compileWith(n, cc)
}

func compileWith(n *nvrtc, cc int) (*Compiled, error) {
	arch := cc
	if archs := n.archs(); len(archs) > 0 {
		arch = 0
		for _, a := range archs {
			if a <= cc {
				arch = a
			}
		}
		if arch == 0 {
			return nil, fmt.Errorf("NVRTC %s compiles for compute capabilities %s, none of them as old as this GPU's %d.%d",
				n.Version(), archList(archs), cc/10, cc%10)
		}
	}
	ptx, err := n.compile("kernels.cu", kernelSource, arch)
	if err != nil {
		return nil, err
	}
	c := &Compiled{Arch: arch, NVRTC: n.Version(), PTX: ptx}
	for _, k := range Kernels() {
		if !strings.Contains(string(ptx), ".entry "+k+"(") {
			return nil, fmt.Errorf("compiled kernels.cu for compute_%d, but its PTX has no entry %s", arch, k)
		}
	}
	return c, nil
}

func archList(archs []int) string {
	var s []string
	for _, a := range archs {
		s = append(s, fmt.Sprintf("%d.%d", a/10, a%10))
	}
	return strings.Join(s, ", ")
}
