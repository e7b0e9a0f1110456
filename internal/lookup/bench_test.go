package lookup

import (
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/dkim"
	"sendpool/internal/domain"
)

// BenchmarkLookups: intake's account read and the signer's domain read,
// straight from SQLite and through the cache (all hits).
func BenchmarkLookups(b *testing.B) {
	st, err := openBenchStore(b)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := st.CreateAccount(ctx, &account.Account{Name: "acme", Domains: []string{"acme.test"},
		Status: account.StatusActive}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	d := &domain.Domain{Name: "acme.test", Account: "acme", Created: now}
	for _, alg := range []domain.Algorithm{domain.RSA, domain.Ed25519} {
		k, err := dkim.Generate(alg, dkim.Selector(d, alg, now), domain.Active, now)
		if err != nil {
			b.Fatal(err)
		}
		d.Keys = append(d.Keys, k)
	}
	if err := st.CreateDomain(ctx, d); err != nil {
		b.Fatal(err)
	}
	accounts := map[string]account.Store{"store": st, "cached": NewAccounts(st, time.Hour, nil)}
	domains := map[string]domain.Store{"store": st, "cached": NewDomains(st, time.Hour, nil)}
	for _, name := range []string{"store", "cached"} {
		b.Run("GetAccount/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := accounts[name].GetAccount(ctx, "acme"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("GetDomain/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := domains[name].GetDomain(ctx, "acme.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
