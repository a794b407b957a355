package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llmbench/llmbench/runfmt"
)

// identify learns what the target is, for run.json, from what it says
// about itself (internal/zoo/FACTS.md §1h, §2h, §3h, §4f–h):
//   - refserver's GET /health names its model, backend and device;
//   - the Server header: "llama.cpp" (llama-server), "uvicorn" (vLLM);
//     TGI's x-compute-type header; OpenAI's openai-version header;
//   - GET /v1/models: owned_by "llamacpp" or "vllm", or TGI's owned_by
//     equal to the model id with created 0; the model ids;
//   - TGI's GET /info: model id and device type.
//
// declared, when set, is the kind the user named (--server-kind, or the
// client's serverKind), and wins. Nothing here is guessed: what no answer
// says stays empty, GPUAvailable nil.
func identify(ctx context.Context, target, declared string) *runfmt.Server {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	base := strings.TrimSuffix(strings.TrimSuffix(target, "/"), "/v1")
	s := &runfmt.Server{}
	note := func(kind, from string) {
		if s.Kind == "" {
			s.Kind, s.KindFrom = kind, from
		}
	}
	if declared != "" {
		note(declared, "declared")
	}
	headers := func(h http.Header) {
		if v := h.Get("Server"); v != "" && s.Header == "" {
			s.Header = v
		}
		switch {
		case strings.HasPrefix(strings.ToLower(h.Get("Server")), "llama.cpp"):
			note(runfmt.ServerLlamaCpp, "header Server: "+h.Get("Server"))
		case h.Get("x-compute-type") != "":
			note(runfmt.ServerTGI, "header x-compute-type")
		case h.Get("openai-version") != "":
			note(runfmt.ServerOpenAI, "header openai-version")
		}
	}

	if b, h, ok := get(ctx, base+"/health"); ok {
		headers(h)
		if json.Valid(b) {
			s.Health = b
			var hl struct {
				Model        any    `json:"model"`
				Backend      string `json:"backend"`
				Device       string `json:"device"`
				DType        string `json:"dtype"`
				KVDType      string `json:"kv_dtype"`
				GPUAvailable *bool  `json:"gpu_available"`
				Synthetic    bool   `json:"synthetic"`
				Threads      int    `json:"threads"`
			}
			_ = json.Unmarshal(b, &hl)
			if hl.Backend != "" && hl.GPUAvailable != nil {
				note(runfmt.ServerRefserver, "GET /health")
				s.Backend, s.Device, s.GPUAvailable, s.Synthetic, s.Threads = hl.Backend, hl.Device, hl.GPUAvailable, hl.Synthetic, hl.Threads
				s.DType, s.KVDType = hl.DType, hl.KVDType
				switch m := hl.Model.(type) {
				case string:
					s.Model = m
				case map[string]any:
					if n, ok := m["name"].(string); ok {
						s.Model = n
					}
				}
			}
		}
	}
	if b, h, ok := get(ctx, base+"/v1/models"); ok {
		headers(h)
		var ml struct {
			Data []struct {
				ID      string `json:"id"`
				OwnedBy string `json:"owned_by"`
				Created *int64 `json:"created"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &ml) == nil {
			for _, m := range ml.Data {
				s.Models = append(s.Models, m.ID)
				switch {
				case m.OwnedBy == "llamacpp":
					note(runfmt.ServerLlamaCpp, `GET /v1/models owned_by "llamacpp"`)
				case m.OwnedBy == "vllm":
					note(runfmt.ServerVLLM, `GET /v1/models owned_by "vllm"`)
				case m.OwnedBy != "" && m.OwnedBy == m.ID && m.Created != nil && *m.Created == 0:
					note(runfmt.ServerTGI, "GET /v1/models owned_by the model id, created 0")
				}
			}
			if s.Model == "" && len(s.Models) > 0 {
				s.Model = s.Models[0]
			}
		}
	}
	if s.Header == "uvicorn" {
		note(runfmt.ServerVLLM, "header Server: uvicorn")
	}
	if s.Kind == runfmt.ServerTGI || s.Kind == "" {
		if b, _, ok := get(ctx, base+"/info"); ok {
			var in struct {
				ModelID    string `json:"model_id"`
				Router     string `json:"router"`
				DeviceType string `json:"model_device_type"`
			}
			if json.Unmarshal(b, &in) == nil && (in.Router == "text-generation-router" || s.Kind == runfmt.ServerTGI) {
				note(runfmt.ServerTGI, "GET /info")
				if in.ModelID != "" {
					s.Model = in.ModelID
				}
				if in.DeviceType != "" {
					s.Device = in.DeviceType
					gpu := in.DeviceType == "cuda" || in.DeviceType == "rocm"
					s.GPUAvailable = &gpu
				}
			}
		}
	}
	note(runfmt.ServerUnknown, "")
	return s
}

// get fetches url; ok is false unless it answered 200.
func get(ctx context.Context, url string) ([]byte, http.Header, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, false
	}
	req.Header.Set("User-Agent", "llmbench")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, resp.Header, false
	}
	return b, resp.Header, true
}
