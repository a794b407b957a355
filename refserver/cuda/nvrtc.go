package cuda

import (
	"fmt"
	"slices"
	"strings"
)

// nvrtc is libnvrtc's API: it compiles CUDA C to PTX at run time, with no
// GPU and no toolkit.
type nvrtc struct {
	lib *library

	version           func(major, minor *int32) int32
	getErrorString    func(res int32) *byte
	createProgram     func(prog *uintptr, src, name *byte, nHeaders int32, headers, includeNames **byte) int32
	destroyProgram    func(prog *uintptr) int32
	compileProgram    func(prog uintptr, nOptions int32, options **byte) int32
	getPTXSize        func(prog uintptr, size *uint64) int32
	getPTX            func(prog uintptr, ptx *byte) int32
	getProgramLogSize func(prog uintptr, size *uint64) int32
	getProgramLog     func(prog uintptr, log *byte) int32
	numSupportedArchs func(n *int32) int32
	supportedArchs    func(archs *int32) int32
}

func loadNVRTC() (*nvrtc, error) {
	lib, err := open("NVRTC (libnvrtc)", nvrtcLibs)
	if err != nil {
		return nil, err
	}
	n := &nvrtc{lib: lib}
	err = lib.bind(map[string]any{
		"nvrtcVersion":              &n.version,
		"nvrtcGetErrorString":       &n.getErrorString,
		"nvrtcCreateProgram":        &n.createProgram,
		"nvrtcDestroyProgram":       &n.destroyProgram,
		"nvrtcCompileProgram":       &n.compileProgram,
		"nvrtcGetPTXSize":           &n.getPTXSize,
		"nvrtcGetPTX":               &n.getPTX,
		"nvrtcGetProgramLogSize":    &n.getProgramLogSize,
		"nvrtcGetProgramLog":        &n.getProgramLog,
		"nvrtcGetNumSupportedArchs": &n.numSupportedArchs,
		"nvrtcGetSupportedArchs":    &n.supportedArchs,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Version is NVRTC's version, e.g. "11.8".
func (n *nvrtc) Version() string {
	var major, minor int32
	if n.version(&major, &minor) != 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

// archs lists the compute capabilities this NVRTC compiles for, as
// major·10+minor, ascending.
func (n *nvrtc) archs() []int {
	var count int32
	if n.numSupportedArchs(&count) != 0 || count <= 0 {
		return nil
	}
	a := make([]int32, count)
	if n.supportedArchs(&a[0]) != 0 {
		return nil
	}
	out := make([]int, count)
	for i, v := range a {
		out[i] = int(v)
	}
	slices.Sort(out)
	return out
}

// compile compiles src for compute capability arch (major·10+minor) to
// PTX. A compile error quotes NVRTC's log.
func (n *nvrtc) compile(name, src string, arch int) ([]byte, error) {
	var prog uintptr
	if res := n.createProgram(&prog, cString(src), cString(name), 0, nil, nil); res != 0 {
		return nil, fmt.Errorf("nvrtcCreateProgram: %s", goString(n.getErrorString(res)))
	}
	defer n.destroyProgram(&prog)
	opts := []string{fmt.Sprintf("--gpu-architecture=compute_%d", arch), "--std=c++14"}
	cOpts := make([]*byte, len(opts))
	for i, o := range opts {
		cOpts[i] = cString(o)
	}
	res := n.compileProgram(prog, int32(len(cOpts)), &cOpts[0])
	if res != 0 {
		return nil, fmt.Errorf("compile %s for compute_%d with NVRTC %s: %s: %s", name, arch, n.Version(), goString(n.getErrorString(res)), firstError(n.log(prog)))
	}
	var size uint64
	if res := n.getPTXSize(prog, &size); res != 0 || size == 0 {
		return nil, fmt.Errorf("nvrtcGetPTXSize: %s", goString(n.getErrorString(res)))
	}
	ptx := make([]byte, size)
	if res := n.getPTX(prog, &ptx[0]); res != 0 {
		return nil, fmt.Errorf("nvrtcGetPTX: %s", goString(n.getErrorString(res)))
	}
	return ptx, nil // NUL-terminated, as cuModuleLoadData wants it
}

// firstError is the first error line of an NVRTC log, with how many more
// there are: one line for an error message.
func firstError(log string) string {
	var errs []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "error") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	switch len(errs) {
	case 0:
		return strings.Join(strings.Fields(log), " ")
	case 1:
		return errs[0]
	}
	return fmt.Sprintf("%s (and %d more errors)", errs[0], len(errs)-1)
}

func (n *nvrtc) log(prog uintptr) string {
	var size uint64
	if n.getProgramLogSize(prog, &size) != 0 || size <= 1 {
		return ""
	}
	b := make([]byte, size)
	if n.getProgramLog(prog, &b[0]) != 0 {
		return ""
	}
	return strings.TrimRight(string(b), "\x00")
}
