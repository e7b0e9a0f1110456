package httpsend

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"sendpool/internal/api"
	"sendpool/internal/spool"
)

// TestReadRequestSpools: a message past the spool's threshold ends on
// file, a small one in memory behind the Received room, as SMTP's DATA
// leaves them; refusals keep the statuses /send had, and leave no file.
func TestReadRequestSpools(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir, 64)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) *http.Request {
		r, _ := http.NewRequest("POST", "/api/v1/send", strings.NewReader(body))
		return r
	}
	big := strings.Repeat("line\\r\\n", 40) // 320 bytes decoded
	req, err := readRequest(post(`{"raw":"`+big+`","to":["b@x.test"]}`), 1<<20, sp, 1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(req.body.NewReader())
	if !req.body.OnFile() || string(got) != strings.Repeat("line\r\n", 40) || req.size != 240 {
		t.Errorf("large: on file %v, %d bytes, size %d", req.body.OnFile(), len(got), req.size)
	}
	req.body.Close()
	req, err = readRequest(post(`{"raw":"x","to":["b@x.test"]}`), 1<<20, sp, 1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	if buf, room, ok := req.body.Memory(); !ok || string(buf[room:]) != "x" || room == 0 {
		t.Errorf("small: in memory %v, room %d", ok, room)
	}

	for _, tc := range []struct {
		body     string
		maxBytes int64
		want     int
	}{
		{`{"raw":"` + big + `","to":["b@x.test"]}`, 100, http.StatusRequestEntityTooLarge},     // the body bound
		{`{"raw":"` + big + `","to":["b@x.test"]}`, 1 << 20, http.StatusRequestEntityTooLarge}, // the size limit (200)
		{`{"raw":"` + big + `","to":["1","2","3"]}`, 1 << 20, http.StatusBadRequest},           // recipients first
		{`{"raw":"` + big + `"}`, 1 << 20, http.StatusBadRequest},
		{`{"raw":"","to":["b@x.test"]}`, 1 << 20, http.StatusBadRequest},
		{`{"raw":"` + big + `\q","to":["b@x.test"]}`, 1 << 20, http.StatusBadRequest},
		{``, 1 << 20, http.StatusBadRequest},
	} {
		_, err := readRequest(post(tc.body), tc.maxBytes, sp, 200, 2)
		var se *api.StatusError
		if !errors.As(err, &se) || se.Code != tc.want {
			t.Errorf("%.40q… (bound %d): %v, want %d", tc.body, tc.maxBytes, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool files left: %v", ents)
	}
}
