// Package llm is the load generator's LLM client: it sends one generation
// request to an inference server, streams the answer, and measures it the
// way DESIGN.md defines the llm_* metrics, filling a runfmt.Request (one
// line of requests.jsonl).
//
// It speaks three protocols: refserver's own /generate API, and the OpenAI
// completions and chat completions APIs (which vLLM, TGI, llama.cpp and
// others serve too).
//
// # What is measured, and how
//
// Every time is on the monotonic clock of time.Now. Sent is when the
// request was written, headers and body (httptrace's WroteRequest), and the
// latencies count from it:
//
//   - An event is text-carrying when it carries generated text: a non-empty
//     "text" (generate, completions) or "delta.content" (chat). A role-only
//     first chunk, a finish-reason chunk with empty text and a usage-only
//     last chunk are not text-carrying: they set no TTFT and count no
//     tokens.
//   - An event's time is when the bytes that completed it arrived: on a
//     connection dialed by NewDialer on Linux, the kernel's receive stamp
//     of the read that completed it (see package rxstamp), so the client's
//     own scheduling delay is not measured as the server's; elsewhere, the
//     time that read returned. It is never the time the event was parsed.
//     Events that arrived together share one time, so a gap between them
//     is 0: spacing that the network did not deliver is not invented.
//   - TTFT is Sent → the first text-carrying event, TTST the first → the
//     second, E2E Sent → the last, and GapsMS every gap between consecutive
//     text-carrying events (the inter-token latencies). TPOT is
//     (E2E − TTFT) / (OutputTokens − 1), absent below 2 output tokens.
//     With no text-carrying event TTFT and E2E are absent too; the request
//     can still be OK (an empty answer is an answer).
//   - Without streaming the whole answer is one text-carrying event at the
//     time its body arrived: TTFT equals E2E, and TPOT and TTST are absent.
//   - ChunkTokens holds the tokens each text-carrying event carried: for
//     generate, the length of its "token_ids"; for OpenAI protocols, which
//     send no ids, the Config.Counter's count of the event's text, or 1
//     without a Counter (or when it counts 0). Without streaming it is the
//     answer's OutputTokens.
//   - OutputTokens and InputTokens come from the server's usage when it
//     sent one (TokenSource "usage"; OpenAI streams are always asked for
//     it with stream_options.include_usage), else from the Counter
//     ("tokenizer"), else from the sum of ChunkTokens ("chunks", with no
//     input count). ClientOutputTokens is the Counter's count of the whole
//     text, or the sum of ChunkTokens without a Counter.
//   - The HTTP phases (blocked, connecting, tls, sending, waiting,
//     receiving) follow k6's definitions; see Phases, which k6/http reuses.
//
// # Errors
//
// Do never returns a Go error: a failed request is a Result with OK false,
// an ErrorClass (runfmt's Error* constants) and an Error message, and keeps
// everything measured before the failure. Refused or failed connections
// are "connect"; Config.Timeout passing is "timeout"; a non-2xx answer is
// "http" with the server's message (bodies clipped to 1 KiB); a stream that
// ends without its "data: [DONE]" is "truncated", even when text arrived;
// an {"error": ...} event in the stream (or answer) is "stream"; an event or body that
// is not the JSON expected, or is over the size limits, is "protocol"; the
// caller's context ending (cancellation, or its own deadline) is
// "canceled".
//
// # Tracing
//
// Each request is a client span named "llm.request" with the events
// first_byte, first_token and last_token at their real times, and the W3C
// traceparent header joins the server's spans to it. Without a recording
// tracer, random ids are sent anyway (sampled), so the request's trace_id
// still finds the server's spans.
package llm

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/llmbench/llmbench/loadgen/rxstamp"
	"github.com/llmbench/llmbench/runfmt"
)

// Protocol is the API a server speaks.
type Protocol string

// The protocols the client speaks.
const (
	// Generate is refserver's API: POST /generate/stream when streaming,
	// POST /generate when not.
	Generate Protocol = "generate"
	// OpenAICompletions is POST /v1/completions.
	OpenAICompletions Protocol = "openai-completions"
	// OpenAIChat is POST /v1/chat/completions.
	OpenAIChat Protocol = "openai-chat"
)

// DefaultTimeout is the whole-request timeout when Config.Timeout is 0.
const DefaultTimeout = 120 * time.Second

// TokenCounter counts the tokens of a text on the client side, with the
// model's tokenizer (GPT-2's BPE for refserver). It must be safe for
// concurrent use.
type TokenCounter interface {
	Count(text string) int
}

