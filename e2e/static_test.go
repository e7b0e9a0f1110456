package e2e

import (
	"debug/elf"
	"testing"
)

// TestBinaryIsStatic: the release build (CGO_ENABLED=0 go build -trimpath,
// as README says and TestMain builds) is one static executable: no program
// interpreter and no shared libraries to find on the host, so the same
// file runs on any Linux of its architecture.
func TestBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: dynamically linked", binary, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("%s needs shared libraries %v (%v)", binary, libs, err)
	}
}
