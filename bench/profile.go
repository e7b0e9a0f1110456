package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profile fetches a CPU profile of the load (ProfileFor long), the
// goroutines halfway and, when stopped, a heap profile; they go to
// ProfileDir, named after the run.
func (p *plan) profile(ctx context.Context, proc *sendpoolProc, run string) (stop func()) {
	prefix := strings.NewReplacer(" ", "", ",", "-").Replace(run) + "."
	base := "http://" + proc.httpAddr + "/debug/pprof/"
	fetch := func(path, file string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(p.Log, "  profile:", err)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(p.Log, "  profile:", path, resp.Status)
			return
		}
		out, err := os.Create(filepath.Join(p.ProfileDir, prefix+file))
		if err != nil {
			fmt.Fprintln(p.Log, "  profile:", err)
			return
		}
		defer out.Close()
		io.Copy(out, resp.Body)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fetch(fmt.Sprintf("profile?seconds=%d", int(p.ProfileFor.Seconds())), "cpu.pprof")
	}()
	// Where the goroutines wait, in the middle of the load.
	mid := time.AfterFunc(p.ProfileFor/2, func() { fetch("goroutine?debug=1", "goroutines.txt") })
	return func() {
		mid.Stop()
		fetch("heap", "heap.pprof")
		<-done
		fmt.Fprintf(p.Log, "  profiles in %s (go tool pprof -top %s)\n", p.ProfileDir, filepath.Join(p.ProfileDir, prefix+"cpu.pprof"))
	}
}
