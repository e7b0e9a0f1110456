package config

import (
	"bytes"
	"go/ast"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"sendpool/internal/config/docgen"
)

const exampleFile = "../../etc/sendpool.example.toml"

// TestDocsGenFresh: docs_gen.go is what the generator makes of today's
// comments; a comment changed without `go generate` fails here.
func TestDocsGenFresh(t *testing.T) {
	_, files, err := docgen.Parse(".")
	if err != nil {
		t.Fatal(err)
	}
	want, err := docgen.Source(docgen.Extract(files))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(docgen.Output)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./cmd/sendpool` (it regenerates docs_gen.go, then docs/configuration.md)", docgen.Output)
	}
}

// TestEveryKeyDocumented: every key the config struct has, in every
// table, array of tables and map of tables, has a doc comment.
func TestEveryKeyDocumented(t *testing.T) {
	tables := Reference()
	if len(tables) < 10 {
		t.Fatalf("only %d tables walked", len(tables))
	}
	for _, p := range Undocumented(tables) {
		t.Errorf("%s has no doc comment: write one on its field, then run `go generate ./cmd/sendpool`", p)
	}
	var paths []string
	for _, tb := range tables {
		for _, k := range tb.Keys {
			if k.Type == "" || k.Default == "" {
				t.Errorf("%s: type %q, default %q", k.Path, k.Type, k.Default)
			}
			paths = append(paths, k.Path)
		}
	}
	// The walk reaches inside embedded structs, arrays of tables and maps.
	for _, want := range []string{"server.hostname", "pool.pace_hold", "pool.ip[].weight",
		"pool.warmup.NAME.days", "pool.warmup.NAME.caps.PROVIDER.max", "suppression.ttl"} {
		if !slices.Contains(paths, want) {
			t.Errorf("reference lacks %s", want)
		}
	}
}

// TestDroppedDocIsReported: the source with one field's doc comment
// removed (in memory) yields a reference that names exactly that key as
// undocumented, wherever the field sits.
func TestDroppedDocIsReported(t *testing.T) {
	for _, c := range []struct{ typ, field, key string }{
		{"Server", "Hostname", "server.hostname"},
		{"Pace", "PaceHold", "pool.pace_hold"},                      // embedded in [pool]
		{"PoolIP", "Weight", "pool.ip[].weight"},                    // array of tables
		{"WarmupSchedule", "Days", "pool.warmup.NAME.days"},         // map of tables; a comment at the end of the line
		{"WarmupCap", "Max", "pool.warmup.NAME.caps.PROVIDER.max"},  // a map inside a map
		{"Suppression", "TTL", "suppression.ttl"},                   // a table in a file of its own
		{"Submission", "TLSKey", "submission.tls_key"},              // a key whose doc names a sibling
		{"Auth", "MaxAccountFailures", "auth.max_account_failures"}, // auth.go
		{"Delivery", "MaxConnectionsPerIPProvider", "delivery.max_connections_per_ip_provider"},
	} {
		_, files, err := docgen.Parse(".")
		if err != nil {
			t.Fatal(err)
		}
		if !dropDoc(files, c.typ, c.field) {
			t.Fatalf("field %s.%s not found in the source", c.typ, c.field)
		}
		got := Undocumented(reference(docgen.Extract(files)))
		if !slices.Equal(got, []string{c.key}) {
			t.Errorf("without %s.%s's comment: undocumented %v, want [%s]", c.typ, c.field, got, c.key)
		}
	}
}

// dropDoc removes the comments of field typ.name from the parsed source.
func dropDoc(files []*ast.File, typ, name string) bool {
	found := false
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ {
				return true
			}
			for _, fld := range ts.Type.(*ast.StructType).Fields.List {
				for _, id := range fld.Names {
					if id.Name == name {
						fld.Doc, fld.Comment, found = nil, nil, true
					}
				}
			}
			return false
		})
	}
	return found
}

// TestExampleHasEveryKey: etc/sendpool.example.toml shows every key, in
// a table, an array of tables or a map entry of its own.
func TestExampleHasEveryKey(t *testing.T) {
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := missingFromTOML(string(text), Reference())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range missing {
		t.Errorf("%s misses %s: add it, with its default or an example", exampleFile, k)
	}
}

// TestExampleMissingKeyIsReported: the example with a key's lines taken
// out (in memory) is reported as missing that key.
func TestExampleMissingKeyIsReported(t *testing.T) {
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ linePrefix, key string }{
		{"node_id = ", "server.node_id"},
		{"pace_hold = ", "pool.pace_hold"},
		{"weight = ", "pool.ip[].weight"},                    // every [[pool.ip]]'s
		{"max = 5000", "pool.warmup.NAME.caps.PROVIDER.max"}, // the one caps table's
		{"ttl = ", "suppression.ttl"},
	} {
		var kept []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, c.linePrefix) {
				kept = append(kept, l)
			}
		}
		missing, err := missingFromTOML(strings.Join(kept, "\n"), Reference())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(missing, []string{c.key}) {
			t.Errorf("without %q lines: missing %v, want [%s]", c.linePrefix, missing, c.key)
		}
	}
}

// missingFromTOML returns the keys of tables that text does not set. A
// key of an array of tables or of a map of tables counts as set when any
// entry sets it.
func missingFromTOML(text string, tables []Table) ([]string, error) {
	var doc map[string]any
	if _, err := toml.Decode(uncommentExamples(text), &doc); err != nil {
		return nil, err
	}
	var missing []string
	for _, tb := range tables {
		for _, k := range tb.Keys {
			if !has(doc, strings.Split(k.Path, ".")) {
				missing = append(missing, k.Path)
			}
		}
	}
	return missing, nil
}

func has(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	seg := path[0]
	if name, ok := strings.CutSuffix(seg, "[]"); ok {
		entries, _ := m[name].([]map[string]any)
		for _, e := range entries {
			if has(e, path[1:]) {
				return true
			}
		}
		return false
	}
	if seg == strings.ToUpper(seg) { // a placeholder: NAME, PROVIDER
		for _, e := range m {
			if has(e, path[1:]) {
				return true
			}
		}
		return false
	}
	e, ok := m[seg]
	return ok && has(e, path[1:])
}

// exampleBlock is the start of an optional array-of-tables entry the
// example shows commented out ("# [[dns.publish]]"), and exampleKey one
// of its "# key = value" lines.
var (
	exampleBlock = regexp.MustCompile(`^# (\[\[[a-z_.]+\]\])\s*(#.*)?$`)
	exampleKey   = regexp.MustCompile(`^# ([a-z_]+ = .*)$`)
)

// uncommentExamples turns the example's commented-out [[table]] entries
// into TOML, so that a key shown only there counts as shown: an optional
// table is documented by example without being switched on.
func uncommentExamples(text string) string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		switch {
		case exampleBlock.MatchString(l):
			lines[i], in = exampleBlock.ReplaceAllString(l, "$1"), true
		case in && exampleKey.MatchString(l):
			lines[i] = exampleKey.ReplaceAllString(l, "$1")
		case in && strings.HasPrefix(l, "#  "):
			// a continuation of the previous key's comment
		default:
			in = false
		}
	}
	return strings.Join(lines, "\n")
}
