package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The doc comments of the structs in this package, which reflection cannot
// see, are copied into docs_gen.go; config's tests fail when it is stale.
//go:generate go run gen_docs.go

// Table is one table of the config file as `sendpool config-doc` shows it:
// its header, what it is for, and its keys in the order of the struct.
type Table struct {
	Header string // "[server]", "[[pool.ip]]", "[pool.warmup.NAME]"
	Doc    string
	Keys   []Key
}

// Key is one key of the config file.
type Key struct {
	Path    string // "server.hostname", "pool.ip[].address", "pool.warmup.NAME.days"
	Name    string // the key within its table: "hostname"
	Type    string // "string", "integer", "duration", "array of strings", …
	Default string // as TOML; a phrase in parentheses where the machine decides, or none is
	Doc     string
}

// Reference returns every table and key of the config, with its type, its
// default and its doc comment, walked from the Config struct by reflection
// over the toml tags.
func Reference() []Table { return reference(fieldDocs()) }

// Undocumented returns the path of every key without a doc.
func Undocumented(tables []Table) []string {
	var out []string
	for _, t := range tables {
		for _, k := range t.Keys {
			if k.Doc == "" {
				out = append(out, k.Path)
			}
		}
	}
	return out
}

// hostSentinel stands in for os.Hostname in the defaults the reference
// shows, so that the reference is the same on every machine.
const hostSentinel = "\x00hostname"

// placeholders name the keys of [table.NAME] maps; NAME unless listed.
func placeholder(path string) string {
	if path == "pool.warmup.NAME.caps" {
		return "PROVIDER"
	}
	return "NAME"
}

// entryDefault is what an entry of an array of tables or of a map of
// tables holds when its keys are left out: as the code that fills them in
// gives it, so that the reference repeats no default of its own.
func entryDefault(c *Config, path string, t reflect.Type) reflect.Value {
	switch path {
	case "pool.ip[]":
		d := *c
		d.Pool.IP = []PoolIP{{}}
		return reflect.ValueOf(d.PoolIPs()[0])
	case "pool.warmup.NAME":
		s, _ := c.Warmup(DefaultWarmup)
		s.Caps = nil // each provider's cap is its own table
		return reflect.ValueOf(s)
	}
	return reflect.Zero(t)
}

func reference(docs map[string]string) []Table {
	c := Default()
	c.Server.Hostname = hostSentinel
	w := walker{docs: docs, c: c}
	w.table("", "", reflect.ValueOf(*c), "")
	return w.out
}

type walker struct {
	docs map[string]string
	c    *Config
	out  []Table
}

// field is one toml-tagged field of a struct, embedded structs flattened.
type field struct {
	goName, key string
	owner       reflect.Type // the struct that declares it, for its doc
	v           reflect.Value
}

func fields(v reflect.Value) []field {
	var out []field
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, fields(v.Field(i))...)
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, field{goName: f.Name, key: name, owner: t, v: v.Field(i)})
	}
	return out
}

// table adds the table at path (header as written in a file) and then its
// sub-tables.
func (w *walker) table(path, header string, v reflect.Value, doc string) {
	fs := fields(v)
	names := map[string]string{}
	for _, f := range fs {
		names[f.goName] = f.key
	}
	dot := path
	if dot != "" {
		dot += "."
	}
	var keys []Key
	type sub struct {
		path, header, doc string
		v                 reflect.Value
	}
	var subs []sub
	for _, f := range fs {
		fdoc := w.docs[f.owner.Name()+"."+f.goName]
		t := f.v.Type()
		switch {
		case t.Kind() == reflect.Struct:
			p := dot + f.key
			subs = append(subs, sub{p, "[" + p + "]", w.tableDoc(fdoc, f.goName, t, "["+p+"]"), f.v})
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
			p := dot + f.key
			h := "[[" + p + "]]"
			subs = append(subs, sub{p + "[]", h, w.tableDoc(fdoc, f.goName, t.Elem(), h), entryDefault(w.c, p+"[]", t.Elem())})
		case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
			p := dot + f.key
			p += "." + placeholder(p)
			h := "[" + p + "]"
			subs = append(subs, sub{p, h, w.tableDoc(fdoc, f.goName, t.Elem(), h), entryDefault(w.c, p, t.Elem())})
		default:
			def := w.value(dot+f.key, f.v)
			if dot+f.key == "pool.ip[].address" {
				def = "(none: required)"
			}
			keys = append(keys, Key{Path: dot + f.key, Name: f.key, Type: typeName(t),
				Default: def, Doc: rename(fdoc, f.goName, "`"+f.key+"`", names)})
		}
	}
	if path != "" {
		w.out = append(w.out, Table{Header: header, Doc: doc, Keys: keys})
	}
	for _, s := range subs {
		w.table(s.path, s.header, s.v, s.doc)
	}
}

// tableDoc is a table's doc: its type's, else the field's that holds it.
func (w *walker) tableDoc(fieldDoc, goName string, t reflect.Type, header string) string {
	if d := w.docs[t.Name()]; d != "" {
		return rename(d, t.Name(), "`"+header+"`", nil)
	}
	return rename(fieldDoc, goName, "`"+header+"`", nil)
}

// wordRE matches a Go name in a comment: a capital, then at least one
// lower-case letter somewhere (an all-capitals word such as IP or DNSBL
// is an acronym of the prose, not a field).
var wordRE = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\b`)

// rename turns a Go doc comment into the reference's words: the leading
// Go name becomes the key (or table), and the Go names of the other keys
// of the same table become theirs.
func rename(doc, goName, as string, siblings map[string]string) string {
	if doc == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(doc, goName+" "); ok {
		doc = as + " " + rest
	} else if rest, ok := strings.CutPrefix(doc, goName+":"); ok {
		doc = as + ":" + rest
	}
	return wordRE.ReplaceAllStringFunc(doc, func(w string) string {
		if k, ok := siblings[w]; ok {
			return "`" + k + "`"
		}
		return w
	})
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == sizeType:
		return "size"
	case t.Kind() == reflect.Slice:
		return "array of " + typeName(t.Elem()) + "s"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "float"
	}
	return t.String()
}

// value writes v as TOML.
func (w *walker) value(path string, v reflect.Value) string {
	switch t := v.Type(); {
	case t == durationType:
		return strconv.Quote(shortDuration(time.Duration(v.Int())))
	case t == sizeType:
		return strconv.Quote(shortSize(v.Int()))
	case t.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = w.value(path, v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case t.Kind() == reflect.String:
		if v.String() == hostSentinel {
			if path == "server.hostname" {
				return "(the machine's host name)"
			}
			return "(server.hostname)"
		}
		return strconv.Quote(v.String())
	case t.Kind() == reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case v.CanInt():
		return strconv.FormatInt(v.Int(), 10)
	case v.CanUint():
		return strconv.FormatUint(v.Uint(), 10)
	case v.CanFloat():
		s := strconv.FormatFloat(v.Float(), 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	}
	return v.String()
}

// shortDuration writes "720h" and "5m" rather than "720h0m0s", "5m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// shortSize writes a size as ParseSize reads it, in the largest unit that
// divides it.
func shortSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
