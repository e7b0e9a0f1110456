package httpsend

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// FuzzDecodeRequest compares decodeRequest with what /send did before it,
// encoding/json decoding the whole body strictly: whatever encoding/json
// reads, the streaming decoder reads the same (from, to and the raw
// bytes), but for a second "raw", which it refuses; and what
// encoding/json refuses, it refuses.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"from":"a@x.test","to":["b@x.test"],"raw":"Subject: hi\r\n\r\nhello\r\n"}`,
		`{"raw":"\"\\\/\b\f\n\r\t\u0041\ud83d\ude00\ud800x","to":[],"from":""}`,
		`{"RAW":"x","To":null,"FROM":"\u0061"}`,
		`{"raw":null}`, `null`, `{}`, ` {"to":["a", "b"]} `, `{"raw":"x","raw":"y"}`,
		"{\"raw\":\"\xff\xc3\xa9\xe2\x82\"}", `{"to":[{"a":[1,2]}]}`, `{"from":"a"}x`, `{"x":1}`,
		`{"from":1e5}`, `{"from":"a\u0000"}`, `{"to":["a",]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want struct {
			From string   `json:"from"`
			To   []string `json:"to"`
			Raw  string   `json:"raw"`
		}
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.DisallowUnknownFields()
		stdErr := dec.Decode(&want)
		if stdErr == nil {
			if _, err := dec.Token(); err == nil || !errors.Is(err, io.EOF) {
				stdErr = errors.New("trailing data")
			}
		}
		var raw bytes.Buffer
		env, err := decodeRequest(iotest.HalfReader(bytes.NewReader(in)), &raw)
		switch {
		case stdErr != nil && err == nil:
			t.Fatalf("%q: encoding/json refuses it (%v), decodeRequest reads %+v raw %q", in, stdErr, env, raw.Bytes())
		case stdErr == nil && errors.Is(err, errDuplicateRaw):
		case stdErr == nil && err != nil:
			t.Fatalf("%q: encoding/json reads it, decodeRequest refuses it: %v", in, err)
		case stdErr == nil && (env.From != want.From || !slices.Equal(env.To, want.To) || raw.String() != want.Raw):
			t.Fatalf("%q: encoding/json reads %+v, decodeRequest %+v raw %q", in, want, env, raw.Bytes())
		}
	})
}
