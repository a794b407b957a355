package refserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/llmbench/llmbench/bpe"
	"github.com/llmbench/llmbench/internal/connguard"
	"github.com/llmbench/llmbench/refserver/cuda"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/gpt2"
	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/server"
	"github.com/llmbench/llmbench/telemetry"
)

// ServeConfig is `refserver serve`, the default command.
type ServeConfig struct {
	// Device is where the model runs: "cpu" (and ""), "cuda" (a GPU, or
	// an error naming what is missing), or "auto" (cuda when it starts,
	// else the CPU, saying why).
	Device string
	// GPU is the CUDA device ordinal, e.g. 0.
	GPU int
	// DType is the weights' type: "" means f16 on a GPU and f32 on the
	// CPU; the GPU also takes bf16 and f32, the CPU bf16, f16 (weights in
	// 16 bits, sums in f32) and int8 (a scale per column).
	DType string
	// KVDType is the CPU engine's KV cache type (f32, f16, int8); ""
	// follows the weights (ConvertOnCPU).
	KVDType   string
	Model     ModelConfig
	Engine    engine.Config
	HTTP      server.Config
	Telemetry telemetry.Config
}

// RegisterFlags adds every serve flag to fs.
func (c *ServeConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Device, "device", "cpu", "where the model runs: cpu, cuda, or auto (cuda when a GPU and its libraries are there, else cpu, saying why)")
	fs.IntVar(&c.GPU, "gpu", 0, "the CUDA device to use (its ordinal)")
	fs.StringVar(&c.DType, "dtype", "", "the weights' type: f32 (the CPU's default), bf16 or f16 (half the bytes per decode step; f16 is the GPU's default), or int8 (CPU only: a quarter, with a scale per column)")
	fs.StringVar(&c.KVDType, "kv-dtype", "", kvDTypeUsage)
	c.HTTP.RegisterFlags(fs)
	c.Model.RegisterFlags(fs)
	c.Engine.RegisterFlags(fs)
	c.Telemetry.RegisterFlags(fs, "refserver")
}

// Validate reports settings that cannot work.
func (c ServeConfig) Validate() error {
	var dev error
	switch c.Device {
	case "", "cpu", "auto":
	case "cuda":
		if c.DType == "int8" {
			dev = fmt.Errorf("--dtype int8: the GPU backend takes f16, bf16 and f32; int8 weights run on the CPU")
		}
	default:
		dev = fmt.Errorf("--device %q: want cpu, cuda or auto", c.Device)
	}
	switch c.DType {
	case "", "f32", "f16", "bf16", "int8":
	default:
		dev = errors.Join(dev, fmt.Errorf("--dtype %q: want f32, bf16, f16 or int8", c.DType))
	}
	if c.KVDType != "" {
		if _, err := ParseKVDType(c.KVDType); err != nil {
			dev = errors.Join(dev, err)
		} else if c.Device == "cuda" {
			dev = errors.Join(dev, fmt.Errorf("--kv-dtype %s: the GPU backend keeps its KV cache in its weights' type; --kv-dtype is for the CPU engine", c.KVDType))
		}
	}
	if c.GPU < 0 {
		dev = errors.Join(dev, fmt.Errorf("--gpu %d: want a device ordinal, 0 or more", c.GPU))
	}
	return errors.Join(dev, c.Engine.Validate(), c.HTTP.Validate(), c.Telemetry.Validate())
}

// newEngine puts the model on the device cfg asks for and returns the
// engine and what closes its backend after the engine's Run has returned.
// --device cuda fails with the reason when the GPU cannot be used;
// --device auto logs it and serves on the CPU.
func newEngine(cfg ServeConfig, m *gpt2.Model, tok *bpe.Tokenizer, steps *server.Steps, log *slog.Logger) (*engine.Engine, func(), error) {
	if cfg.Device == "cuda" || cfg.Device == "auto" {
		ec := cfg.Engine.WithDefaults(m.Config.NPositions)
		g, err := cuda.Open(cuda.Config{Device: cfg.GPU, DType: cfg.DType, MaxRows: ec.StepTokens, Slots: ec.MaxBatch}, m)
		if err == nil {
			in := g.Info()
			log.Info("serving on the GPU", "gpu", in.Name, "compute_capability", in.ComputeCapability, "dtype", in.DType,
				"memory_used_mib", in.MemUsed>>20, "memory_total_mib", in.MemTotal>>20)
			e, err := engine.NewOn(g, tok, cfg.Engine, steps)
			if err != nil {
				g.Close()
				return nil, nil, err
			}
			return e, func() { g.Close() }, nil
		}
		if cfg.Device == "cuda" {
			return nil, nil, fmt.Errorf("--device cuda: %w", err)
		}
		log.Info("--device auto: serving on the CPU", "why", err.Error())
	}
	note, err := ConvertOnCPU(m, cfg.DType, cfg.KVDType)
	if err != nil {
		return nil, nil, err
	}
	if note != "" {
		log.Info(note, "dtype", m.DType())
	}
	e, err := engine.New(m, tok, cfg.Engine, steps)
	return e, func() {}, err
}

