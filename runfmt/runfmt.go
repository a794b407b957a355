// Package runfmt is the run folder: the files that `llmbench run` writes and
// that the analyzer, the report generator and the web UI read. Every
// component reads and writes a run through this package.
//
// A run folder holds:
//
//	run.json        what ran, against what, when (Run)
//	requests.jsonl  one line per LLM request, appended as each completes (Request)
//	summary.json    aggregates, thresholds and checks (Summary)
//	analysis.json   written by the analyzer
//	report.html     written by the report generator
//
// Formats are versioned by the "format" field. A reader refuses a newer
// format with ErrNewerFormat. run.json and summary.json are written
// atomically (temporary file, then rename), and requests.jsonl is appended
// one whole line at a time, so an interrupted run leaves a valid, partial
// run folder.
package runfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/llmbench/llmbench/internal/jsonerr"
)

// Format is the version of the run-folder files this package writes.
const Format = 1

// File names inside a run folder.
const (
	RunFile      = "run.json"
	RequestsFile = "requests.jsonl"
	SummaryFile  = "summary.json"
	AnalysisFile = "analysis.json"
	ReportFile   = "report.html"
)

// ErrNewerFormat is returned by the readers for files written by a newer
// llmbench.
var ErrNewerFormat = errors.New("written by a newer llmbench")

// Status values of Run.Status.
const (
	StatusRunning     = "running"     // the run has not finished (or its process died)
	StatusFinished    = "finished"    // every scenario ran to its end
	StatusInterrupted = "interrupted" // stopped by a signal (Ctrl-C) or by its context
	StatusAborted     = "aborted"     // stopped by a threshold with abortOnFail, or by fail() in setup
	StatusError       = "error"       // the script could not run (syntax error, setup exception)
)

