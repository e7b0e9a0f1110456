package queue

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prepare readies m for a store's Put: it fills in an empty ID and a zero
// Created from now, and returns the status its deliveries start in and each
// recipient's domain (lower case). Every Store calls it, so that they agree.
func Prepare(m *Message, now time.Time) (Status, []string, error) {
	if len(m.Recipients) == 0 {
		return "", nil, errors.New("put: no recipients")
	}
	if m.ID == "" {
		m.ID = NewID(now)
	}
	if m.Created.IsZero() {
		m.Created = now
	}
	domains := make([]string, len(m.Recipients))
	for i, r := range m.Recipients {
		at := strings.LastIndexByte(r, '@')
		if at < 0 {
			return "", nil, fmt.Errorf("put: recipient %q has no domain", r)
		}
		domains[i] = strings.ToLower(r[at+1:])
	}
	if m.Held {
		return StatusHeld, domains, nil
	}
	return StatusQueued, domains, nil
}
