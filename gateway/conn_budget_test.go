package gateway

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/internal/harness"
)

// TestBudgetChargedAsBytesArrive: a frame's budget is reserved as its
// bytes arrive. A client that announced the largest frame and sent a few
// bytes holds about one first chunk of the broker-wide budget; once it
// sends the rest its request is served and everything is released.
func TestBudgetChargedAsBytesArrive(t *testing.T) {
	s, err := newFuzzServer()
	if err != nil {
		t.Fatal(err)
	}
	total := s.cfg.Broker.QueuedMaxRequestBytes
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(s, server)
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve()
	}()
	// A Metadata request padded to the largest frame (kmsg ignores the
	// bytes after the body it reads).
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	frame := harness.Frame(req, 5)
	size := int(s.maxFrame)
	frame = append(frame, make([]byte, size+4-len(frame))...)
	binary.BigEndian.PutUint32(frame, uint32(size))
	go func() { _, _ = client.Write(frame[:100]) }()
	harness.Eventually(t, 5*time.Second, func() error {
		s.budget.mu.Lock()
		held := total - s.budget.avail
		s.budget.mu.Unlock()
		if want := int64(2*firstChunk + 1024); held != want {
			return fmt.Errorf("holding %d bytes of budget for a frame of which 100 bytes arrived, want %d", held, want)
		}
		return nil
	})
	// The rest arrives: the request is answered, the budget comes back.
	go func() { _, _ = client.Write(frame[100:]) }()
	var sizeBuf [4]byte
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(sizeBuf[:]); err != nil {
		t.Fatalf("no answer once the frame was complete: %v", err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(sizeBuf[:]))
	if _, err := io.ReadFull(client, resp); err != nil || binary.BigEndian.Uint32(resp) != 5 {
		t.Fatalf("answer: %v, %x", err, resp[:min(len(resp), 8)])
	}
	client.Close()
	<-served
	if s.budget.avail != total {
		t.Fatalf("budget %d of %d after the connection closed", s.budget.avail, total)
	}
}
