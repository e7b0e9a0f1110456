// Package docs holds no code: its tests hold the README and the pages in
// this directory to their promises. The README's first screen shows the
// two commands that work on a fresh machine and no paragraph of it runs
// long; every link between the pages leads somewhere.
package docs