// Serve runs refserver until ctx ends (SIGTERM or Ctrl-C), then drains: it
// refuses new requests with 503, lets those in flight finish for up to the
// drain timeout, stops the engine, flushes the traces and returns nil.
// Ready is called, if not nil, with the address once it listens.
func Serve(ctx context.Context, cfg ServeConfig, stderr io.Writer, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	tracing, err := telemetry.Setup(ctx, cfg.Telemetry, log)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	m, err := cfg.Model.Load(stderr)
	if err != nil {
		return err
	}
	tok, err := bpe.New()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	steps, err := server.NewSteps(tracing.Provider, reg)
	if err != nil {
		return err
	}
	eng, closeBackend, err := newEngine(cfg, m, tok, steps, log)
	if err != nil {
		return err
	}
	defer closeBackend()
	if !cfg.Engine.NoCalibration {
		costs, err := eng.Calibrate(ctx)
		if err != nil {
			return err
		}
		var line []any
		for _, c := range costs {
			line = append(line, fmt.Sprintf("batch_%d", c.Batch), c.Median.Round(10*time.Microsecond).String())
		}
		log.Info("decode step cost by batch size (calibrated; --no-calibration skips this)", line...)
	}
	cores := hostcpu.Affinity()
	bi := eng.Backend().Info()
	info := server.Info{Backend: bi.Backend, Device: bi.Device, Kernels: nn.Kernels(), Threads: eng.Config().Threads,
		CoresAllowed: cores.String(), NumAllowed: cores.Count, GOMAXPROCS: runtime.GOMAXPROCS(0), Live: eng.Backend().Info}
	srv, err := server.New(cfg.HTTP, m, tok, eng, info, tracing.Provider, reg)
	if err != nil {
		return err
	}
	addr := srv.Config().Addr
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("refserver listening", "url", "http://"+ln.Addr().String(), "docs", "http://"+ln.Addr().String()+"/docs",
		"kernels", info.Kernels, "threads", info.Threads, "cores_allowed", info.CoresAllowed, "max_batch", eng.Config().MaxBatch, "traces", tracing.Endpoint)
	if ready != nil {
		ready(ln.Addr().String())
	}

	// No ReadTimeout: it would end a request's context while a long answer
	// streams; the body has its own deadline (--body-timeout).
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: srv.Config().IdleTimeout}
	ln = connguard.New(ln, srv.Config().MaxConns)
	engCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	g := new(errgroup.Group)
	g.Go(func() error { return eng.Run(engCtx) })
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			stopEngine()
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-ctx.Done():
		case <-engCtx.Done():
			return nil
		}
		log.Info("shutting down: draining requests in flight", "timeout", srv.Config().DrainTimeout)
		drainCtx, cancel := context.WithTimeout(context.Background(), srv.Config().DrainTimeout)
		defer cancel()
		if err := srv.Drain(drainCtx); err != nil {
			log.Warn("drain timed out; ending the rest", "err", err)
		}
		stopEngine() // ends whatever is still running, with an error event
		closeCtx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		if err := hs.Shutdown(closeCtx); err != nil {
			// Nothing is in flight any more: what is left are
			// connections that sent no request yet (net/http leaves
			// those alone for their first 5 s) or will not read.
			log.Warn("connections still open 5 s after the drain; closing them", "err", err)
			return hs.Close()
		}
		return nil
	})
	err = g.Wait()
	log.Info("refserver stopped")
	return err
}
