package metrics

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/llmbench/llmbench/runfmt"
)

// GroupSep separates the names in a group path, as in k6: the root group's
// path is "", group "chat" inside it has the path "::chat", and group
// "stream" inside that one "::chat::stream".
const GroupSep = "::"

// JoinGroup returns the path of the group called name inside the group at
// parent. Group and check names may not contain GroupSep.
func JoinGroup(parent, name string) (string, error) {
	if strings.Contains(name, GroupSep) {
		return "", fmt.Errorf("group %q: a name may not contain %q", name, GroupSep)
	}
	return parent + GroupSep + name, nil
}

// Checks tallies check() results by group path and check name, for the
// summary's group tree. Groups and checks keep the order they were first
// seen in. The zero value is ready to use, and a Checks is safe for
// concurrent use: tallying a check seen before takes only a read lock.
type Checks struct {
	mu   sync.RWMutex
	root *groupNode
}

type groupNode struct {
	name, path string
	checks     []*checkNode
	checkIdx   map[string]*checkNode
	groups     []*groupNode
	groupIdx   map[string]*groupNode
}

type checkNode struct {
	name, path    string
	passes, fails atomic.Int64
}

// Add counts one result of the check called name in the group at path
// (see GroupSep; "" is the root group).
func (c *Checks) Add(path, name string, ok bool) {
	c.mu.RLock()
	n := c.find(path, name)
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		n = c.create(path, name)
		c.mu.Unlock()
	}
	if ok {
		n.passes.Add(1)
	} else {
		n.fails.Add(1)
	}
}

// find returns the check, or nil when it is not there yet. It needs the
// read lock.
func (c *Checks) find(path, name string) *checkNode {
	g := c.root
	if g == nil {
		return nil
	}
	if path != "" {
		for _, part := range strings.Split(strings.TrimPrefix(path, GroupSep), GroupSep) {
			if g = g.groupIdx[part]; g == nil {
				return nil
			}
		}
	}
	return g.checkIdx[name]
}

// create returns the check, making it and its groups when they are not
// there yet. It needs the write lock.
func (c *Checks) create(path, name string) *checkNode {
	if c.root == nil {
		c.root = newGroupNode("", "")
	}
	g := c.root
	if path != "" {
		for _, part := range strings.Split(strings.TrimPrefix(path, GroupSep), GroupSep) {
			next := g.groupIdx[part]
			if next == nil {
				next = newGroupNode(part, g.path+GroupSep+part)
				g.groupIdx[part] = next
				g.groups = append(g.groups, next)
			}
			g = next
		}
	}
	n := g.checkIdx[name]
	if n == nil {
		n = &checkNode{name: name, path: g.path + GroupSep + name}
		g.checkIdx[name] = n
		g.checks = append(g.checks, n)
	}
	return n
}

func newGroupNode(name, path string) *groupNode {
	return &groupNode{name: name, path: path, checkIdx: map[string]*checkNode{}, groupIdx: map[string]*groupNode{}}
}

// Root returns the root group with its checks and nested groups, as
// summary.json's root_group holds them.
func (c *Checks) Root() runfmt.Group {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.root == nil {
		return runfmt.Group{}
	}
	return c.root.group()
}

func (g *groupNode) group() runfmt.Group {
	out := runfmt.Group{Name: g.name, Path: g.path}
	for _, c := range g.checks {
		out.Checks = append(out.Checks, runfmt.Check{Name: c.name, Path: c.path, Passes: c.passes.Load(), Fails: c.fails.Load()})
	}
	for _, s := range g.groups {
		out.Groups = append(out.Groups, s.group())
	}
	return out
}
