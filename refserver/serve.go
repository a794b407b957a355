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

	"github.com/llmbench/llmbench/refserver/bpe"
	"github.com/llmbench/llmbench/refserver/engine"
	"github.com/llmbench/llmbench/refserver/hostcpu"
	"github.com/llmbench/llmbench/refserver/nn"
	"github.com/llmbench/llmbench/refserver/server"
	"github.com/llmbench/llmbench/refserver/telemetry"
)

// ServeConfig is `refserver serve`, the default command.
type ServeConfig struct {
	// Device is where the model runs: "cpu" (and "" ), "cuda", or "auto".
	// There is no CUDA backend yet: cuda is refused, auto serves on the
	// CPU and says so.
	Device    string
	Model     ModelConfig
	Engine    engine.Config
	HTTP      server.Config
	Telemetry telemetry.Config
}

// RegisterFlags adds every serve flag to fs.
func (c *ServeConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Device, "device", "cpu", "where the model runs: cpu, cuda, or auto (cuda when a GPU backend and a GPU are there, else cpu, said at start-up)")
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
		dev = errors.New("--device cuda: this refserver has no CUDA backend yet; use --device cpu, or auto to fall back to the CPU")
	default:
		dev = fmt.Errorf("--device %q: want cpu, cuda or auto", c.Device)
	}
	return errors.Join(dev, c.Engine.Validate(), c.HTTP.Validate(), c.Telemetry.Validate())
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
	if cfg.Device == "auto" {
		log.Info("--device auto: no CUDA backend in this refserver, serving on the CPU")
	}
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
	eng, err := engine.New(m, tok, cfg.Engine, steps)
	if err != nil {
		return err
	}
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
	info := server.Info{Backend: "cpu", Device: "cpu", Kernels: nn.Kernels(), Threads: eng.Config().Threads,
		CoresAllowed: cores.String(), NumAllowed: cores.Count, GOMAXPROCS: runtime.GOMAXPROCS(0)}
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

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
