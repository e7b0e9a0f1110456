package buildinfo

import (
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	i := Read()
	if i.Version == "" || i.GoVersion == "" || i.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("info = %+v", i)
	}
	if i.GoVersion != runtime.Version() {
		t.Errorf("go version %q, running %q", i.GoVersion, runtime.Version())
	}
}

func TestCommitLabel(t *testing.T) {
	for _, c := range []struct {
		i    Info
		want string
	}{
		{Info{}, "unknown"},
		{Info{Commit: "abc"}, "abc"},
		{Info{Commit: "abc", Modified: true}, "abc-modified"},
	} {
		if got := c.i.CommitLabel(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.i, got, c.want)
		}
	}
}