// Run is run.json: what ran, against what, and when.
type Run struct {
	Format   int    `json:"format"`
	ID       string `json:"id"`       // the folder name, e.g. 20261128-071500-baseline
	Scenario string `json:"scenario"` // the script's base name without .js
	Script   string `json:"script"`   // the script path as given
	// Options is the script's exported options after the command-line
	// overrides, as JSON.
	Options  json.RawMessage   `json:"options,omitempty"`
	Env      map[string]string `json:"env,omitempty"`      // --env values (not the process environment)
	Target   string            `json:"target,omitempty"`   // __ENV.TARGET or the first LLM base URL used
	Protocol string            `json:"protocol,omitempty"` // generate, openai-completions or openai-chat
	// Server is what the target's /health said at the start, when it has one
	// (refserver does; other servers may not).
	Server *Server `json:"server,omitempty"`
	// Segment is the execution segment this process ran ("0:1" when whole)
	// and Sequence the segment sequence, when given.
	Segment  string   `json:"segment,omitempty"`
	Sequence string   `json:"segment_sequence,omitempty"`
	Parts    []string `json:"parts,omitempty"` // for a merged run: the IDs of the runs it was merged from
	// Suite and Night mark a run of the nightly job: the suite's name and
	// the night it belongs to (YYYY-MM-DD), so that the history can be
	// rebuilt from the run folders.
	Suite   string    `json:"suite,omitempty"`
	Night   string    `json:"night,omitempty"`
	Commit  string    `json:"commit,omitempty"`
	Host    string    `json:"host,omitempty"`
	Version string    `json:"llmbench_version,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Status  string    `json:"status"`
	Error   string    `json:"error,omitempty"` // why the run ended early, when it did
	// Jaeger and Prometheus are the query endpoints the analyzer should use,
	// when the run knew them (llmbench demo does).
	Jaeger     string `json:"jaeger,omitempty"`
	Prometheus string `json:"prometheus,omitempty"`
}

// Server is what the load generator learned of its target: refserver's
// GET /health describes itself; other servers are identified from their
// headers, GET /v1/models and their own info routes. What is not known is
// left empty (GPUAvailable nil: unknown).
type Server struct {
	// Kind is the server's software (see the ServerKind constants), and
	// KindFrom what said so: "declared" (--server-kind or the client's
	// serverKind), or the header or route it was read from.
	Kind         string          `json:"kind,omitempty"`
	KindFrom     string          `json:"kind_from,omitempty"`
	Model        string          `json:"model,omitempty"`
	Models       []string        `json:"models,omitempty"` // GET /v1/models' ids
	Backend      string          `json:"backend,omitempty"`
	Device       string          `json:"device,omitempty"`
	DType        string          `json:"dtype,omitempty"`    // the weights' type, when the server says (refserver: f32, bf16, f16, int8)
	KVDType      string          `json:"kv_dtype,omitempty"` // the KV cache's type, when the server says (refserver: f32, f16, int8)
	GPUAvailable *bool           `json:"gpu_available"`
	Synthetic    bool            `json:"synthetic_weights,omitempty"`
	Threads      int             `json:"threads,omitempty"`
	Header       string          `json:"server_header,omitempty"` // the Server response header
	Health       json.RawMessage `json:"health,omitempty"`        // the whole /health body, when JSON
}

// Server kinds of Server.Kind.
const (
	ServerRefserver = "refserver"
	ServerLlamaCpp  = "llama.cpp"
	ServerVLLM      = "vllm"
	ServerTGI       = "tgi"
	ServerOpenAI    = "openai"
	ServerUnknown   = "unknown"
)

// Request is one line of requests.jsonl: one LLM request as the client saw
// it. Absolute times are wall-clock; the *_ms fields are milliseconds from
// Sent (the request written) unless their comment says otherwise, and they
// are omitted when the event did not happen (no first token on an error, no
// second token for a one-token answer).
type Request struct {
	Seq      int64             `json:"seq"` // 1, 2, ... in the order requests completed, within this process
	Scenario string            `json:"scenario"`
	Protocol string            `json:"protocol"` // generate, openai-completions, openai-chat
	Model    string            `json:"model,omitempty"`
	URL      string            `json:"url"`
	VU       int               `json:"vu"`
	Iter     int64             `json:"iter"` // the VU's iteration in this scenario (__ITER)
	Tags     map[string]string `json:"tags,omitempty"`
	TraceID  string            `json:"trace_id,omitempty"` // W3C trace ID, when the request was sampled (a trace is expected)
	SpanID   string            `json:"span_id,omitempty"`  // the client span (llm.request)
	Stream   bool              `json:"stream"`

	// Scheduled is when an arrival-rate executor meant the iteration to
	// start; zero for closed-loop executors.
	Scheduled time.Time `json:"scheduled,omitzero"`
	Started   time.Time `json:"started"` // the client call began (before connecting)
	Sent      time.Time `json:"sent"`    // the request was written (headers and body)

	// HTTP phases, in milliseconds, as k6 defines them: blocked (waiting for
	// a connection slot), connecting (TCP), tls, sending, waiting (sent →
	// first response byte) and receiving (first byte → body done).
	BlockedMS    float64 `json:"blocked_ms"`
	ConnectingMS float64 `json:"connecting_ms"`
	TLSMS        float64 `json:"tls_ms"`
	SendingMS    float64 `json:"sending_ms"`
	WaitingMS    float64 `json:"waiting_ms"`
	ReceivingMS  float64 `json:"receiving_ms"`

	ClientQueueMS *float64 `json:"client_queue_ms,omitempty"` // Scheduled → Sent; only for arrival-rate executors
	FirstByteMS   *float64 `json:"first_byte_ms,omitempty"`
	TTFTMS        *float64 `json:"ttft_ms,omitempty"` // Sent → first text-carrying event
	TTSTMS        *float64 `json:"ttst_ms,omitempty"` // first → second text-carrying event
	E2EMS         *float64 `json:"e2e_ms,omitempty"`  // Sent → last text-carrying event
	TPOTMS        *float64 `json:"tpot_ms,omitempty"` // (e2e − ttft) / (output_tokens − 1); absent below 2 tokens
	CloseMS       float64  `json:"close_ms"`          // Sent → stream closed (or the body read, when not streaming)
	// GapsMS are the gaps between consecutive text-carrying events, and
	// ChunkTokens the tokens each event carried (len(GapsMS)+1 entries when
	// known).
	GapsMS      []float64 `json:"gaps_ms,omitempty"`
	ChunkTokens []int     `json:"chunk_tokens,omitempty"`
	Chunks      int       `json:"chunks"` // text-carrying events

	Status     int    `json:"status"` // HTTP status; 0 when none arrived
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	ErrorClass string `json:"error_class,omitempty"` // see the ErrorClass constants

	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	// TokenSource says where the counts came from: "usage" (the server's
	// usage object) or "tokenizer" (the client's GPT-2 count, when the
	// server sent none). ClientOutputTokens is the client's own count either
	// way, so mismatches can be counted.
	TokenSource        string `json:"token_source"`
	ClientOutputTokens int    `json:"client_output_tokens"`
	FinishReason       string `json:"finish_reason,omitempty"`
	// Server timings, when the server reports them (refserver's final event).
	ServerQueueMS *float64 `json:"server_queue_ms,omitempty"`
	ServerTTFTMS  *float64 `json:"server_ttft_ms,omitempty"`
	ServerTPOTMS  *float64 `json:"server_tpot_ms,omitempty"`
	ServerTotalMS *float64 `json:"server_total_ms,omitempty"`
	// ServerTimingSource says where the server_* timings came from (see
	// the ServerTiming constants), and ServerTimings keeps every number
	// the server reported about this request, under its own names
	// (llama.cpp's prompt_ms, vLLM's queue_time_ms, TGI's x-queue-time, ...).
	ServerTimingSource string             `json:"server_timing_source,omitempty"`
	ServerTimings      map[string]float64 `json:"server_timings,omitempty"`
	// TTFTOverServerMS is TTFT − server TTFT: what the client waited that
	// the server does not count (the network, and any queue before the
	// server's clock starts), or the server's own skew when negative.
	TTFTOverServerMS *float64 `json:"ttft_over_server_ms,omitempty"`

	// FirstEventTokens is how many tokens the first text event carried;
	// over 1 (MultiTokenFirstEvent), TTFT includes decode steps, and TPOT
	// is (e2e − ttft) / (output_tokens − first_event_tokens).
	// ChunkTokenSource says how the tokens of each event were counted:
	// "token_ids" (the event's own ids), "usage" (the server's running
	// usage), "tokenizer" (the client's GPT-2 count, scaled to the
	// server's total when it sent one) or "events" (one per event).
	FirstEventTokens     int    `json:"first_event_tokens,omitempty"`
	MultiTokenFirstEvent bool   `json:"multi_token_first_event,omitempty"`
	ChunkTokenSource     string `json:"chunk_token_source,omitempty"`
	// Retries counts the attempts that failed on a kept-alive connection
	// the server had closed before answering (the request was never
	// served): they are retried on a fresh connection, and their time is
	// in BlockedMS, before Sent.
	Retries int `json:"retries,omitempty"`
}

// Sources of Request.ServerTimingSource.
const (
	ServerTimingRefserver = "refserver"            // the final event's timings {queue_s, ttft_s, tpot_s, total_s}
	ServerTimingLlamaCpp  = "llama.cpp"            // the "timings" object {prompt_ms, predicted_per_token_ms, ...}
	ServerTimingVLLM      = "vllm"                 // the "metrics" object of --enable-per-request-metrics
	ServerTimingTGI       = "tgi"                  // the x-*-time headers of a non-streamed answer
	ServerTimingOpenAI    = "openai-processing-ms" // the openai-processing-ms header
)

// Error classes of Request.ErrorClass and of the llm_errors metric's tag.
const (
	ErrorConnect   = "connect"   // no connection (refused, DNS, TLS)
	ErrorTimeout   = "timeout"   // the request's timeout passed
	ErrorHTTP      = "http"      // the server answered with a non-2xx status
	ErrorTruncated = "truncated" // the stream ended without its end marker
	ErrorStream    = "stream"    // the server reported an error inside the stream
	ErrorProtocol  = "protocol"  // the response could not be parsed
	ErrorCanceled  = "canceled"  // the run stopped while the request was in flight
)

// SLOKeys are the objectives options.slo may set, in milliseconds.
var SLOKeys = []string{"ttft", "ttst", "tpot", "e2e"}

// MissedSLOs returns the objectives of slo (keyed by SLOKeys) that r
// missed, in SLOKeys order. A value the request lacks is a miss (no first
// token: no TTFT), except TPOT, which is undefined for one-token answers
// and so cannot be missed. Unknown keys are ignored. Goodput counts the
// successful requests that miss none.
func (r *Request) MissedSLOs(slo map[string]float64) []string {
	var out []string
	for _, k := range SLOKeys {
		limit, ok := slo[k]
		if !ok {
			continue
		}
		v := map[string]*float64{"ttft": r.TTFTMS, "ttst": r.TTSTMS, "tpot": r.TPOTMS, "e2e": r.E2EMS}[k]
		if k == "tpot" && v == nil {
			continue
		}
		if v == nil || *v > limit {
			out = append(out, k)
		}
	}
	return out
}

// MaxPlausibleMS bounds the durations of a Request: about 11.6 days. A
// value beyond it (or negative, or not finite) comes from a corrupt or
// hand-edited file, and readers leave the request out rather than let one
// value break an aggregate.
const MaxPlausibleMS = 1e9

// Implausible describes the first duration of r that is not finite, is
// negative, or exceeds MaxPlausibleMS, e.g. "ttft_ms = 1e+308"; "" when
// every one is plausible.
func (r *Request) Implausible() string {
	bad := func(v float64) bool { return math.IsNaN(v) || v < 0 || v > MaxPlausibleMS }
	for _, f := range []struct {
		name string
		v    *float64
	}{{"client_queue_ms", r.ClientQueueMS}, {"first_byte_ms", r.FirstByteMS}, {"ttft_ms", r.TTFTMS}, {"ttst_ms", r.TTSTMS},
		{"e2e_ms", r.E2EMS}, {"tpot_ms", r.TPOTMS}, {"close_ms", &r.CloseMS}, {"server_queue_ms", r.ServerQueueMS},
		{"server_ttft_ms", r.ServerTTFTMS}, {"server_tpot_ms", r.ServerTPOTMS}, {"server_total_ms", r.ServerTotalMS},
		{"blocked_ms", &r.BlockedMS}, {"connecting_ms", &r.ConnectingMS}, {"tls_ms", &r.TLSMS}, {"sending_ms", &r.SendingMS},
		{"waiting_ms", &r.WaitingMS}, {"receiving_ms", &r.ReceivingMS}} {
		if f.v != nil && bad(*f.v) {
			return fmt.Sprintf("%s = %g", f.name, *f.v)
		}
	}
	for i, g := range r.GapsMS {
		if bad(g) {
			return fmt.Sprintf("gaps_ms[%d] = %g", i, g)
		}
	}
	return ""
}

// Ms converts a duration to the milliseconds of the *_ms fields.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MsPtr is Ms for the optional fields.
func MsPtr(d time.Duration) *float64 { v := Ms(d); return &v }

// WriteRun writes run.json into dir atomically.
//
// On a full disk, where the atomic write's temporary file finds no room,
// it rewrites the existing run.json in place instead, in the room that
// file already holds, so that a run the disk cut short does not stay
// "running" (not atomic: only then). For that room, a "running" run.json
// is padded with spaces to runRoom bytes.
func WriteRun(dir string, r *Run) error {
	r.Format = Format
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", RunFile, err)
	}
	b = append(b, '\n')
	if r.Status == StatusRunning && len(b) < runRoom {
		b = append(b, bytes.Repeat([]byte(" "), runRoom-len(b))...)
	}
	path := filepath.Join(dir, RunFile)
	err = WriteFile(path, b)
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	if ierr := overwrite(path, b); ierr != nil {
		return fmt.Errorf("%w (nor in place: %v)", err, ierr)
	}
	return nil
}

// runRoom is the size a "running" run.json is padded to: one block of
// most file systems, more than a finished run.json needs.
const runRoom = 4096

// overwrite rewrites the file at path with b in place, if b fits in the
// bytes it has (writing past them might need room a full disk has not).
func overwrite(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if int64(len(b)) > fi.Size() {
		return fmt.Errorf("%d bytes do not fit in the %d of the file", len(b), fi.Size())
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// ReadRun reads dir/run.json.
func ReadRun(dir string) (*Run, error) {
	var r Run
	if err := readJSON(filepath.Join(dir, RunFile), &r, &r.Format); err != nil {
		return nil, err
	}
	return &r, nil
}

// WriteSummary writes summary.json into dir atomically.
func WriteSummary(dir string, s *Summary) error {
	s.Format = Format
	return writeJSON(filepath.Join(dir, SummaryFile), s)
}

// ReadSummary reads dir/summary.json.
func ReadSummary(dir string) (*Summary, error) {
	var s Summary
	if err := readJSON(filepath.Join(dir, SummaryFile), &s, &s.Format); err != nil {
		return nil, err
	}
	return &s, nil
}

// WriteJSON writes v as indented JSON to path atomically: a temporary file
// in the same folder, synced, then renamed over path. The analyzer and the
// report generator use it for their own files.
func WriteJSON(path string, v any) error { return writeJSON(path, v) }

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return WriteFile(path, append(b, '\n'))
}

// WriteFile writes b to path atomically (temporary file, sync, rename).
func WriteFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o644) // CreateTemp makes it 0600; run folders are for reading
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrNotRegular is returned for a run-folder file that is not a regular
// file (a FIFO, a device, a folder): opening a FIFO would block for ever.
var ErrNotRegular = errors.New("not a regular file")

// openRegular opens path for reading if it is a regular file (following
// symbolic links), without blocking on a FIFO.
func openRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, pathless(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}
	f, err := os.Open(path)
	return f, pathless(err)
}

// pathless drops the operation and the path from an *fs.PathError: the
// callers of openRegular name the file themselves ("read PATH: no such
// file or directory", not "read PATH: stat PATH: no such file or
// directory"). errors.Is still finds fs.ErrNotExist in what is left.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// MaxJSONFile bounds run.json, summary.json and analysis.json: a reader
// refuses a larger one rather than hold it in memory. The largest,
// analysis.json, takes about 1 KiB a request.
const MaxJSONFile = 512 << 20

func readJSON(path string, v any, format *int) error {
	f, err := openRegular(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxJSONFile+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxJSONFile {
		return fmt.Errorf("read %s: over the %d MiB bound on an llmbench JSON file", path, MaxJSONFile>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, jsonerr.Describe(b, err))
	}
	if *format > Format {
		return fmt.Errorf("read %s: format %d %w (this one reads up to %d)", path, *format, ErrNewerFormat, Format)
	}
	if *format < 1 {
		return fmt.Errorf("read %s: no \"format\" field: not an llmbench file", path)
	}
	return nil
}
