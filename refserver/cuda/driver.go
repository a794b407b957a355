package cuda

import (
	"errors"
	"fmt"
	"unsafe"
)

// CUresult values that Open tells apart.
const (
	cudaSuccess           = 0
	cudaErrorOutOfMemory  = 2
	cudaErrorNoDevice     = 100
	cudaErrorInvalidImage = 200
)

// Device attributes (CUdevice_attribute).
const (
	attrComputeMajor = 75
	attrComputeMinor = 76
)

// driver is libcuda's API, the functions refserver calls. Each returns a
// CUresult.
type driver struct {
	lib *library

	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) int32
	cuDeviceTotalMem          func(bytes *uint64, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuMemAlloc                func(ptr *uint64, bytes uint64) int32
	cuMemFree                 func(ptr uint64) int32
	cuMemGetInfo              func(free, total *uint64) int32
	cuMemcpyHtoDAsync         func(dst uint64, src unsafe.Pointer, bytes uint64, stream uintptr) int32
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src uint64, bytes uint64, stream uintptr) int32
	cuStreamCreate            func(stream *uintptr, flags uint32) int32
	cuStreamDestroy           func(stream uintptr) int32
	cuStreamSynchronize       func(stream uintptr) int32
	cuModuleLoadData          func(mod *uintptr, image unsafe.Pointer) int32
	cuModuleUnload            func(mod uintptr) int32
	cuModuleGetFunction       func(fn *uintptr, mod uintptr, name *byte) int32
	cuLaunchKernel            func(fn uintptr, gx, gy, gz, bx, by, bz, shmem uint32, stream uintptr, params, extra unsafe.Pointer) int32
	cuGetErrorName            func(res int32, s **byte) int32
	cuGetErrorString          func(res int32, s **byte) int32
}

// loadDriver opens libcuda.so.1 and binds its functions, the _v2 entry
// points where the API has them.
func loadDriver() (*driver, error) {
	lib, err := open("the NVIDIA driver (libcuda)", driverLibs)
	if err != nil {
		return nil, err
	}
	d := &driver{lib: lib}
	err = lib.bind(map[string]any{
		"cuInit":                   &d.cuInit,
		"cuDriverGetVersion":       &d.cuDriverGetVersion,
		"cuDeviceGetCount":         &d.cuDeviceGetCount,
		"cuDeviceGet":              &d.cuDeviceGet,
		"cuDeviceGetName":          &d.cuDeviceGetName,
		"cuDeviceGetAttribute":     &d.cuDeviceGetAttribute,
		"cuDeviceTotalMem_v2":      &d.cuDeviceTotalMem,
		"cuDevicePrimaryCtxRetain": &d.cuDevicePrimaryCtxRetain,
		"cuDevicePrimaryCtxRelease_v2|cuDevicePrimaryCtxRelease": &d.cuDevicePrimaryCtxRelease,
		"cuCtxSetCurrent":                    &d.cuCtxSetCurrent,
		"cuMemAlloc_v2":                      &d.cuMemAlloc,
		"cuMemFree_v2":                       &d.cuMemFree,
		"cuMemGetInfo_v2":                    &d.cuMemGetInfo,
		"cuMemcpyHtoDAsync_v2":               &d.cuMemcpyHtoDAsync,
		"cuMemcpyDtoHAsync_v2":               &d.cuMemcpyDtoHAsync,
		"cuStreamCreate":                     &d.cuStreamCreate,
		"cuStreamDestroy_v2|cuStreamDestroy": &d.cuStreamDestroy,
		"cuStreamSynchronize":                &d.cuStreamSynchronize,
		"cuModuleLoadData":                   &d.cuModuleLoadData,
		"cuModuleUnload":                     &d.cuModuleUnload,
		"cuModuleGetFunction":                &d.cuModuleGetFunction,
		"cuLaunchKernel":                     &d.cuLaunchKernel,
		"cuGetErrorName":                     &d.cuGetErrorName,
		"cuGetErrorString":                   &d.cuGetErrorString,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// cudaError is a CUresult other than success, with the driver's name and
// description of it.
type cudaError struct {
	op   string
	code int32
	name string
	desc string
}

func (e *cudaError) Error() string {
	if e.name == "" {
		return fmt.Sprintf("%s: CUDA error %d", e.op, e.code)
	}
	return fmt.Sprintf("%s: %s (%s)", e.op, e.name, e.desc)
}

// check turns a CUresult into an error naming op; nil on success.
func (d *driver) check(op string, res int32) error {
	if res == cudaSuccess {
		return nil
	}
	e := &cudaError{op: op, code: res}
	var name, desc *byte
	if d.cuGetErrorName != nil && d.cuGetErrorName(res, &name) == cudaSuccess {
		e.name = goString(name)
	}
	if d.cuGetErrorString != nil && d.cuGetErrorString(res, &desc) == cudaSuccess {
		e.desc = goString(desc)
	}
	return e
}

// isCode reports whether err is a CUDA error with the given code.
func isCode(err error, code int32) bool {
	var e *cudaError
	return errors.As(err, &e) && e.code == code
}
