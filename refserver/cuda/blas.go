package cuda

import (
	"fmt"
	"unsafe"
)

// cuBLAS types and modes refserver uses.
const (
	cublasOpN          = 0
	cublasCompute32F   = 68 // CUBLAS_COMPUTE_32F: f32 accumulation, whatever the inputs
	cublasGemmDefault  = -1 // CUBLAS_GEMM_DEFAULT
	cudaR32F           = 0  // cudaDataType CUDA_R_32F
	cudaR16F           = 2  // CUDA_R_16F
	cudaR16BF          = 14 // CUDA_R_16BF
	cublasStatusAllocF = 3  // CUBLAS_STATUS_ALLOC_FAILED
)

// blas is libcublas's API: a handle on the backend's stream, and GemmEx.
type blas struct {
	lib *library

	create    func(handle *uintptr) int32
	destroy   func(handle uintptr) int32
	setStream func(handle uintptr, stream uintptr) int32
	getVer    func(handle uintptr, v *int32) int32
	gemmEx    func(handle uintptr, transa, transb int32, m, n, k int32, alpha unsafe.Pointer,
		a uint64, atype int32, lda int32, b uint64, btype int32, ldb int32, beta unsafe.Pointer,
		c uint64, ctype int32, ldc int32, compute int32, algo int32) int32
}

func loadBLAS() (*blas, error) {
	lib, err := open("cuBLAS (libcublas)", blasLibs)
	if err != nil {
		return nil, err
	}
	b := &blas{lib: lib}
	err = lib.bind(map[string]any{
		"cublasCreate_v2":     &b.create,
		"cublasDestroy_v2":    &b.destroy,
		"cublasSetStream_v2":  &b.setStream,
		"cublasGetVersion_v2": &b.getVer,
		"cublasGemmEx":        &b.gemmEx,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// check turns a cublasStatus_t into an error naming op.
func (b *blas) check(op string, status int32) error {
	if status == 0 {
		return nil
	}
	names := map[int32]string{1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
		8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
		14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR"}
	if n, ok := names[status]; ok {
		return fmt.Errorf("%s: %s", op, n)
	}
	return fmt.Errorf("%s: cuBLAS status %d", op, status)
}
