package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterHistoryDropped registers sendpool_history_dropped_total on reg,
// read at scrape time from dropped (history.Recorder.Dropped): entries of
// recent history (replies per IP, intake events) dropped because the
// recorder's buffer was full or the shared state failed to take them.
func RegisterHistoryDropped(reg prometheus.Registerer, dropped func() uint64) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sendpool_history_dropped_total",
		Help: "Entries of recent history (replies per IP, intake events) dropped: the shared state was too slow or failed.",
	}, func() float64 { return float64(dropped()) }))
}
