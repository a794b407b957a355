// Package backend is the seam between refserver's engine and the hardware
// that runs GPT-2. The engine (continuous batching, chunked prefill,
// cancellation, the live state, the spans) is one piece of code; it drives
// a Backend: the weights live in it, it hands out KV caches, and it runs
// one batched forward step and returns the logits the engine samples from.
// CPU, here, runs package gpt2's kernels; package cuda runs the same steps
// on an NVIDIA GPU.
package backend

import (
	"github.com/llmbench/llmbench/refserver/gpt2"
)

// Backend runs one GPT-2 on one device. NewCache, Forward and Stats are
// called by one goroutine at a time (the engine's loop); Info is safe for
// concurrent use.
type Backend interface {
	// Config is the model's shape.
	Config() gpt2.Config
	// NewCache reserves a KV cache for up to capacity positions. The
	// caller releases it with Cache.Release when the sequence ends.
	NewCache(capacity int) (Cache, error)
	// Forward runs one step over rows: it appends every row's key and
	// value to its sequence's cache and returns the vocabulary logits of
	// the rows that asked for them, in order. The returned slices are
	// reused by the next call.
	Forward(rows []Row) ([][]float32, error)
	// Info says what the backend runs on, for /health and the logs.
	Info() Info
	// Close frees what the backend holds (device memory, threads).
	Close() error
}

// Cache is one sequence's key/value cache on the backend's device.
type Cache interface {
	// Cap is how many positions it holds.
	Cap() int
	// Release gives its memory back; the cache must not be used after.
	// Releasing twice is harmless.
	Release()
}

// Row is one token of a batched forward step: the token at position Pos of
// the sequence that owns Cache. The rows of one sequence in one step must
// be consecutive positions, in order, continuing what its cache holds.
type Row struct {
	Cache  Cache
	Pos    int
	Token  int
	Logits bool // compute this row's next-token logits
}

// Info describes a backend for /health: where the model runs and in what
// precision.
type Info struct {
	Backend string `json:"backend"` // "cpu" or "cuda"
	Device  string `json:"device"`  // "cpu" or "cuda"
	Name    string `json:"name"`    // e.g. "NVIDIA H100 80GB HBM3", or the CPU's kernels, "avx512"
	DType   string `json:"dtype"`   // weights: "f32", "bf16", "f16" or "int8"
	// KVDType is the KV cache's element type, "f32", "f16" or "int8"; empty where
	// the backend does not say.
	KVDType string `json:"kv_dtype,omitempty"`
	// MemUsed and MemTotal are the device memory in bytes that the process
	// uses and that the device has; 0 when unknown (the CPU).
	MemUsed  int64 `json:"memory_used_bytes,omitempty"`
	MemTotal int64 `json:"memory_total_bytes,omitempty"`
	// ComputeCapability is a GPU's, e.g. "9.0"; "" on the CPU.
	ComputeCapability string `json:"compute_capability,omitempty"`
}
