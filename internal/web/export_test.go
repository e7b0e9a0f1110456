package web

import "net/http"

// Route is a registered pattern and whether customers may use it.
type Route = route

// Routes lists the patterns of a handler Mount returned.
func Routes(h http.Handler) []Route { return h.(*panel).routes }
