package stats

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"sendpool/internal/state"
)

// Counts are one bucket's attempts by verdict.
type Counts struct {
	Delivered, Deferred, Blocked, Permanent int
}

func (c *Counts) add(verdict string, n int) {
	switch verdict {
	case Delivered:
		c.Delivered += n
	case Deferred:
		c.Deferred += n
	case Blocked:
		c.Blocked += n
	case Permanent:
		c.Permanent += n
	}
}

// Series is one line of pictures: a label and a value per bucket, oldest
// first, ending with the bucket of now.
type Series struct {
	IP, Provider string
	Hours        []Counts
	Start        time.Time // the first bucket's start
}

// Reader reads what every node wrote.
type Reader struct {
	State state.State
	Now   func() time.Time // nil: time.Now
}

func (r *Reader) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// IPs returns the attempts per IP × provider per hour over the last Hours
// hours, sorted by IP then provider.
func (r *Reader) IPs(ctx context.Context) ([]Series, error) {
	end := hour(r.now())
	start := end - (Hours-1)*3600
	by := map[string]*Series{}
	for i := range Hours {
		h := start + int64(i)*3600
		vals, err := r.State.Recent(ctx, ipKey(h), keep)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			var c map[string]int
			if json.Unmarshal(v, &c) != nil {
				continue
			}
			for k, n := range c {
				parts := strings.SplitN(k, "|", 3)
				if len(parts) != 3 {
					continue
				}
				id := parts[0] + "|" + parts[1]
				s := by[id]
				if s == nil {
					s = &Series{IP: parts[0], Provider: parts[1], Hours: make([]Counts, Hours), Start: time.Unix(start, 0).UTC()}
					by[id] = s
				}
				s.Hours[i].add(parts[2], n)
			}
		}
	}
	out := make([]Series, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IP != out[j].IP {
			return out[i].IP < out[j].IP
		}
		return out[i].Provider < out[j].Provider
	})
	return out, nil
}

// Queue returns the queue's deepest sample per hour over the last Hours
// hours (0 where none was taken), and the first hour's start.
func (r *Reader) Queue(ctx context.Context) ([]int, time.Time, error) {
	end := hour(r.now())
	start := end - (Hours-1)*3600
	out := make([]int, Hours)
	for i := range Hours {
		vals, err := r.State.Recent(ctx, queueKey(start+int64(i)*3600), keep)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, v := range vals {
			var n int
			if json.Unmarshal(v, &n) == nil && n > out[i] {
				out[i] = n
			}
		}
	}
	return out, time.Unix(start, 0).UTC(), nil
}

// Day is one account's recipients of one day.
type Day struct {
	Start              time.Time
	Delivered, Bounced int
}

// Account returns the account's delivered and bounced recipients per day
// over the last Days days, oldest first.
func (r *Reader) Account(ctx context.Context, name string) ([]Day, error) {
	end := day(r.now())
	out := make([]Day, Days)
	for i := range Days {
		d := end - int64(Days-1-i)*86400
		out[i].Start = time.Unix(d, 0).UTC()
		vals, err := r.State.Recent(ctx, accountKey(name, d), keep)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			var c map[string]int
			if json.Unmarshal(v, &c) == nil {
				out[i].Delivered += c["delivered"]
				out[i].Bounced += c["bounced"]
			}
		}
	}
	return out, nil
}
