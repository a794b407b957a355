package metrics

import (
	"reflect"
	"testing"

	"github.com/llmbench/llmbench/runfmt"
)

func TestChecks(t *testing.T) {
	var c Checks
	if got := c.Root(); !reflect.DeepEqual(got, runfmt.Group{}) {
		t.Errorf("empty: got %+v, want the zero group", got)
	}
	chat, err := JoinGroup("", "chat")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := JoinGroup(chat, "stream")
	if err != nil {
		t.Fatal(err)
	}
	c.Add("", "status is 200", true)
	c.Add(stream, "has tokens", false)
	c.Add(chat, "reply ok", true)
	c.Add("", "status is 200", false)
	c.Add("", "body ok", true)
	c.Add(stream, "has tokens", true)
	c.Add("::other", "x", true)

	want := runfmt.Group{
		Checks: []runfmt.Check{
			{Name: "status is 200", Path: "::status is 200", Passes: 1, Fails: 1},
			{Name: "body ok", Path: "::body ok", Passes: 1},
		},
		Groups: []runfmt.Group{
			{
				Name: "chat", Path: "::chat",
				Checks: []runfmt.Check{{Name: "reply ok", Path: "::chat::reply ok", Passes: 1}},
				Groups: []runfmt.Group{{
					Name: "stream", Path: "::chat::stream",
					Checks: []runfmt.Check{{Name: "has tokens", Path: "::chat::stream::has tokens", Passes: 1, Fails: 1}},
				}},
			},
			{Name: "other", Path: "::other", Checks: []runfmt.Check{{Name: "x", Path: "::other::x", Passes: 1}}},
		},
	}
	if got := c.Root(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestJoinGroup(t *testing.T) {
	tests := []struct{ parent, name, want, wantErr string }{
		{"", "chat", "::chat", ""},
		{"::chat", "stream", "::chat::stream", ""},
		{"", "a::b", "", `group "a::b": a name may not contain "::"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JoinGroup(tt.parent, tt.name)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, error %v, want %q", got, err, tt.want)
			}
		})
	}
}