// Config configures a Client. Its zero value is not usable: BaseURL is
// required; every other field's zero value means its default.
type Config struct {
	// BaseURL is the server's address, e.g. http://127.0.0.1:8000. A
	// trailing "/" and a trailing "/v1" are ignored, so the OpenAI
	// convention (http://host/v1) and a bare host both work; any other path
	// is kept as a prefix (http://host/proxy → http://host/proxy/v1/...).
	// The query string, if any, is kept.
	BaseURL string
	// Protocol is the API to speak; "" means Generate.
	Protocol Protocol
	// Model is sent as "model" on OpenAI protocols (omitted when "") and
	// recorded in each Result; when it is "" the model the server names in
	// its answer is recorded instead.
	Model string
	// Headers are added to every request (Authorization, ...). They cannot
	// replace traceparent.
	Headers map[string]string
	// Timeout bounds each request as a whole, body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Stream asks for a streamed answer (SSE). Its zero value, false, asks
	// for the whole answer at once; the JavaScript layer defaults it to
	// true.
	Stream bool
	// HTTPClient sends the requests; it is shared by every VU. nil means a
	// package default tuned for many concurrent streams: HTTP/1.1 only (one
	// connection per stream, as a browser or SDK without HTTP/2 has), no
	// limit on idle connections per host, and no transparent gzip (which
	// would hold back streamed events).
	HTTPClient *http.Client
	// TracerProvider makes the llm.request spans; nil means the global one
	// (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// Counter counts tokens client-side; nil means no client count (see
	// the package comment for what that changes).
	Counter TokenCounter
}

// Validate checks that the configuration can make a Client.
func (c *Config) Validate() error {
	if c.BaseURL == "" {
		return errors.New("base URL is empty")
	}
	if !strings.Contains(c.BaseURL, "://") {
		return fmt.Errorf("base URL %q has no scheme, want http:// or https://", c.BaseURL)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("parse base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("base URL %q: scheme is %q, want http or https", c.BaseURL, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("base URL %q has no host", c.BaseURL)
	}
	switch c.Protocol {
	case "", Generate, OpenAICompletions, OpenAIChat:
	default:
		return fmt.Errorf("protocol %q is unknown, want %s, %s or %s", c.Protocol, Generate, OpenAICompletions, OpenAIChat)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout is %v, want 0 (the default) or more", c.Timeout)
	}
	return nil
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// Request is one generation request. Its zero-valued fields are left out
// of the request body, so the server's defaults apply.
type Request struct {
	// Prompt is the prompt of generate and completions requests. A chat
	// request without Messages sends it as one user message.
	Prompt   string
	Messages []Message // the chat messages (openai-chat)
	// MaxTokens is max_tokens; 0 leaves it to the server.
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	TopK        int // 0 leaves it out (no limit)
	Seed        *int64
	Stop        []string
	// DoSample is refserver's do_sample. OpenAI protocols have no such
	// field: false sends temperature 0 (greedy) unless Temperature is set.
	DoSample  *bool
	IgnoreEOS bool // ignore_eos (refserver, vLLM): generate MaxTokens tokens whatever the model says
	// Extra is merged into the JSON body last, so it can add any field or
	// replace one the client sets (except the stream flag's meaning: the
	// client still parses what Config.Stream says).
	Extra map[string]any
	// Scheduled is when an arrival-rate executor meant the request to
	// start; zero for closed-loop executors. It gives ClientQueueMS.
	Scheduled time.Time
}

// Result is one request as the client saw it: its line of requests.jsonl
// and the generated text. The caller fills Seq, Scenario, VU, Iter and
// Tags.
type Result struct {
	runfmt.Request
	Text string `json:"-"` // the generated text, concatenated
}

// Client sends generation requests to one server. It is safe for
// concurrent use by many VUs.
type Client struct {
	cfg     Config
	url     string
	timeout time.Duration
	http    *http.Client
	tracer  trace.Tracer
}

// New returns a Client for cfg, or an error if cfg is invalid.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configure llm client: %w", err)
	}
	if cfg.Protocol == "" {
		cfg.Protocol = Generate
	}
	c := &Client{cfg: cfg, url: endpoint(cfg.BaseURL, cfg.Protocol, cfg.Stream), timeout: cfg.Timeout, http: cfg.HTTPClient}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = defaultHTTPClient
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	c.tracer = tp.Tracer("github.com/llmbench/llmbench/loadgen/llm")
	return c, nil
}

// URL is the endpoint the Client posts to.
func (c *Client) URL() string { return c.url }

// endpoint joins the base URL (already validated) and the protocol's path.
func endpoint(base string, p Protocol, stream bool) string {
	u, _ := url.Parse(base)
	path := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	switch p {
	case OpenAICompletions:
		path += "/v1/completions"
	case OpenAIChat:
		path += "/v1/chat/completions"
	default:
		path += "/generate"
		if stream {
			path += "/stream"
		}
	}
	u.Path, u.RawPath, u.Fragment = path, "", ""
	return u.String()
}

// NewDialer returns the dialer the load generator's transports use: TCP
// connections whose reads carry the kernel's receive stamps (rxstamp),
// with net/http's default timeouts.
func NewDialer() *rxstamp.Dialer {
	return &rxstamp.Dialer{Dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
}

// defaultHTTPClient is the Client's HTTP client when Config has none.
var defaultHTTPClient = &http.Client{Transport: newTransport()}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = NewDialer().DialContext
	t.MaxIdleConns = 0 // no limit
	t.MaxIdleConnsPerHost = 1 << 16
	t.DisableCompression = true
	t.ForceAttemptHTTP2 = false
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	return t
}
