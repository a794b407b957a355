package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/llmbench/llmbench/refserver/backend"
)

// ErrNoDevice says the driver is there but sees no GPU; errors.Is finds
// it in Open's error.
var ErrNoDevice = errors.New("no CUDA device")

// Probe loads the driver and counts its devices, without starting
// anything: what `refserver --device auto` asks first, and what a test
// on a machine without a GPU can check.
func Probe() (int, error) {
	d, err := loadDriver()
	if err != nil {
		return 0, fmt.Errorf("cuda: %w", err)
	}
	return countDevices(d)
}

func countDevices(d *driver) (int, error) {
	if err := d.check("cuInit", d.cuInit(0)); err != nil {
		if isCode(err, cudaErrorNoDevice) {
			return 0, fmt.Errorf("cuda: %w: %v", ErrNoDevice, err)
		}
		return 0, fmt.Errorf("cuda: the driver did not start: %w", err)
	}
	var n int32
	if err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return 0, fmt.Errorf("cuda: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("cuda: %w: the driver found none", ErrNoDevice)
	}
	return int(n), nil
}

// openGPU starts device ordinal: the driver, the device's primary context,
// a stream, a cuBLAS handle on it, and the kernels compiled for it.
func openGPU(ordinal int, dt dtype) (g *gpu, info backend.Info, err error) {
	d, err := loadDriver()
	if err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	n, err := countDevices(d)
	if err != nil {
		return nil, info, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, info, fmt.Errorf("cuda: device %d does not exist: the driver sees %d", ordinal, n)
	}
	g = &gpu{d: d, ordinal: int32(ordinal), fns: map[string]uintptr{},
		params: make([]unsafe.Pointer, 16), slots: make([]uint64, 16)}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	var dev int32
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&dev, int32(ordinal))); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	name := make([]byte, 256)
	d.cuDeviceGetName(&name[0], int32(len(name)), dev)
	var major, minor int32
	d.cuDeviceGetAttribute(&major, attrComputeMajor, dev)
	d.cuDeviceGetAttribute(&minor, attrComputeMinor, dev)
	cc := int(major*10 + minor)
	info = backend.Info{Backend: "cuda", Device: "cuda", Name: strings.TrimRight(string(name), "\x00"), DType: dt.name,
		ComputeCapability: fmt.Sprintf("%d.%d", major, minor)}
	if cc < dt.minArch {
		return nil, info, fmt.Errorf("cuda: %s has compute capability %s; %s weights need %d.%d or newer",
			info.Name, info.ComputeCapability, dt.name, dt.minArch/10, dt.minArch%10)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&g.ctx, dev)); err != nil {
		return nil, info, fmt.Errorf("cuda: %s: %w", info.Name, err)
	}
	if err := d.check("cuCtxSetCurrent", d.cuCtxSetCurrent(g.ctx)); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	if err := d.check("cuStreamCreate", d.cuStreamCreate(&g.stream, 1 /* non-blocking */)); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	if g.b, err = loadBLAS(); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	if err := g.b.check("cublasCreate", g.b.create(&g.handle)); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	if err := g.b.check("cublasSetStream", g.b.setStream(g.handle, g.stream)); err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	k, err := CompileKernels(cc)
	if err != nil {
		return nil, info, fmt.Errorf("cuda: %w", err)
	}
	if err := d.check("cuModuleLoadData", d.cuModuleLoadData(&g.module, unsafe.Pointer(&k.PTX[0]))); err != nil {
		return nil, info, fmt.Errorf("cuda: load the kernels compiled for compute_%d by NVRTC %s on %s: %w", k.Arch, k.NVRTC, info.Name, err)
	}
	for _, name := range Kernels() {
		var fn uintptr
		if err := d.check("cuModuleGetFunction "+name, d.cuModuleGetFunction(&fn, g.module, cString(name))); err != nil {
			return nil, info, fmt.Errorf("cuda: %w", err)
		}
		g.fns[name] = fn
	}
	return g, info, nil
}
