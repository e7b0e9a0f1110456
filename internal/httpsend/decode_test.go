package httpsend

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeAll runs decodeRequest over in, read whole and a byte at a time
// (so that every escape and rune is cut by the buffer's end somewhere),
// and checks both readings agree.
func decodeAll(t *testing.T, in string) (envelope, string, error) {
	t.Helper()
	var raw bytes.Buffer
	env, err := decodeRequest(strings.NewReader(in), &raw)
	var raw1 bytes.Buffer
	env1, err1 := decodeRequest(iotest.OneByteReader(strings.NewReader(in)), &raw1)
	if (err == nil) != (err1 == nil) || raw.String() != raw1.String() || env.From != env1.From {
		t.Fatalf("%q: whole %q %v, byte by byte %q %v", in, raw.String(), err, raw1.String(), err1)
	}
	return env, raw.String(), err
}

// TestDecodeRawEscapes: every escape of RFC 8259 §7 decodes into the
// message, pairs of surrogates as one rune, a lone one as U+FFFD (as
// encoding/json does), and invalid UTF-8 likewise.
func TestDecodeRawEscapes(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`plain`, "plain"},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t"},
		{`\u0041\u00e9\u20AC`, "Aé€"},
		{`\ud83d\ude00`, "😀"},
		{`\uD83D\uDE00x`, "😀x"},
		{`\ud83dx`, "\uFFFDx"},
		{`\ude00`, "\uFFFD"},
		{`\ud83d\u0041`, "\uFFFDA"},
		{`\ud83d\ud83d\ude00`, "\uFFFD😀"},
		{"ü日本😀", "ü日本😀"},
		{"a\xffb\xc3", "a\uFFFDb\uFFFD"},
	}
	for _, tc := range tests {
		env, got, err := decodeAll(t, `{"to":["b@x.test"],"raw":"`+tc.raw+`","from":"a@x.test"}`)
		if err != nil || got != tc.want || env.From != "a@x.test" {
			t.Errorf("raw %q: got %q from %q (%v), want %q", tc.raw, got, env.From, err, tc.want)
		}
		var std struct{ Raw string }
		if err := json.Unmarshal([]byte(`{"raw":"`+tc.raw+`"}`), &std); err != nil || std.Raw != tc.want {
			t.Errorf("raw %q: encoding/json reads %q (%v), the test wants %q", tc.raw, std.Raw, err, tc.want)
		}
	}
}

// TestDecodeKeyOrder: members come in any order, with any whitespace, keys
// matched as encoding/json matches them (case-insensitively, escaped).
func TestDecodeKeyOrder(t *testing.T) {
	for _, in := range []string{
		`{"from":"a@x.test","to":["b@x.test","c@x.test"],"raw":"m"}`,
		`{"raw":"m","to":["b@x.test","c@x.test"],"from":"a@x.test"}`,
		`{"to":["b@x.test","c@x.test"],"raw":"m","from":"a@x.test"}`,
		" \r\n\t{ \"RAW\" :\t\"m\" , \"From\":\"a@x.test\",\"to\" : [ \"b@x.test\" , \"c@x.test\" ] } \n",
		`{"r\u0061w":"m","from":"z@x.test","from":"a@x.test","to":["b@x.test","c@x.test"]}`,
	} {
		env, raw, err := decodeAll(t, in)
		if err != nil || raw != "m" || env.From != "a@x.test" || strings.Join(env.To, ",") != "b@x.test,c@x.test" {
			t.Errorf("%s: %+v raw %q (%v)", in, env, raw, err)
		}
	}
}

// TestDecodeErrors: what is not the request is a syntax error (400 bad
// JSON), an empty body errEmpty; a second raw is refused since the first
// is already in the spool.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", errEmpty},
		{" \n", errEmpty},
		{`[]`, errSyntax},
		{`"x"`, errSyntax},
		{`{"raw":"x","raw":"y"}`, errSyntax},
		{`{"raw":"x","Raw":"y"}`, errSyntax},
		{`{"raw":"\x"}`, errSyntax},
		{`{"raw":"\u12G4"}`, errSyntax},
		{`{"raw":"\u12"}`, errSyntax},
		{"{\"raw\":\"a\nb\"}", errSyntax},
		{"{\"raw\":\"a\x00b\"}", errSyntax},
		{`{"raw":1}`, errSyntax},
		{`{"raw":["x"]}`, errSyntax},
		{`{"cc":[]}`, errSyntax}, // unknown member, as DisallowUnknownFields
		{`{"from":1}`, errSyntax},
		{`{"from":"a" "to":[]}`, errSyntax},
		{`{"from":tru}`, errSyntax},
		{`{"from":}`, errSyntax},
		{`{,}`, errSyntax},
		{`{"raw":"x",}`, errSyntax},
		{`{"raw":"x"} x`, errSyntax},
		{`{"raw":"x"}{}`, errSyntax},
		{`nul`, errSyntax},
		{"\xef\xbb\xbf{}", errSyntax},
	}
	for _, tc := range tests {
		if _, _, err := decodeAll(t, tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.want)
		}
	}
}

// TestDecodeTruncated: a body cut anywhere is a syntax error, never a
// request (the end of the body inside raw is not the end of the message).
func TestDecodeTruncated(t *testing.T) {
	in := `{"from":"a@x.test","to":["b@x.test"],"raw":"Subject: \u00e9\ud83d\ude00\r\n\r\nü \"q\" \\ end"}`
	for i := range len(in) {
		if _, _, err := decodeAll(t, in[:i]); err == nil || (i > 0 && !errors.Is(err, errSyntax)) {
			t.Errorf("cut at %d (%q): error %v, want a syntax error", i, in[:i], err)
		}
	}
	if _, _, err := decodeAll(t, in); err != nil {
		t.Fatalf("whole: %v", err)
	}
}

// TestDecodeEnvelopeBound: the members besides raw are bounded; raw is not
// (the body bound and the size limit are its bounds).
func TestDecodeEnvelopeBound(t *testing.T) {
	big := strings.Repeat("x", maxEnvelope)
	for _, in := range []string{
		`{"from":"` + big + `"}`,
		`{"to":["` + big[:maxEnvelope/2] + `","` + big[:maxEnvelope/2] + `"]}`,
		`{"` + big + `":1}`,
		`{"from":` + strings.Repeat("1", maxEnvelope+1) + `}`,
	} {
		if _, err := decodeRequest(strings.NewReader(in), &bytes.Buffer{}); !errors.Is(err, errEnvelopeBig) {
			t.Errorf("%.20q…: error %v, want errEnvelopeBig", in, err)
		}
	}
	var raw bytes.Buffer
	if _, err := decodeRequest(strings.NewReader(`{"raw":"`+big+big+`"}`), &raw); err != nil || raw.Len() != 2*maxEnvelope {
		t.Errorf("a large raw: %d bytes (%v)", raw.Len(), err)
	}
}
