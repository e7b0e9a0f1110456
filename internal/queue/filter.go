package queue

// Page sizes of a message listing, the same for every Store.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// PageSize is how many messages one listing with f returns at most: Limit,
// or 100 when it is 0 or less, and never more than 1000, so that one request
// cannot make a store read the whole queue.
func (f Filter) PageSize() int {
	if f.Limit <= 0 {
		return defaultPageSize
	}
	return min(f.Limit, maxPageSize)
}
