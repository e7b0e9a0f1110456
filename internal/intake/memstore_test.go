package intake

import (
	"context"
	"errors"
	"sync"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// Minimal in-memory stores for these tests: only the methods intake calls.
// The embedded nil interfaces make any other call panic, which would show
// that intake started depending on more of the store.

type memAccounts struct {
	account.Store
	mu    sync.Mutex
	m     map[string]account.Account
	lists int // ListAccounts calls
	err   error
}

func newMemAccounts(as ...account.Account) *memAccounts {
	s := &memAccounts{m: map[string]account.Account{}}
	for _, a := range as {
		s.m[a.Name] = a
	}
	return s
}

func (s *memAccounts) set(a account.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[a.Name] = a
}

func (s *memAccounts) GetAccount(_ context.Context, name string) (*account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	a, ok := s.m[name]
	if !ok {
		return nil, account.ErrNotFound
	}
	return &a, nil
}

func (s *memAccounts) ListAccounts(context.Context) ([]*account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.err != nil {
		return nil, s.err
	}
	var out []*account.Account
	for _, a := range s.m {
		out = append(out, &a)
	}
	return out, nil
}

type memQueue struct {
	queue.Store
	mu   sync.Mutex
	msgs []*queue.Message
	err  error
}

func (q *memQueue) Put(_ context.Context, m *queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	if m.ID == "" {
		return errors.New("empty id")
	}
	c := *m
	q.msgs = append(q.msgs, &c)
	return nil
}

func (q *memQueue) messages() []*queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*queue.Message(nil), q.msgs...)
}
