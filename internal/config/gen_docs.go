//go:build ignore

// gen_docs writes docs_gen.go (run by `go generate ./internal/config`).
package main

import (
	"log"
	"os"

	"sendpool/internal/config/docgen"
)

func main() {
	_, files, err := docgen.Parse(".")
	if err != nil {
		log.Fatal(err)
	}
	src, err := docgen.Source(docgen.Extract(files))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(docgen.Output, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
