package output

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// file is an output file, gzipped when its name ends in .gz.
type file struct {
	f  *os.File
	gz *gzip.Writer
	bw *bufio.Writer
}

func createFile(name string) (*file, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	o := &file{f: f}
	var w io.Writer = f
	if strings.HasSuffix(name, ".gz") {
		o.gz = gzip.NewWriter(f)
		w = o.gz
	}
	o.bw = bufio.NewWriterSize(w, 64<<10)
	return o, nil
}

func (o *file) Close() error {
	err := o.bw.Flush()
	if o.gz != nil {
		if e := o.gz.Close(); err == nil {
			err = e
		}
	}
	if e := o.f.Close(); err == nil {
		err = e
	}
	return err
}

// jsonWriter writes k6's JSON lines
// (https://grafana.com/docs/k6/latest/results-output/real-time/json/): a
// Metric line before a metric's first Point, then a Point line per sample.
type jsonWriter struct {
	*file
	enc *json.Encoder
}

func newJSON(name string) (*jsonWriter, error) {
	f, err := createFile(name)
	if err != nil {
		return nil, err
	}
	enc := json.NewEncoder(f.bw)
	enc.SetEscapeHTML(false)
	return &jsonWriter{file: f, enc: enc}, nil
}

type jsonMetric struct {
	Type string `json:"type"`
	Data struct {
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		Contains   string   `json:"contains"`
		Thresholds []string `json:"thresholds"`
		Submetrics any      `json:"submetrics"`
	} `json:"data"`
	Metric string `json:"metric"`
}

type jsonPoint struct {
	Type string `json:"type"`
	Data struct {
		Time  time.Time         `json:"time"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
	Metric string `json:"metric"`
}

func (w *jsonWriter) Metric(name, typ, contains string, thresholds []string) error {
	var m jsonMetric
	m.Type, m.Metric = "Metric", name
	m.Data.Name, m.Data.Type, m.Data.Contains, m.Data.Thresholds = name, typ, contains, thresholds
	if m.Data.Thresholds == nil {
		m.Data.Thresholds = []string{}
	}
	return w.enc.Encode(&m)
}

func (w *jsonWriter) Sample(s *Sample) error {
	var p jsonPoint
	p.Type, p.Metric = "Point", s.Metric
	p.Data.Time, p.Data.Value, p.Data.Tags = s.Time, s.Value, s.Tags
	return w.enc.Encode(&p)
}

// csvColumns are k6's CSV columns
// (https://grafana.com/docs/k6/latest/results-output/real-time/csv/): the
// system tags have a column each, the other tags go into extra_tags as
// name=value&name=value.
var csvColumns = []string{"metric_name", "timestamp", "metric_value", "check", "error", "error_code", "expected_response",
	"group", "method", "name", "proto", "scenario", "service", "status", "subproto", "tls_version", "url", "extra_tags", "metadata"}

// csvWriter writes k6's CSV, timestamps in Unix seconds (k6's default
// timeFormat).
type csvWriter struct {
	*file
	w   *csv.Writer
	row []string
}

func newCSV(name string) (*csvWriter, error) {
	f, err := createFile(name)
	if err != nil {
		return nil, err
	}
	w := csv.NewWriter(f.bw)
	if err := w.Write(csvColumns); err != nil {
		f.Close()
		return nil, err
	}
	return &csvWriter{file: f, w: w, row: make([]string, len(csvColumns))}, nil
}

func (w *csvWriter) Metric(string, string, string, []string) error { return nil }

func (w *csvWriter) Sample(s *Sample) error {
	row := w.row
	for i := range row {
		row[i] = ""
	}
	row[0], row[1], row[2] = s.Metric, strconv.FormatInt(s.Time.Unix(), 10), strconv.FormatFloat(s.Value, 'f', -1, 64)
	var extra []string
	for k, v := range s.Tags {
		if i := slices.Index(csvColumns[3:17], k); i >= 0 {
			row[3+i] = v
		} else {
			extra = append(extra, k+"="+v)
		}
	}
	slices.Sort(extra)
	row[17] = strings.Join(extra, "&")
	if err := w.w.Write(row); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

func (w *csvWriter) Close() error {
	w.w.Flush()
	err := w.w.Error()
	if e := w.file.Close(); err == nil {
		err = e
	}
	return err
}
