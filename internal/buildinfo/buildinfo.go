// Package buildinfo says which sendpool a binary is: its version, the
// commit it was built from, the Go that built it and whether it is
// static, from what the Go toolchain stamps into every binary
// (runtime/debug.ReadBuildInfo) and, for a release, the version given at
// link time. `sendpool version`, the sendpool_build_info metric and the
// first log line of `serve` all read it here.
package buildinfo

import (
	"debug/elf"
	"os"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time, for a release or a build
// where Go cannot stamp the commit itself (a git worktree, a tarball,
// -buildvcs=false):
//
//	go build -ldflags "-X sendpool/internal/buildinfo.version=v1.4.0 -X sendpool/internal/buildinfo.commit=$(git rev-parse HEAD)" ./cmd/sendpool
//
// The linker can set only package-level strings, so these are the only
// package variables here; nothing assigns them at run time.
var version, commit string

// Info describes the running binary.
type Info struct {
	// Version is the release version given at link time, else the main
	// module's (Go stamps a VCS tag or a pseudo-version, "+dirty" for a
	// modified tree), else "devel".
	Version string `json:"version"`
	// Commit is the VCS revision built from: the one given at link time,
	// else Go's stamp (vcs.revision); "" when unknown (go run, a git
	// worktree, a tree without git, -buildvcs=false).
	Commit string `json:"commit"`
	// Modified: the tree had uncommitted changes.
	Modified bool `json:"modified"`
	// Time is the commit's time (vcs.time), "" when unknown.
	Time string `json:"time,omitempty"`
	// GoVersion is the Go release that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
	// Static: the binary needs no dynamic loader nor shared library, so it
	// runs on any Linux of its architecture (CGO_ENABLED=0 builds are).
	Static bool `json:"static"`
}

// Read returns the running binary's Info.
func Read() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	cgo := ""
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			case "vcs.time":
				info.Time = s.Value
			case "CGO_ENABLED":
				cgo = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	info.Static = static(cgo)
	return info
}

// CommitLabel is the commit as a metric label or log field shows it:
// "unknown" when not stamped, "-modified" appended for a changed tree.
func (i Info) CommitLabel() string {
	c := i.Commit
	if c == "" {
		c = "unknown"
	}
	if i.Modified {
		c += "-modified"
	}
	return c
}

// static looks at the executable itself: an ELF file without a program
// interpreter or dynamic section is static. Where it cannot be read (not
// ELF, no /proc), a build with cgo off is taken for static.
func static(cgo string) bool {
	exe, err := os.Executable()
	if err == nil {
		if f, err := elf.Open(exe); err == nil {
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					return false
				}
			}
			return true
		}
	}
	return cgo == "0"
}
