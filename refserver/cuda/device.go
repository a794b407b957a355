package cuda

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// devPtr is an address in device memory; 0 is the null pointer.
type devPtr uint64

// device is what the backend asks of a GPU: memory, copies, kernel launches
// and matrix multiplies, all on one stream, so they run in order. gpu is
// the real one; the tests use a fake that records the calls.
type device interface {
	// enter makes the device's context current on this goroutine's thread
	// for the calls that follow, until the returned function is called.
	enter() (leave func())
	alloc(bytes int64) (devPtr, error)
	free(p devPtr)
	// upload copies bytes from host memory to p, in stream order.
	upload(dst devPtr, src unsafe.Pointer, bytes int64) error
	// download copies bytes from p to host memory and waits for it.
	download(dst unsafe.Pointer, src devPtr, bytes int64) error
	// launch runs kernel fn; args are int32, int64, float32 or devPtr
	// values, in the kernel's parameter order.
	launch(fn string, grid, block [3]uint32, shmem uint32, args ...any) error
	// gemm is C = A·B in column-major terms (cuBLAS's): A m×k, B k×n, C
	// m×n in f32, accumulated in f32.
	gemm(m, n, k int, a devPtr, lda int, b devPtr, ldb int, c devPtr, ldc int, inType int32) error
	// memInfo is the device's free and total memory.
	memInfo() (free, total int64)
	close()
}

// gpu is a device through libcuda and libcublas.
type gpu struct {
	d       *driver
	b       *blas
	ordinal int32
	ctx     uintptr
	stream  uintptr
	handle  uintptr
	module  uintptr
	fns     map[string]uintptr
	// params and slots hold a launch's arguments: heap memory, which the
	// garbage collector does not move, reused by every launch.
	params []unsafe.Pointer
	slots  []uint64
}

func (g *gpu) enter() func() {
	runtime.LockOSThread()
	g.d.cuCtxSetCurrent(g.ctx)
	return runtime.UnlockOSThread
}

func (g *gpu) alloc(bytes int64) (devPtr, error) {
	var p uint64
	if err := g.d.check(fmt.Sprintf("cuMemAlloc(%d MiB)", bytes>>20), g.d.cuMemAlloc(&p, uint64(max(bytes, 1)))); err != nil {
		return 0, err
	}
	return devPtr(p), nil
}

func (g *gpu) free(p devPtr) {
	if p != 0 {
		g.d.cuMemFree(uint64(p))
	}
}

func (g *gpu) upload(dst devPtr, src unsafe.Pointer, bytes int64) error {
	if bytes == 0 {
		return nil
	}
	return g.d.check("cuMemcpyHtoDAsync", g.d.cuMemcpyHtoDAsync(uint64(dst), src, uint64(bytes), g.stream))
}

func (g *gpu) download(dst unsafe.Pointer, src devPtr, bytes int64) error {
	if bytes > 0 {
		if err := g.d.check("cuMemcpyDtoHAsync", g.d.cuMemcpyDtoHAsync(dst, uint64(src), uint64(bytes), g.stream)); err != nil {
			return err
		}
	}
	return g.d.check("cuStreamSynchronize", g.d.cuStreamSynchronize(g.stream))
}

func (g *gpu) launch(name string, grid, block [3]uint32, shmem uint32, args ...any) error {
	fn, ok := g.fns[name]
	if !ok {
		return fmt.Errorf("launch %s: no such kernel", name)
	}
	if len(args) > len(g.slots) {
		return fmt.Errorf("launch %s: %d arguments, at most %d", name, len(args), len(g.slots))
	}
	for i, a := range args {
		switch v := a.(type) {
		case int32:
			g.slots[i] = uint64(uint32(v))
		case int64:
			g.slots[i] = uint64(v)
		case float32:
			g.slots[i] = uint64(math.Float32bits(v))
		case devPtr:
			g.slots[i] = uint64(v)
		default:
			return fmt.Errorf("launch %s: argument %d has type %T", name, i, a)
		}
		g.params[i] = unsafe.Pointer(&g.slots[i])
	}
	res := g.d.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shmem, g.stream,
		unsafe.Pointer(&g.params[0]), nil)
	return g.d.check("launch "+name, res)
}

func (g *gpu) gemm(m, n, k int, a devPtr, lda int, b devPtr, ldb int, c devPtr, ldc int, inType int32) error {
	alpha, beta := float32(1), float32(0)
	st := g.b.gemmEx(g.handle, cublasOpN, cublasOpN, int32(m), int32(n), int32(k), unsafe.Pointer(&alpha),
		uint64(a), inType, int32(lda), uint64(b), inType, int32(ldb), unsafe.Pointer(&beta),
		uint64(c), cudaR32F, int32(ldc), cublasCompute32F, cublasGemmDefault)
	return g.b.check(fmt.Sprintf("cublasGemmEx(%d×%d×%d)", m, n, k), st)
}

func (g *gpu) memInfo() (int64, int64) {
	var free, total uint64
	if g.d.cuMemGetInfo(&free, &total) != cudaSuccess {
		return 0, 0
	}
	return int64(free), int64(total)
}

func (g *gpu) close() {
	if g.handle != 0 {
		g.b.destroy(g.handle)
	}
	if g.module != 0 {
		g.d.cuModuleUnload(g.module)
	}
	if g.stream != 0 {
		g.d.cuStreamDestroy(g.stream)
	}
	if g.ctx != 0 {
		g.d.cuDevicePrimaryCtxRelease(g.ordinal)
	}
}
