package docgen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	src := `package config

// Server is the node.
type Server struct {
	// Hostname is the name
	// in the banner.
	Hostname string ` + "`toml:\"hostname\"`" + `
	DataDir  string ` + "`toml:\"data_dir\"`" + ` // the data
	Bare     string ` + "`toml:\"bare\"`" + `
	internal string
	// Pace is embedded: its fields are keys of the table.
	Pace
}

type (
	// A is in a group.
	A struct{ X, Y int ` + "`toml:\"x\"`" + ` }
)
`
	f, err := parser.ParseFile(token.NewFileSet(), "c.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := Extract([]*ast.File{f})
	want := map[string]string{
		"Server":          "Server is the node.",
		"Server.Hostname": "Hostname is the name in the banner.",
		"Server.DataDir":  "the data",
		"A":               "A is in a group.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Extract = %v, want %v", got, want)
	}
	src2, err := Source(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src2), `"Server.Hostname": "Hostname is the name in the banner.",`) ||
		!strings.HasPrefix(string(src2), "// Code generated") {
		t.Errorf("Source:\n%s", src2)
	}
}
