package harness

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NewClient returns a franz-go client seeded with addrs, closed at cleanup.
// opts come after the seeds, so they may override anything.
func NewClient(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("harness: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// NewAdmin returns a kadm admin client seeded with addrs, closed at cleanup.
func NewAdmin(t testing.TB, addrs []string, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(NewClient(t, addrs, opts...))
}

// Client returns a franz-go client for this broker, closed at cleanup.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return NewClient(t, []string{b.Addr()}, opts...)
}

// Admin returns a kadm admin client for this broker, closed at cleanup.
func (b *Broker) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return NewAdmin(t, []string{b.Addr()}, opts...)
}
