package account

import "slices"

// Clone returns a deep copy of a: a cached account handed out must not
// share its lists with the copy the cache keeps.
func (a *Account) Clone() *Account {
	c := *a
	c.Domains = slices.Clone(a.Domains)
	c.Networks = slices.Clone(a.Networks)
	return &c
}
